//! `migrate apply --adopt TOOL` against real PostgreSQL. For each tool, a
//! database is left as the tool leaves it: the migrations' effects, and the
//! tool's history table created with the tool's own DDL and filled as the
//! tool fills it (checksums computed by PostgreSQL's `sha384`/`sha256`, by
//! refinery-core, or pinned for Flyway's CRC-32). It is taken over without
//! running anything twice; a file changed since the tool ran it, a failed or
//! dirty record, a recorded version with no file, and a plain `apply` that
//! would re-run everything are refused, adopting nothing.

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

/// The SQL of the history table each tool creates on PostgreSQL, as the
/// tool's source writes it.
const SQLX_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
);";
const FLYWAY_TABLE: &str = r#"CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");"#;
const GOLANG_MIGRATE_TABLE: &str = r#"CREATE TABLE IF NOT EXISTS "public"."schema_migrations" (version bigint not null primary key, dirty boolean not null)"#;
const DIESEL_TABLE: &str = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);";
const DBMATE_TABLE: &str = "create table if not exists schema_migrations (version varchar(128) primary key)";
const GOOSE_TABLE: &str = "CREATE TABLE goose_db_version (
        id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
        version_id bigint NOT NULL,
        is_applied boolean NOT NULL,
        tstamp timestamp NOT NULL DEFAULT now()
    );
    INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true);";
const PRISMA_TABLE: &str = r#"CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);"#;

/// Runs `sql` (the tool's table, then its records) with `$1` bound to
/// each of `texts` in turn for the records, after running each text's
/// migration.
fn migrate_with(db: &TestDb, table_sql: &str, record: &str, texts: &[(&str, &str)]) {
    let mut client = db.client();
    client.batch_execute(table_sql).unwrap();
    for (version, sql) in texts {
        client.batch_execute(sql).unwrap();
        client
            .execute(record, &[version, sql])
            .unwrap_or_else(|e| panic!("{record}: {}", support::error_text(&e)));
    }
}

fn applied_count(db: &TestDb) -> String {
    scalar(
        db,
        "SELECT count(*) FROM safe_migrate.migrations WHERE status = 'applied'",
    )
}

/// `apply --adopt tool` takes the two migrations over and runs only the third.
fn assert_takes_over(db: &TestDb, dir: &std::path::Path, tool: &str, table: &str, verified: bool) {
    let out = migrate(dir, &db.url, &["apply", "--adopt", tool]);
    assert_exit(&out, 0);
    let how = if verified {
        "(checksum verified, not run)"
    } else {
        "(not run; the tool keeps no checksum)"
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches(&format!("adopted from {table} {how}")).count(),
        2,
        "{}",
        text(&out)
    );
    assert_stdout_has(&out, "applied 1 migration(s)");
    // The first migration did not run again, the third ran.
    assert_eq!(scalar(db, "SELECT count(*) FROM t"), "50");
    assert_eq!(scalar(db, "SELECT to_regclass('u') IS NOT NULL"), "true");
    assert_eq!(applied_count(db), "3");
    let out = migrate(dir, &db.url, &["apply"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "nothing to apply");
}

/// Nothing was adopted or run.
fn assert_untouched(db: &TestDb) {
    assert_eq!(our_history(db), "empty");
    assert_eq!(scalar(db, "SELECT to_regclass('u') IS NULL"), "true");
}

const SQLX_RECORD: &str =
    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
     VALUES ($1::text::bigint, 'x', TRUE, sha384(convert_to($2, 'UTF8')), 1)";

fn sqlx_files(v2: &str) -> tempfile::TempDir {
    migrations(&[("1_create.sql", V1), ("2_note.sql", v2), ("3_more.sql", V3)])
}

#[test]
fn a_database_migrated_by_sqlx_is_taken_over_applying_only_the_new_migration() {
    let db = fresh_database();
    migrate_with(&db, SQLX_TABLE, SQLX_RECORD, &[("1", V1), ("2", V2)]);
    let dir = sqlx_files(V2);
    // Without --adopt nothing runs.
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 3);
    assert_stderr_has(&out, "_sqlx_migrations records 2 migration(s) of sqlx");
    assert_stderr_has(&out, "rerun with --adopt sqlx");
    assert_untouched(&db);
    assert_takes_over(&db, dir.path(), "sqlx", "_sqlx_migrations", true);
}

