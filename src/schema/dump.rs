//! The database's own schema as SQL: a `pg_dump --schema-only` file (what
//! Rails' `structure.sql` and many teams commit), or the DDL the catalog
//! reader writes from a live database ([`crate::db::catalog`]). Both are read
//! with the project's own splitter and parser and applied to the model as
//! [`Origin::Database`], so a table is the same fact whichever way it came.

use super::{Origin, Schema};
use crate::parse::{parse_statement, StmtKind};
use crate::source::{split, PieceKind, Statement};
use std::path::{Path, PathBuf};

/// What reading a schema's SQL found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// Statements read.
    pub statements: usize,
    /// Statements that define what the model holds (tables, columns,
    /// constraints, indexes, domains, materialized views).
    pub used: usize,
    /// Statements neither parsed nor recognised, skipped.
    pub unknown: usize,
    /// 1-based line of the first unknown statement.
    pub first_unknown_line: Option<usize>,
}

/// A `--schema` file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("{}: cannot read the schema dump: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a schema dump: it creates no table, index, type or schema", path.display())]
    NotADump { path: PathBuf },
}

impl DumpError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            DumpError::Read { .. } => "check the path given to --schema (or `schema:` in migrate.yaml)",
            DumpError::NotADump { .. } => {
                "pass the output of `pg_dump --schema-only` (e.g. Rails' db/structure.sql), or use --database-url"
            }
        }
    }
}

