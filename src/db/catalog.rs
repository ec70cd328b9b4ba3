//! The catalog reader: a live database's schema as the model's starting point.
//!
//! One short read-only transaction (`statement_timeout` set; it takes only
//! ACCESS SHARE locks on catalogs, never on user tables) reads tables,
//! partitions, columns, constraints, indexes, domains and materialized
//! views from `pg_catalog`, with each table's row estimate and size. The
//! reader writes what it read as DDL (`CREATE TABLE`, `ALTER TABLE … ADD
//! CONSTRAINT` with `pg_get_constraintdef`, `pg_get_indexdef`), the same
//! statements `pg_dump --schema-only` writes, and loads it with
//! [`crate::schema::dump::load`]: a database, its dump and the migrations
//! that built it make the same model by construction. Identifiers are
//! quoted by the server (`quote_ident`), so mixed-case and reserved names
//! come back exactly.

use super::DbError;
use crate::pg::{Ident, PgVersion, QualifiedName};
use crate::schema::dump::{self, LoadSummary};
use crate::schema::{Schema, TableSize};
use postgres::Client;
use std::collections::HashMap;
use std::fmt::Write as _;

/// What [`read`] found.
#[derive(Debug)]
pub struct Catalog {
    /// The model of the database's schema, with table sizes.
    pub schema: Schema,
    /// The server's major version.
    pub version: PgVersion,
    /// Tables (ordinary, partitioned, partitions) read.
    pub tables: usize,
    /// How the written DDL loaded (any `unknown` statement is a table or
    /// index the parser could not read back: a gap in the model).
    pub load: LoadSummary,
    /// The DDL the model was loaded from: `schema` is
    /// [`dump::load`] of it (sizes aside).
    pub ddl: String,
}

/// Schemas that hold no user tables.
const SYSTEM_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'";

/// A relation as the first query reads it.
struct Relation {
    /// Quoted and qualified, for the DDL.
    name: String,
    /// The same name, for the model.
    key: QualifiedName,
    kind: u8,
    rows: f64,
    pages: i64,
    bytes: i64,
    parent: Option<u32>,
    bound: Option<String>,
    partition_key: Option<String>,
}

