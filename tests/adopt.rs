//! `migrate apply --adopt refinery` against real PostgreSQL: a database that
//! refinery migrated (its `refinery_schema_history`, with the checksums
//! refinery-core computes for the files) is taken over without running
//! anything twice; a file changed since refinery ran it, a recorded version
//! with no file, and a plain `apply` that would re-run everything are refused.

mod support;

use support::migrate::{
    assert_exit, assert_stderr_has, assert_stdout_has, migrate, migrations, scalar, text,
};
use support::{fresh_database, TestDb};

const V1: &str = "CREATE TABLE t (id bigint PRIMARY KEY, n integer NOT NULL DEFAULT 0);\r\n\
INSERT INTO t (id) SELECT g FROM generate_series(1, 50) g;\r\n";
const V2: &str = "ALTER TABLE t ADD COLUMN note text;\n";
const V3: &str = "CREATE TABLE u (id bigint PRIMARY KEY);\n";

/// What refinery leaves behind after running `files` (stem, text): their
/// effects, and its history table with the checksums it computes.
fn migrate_with_refinery(db: &TestDb, files: &[(&str, &str)]) {
    db.psql_ok(
        "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), \
         applied_on VARCHAR(255), checksum VARCHAR(255));",
    );
    let mut client = db.client();
    for (stem, sql) in files {
        client.batch_execute(sql).unwrap();
        let m = refinery_core::Migration::unapplied(stem, sql).unwrap();
        client
            .execute(
                "INSERT INTO refinery_schema_history VALUES ($1, $2, '2024-01-01T00:00:00Z', $3)",
                &[&m.version(), &m.name(), &m.checksum().to_string()],
            )
            .unwrap();
    }
}

fn our_history(db: &TestDb) -> String {
    scalar(
        db,
        "SELECT CASE WHEN to_regclass('safe_migrate.migrations') IS NULL THEN 'none' ELSE \
         (SELECT coalesce(string_agg(version || ':' || status, ',' ORDER BY version), 'empty') \
          FROM safe_migrate.migrations) END",
    )
}

#[test]
fn adopts_refinery_history_then_applies_only_the_newer_migrations() {
    let db = fresh_database();
    migrate_with_refinery(&db, &[("V1__create", V1), ("V2__note", V2)]);
    let dir = migrations(&[("V1__create.sql", V1), ("V2__note.sql", V2), ("V3__more.sql", V3)]);

    // Without --adopt nothing runs: V1 and V2 would run a second time.
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refinery_schema_history records 2 migration(s)"),
        "{}",
        text(&out)
    );
    assert!(stderr.contains("--adopt refinery"), "{}", text(&out));
    assert_eq!(scalar(&db, "SELECT to_regclass('u') IS NULL"), "true");
    assert_eq!(our_history(&db), "empty");

    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "refinery"]);
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("== 1 create: adopted from refinery_schema_history"),
        "{}",
        text(&out)
    );
    assert!(stdout.contains("== 2 note: adopted"), "{}", text(&out));
    assert!(stdout.contains("applied 1 migration(s)"), "{}", text(&out));
    assert_eq!(scalar(&db, "SELECT to_regclass('u') IS NOT NULL"), "true");
    // V1 did not run again.
    assert_eq!(scalar(&db, "SELECT count(*) FROM t"), "50");
    assert_eq!(our_history(&db), "1:applied,2:applied,3:applied");

    let status = migrate(dir.path(), &db.url, &["status"]);
    assert_exit(&status, 0);
    let lines: Vec<String> = String::from_utf8_lossy(&status.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        ["1 create applied", "2 note applied", "3 more applied"],
        "{}",
        text(&status)
    );

    // Adopting again is a no-op, and so is a plain apply now.
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "refinery"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "nothing to apply");
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 0);
}

#[test]
fn migrations_refinery_never_ran_stay_pending() {
    // refinery ran V1 only; V2 and V3 are on disk and stay pending.
    let db = fresh_database();
    migrate_with_refinery(&db, &[("V1__create", V1)]);
    let dir = migrations(&[("V1__create.sql", V1), ("V2__note.sql", V2), ("V3__more.sql", V3)]);
    let out = migrate(
        dir.path(),
        &db.url,
        &["apply", "--adopt", "refinery", "--target", "2"],
    );
    assert_exit(&out, 0);
    assert_eq!(our_history(&db), "1:applied,2:applied");
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'note'"
        ),
        "1"
    );
    assert_eq!(scalar(&db, "SELECT to_regclass('u') IS NULL"), "true");
}

#[test]
fn a_file_changed_since_refinery_ran_it_is_refused() {
    let db = fresh_database();
    migrate_with_refinery(&db, &[("V1__create", V1), ("V2__note", V2)]);
    // Even a change of line endings: refinery's checksum covers the bytes.
    let dir = migrations(&[
        ("V1__create.sql", V1),
        ("V2__note.sql", &V2.replace('\n', "\r\n")),
        ("V3__more.sql", V3),
    ]);
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "refinery"]);
    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("V2__note.sql: changed since refinery applied version 2"),
        "{}",
        text(&out)
    );
    assert!(stderr.contains("help:"), "{}", text(&out));
    assert_eq!(our_history(&db), "empty");
    assert_eq!(scalar(&db, "SELECT to_regclass('u') IS NULL"), "true");
}

#[test]
fn a_tampered_checksum_in_refinery_history_is_refused() {
    let db = fresh_database();
    migrate_with_refinery(&db, &[("V1__create", V1), ("V2__note", V2)]);
    db.psql_ok("UPDATE refinery_schema_history SET checksum = '12345' WHERE version = 1;");
    let dir = migrations(&[("V1__create.sql", V1), ("V2__note.sql", V2)]);
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "refinery"]);
    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("V1__create.sql"), "{}", text(&out));
    assert!(stderr.contains("refinery checksum 12345"), "{}", text(&out));
    // Nothing adopted, not even V2, which matched.
    assert_eq!(our_history(&db), "empty");
}

#[test]
fn a_refinery_version_missing_on_disk_is_refused() {
    let db = fresh_database();
    migrate_with_refinery(&db, &[("V1__create", V1), ("V2__note", V2)]);
    let dir = migrations(&[("V1__create.sql", V1)]);
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "refinery"]);
    assert_exit(&out, 3);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("records version 2 (note), but no migration file has that version"),
        "{}",
        text(&out)
    );
    assert_eq!(our_history(&db), "empty");
}

#[test]
fn adopting_without_a_refinery_history_is_an_error() {
    let db = fresh_database();
    let dir = migrations(&[("V1__create.sql", V1)]);
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "refinery"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, "no refinery_schema_history table");
    assert_eq!(scalar(&db, "SELECT to_regclass('t') IS NULL"), "true");
}