/// Reads the schema dump at `path` into a model of the database's schema.
pub fn read(path: &Path) -> Result<(Schema, LoadSummary), DumpError> {
    let bytes = std::fs::read(path).map_err(|source| DumpError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut schema = Schema::default();
    let summary = load(&text, &mut schema);
    let defines_anything = summary.used > 0 || looks_like_pg_dump(&text);
    if !defines_anything {
        return Err(DumpError::NotADump {
            path: path.to_path_buf(),
        });
    }
    Ok((schema, summary))
}

/// Whether `text` carries pg_dump's header (a dump of an empty database
/// defines nothing and is still a dump).
fn looks_like_pg_dump(text: &str) -> bool {
    text.lines()
        .take(20)
        .any(|l| l.starts_with("-- PostgreSQL database dump"))
}

/// Applies every statement of `sql` to `schema` as the database's own.
pub fn load(sql: &str, schema: &mut Schema) -> LoadSummary {
    let text = sql.strip_prefix('\u{feff}').unwrap_or(sql);
    let mut summary = LoadSummary::default();
    let mut line = 1;
    let mut line_at = 0;
    for piece in split(text) {
        if !matches!(piece.kind, PieceKind::Sql | PieceKind::PsqlMeta) {
            continue;
        }
        summary.statements += 1;
        let stmt = parse_statement(
            text,
            &Statement {
                span: piece.span,
                kind: piece.kind,
            },
        );
        match &stmt.kind {
            // What unqualified names mean from here on (pg_dump sets it
            // empty and qualifies every name; the catalog reader sets the
            // database's).
            StmtKind::Set(var) if var.name.eq_ignore_ascii_case("search_path") => {
                if let Some(first) = first_schema(stmt.span.slice(text)) {
                    schema.set_default_schema(first.as_str());
                }
            }
            StmtKind::Unparsed { .. } => {
                summary.unknown += 1;
                if summary.first_unknown_line.is_none() {
                    line += memchr::memchr_iter(b'\n', &text.as_bytes()[line_at..piece.span.start]).count();
                    line_at = piece.span.start;
                    summary.first_unknown_line = Some(line);
                }
            }
            StmtKind::CreateTable(_)
            | StmtKind::CreateIndex(_)
            | StmtKind::AlterTable(_)
            | StmtKind::CreateDomain { .. }
            | StmtKind::AlterDomain(_)
            | StmtKind::CreateMatView { .. }
            | StmtKind::CreateType { .. } => summary.used += 1,
            _ => {}
        }
        schema.apply_from(&stmt, Origin::Database);
    }
    summary
}

/// The first schema a `SET search_path = a, b` names, folded as PostgreSQL
/// folds it; none for an empty path or `"$user"`.
fn first_schema(set: &str) -> Option<crate::pg::Ident> {
    let lower = set.to_ascii_lowercase();
    let rest = &set[lower.find("search_path")? + "search_path".len()..];
    let rest = rest.trim_start();
    let rest = match rest.strip_prefix('=') {
        Some(r) => r,
        None if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case("to") => &rest[2..],
        None => return None,
    };
    let first = rest.split([',', ';']).next()?.trim();
    (!first.is_empty() && first != "''" && first != "\"$user\"").then(|| crate::pg::Ident::from_sql(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ConstraintKind;
    use crate::pg::{Ident, QualifiedName};

    const DUMP: &str = r#"--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE SCHEMA app;
CREATE DOMAIN public.posint AS integer
	CONSTRAINT posint_check CHECK ((VALUE > 0));
CREATE TABLE app."Orders" (
    id bigint NOT NULL,
    account_id integer,
    note text,
    CONSTRAINT note_nn CHECK ((note IS NOT NULL))
);
CREATE TABLE public.accounts (
    id integer NOT NULL,
    email character varying(100) NOT NULL
);
ALTER TABLE public.accounts ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.accounts_id_seq
    START WITH 1
    CACHE 1
);
CREATE TABLE public.events (id integer, at date) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 (id integer, at date);
ALTER TABLE ONLY public.events ATTACH PARTITION public.events_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE ONLY app."Orders"
    ADD CONSTRAINT "Orders_pkey" PRIMARY KEY (id);
ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);
CREATE INDEX orders_note ON app."Orders" USING btree (note) WHERE (note <> ''::text);
ALTER TABLE ONLY app."Orders"
    ADD CONSTRAINT "Orders_account_id_fkey" FOREIGN KEY (account_id) REFERENCES public.accounts(id);
CREATE FROBNICATOR x;
"#;

    fn name(schema: Option<&str>, n: &str) -> QualifiedName {
        QualifiedName {
            schema: schema.map(Ident::new),
            name: Ident::new(n),
        }
    }

    #[test]
    fn reads_tables_keys_indexes_and_partitions_as_the_databases() {
        let mut schema = Schema::default();
        let summary = load(DUMP, &mut schema);
        assert_eq!(summary.unknown, 1, "{summary:?}");
        assert_eq!(summary.first_unknown_line, Some(35));
        let accounts = schema.table(&name(None, "accounts")).expect("accounts");
        assert_eq!(accounts.origin(), Some(Origin::Database));
        assert_eq!(accounts.created_in(), None);
        let email = accounts.column(&Ident::new("email")).unwrap();
        assert!(email.not_null);
        assert_eq!(email.ty.to_string(), "varchar(100)");
        assert_eq!(accounts.primary_key(), Some(vec![Ident::new("id")]));
        let orders = schema.table(&name(Some("app"), "Orders")).expect("app.Orders");
        assert_eq!(orders.primary_key(), Some(vec![Ident::new("id")]));
        assert!(orders.has_validated_not_null_check(&Ident::new("note")));
        assert!(orders.constraints().any(|c| matches!(
            c.kind,
            ConstraintKind::ForeignKey { ref references, .. } if references.name.as_str() == "accounts"
        )));
        let index = schema.index(&name(Some("app"), "orders_note")).expect("index");
        assert!(!index.simple, "a partial index is not a plain one");
        let events = schema.table(&name(None, "events_2024")).unwrap();
        assert_eq!(events.partition_of(), Some(name(Some("public"), "events")));
        assert!(schema.is_constrained_domain("posint"));
    }

    #[test]
    fn a_file_that_defines_nothing_is_no_dump() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.sql");
        std::fs::write(&path, "SELECT 1;\nUPDATE t SET a = 1;\n").unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, DumpError::NotADump { .. }), "{err}");
        let missing = read(&dir.path().join("absent.sql")).unwrap_err();
        assert!(matches!(missing, DumpError::Read { .. }), "{missing}");
        let empty = dir.path().join("empty.sql");
        std::fs::write(&empty, "--\n-- PostgreSQL database dump\n--\nSET x = 1;\n").unwrap();
        assert_eq!(read(&empty).unwrap().1.used, 0);
    }
}

#[cfg(test)]
mod search_path_tests {
    use super::*;
    use crate::pg::{Ident, QualifiedName};

    fn has(schema: &Schema, s: &str, n: &str) -> bool {
        schema
            .table(&QualifiedName {
                schema: Some(Ident::new(s)),
                name: Ident::new(n),
            })
            .is_some()
    }

    #[test]
    fn unqualified_names_follow_the_search_path() {
        for (set, expected) in [
            ("SET search_path = tenant;", "tenant"),
            ("SET search_path = tenant, public;", "tenant"),
            ("SET search_path TO \"Tenant\";", "Tenant"),
            (
                "SELECT pg_catalog.set_config('search_path', '', false);",
                "public",
            ),
        ] {
            let mut schema = Schema::default();
            load(&format!("{set}\nCREATE TABLE items (id int);"), &mut schema);
            assert!(has(&schema, expected, "items"), "{set}: {:?}", schema.facts());
        }
    }
}