/// Reads the schema of the database `client` is connected to.
pub fn read(client: &mut Client) -> Result<Catalog, DbError> {
    let version = super::server_version(client)?;
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(|e| DbError::catalog("starting a read-only transaction", &e))?;
    tx.batch_execute("SET LOCAL statement_timeout = '30s'; SET LOCAL lock_timeout = '5s'")
        .map_err(|e| DbError::catalog("setting timeouts", &e))?;
    // What unqualified names mean here (and in the definitions the server
    // writes, which leave out the schemas the search_path makes visible).
    let current: String = tx
        .query_one("SELECT coalesce(current_schema(), 'public')::text", &[])
        .map_err(|e| DbError::catalog("reading current_schema()", &e))?
        .get(0);

    let relations_sql = format!(
        "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text, \
                c.reltuples::float8, c.relpages::int8, n.nspname::text, c.relname::text, \
                CASE WHEN c.relkind NOT IN ('r', 'm') THEN 0 \
                     ELSE current_setting('block_size')::int8 * (coalesce(t.relpages, 0) + coalesce(ix.pages, 0)) \
                          + CASE WHEN c.relpages > 0 THEN current_setting('block_size')::int8 * c.relpages \
                                 ELSE pg_catalog.pg_relation_size(c.oid) END END, \
                (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition), \
                CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END, \
                CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid \
         LEFT JOIN (SELECT x.indrelid, sum(ic.relpages)::int8 AS pages FROM pg_catalog.pg_index x \
                    JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid GROUP BY 1) ix ON ix.indrelid = c.oid \
         WHERE c.relkind IN ('r', 'p', 'm') AND {SYSTEM_SCHEMAS} \
         ORDER BY c.oid"
    );
    let mut relations: HashMap<u32, Relation> = HashMap::new();
    let mut order: Vec<u32> = Vec::new();
    for row in tx
        .query(relations_sql.as_str(), &[])
        .map_err(|e| DbError::catalog("reading pg_class", &e))?
    {
        let oid: u32 = row.get(0);
        let kind: String = row.get(2);
        order.push(oid);
        relations.insert(
            oid,
            Relation {
                name: row.get(1),
                kind: kind.as_bytes().first().copied().unwrap_or(b'r'),
                key: QualifiedName {
                    schema: Some(Ident::new(row.get::<_, String>(5))),
                    name: Ident::new(row.get::<_, String>(6)),
                },
                rows: row.get(3),
                pages: row.get(4),
                bytes: row.get(7),
                parent: row.get(8),
                bound: row.get(9),
                partition_key: row.get(10),
            },
        );
    }

    // Columns, in order, as column definitions.
    let generated = if version.at_least(12) {
        "a.attgenerated::text"
    } else {
        "''::text"
    };
    let columns_sql = format!(
        "SELECT a.attrelid, quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), \
                a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, {generated} \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND {SYSTEM_SCHEMAS} \
         ORDER BY a.attrelid, a.attnum"
    );
    let mut columns: HashMap<u32, Vec<String>> = HashMap::new();
    for row in tx
        .query(columns_sql.as_str(), &[])
        .map_err(|e| DbError::catalog("reading pg_attribute", &e))?
    {
        let oid: u32 = row.get(0);
        let name: String = row.get(1);
        let ty: String = row.get(2);
        let not_null: bool = row.get(3);
        let default: Option<String> = row.get(4);
        let identity: String = row.get(5);
        let generated: String = row.get(6);
        let mut def = format!("{name} {ty}");
        match (generated.as_str(), identity.as_str(), &default) {
            ("s", _, Some(expr)) => write!(def, " GENERATED ALWAYS AS ({expr}) STORED").unwrap(),
            (_, "a", _) => def.push_str(" GENERATED ALWAYS AS IDENTITY"),
            (_, "d", _) => def.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
            (_, _, Some(expr)) => write!(def, " DEFAULT {expr}").unwrap(),
            _ => {}
        }
        if not_null {
            def.push_str(" NOT NULL");
        }
        columns.entry(oid).or_default().push(def);
    }

    let mut ddl = String::new();
    for oid in &order {
        let r = &relations[oid];
        match r.kind {
            b'm' => writeln!(
                ddl,
                "CREATE MATERIALIZED VIEW {} AS SELECT 1 WITH NO DATA;",
                r.name
            )
            .unwrap(),
            _ => {
                let cols = columns.get(oid).map(|c| c.join(",\n    ")).unwrap_or_default();
                write!(ddl, "CREATE TABLE {} (\n    {cols}\n)", r.name).unwrap();
                if let Some(key) = &r.partition_key {
                    write!(ddl, " PARTITION BY {key}").unwrap();
                }
                ddl.push_str(";\n");
            }
        }
    }
    for oid in &order {
        let r = &relations[oid];
        if let (Some(parent), Some(bound)) = (r.parent.and_then(|p| relations.get(&p)), &r.bound) {
            writeln!(
                ddl,
                "ALTER TABLE ONLY {} ATTACH PARTITION {} {bound};",
                parent.name, r.name
            )
            .unwrap();
        }
    }

    // Constraints (NOT NULL constraints of PostgreSQL 18 are the columns' NOT NULL).
    let constraints_sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), quote_ident(k.conname), \
                pg_catalog.pg_get_constraintdef(k.oid) \
         FROM pg_catalog.pg_constraint k \
         JOIN pg_catalog.pg_class c ON c.oid = k.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE k.contype IN ('p', 'u', 'c', 'f', 'x') AND c.relkind IN ('r', 'p') AND {SYSTEM_SCHEMAS} \
         ORDER BY k.contype = 'f', k.conrelid, k.conname"
    );
    for row in tx
        .query(constraints_sql.as_str(), &[])
        .map_err(|e| DbError::catalog("reading pg_constraint", &e))?
    {
        let table: String = row.get(0);
        let name: String = row.get(1);
        let def: String = row.get(2);
        writeln!(ddl, "ALTER TABLE ONLY {table} ADD CONSTRAINT {name} {def};").unwrap();
    }

    // Indexes that no constraint owns (those came with their constraint).
    let indexes_sql = format!(
        "SELECT pg_catalog.pg_get_indexdef(i.indexrelid) \
         FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'm') AND {SYSTEM_SCHEMAS} \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
                           WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')) \
         ORDER BY i.indexrelid"
    );
    for row in tx
        .query(indexes_sql.as_str(), &[])
        .map_err(|e| DbError::catalog("reading pg_index", &e))?
    {
        let def: String = row.get(0);
        writeln!(ddl, "{def};").unwrap();
    }

    // Domains, with their CHECK constraints.
    let domains_sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(t.typname), \
                pg_catalog.format_type(t.typbasetype, t.typtypmod), \
                (SELECT string_agg(pg_catalog.pg_get_constraintdef(k.oid), ' ') \
                   FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c') \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype = 'd' AND {SYSTEM_SCHEMAS}"
    );
    for row in tx
        .query(domains_sql.as_str(), &[])
        .map_err(|e| DbError::catalog("reading domains from pg_type", &e))?
    {
        let name: String = row.get(0);
        let base: String = row.get(1);
        let checks: Option<String> = row.get(2);
        writeln!(
            ddl,
            "CREATE DOMAIN {name} AS {base} {};",
            checks.unwrap_or_default()
        )
        .unwrap();
    }
    tx.commit().map_err(|e| DbError::catalog("ending the read", &e))?;

    let ddl = format!("SET search_path = {};\n{ddl}", crate::pg::Ident::new(current));
    let mut schema = Schema::default();
    let load = dump::load(&ddl, &mut schema);
    for (name, size) in sizes(&relations, version) {
        schema.set_size(&name, size);
    }
    Ok(Catalog {
        schema,
        version,
        tables: relations.values().filter(|r| r.kind != b'm').count(),
        load,
        ddl,
    })
}

/// Each table's size; a partitioned table's is the sum of its partitions'.
fn sizes(relations: &HashMap<u32, Relation>, version: PgVersion) -> Vec<(QualifiedName, TableSize)> {
    let mut total: HashMap<u32, (f64, bool, i64)> = HashMap::new();
    for (&oid, r) in relations {
        // Never vacuumed or analyzed: -1 on 14+, 0 rows in 0 pages before.
        let known = r.rows >= 0.0 && (version.at_least(14) || r.rows > 0.0 || r.pages > 0);
        let mut at = Some(oid);
        let mut depth = 0;
        while let Some(o) = at {
            let entry = total.entry(o).or_insert((0.0, true, 0));
            if r.kind != b'p' {
                entry.0 += r.rows.max(0.0);
                entry.1 &= known;
                entry.2 += r.bytes;
            }
            at = relations.get(&o).and_then(|x| x.parent);
            depth += 1;
            if depth > 64 {
                break;
            }
        }
    }
    relations
        .iter()
        .filter_map(|(oid, r)| {
            let &(rows, known, bytes) = total.get(oid)?;
            Some((
                r.key.clone(),
                TableSize {
                    rows: known.then_some(rows.round() as u64),
                    bytes: u64::try_from(bytes).unwrap_or(0),
                },
            ))
        })
        .collect()
}