#[test]
fn a_sqlx_file_changed_since_sqlx_ran_it_is_refused() {
    let db = fresh_database();
    migrate_with(&db, SQLX_TABLE, SQLX_RECORD, &[("1", V1), ("2", V2)]);
    // sqlx hashes the bytes: a line ending is a change.
    let dir = sqlx_files(&V2.replace('\n', "\r\n"));
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "sqlx"]);
    assert_exit(&out, 3);
    assert_stderr_has(
        &out,
        "2_note.sql: changed since sqlx applied version 2 (sqlx checksum ",
    );
    assert_stderr_has(&out, "help:");
    assert_untouched(&db);
}

#[test]
fn a_failed_sqlx_migration_is_refused() {
    let db = fresh_database();
    migrate_with(&db, SQLX_TABLE, SQLX_RECORD, &[("1", V1), ("2", V2)]);
    db.psql_ok("UPDATE _sqlx_migrations SET success = false WHERE version = 2;");
    let out = migrate(sqlx_files(V2).path(), &db.url, &["apply", "--adopt", "sqlx"]);
    assert_exit(&out, 3);
    assert_stderr_has(
        &out,
        "2_note.sql: _sqlx_migrations records version 2 as failed or dirty: sqlx did not finish it",
    );
    assert_untouched(&db);
}

/// Flyway's checksum of `V2` (`ALTER TABLE t ADD COLUMN note text;` without
/// its line break), as `java.util.zip.CRC32` gives it, cast to `int`.
const FLYWAY_V2_CHECKSUM: i32 = -1396669090;

#[test]
fn a_flyway_baseline_and_dotted_versions_are_taken_over() {
    let db = fresh_database();
    // Flyway was baselined at 1 on a database built by hand, then ran 1.1.
    let record = format!(
        "INSERT INTO flyway_schema_history VALUES \
         (1, '1', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'postgres', now(), 0, true), \
         (2, $1, 'note', 'SQL', 'V1_1__note.sql', {FLYWAY_V2_CHECKSUM}, 'postgres', now(), 7, \
          length($2) > 0)"
    );
    db.psql_ok(V1);
    migrate_with(&db, FLYWAY_TABLE, &record, &[("1.1", V2)]);
    // Flyway reads lines: other line endings keep its checksum.
    let dir = migrations(&[
        ("V1__create.sql", V1),
        ("V1_1__note.sql", &V2.replace('\n', "\r\n")),
        ("V2__more.sql", V3),
    ]);
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 3);
    assert_stderr_has(&out, "rerun with --adopt flyway");
    assert_takes_over(&db, dir.path(), "flyway", "flyway_schema_history", true);
}

#[test]
fn a_flyway_file_with_a_changed_line_is_refused() {
    let db = fresh_database();
    let record = format!(
        "INSERT INTO flyway_schema_history VALUES \
         (1, $1, 'note', 'SQL', 'V1__note.sql', {FLYWAY_V2_CHECKSUM}, 'postgres', now(), 7, length($2) > 0)"
    );
    db.psql_ok("CREATE TABLE t (id bigint);");
    migrate_with(&db, FLYWAY_TABLE, &record, &[("1", V2)]);
    let dir = migrations(&[("V1__note.sql", "ALTER TABLE t ADD COLUMN  note text;\n")]);
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "flyway"]);
    assert_exit(&out, 3);
    assert_stderr_has(
        &out,
        &format!("V1__note.sql: changed since flyway applied version 1 (flyway checksum {FLYWAY_V2_CHECKSUM}, file "),
    );
    assert_eq!(our_history(&db), "empty");
}

fn golang_migrate_files() -> tempfile::TempDir {
    migrations(&[
        ("1_create.up.sql", V1),
        ("1_create.down.sql", "DROP TABLE t;\n"),
        ("2_note.up.sql", V2),
        ("2_note.down.sql", "ALTER TABLE t DROP COLUMN note;\n"),
        ("3_more.up.sql", V3),
    ])
}

