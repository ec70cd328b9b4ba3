//! Every rewrite reaches the same end state as the statement it replaces,
//! on real PostgreSQL: one database runs the original migration, a twin runs
//! the plan (as the psql script of `migrate plan --format sql`), and their
//! catalogs and data are compared. The plan is then run a second time to
//! show a re-run skips what is done.

mod support;

use safe_migrate::lint::fixture;
use safe_migrate::plan::{plan, render, Outcome, PlanSettings};
use safe_migrate::source::{from_text, MigrationFile, NamingScheme};
use support::{fresh_database, TestDb};

/// One equivalence case.
struct Case {
    name: &'static str,
    /// Setup run on both databases but outside the linted history (tables
    /// the linter does not know, as when a file is linted alone).
    pre: &'static str,
    /// Extra history after the fixture schema (run on both, and linted).
    history: &'static str,
    migration: &'static str,
    /// Data queries compared between the two databases.
    data: &'static [&'static str],
}

const SCHEMA_QUERY: &str = "
SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM (
  SELECT format('col %s.%s %s notnull=%s default=%s', c.oid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) AS x
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm')
  UNION ALL
  SELECT format('con %s %s %s valid=%s', conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT format('idx %s valid=%s', pg_get_indexdef(indexrelid), indisvalid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT format('rel %s %s', oid::regclass, relkind) FROM pg_class WHERE relnamespace = 'public'::regnamespace
) s";

fn query(db: &TestDb, sql: &str) -> String {
    let mut client = db.client();
    let row = client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.try_get::<_, Option<String>>(0)
        .map(|v| v.unwrap_or_default())
        .or_else(|_| row.try_get::<_, i64>(0).map(|v| v.to_string()))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn file(name: &str) -> MigrationFile {
    MigrationFile {
        path: name.into(),
        version: None,
        name: name.into(),
        scheme: NamingScheme::Explicit,
    }
}

fn check(case: &Case) {
    let history = format!("{}\n{}", fixture::SCHEMA, case.history);
    let sources = vec![
        from_text(file("V1__history.sql"), history.clone()),
        from_text(file("V2__change.sql"), case.migration.into()),
    ];
    let naive = fresh_database();
    let safe = fresh_database();
    // Planned for the server's version, as `migrate apply` plans
    // (tests/pg-matrix.sh runs this on every supported major).
    let mut settings = PlanSettings::default();
    settings.lint.pg_version = safe_migrate::db::server_version(&mut safe.client())
        .expect("the server's version")
        .min(safe_migrate::pg::PgVersion::MAX);
    let planned = plan(sources, &settings).migrations.pop().unwrap();
    assert!(
        planned
            .statements
            .iter()
            .any(|s| matches!(s.outcome, Outcome::Rewritten { .. })),
        "{}: nothing was rewritten: {:?}",
        case.name,
        planned.statements
    );
    let script = render::sql_script(&planned);

    for db in [&naive, &safe] {
        db.psql_ok(case.pre);
        db.psql_ok(&history);
        db.psql_ok(fixture::POPULATE);
    }
    naive.psql_ok(case.migration);
    safe.psql_ok(&script);
    let expected = query(&naive, SCHEMA_QUERY);
    assert_eq!(
        query(&safe, SCHEMA_QUERY),
        expected,
        "{}: schemas differ\n--- plan ---\n{script}",
        case.name
    );
    for q in case.data {
        assert_eq!(
            query(&safe, q),
            query(&naive, q),
            "{}: data differs for {q}",
            case.name
        );
    }
    // A second run finds everything done and changes nothing.
    safe.psql_ok(&script);
    assert_eq!(
        query(&safe, SCHEMA_QUERY),
        expected,
        "{}: a re-run changed the schema",
        case.name
    );
}

const USERS: &str = "SELECT md5(string_agg(u::text, ',' ORDER BY id))::text FROM users u";
const ORDERS: &str = "SELECT md5(string_agg(o::text, ',' ORDER BY id))::text FROM orders o";

#[test]
fn set_not_null() {
    check(&Case {
        name: "set-not-null",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        data: &[USERS],
    });
}

#[test]
fn create_and_drop_index() {
    check(&Case {
        name: "create-index",
        pre: "SELECT 1",
        history: "",
        migration: "CREATE UNIQUE INDEX \"Users_Lower_Email\" ON users USING btree (lower(email)) WHERE email <> 'it''s';\nCREATE INDEX users_name_idx ON users (name);",
        data: &[USERS],
    });
    check(&Case {
        name: "drop-index",
        pre: "SELECT 1",
        history: "",
        migration: "DROP INDEX users_email_idx, orders_status_idx;",
        data: &[USERS],
    });
}

#[test]
fn foreign_keys() {
    check(&Case {
        name: "add-foreign-key",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE orders ADD CONSTRAINT \"Orders_User\" FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;\nALTER TABLE users ADD FOREIGN KEY (account_id) REFERENCES accounts (id);",
        data: &[ORDERS],
    });
    check(&Case {
        name: "add-column-references",
        pre: "SELECT 1",
        history: "",
        // With a default every row is checked (without one nothing is, and
        // the statement is kept as written).
        migration: "ALTER TABLE orders ADD COLUMN account_id bigint DEFAULT 1 REFERENCES accounts (id);",
        data: &[ORDERS],
    });
}

#[test]
fn check_unique_and_primary_key() {
    check(&Case {
        name: "add-check-constraint",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE users ADD CONSTRAINT users_age_ok CHECK (age >= 0 AND name <> 'it''s');",
        data: &[USERS],
    });
    check(&Case {
        name: "add-unique-constraint",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
        data: &[USERS],
    });
    check(&Case {
        name: "add-primary-key",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE events_2025 ADD PRIMARY KEY (id);",
        data: &["SELECT count(*) FROM events_2025"],
    });
}

#[test]
fn add_column_with_volatile_default() {
    check(&Case {
        name: "add-column-rewrite",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid(), ADD COLUMN score double precision DEFAULT random();",
        data: &[
            "SELECT count(*) FILTER (WHERE token IS NULL) FROM users",
            "SELECT count(DISTINCT token) FROM users",
            "SELECT count(*) FILTER (WHERE score IS NULL) FROM users",
        ],
    });
}

#[test]
fn whole_table_dml_in_batches() {
    check(&Case {
        name: "whole-table-update",
        pre: "SELECT 1",
        history: "",
        migration: "UPDATE users SET name = 'it''s ' || id, age = age + 1;",
        data: &[USERS],
    });
    check(&Case {
        name: "whole-table-delete",
        pre: "SELECT 1",
        history: "",
        migration: "DELETE FROM orders;",
        data: &["SELECT count(*) FROM orders"],
    });
    // A table the history does not know: the key is read from the catalog at run time.
    check(&Case {
        name: "update-unknown-table",
        pre: "CREATE TABLE legacy (\"Key\" text PRIMARY KEY, v int); INSERT INTO legacy SELECT 'k' || g, g FROM generate_series(1, 2500) g;",
        history: "",
        migration: "UPDATE legacy SET v = v * 2;",
        data: &["SELECT md5(string_agg(l::text, ',' ORDER BY \"Key\"))::text FROM legacy l"],
    });
    // The script reads the key as apply does: a composite primary key ...
    check(&Case {
        name: "update-unknown-table-composite-key",
        pre: "CREATE TABLE pairs (a int, \"B\" text, v int, PRIMARY KEY (a, \"B\"));\n\
              INSERT INTO pairs SELECT g % 7, 'b' || g, g FROM generate_series(1, 2500) g;",
        history: "",
        migration: "UPDATE pairs SET v = v + a;",
        data: &["SELECT md5(string_agg(p::text, ',' ORDER BY a, \"B\"))::text FROM pairs p"],
    });
    // ... else a unique index on NOT NULL columns (not the nullable one).
    check(&Case {
        name: "update-unknown-table-unique-index",
        pre: "CREATE TABLE keyless (x int UNIQUE, code text NOT NULL, n int NOT NULL, v int);\n\
              CREATE UNIQUE INDEX keyless_code_n ON keyless (code, n);\n\
              INSERT INTO keyless SELECT NULL, 'c' || (g % 3), g, g FROM generate_series(1, 2500) g;",
        history: "",
        migration: "UPDATE keyless SET v = v * 3;",
        data: &["SELECT md5(string_agg(k::text, ',' ORDER BY code, n))::text FROM keyless k"],
    });
}

#[test]
fn the_script_refuses_a_backfill_without_a_usable_key() {
    let db = fresh_database();
    db.psql_ok("CREATE TABLE heap (v int); INSERT INTO heap SELECT generate_series(1, 10);");
    let sources = vec![from_text(
        file("V2__change.sql"),
        "UPDATE heap SET v = v + 1;".into(),
    )];
    let planned = plan(sources, &PlanSettings::default()).migrations.pop().unwrap();
    let script = render::sql_script(&planned);
    let out = db.psql(&script);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the script ran without a key:\n{script}");
    assert!(
        stderr.contains("needs a primary key or a unique index on NOT NULL columns on heap"),
        "{stderr}"
    );
    assert_eq!(query(&db, "SELECT sum(v) FROM heap"), "55", "nothing changed");
}

#[test]
fn hostile_identifiers_survive_every_rewrite() {
    check(&Case {
        name: "hostile-names",
        pre: "SELECT 1",
        history: "CREATE TABLE \"x\"\"; DROP TABLE users; --\" (\"Id\" bigint PRIMARY KEY, \"select\" text, \"Mixed Case\" int);\n\
                  INSERT INTO \"x\"\"; DROP TABLE users; --\" SELECT g, 'v' || g, g FROM generate_series(1, 1500) g;",
        migration: "ALTER TABLE \"x\"\"; DROP TABLE users; --\" ALTER COLUMN \"select\" SET NOT NULL;\n\
                    CREATE INDEX \"idx \"\"quoted\"\"\" ON \"x\"\"; DROP TABLE users; --\" (\"Mixed Case\");\n\
                    ALTER TABLE \"x\"\"; DROP TABLE users; --\" ADD CONSTRAINT \"order\" CHECK (\"Mixed Case\" > 0);\n\
                    UPDATE \"x\"\"; DROP TABLE users; --\" SET \"Mixed Case\" = \"Mixed Case\" + 1;",
        data: &[USERS, "SELECT md5(string_agg(t::text, ',' ORDER BY \"Id\"))::text FROM \"x\"\"; DROP TABLE users; --\" t"],
    });
}

#[test]
fn column_swap_for_rewriting_type_changes() {
    // A plain nullable column.
    check(&Case {
        name: "swap-int-to-bigint",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE users ALTER COLUMN age TYPE bigint;",
        data: &["SELECT md5(string_agg(id || ':' || coalesce(age::text, '-'), ',' ORDER BY id)) FROM users"],
    });
    // An indexed column with a USING expression.
    check(&Case {
        name: "swap-indexed-using",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE orders ALTER COLUMN status TYPE varchar(20) USING upper(status);",
        data: &["SELECT md5(string_agg(id || ':' || coalesce(status, '-'), ',' ORDER BY id)) FROM orders"],
    });
    // A NOT NULL column.
    check(&Case {
        name: "swap-not-null",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE accounts ALTER COLUMN name TYPE varchar(200);",
        data: &["SELECT md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM accounts"],
    });
    // A serial primary key: default, sequence ownership and the key move over.
    check(&Case {
        name: "swap-serial-primary-key",
        pre: "SELECT 1",
        history: "CREATE TABLE \"Counters\" (id serial PRIMARY KEY, n int NOT NULL DEFAULT 0);\n\
                  INSERT INTO \"Counters\" (n) SELECT g FROM generate_series(1, 1200) g;",
        migration: "ALTER TABLE \"Counters\" ALTER COLUMN id TYPE bigint;",
        data: &[
            "SELECT md5(string_agg(id || ':' || n, ',' ORDER BY id)) FROM \"Counters\"",
            "SELECT pg_get_serial_sequence('\"Counters\"', 'id')",
        ],
    });
}

#[test]
fn sequence_backed_columns() {
    check(&Case {
        name: "add-serial-column",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE users ADD COLUMN n bigserial;",
        data: &[
            "SELECT count(DISTINCT n) FROM users",
            "SELECT max(n) FROM users",
            "SELECT pg_get_serial_sequence('users', 'n')",
        ],
    });
    check(&Case {
        name: "add-identity-column",
        pre: "SELECT 1",
        history: "",
        migration: "ALTER TABLE users ADD COLUMN n bigint GENERATED BY DEFAULT AS IDENTITY;",
        data: &[
            "SELECT count(DISTINCT n) FROM users",
            "SELECT max(n) FROM users",
            "SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'n'",
            "SELECT nextval(pg_get_serial_sequence('users', 'n'))",
        ],
    });
}

#[test]
fn index_on_a_partitioned_table() {
    check(&Case {
        name: "create-index-partitioned",
        pre: "SELECT 1",
        history:
            "CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');",
        migration: "CREATE INDEX events_created_idx ON events (created_at);",
        data: &["SELECT count(*) FROM events"],
    });
}