/// golang-migrate keeps one row: the last version, and whether it is dirty.
fn migrate_with_golang_migrate(db: &TestDb) {
    let mut client = db.client();
    client.batch_execute(GOLANG_MIGRATE_TABLE).unwrap();
    for (version, sql) in [(1_i64, V1), (2, V2)] {
        client.batch_execute(sql).unwrap();
        client.batch_execute("TRUNCATE schema_migrations").unwrap();
        client
            .execute(
                "INSERT INTO schema_migrations (version, dirty) VALUES ($1, false)",
                &[&version],
            )
            .unwrap();
    }
}

#[test]
fn golang_migrate_history_is_taken_over_up_to_its_version() {
    let db = fresh_database();
    migrate_with_golang_migrate(&db);
    assert_takes_over(
        &db,
        golang_migrate_files().path(),
        "golang-migrate",
        "schema_migrations",
        false,
    );
}

#[test]
fn a_dirty_golang_migrate_version_is_refused() {
    let db = fresh_database();
    migrate_with_golang_migrate(&db);
    db.psql_ok("UPDATE schema_migrations SET dirty = true;");
    let out = migrate(
        golang_migrate_files().path(),
        &db.url,
        &["apply", "--adopt", "golang-migrate"],
    );
    assert_exit(&out, 3);
    assert_stderr_has(
        &out,
        "2_note.up.sql: schema_migrations records version 2 as failed or dirty",
    );
    assert_untouched(&db);
    // dbmate's table has the same name but no dirty flag: not mistaken for it.
    let out = migrate(
        golang_migrate_files().path(),
        &db.url,
        &["apply", "--adopt", "dbmate"],
    );
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        "it has a column dirty, so it is golang-migrate's table, not dbmate's",
    );
    assert_untouched(&db);
}

#[test]
fn diesel_history_is_taken_over() {
    let db = fresh_database();
    migrate_with(
        &db,
        DIESEL_TABLE,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ($1) RETURNING length($2)",
        &[("20240101000000", V1), ("20240102000000", V2)],
    );
    let dir = migrations(&[
        ("2024-01-01-000000_create/up.sql", V1),
        ("2024-01-01-000000_create/down.sql", "DROP TABLE t;\n"),
        ("2024-01-02-000000_note/up.sql", V2),
        (
            "2024-01-02-000000_note/down.sql",
            "ALTER TABLE t DROP COLUMN note;\n",
        ),
        ("2024-01-03-000000_more/up.sql", V3),
    ]);
    assert_takes_over(&db, dir.path(), "diesel", "__diesel_schema_migrations", false);
}

#[test]
fn dbmate_history_is_taken_over_and_a_version_with_no_file_is_refused() {
    let db = fresh_database();
    migrate_with(
        &db,
        DBMATE_TABLE,
        "INSERT INTO schema_migrations (version) VALUES ($1) RETURNING length($2)",
        &[("20240101000000", V1), ("20240102000000", V2)],
    );
    let dbmate = |sql: &str| format!("-- migrate:up\n{sql}\n-- migrate:down\nSELECT 1;\n");
    let (one, two, three) = (dbmate(V1), dbmate(V2), dbmate(V3));
    let dir = migrations(&[
        ("20240101000000_create.sql", &one),
        ("20240103000000_more.sql", &three),
    ]);
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "dbmate"]);
    assert_exit(&out, 3);
    assert_stderr_has(
        &out,
        "schema_migrations records version 20240102000000, but no migration file has that version",
    );
    assert_untouched(&db);
    let dir = migrations(&[
        ("20240101000000_create.sql", &one),
        ("20240102000000_note.sql", &two),
        ("20240103000000_more.sql", &three),
    ]);
    assert_takes_over(&db, dir.path(), "dbmate", "schema_migrations", false);
}

#[test]
fn goose_history_is_taken_over_and_a_rolled_back_version_stays_pending() {
    let db = fresh_database();
    migrate_with(
        &db,
        GOOSE_TABLE,
        "INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1::text::bigint, length($2) > 0)",
        &[("1", V1), ("2", V2), ("3", V3)],
    );
    // An older goose recorded `down` as a row with is_applied = false.
    db.psql_ok("DROP TABLE u; INSERT INTO goose_db_version (version_id, is_applied) VALUES (3, false);");
    let dir = migrations(&[
        ("00001_create.sql", &format!("-- +goose Up\n{V1}")),
        ("00002_note.sql", &format!("-- +goose Up\n{V2}")),
        (
            "00003_more.sql",
            &format!("-- +goose Up\n{V3}\n-- +goose Down\nDROP TABLE u;\n"),
        ),
    ]);
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 3);
    assert_stderr_has(&out, "goose_db_version records 2 migration(s) of goose");
    assert_takes_over(&db, dir.path(), "goose", "goose_db_version", false);
}

const PRISMA_RECORD: &str =
    "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) \
     VALUES (md5($1), encode(sha256(convert_to($2, 'UTF8')), 'hex'), now(), $1, 1)";

fn prisma_files() -> tempfile::TempDir {
    migrations(&[
        ("20240101000000_create/migration.sql", V1),
        ("20240102000000_note/migration.sql", V2),
        ("20240103000000_more/migration.sql", V3),
        ("migration_lock.toml", "provider = \"postgresql\"\n"),
    ])
}

#[test]
fn prisma_history_is_taken_over_ignoring_rolled_back_rows() {
    let db = fresh_database();
    migrate_with(
        &db,
        PRISMA_TABLE,
        PRISMA_RECORD,
        &[("20240101000000_create", V1), ("20240102000000_note", V2)],
    );
    // An attempt at the third that failed and was marked rolled back.
    db.psql_ok(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, rolled_back_at) \
         VALUES ('r', 'x', '20240103000000_more', 'error', now());",
    );
    assert_takes_over(&db, prisma_files().path(), "prisma", "_prisma_migrations", true);
}

#[test]
fn an_unfinished_prisma_migration_and_a_changed_prisma_file_are_refused() {
    let db = fresh_database();
    migrate_with(
        &db,
        PRISMA_TABLE,
        PRISMA_RECORD,
        &[("20240101000000_create", V1), ("20240102000000_note", V2)],
    );
    db.psql_ok(
        "UPDATE _prisma_migrations SET finished_at = NULL WHERE migration_name = '20240102000000_note';",
    );
    let out = migrate(prisma_files().path(), &db.url, &["apply", "--adopt", "prisma"]);
    assert_exit(&out, 3);
    assert_stderr_has(
        &out,
        "migration.sql: _prisma_migrations records version 20240102000000_note as failed",
    );
    assert_untouched(&db);

    db.psql_ok("UPDATE _prisma_migrations SET finished_at = now();");
    let dir = prisma_files();
    std::fs::write(
        dir.path().join("20240101000000_create/migration.sql"),
        V1.replace("50", "60"),
    )
    .unwrap();
    let out = migrate(dir.path(), &db.url, &["apply", "--adopt", "prisma"]);
    assert_exit(&out, 3);
    assert_stderr_has(
        &out,
        "changed since prisma applied version 20240101000000_create (prisma checksum ",
    );
    assert_untouched(&db);
}

#[test]
fn adopting_from_a_tool_whose_table_is_absent_is_an_error() {
    let db = fresh_database();
    let out = migrate(sqlx_files(V2).path(), &db.url, &["apply", "--adopt", "goose"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, "--adopt goose: this database has no goose_db_version table");
    let out = migrate(sqlx_files(V2).path(), &db.url, &["apply", "--adopt", "liquibase"]);
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        "possible values: refinery, sqlx, flyway, golang-migrate, diesel, dbmate, goose, prisma",
    );
}

/// `migrate baseline ARGS --database-url URL`, run in `cwd`.
fn baseline(cwd: &std::path::Path, db: &TestDb, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
        .arg("baseline")
        .args(args)
        .args(["--database-url", &db.url])
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[test]
fn a_database_built_by_hand_is_baselined_and_then_applies_only_what_follows() {
    let db = fresh_database();
    // Built by hand (or restored from a dump): V1 and V2's effects, no history.
    db.psql_ok(V1);
    db.psql_ok(V2);
    let dir = migrations(&[
        ("migrations/V1__create.sql", V1),
        ("migrations/V2__note.sql", V2),
        ("migrations/V3__more.sql", V3),
    ]);
    let migrations_dir = dir.path().join("migrations");
    let migrations_dir = migrations_dir.to_str().unwrap();

    // A version no file has, or none at all, is a usage error.
    let out = baseline(dir.path(), &db, &[migrations_dir, "9"]);
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        "baseline 9: no migration file has that version; the files' versions run from 1 to 3",
    );
    let out = baseline(dir.path(), &db, &[]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, "baseline: no VERSION given");
    assert_eq!(
        scalar(&db, "SELECT to_regclass('safe_migrate.migrations') IS NULL"),
        "true"
    );

    // `baseline DIR VERSION`.
    let out = baseline(dir.path(), &db, &[migrations_dir, "2"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "== 1 create: baseline (marked applied, not run)");
    assert_stdout_has(&out, "== 2 note: baseline (marked applied, not run)");
    assert_stdout_has(&out, "baselined 2 migration(s) up to 2");
    assert_eq!(our_history(&db), "1:applied,2:applied");
    assert_eq!(
        scalar(
            &db,
            "SELECT string_agg(DISTINCT origin, ',') FROM safe_migrate.migrations"
        ),
        "baseline"
    );

    let status = migrate(&std::path::PathBuf::from(migrations_dir), &db.url, &["status"]);
    assert_exit(&status, 0);
    let lines: Vec<String> = String::from_utf8_lossy(&status.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "1 create applied (baseline, not run here)",
            "2 note applied (baseline, not run here)",
            "3 more pending"
        ],
        "{}",
        text(&status)
    );

    // `baseline VERSION` in the default directory: nothing more to mark.
    let out = baseline(dir.path(), &db, &["2"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "baselined 0 migration(s) up to 2");

    let out = migrate(&std::path::PathBuf::from(migrations_dir), &db.url, &["apply"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "applied 1 migration(s)");
    assert_eq!(scalar(&db, "SELECT count(*) FROM t"), "50");
    assert_eq!(scalar(&db, "SELECT to_regclass('u') IS NOT NULL"), "true");
    assert_eq!(our_history(&db), "1:applied,2:applied,3:applied");
}

#[test]
fn a_history_from_before_the_origin_column_is_read_and_gains_it() {
    let db = fresh_database();
    let dir = migrations(&[("V1__create.sql", V1), ("V2__note.sql", V2)]);
    assert_exit(&migrate(dir.path(), &db.url, &["apply", "--target", "1"]), 0);
    db.psql_ok("ALTER TABLE safe_migrate.migrations DROP COLUMN origin;");
    let status = migrate(dir.path(), &db.url, &["status"]);
    assert_exit(&status, 0);
    assert_stdout_has(&status, "2        note");
    db.psql_ok(V2);
    let out = baseline(dir.path(), &db, &[dir.path().to_str().unwrap(), "2"]);
    assert_exit(&out, 0);
    assert_eq!(
        scalar(
            &db,
            "SELECT string_agg(version || ':' || coalesce(origin, 'ran'), ',' ORDER BY version) \
             FROM safe_migrate.migrations"
        ),
        "1:ran,2:baseline"
    );
}

#[test]
fn a_plain_schema_migrations_table_does_not_stop_a_plain_apply() {
    // dbmate's table has the shape Rails' (and many a hand-made history) has:
    // only --adopt dbmate reads it.
    let db = fresh_database();
    db.psql_ok(DBMATE_TABLE);
    db.psql_ok("INSERT INTO schema_migrations VALUES ('20200101000000');");
    let dir = migrations(&[("V1__create.sql", V1)]);
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 0);
    assert_eq!(our_history(&db), "1:applied");
}
