//! `migrate apply` and `migrate status` against real PostgreSQL, through the
//! built binary: happy path, re-run, resume after a failure, lock retries,
//! INVALID index cleanup, two concurrent runners, checksum drift, a
//! backfill killed with SIGKILL, and passwords kept out of the output.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::migrate::{
    assert_exit, assert_stderr_has, assert_stdout_has, existing, migrate, migrate_cmd, migrations, scalar,
    text,
};
use support::{fresh_database, TestDb};

const V1: &str = "CREATE TABLE t (id bigint PRIMARY KEY, n integer NOT NULL DEFAULT 0, email text);\n\
INSERT INTO t (id, email) SELECT g, 'u' || g FROM generate_series(1, 500) g;\n";

#[test]
fn applies_a_history_then_a_rerun_is_a_no_op() {
    let db = fresh_database();
    let dir = migrations(&[
        ("V1__create.sql", V1),
        (
            "V2__grow.sql",
            "ALTER TABLE t ADD COLUMN c text;\n\
             CREATE INDEX t_n_idx ON t (n);\n\
             UPDATE t SET c = 'x';\n\
             ALTER TABLE t ALTER COLUMN c SET NOT NULL;\n",
        ),
    ]);
    let status = migrate(dir.path(), &db.url, &["status"]);
    assert_exit(&status, 0);
    assert_stdout_has(&status, "pending");

    // V1's table holds data when V2 is deployed.
    existing(dir.path(), &db, "1");
    let out = migrate(dir.path(), &db.url, &["apply", "--batch-size", "64"]);
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("applied 1 migration(s)"), "{}", text(&out));
    assert!(stdout.contains("backfill"), "{}", text(&out));
    assert_eq!(scalar(&db, "SELECT count(*) FROM t WHERE c = 'x'"), "500");
    assert_eq!(
        scalar(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n_idx'::regclass"
        ),
        "true"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'"
        ),
        "true"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT string_agg(version || ':' || status, ',' ORDER BY version) FROM safe_migrate.migrations"
        ),
        "1:applied,2:applied"
    );

    let again = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&again, 0);
    assert_stdout_has(&again, "nothing to apply");

    let status = migrate(dir.path(), &db.url, &["status", "--format", "json"]);
    assert_exit(&status, 0);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&status.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["state"] == "applied"), "{lines:?}");
}

#[test]
fn json_output_is_one_event_per_line() {
    let db = fresh_database();
    let dir = migrations(&[("V1__create.sql", V1)]);
    let out = migrate(dir.path(), &db.url, &["apply", "--format", "json"]);
    assert_exit(&out, 0);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "migration-started");
    assert!(events
        .iter()
        .any(|e| e["event"] == "step-done" && e["attempts"] == 1));
    assert_eq!(events.last().unwrap()["event"], "migration-applied");
}

#[test]
fn applies_the_examples_on_populated_tables_including_the_column_swap() {
    let db = fresh_database();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations-examples");
    assert_exit(&migrate(&examples, &db.url, &["apply", "--target", "3"]), 0);
    db.psql_ok(
        "INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, 50) g;
         INSERT INTO users (account_id, email, display_name) SELECT g % 50 + 1, 'u' || g || '@x', 'n' || g FROM generate_series(1, 3000) g;
         INSERT INTO orders (user_id, account_id, quantity, note) SELECT g % 3000 + 1, g % 50 + 1, g, 'note' FROM generate_series(1, 4000) g;",
    );
    let out = migrate(&examples, &db.url, &["apply", "--batch-pause", "0ms"]);
    assert_exit(&out, 0);
    let checks = [
        ("SELECT attnotnull::text FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email'", "true"),
        ("SELECT indisvalid::text FROM pg_index WHERE indexrelid = 'orders_status_idx'::regclass", "true"),
        ("SELECT convalidated::text FROM pg_constraint WHERE conname = 'orders_account_id_fkey'", "true"),
        ("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'quantity'", "bigint"),
        ("SELECT count(*)::text FROM orders WHERE quantity IS NULL", "0"),
        ("SELECT sum(quantity)::text FROM orders", "8002000"),
        ("SELECT count(*)::text FROM users WHERE api_token IS NULL", "0"),
        ("SELECT count(*)::text FROM orders WHERE currency IS DISTINCT FROM 'EUR'", "0"),
        ("SELECT count(*)::text FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname LIKE '%\\_old' AND NOT attisdropped", "0"),
        ("SELECT count(*)::text FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal", "0"),
        ("SELECT count(*)::text FROM pg_index WHERE NOT indisvalid", "0"),
    ];
    for (sql, expected) in checks {
        assert_eq!(scalar(&db, sql), expected, "{sql}\n{}", text(&out));
    }
    // A re-run finds nothing pending.
    let again = migrate(&examples, &db.url, &["apply"]);
    assert_exit(&again, 0);
}

#[test]
fn refused_statements_stop_the_run_before_anything_changes() {
    let db = fresh_database();
    let dir = migrations(&[
        ("V1__create.sql", "CREATE TABLE t (id bigint PRIMARY KEY);"),
        ("V2__note.sql", "ALTER TABLE t ADD COLUMN note text;"),
        (
            "V3__refused.sql",
            "ALTER TABLE t ADD COLUMN active boolean NOT NULL;",
        ),
    ]);
    existing(dir.path(), &db, "1");
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("V3__refused.sql") && stderr.contains("add-column-not-null-without-default"),
        "{}",
        text(&out)
    );
    // V2 did not run either.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'note'"
        ),
        "0"
    );
    let status = migrate(dir.path(), &db.url, &["status"]);
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("1 ") && l.ends_with("applied")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("3 ") && l.ends_with("pending")),
        "{stdout}"
    );
}

#[test]
fn a_failed_migration_resumes_after_the_fix_without_repeating_done_steps() {
    let db = fresh_database();
    let dir = migrations(&[
        ("V1__create.sql", V1),
        (
            "V2__grow.sql",
            "ALTER TABLE t ADD COLUMN c integer;\n\
             CREATE INDEX t_c_idx ON t (c);\n\
             ALTER TABLE no_such_table ADD COLUMN d integer;\n",
        ),
    ]);
    existing(dir.path(), &db, "1");
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 1);
    assert_stderr_has(&out, "no_such_table");
    // V1 and the first steps of V2 are in place and recorded.
    assert_eq!(scalar(&db, "SELECT count(*) FROM t"), "500");
    assert_eq!(
        scalar(
            &db,
            "SELECT status FROM safe_migrate.migrations WHERE version = '2'"
        ),
        "failed"
    );
    let status = migrate(dir.path(), &db.url, &["status"]);
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.contains("failed at step 5 of 5"), "{stdout}");

    std::fs::write(
        dir.path().join("V2__grow.sql"),
        "ALTER TABLE t ADD COLUMN c integer;\n\
         CREATE INDEX t_c_idx ON t (c);\n\
         ALTER TABLE t ADD COLUMN d integer;\n",
    )
    .unwrap();
    // Re-running `ADD COLUMN c` would fail: it must not run again.
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "resuming at step 5");
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname IN ('c', 'd')"
        ),
        "2"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT status FROM safe_migrate.migrations WHERE version = '2'"
        ),
        "applied"
    );
}

/// A session holding ACCESS SHARE on `t` in an open transaction.
fn hold_access_share(db: &TestDb) -> (postgres::Client, i32) {
    let mut blocker = db.client();
    let pid: i32 = blocker.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    blocker
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE")
        .unwrap();
    (blocker, pid)
}

#[test]
fn a_blocked_step_waits_until_the_lock_is_released() {
    let db = fresh_database();
    let dir = migrations(&[("V1__create.sql", V1)]);
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);
    std::fs::write(
        dir.path().join("V2__add.sql"),
        "ALTER TABLE t ADD COLUMN c integer;\n",
    )
    .unwrap();
    let (mut blocker, _) = hold_access_share(&db);
    let child = migrate_cmd(
        dir.path(),
        &db.url,
        &["apply", "--lock-timeout", "100ms", "--max-attempts", "100"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Hold on until the runner has reached the step (its second connection is open).
    let started = Instant::now();
    while scalar(
        &db,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'safe-migrate monitor'",
    ) == "0"
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the runner never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1000));
    blocker.batch_execute("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // It waited without queueing (tests/apply_stall.rs checks pg_locks).
    assert!(
        stdout.contains("not queueing for ACCESS EXCLUSIVE on t behind pid"),
        "{}",
        text(&out)
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'"
        ),
        "1"
    );
}

#[test]
fn a_blocked_step_gives_up_after_max_wait_naming_the_blocker() {
    let db = fresh_database();
    let dir = migrations(&[("V1__create.sql", V1)]);
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);
    std::fs::write(
        dir.path().join("V2__add.sql"),
        "ALTER TABLE t ADD COLUMN c integer;\n",
    )
    .unwrap();
    let (_blocker, pid) = hold_access_share(&db);
    let out = migrate(
        dir.path(),
        &db.url,
        &["apply", "--lock-timeout", "50ms", "--max-wait", "1s"],
    );
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(--max-wait)"), "{}", text(&out));
    assert!(stderr.contains(&format!("pid {pid}")), "{}", text(&out));
    assert!(
        stderr.contains("LOCK TABLE t IN ACCESS SHARE MODE"),
        "{}",
        text(&out)
    );
    // Nothing half-done: the column is absent and the run can resume.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'"
        ),
        "0"
    );
    drop(_blocker);
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);
}

#[test]
fn a_leftover_invalid_index_is_dropped_and_rebuilt() {
    let db = fresh_database();
    let dir = migrations(&[(
        "V1__create.sql",
        "CREATE TABLE t (id bigint PRIMARY KEY, email text);\nINSERT INTO t VALUES (1, 'a'), (2, 'a');\n",
    )]);
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);
    // A failed concurrent build, as an earlier crashed deploy would leave it.
    let failed = db.psql("CREATE UNIQUE INDEX CONCURRENTLY t_email_key ON t (email);");
    assert!(!failed.status.success());
    assert_eq!(
        scalar(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_email_key'::regclass"
        ),
        "false"
    );
    std::fs::write(
        dir.path().join("V2__email_key.sql"),
        "CREATE UNIQUE INDEX t_email_key ON t (email);\n",
    )
    .unwrap();

    // While the duplicates are there the build fails, and the INVALID index
    // it leaves is dropped rather than left slowing writes.
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 1);
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        "0"
    );

    db.psql_ok("DELETE FROM t WHERE id = 2;");
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 0);
    assert_eq!(
        scalar(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_email_key'::regclass"
        ),
        "true"
    );
}

#[test]
fn an_invalid_index_from_before_is_cleaned_by_the_plan() {
    let db = fresh_database();
    let dir = migrations(&[(
        "V1__create.sql",
        "CREATE TABLE t (id bigint PRIMARY KEY, email text);\nINSERT INTO t VALUES (1, 'a'), (2, 'a');\n",
    )]);
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);
    assert!(!db
        .psql("CREATE UNIQUE INDEX CONCURRENTLY t_email_key ON t (email);")
        .status
        .success());
    db.psql_ok("DELETE FROM t WHERE id = 2;");
    std::fs::write(
        dir.path().join("V2__email_key.sql"),
        "CREATE UNIQUE INDEX t_email_key ON t (email);\n",
    )
    .unwrap();
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Step 1 (drop the INVALID leftover) ran rather than being skipped.
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("1/3 concurrent") && l.contains("done")),
        "{}",
        text(&out)
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_email_key'::regclass"
        ),
        "true"
    );
}

#[test]
fn two_runners_started_together_apply_once() {
    let db = fresh_database();
    let dir = migrations(&[
        ("V1__create.sql", V1),
        ("V2__slow.sql", "SELECT pg_sleep(1.5);\n"),
    ]);
    let spawn = || {
        migrate_cmd(dir.path(), &db.url, &["apply"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    for out in &outs {
        assert_exit(out, 0);
    }
    let stdouts: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    let applied = stdouts
        .iter()
        .filter(|s| s.contains("applied 2 migration(s)"))
        .count();
    let idle = stdouts
        .iter()
        .filter(|s| s.contains("waiting for another") && s.contains("nothing to apply"))
        .count();
    assert_eq!((applied, idle), (1, 1), "{stdouts:#?}");
}

#[test]
fn a_changed_applied_migration_is_refused_with_a_diff_but_crlf_is_accepted() {
    let db = fresh_database();
    let dir = migrations(&[("V1__create.sql", V1)]);
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);

    std::fs::write(dir.path().join("V1__create.sql"), V1.replace('\n', "\r\n")).unwrap();
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "nothing to apply");

    std::fs::write(dir.path().join("V1__create.sql"), V1.replace("500", "600")).unwrap();
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("changed since it was applied"), "{}", text(&out));
    assert!(stderr.contains("-INSERT INTO t (id, email) SELECT g, 'u' || g FROM generate_series(1, 500) g;"));
    assert!(stderr.contains("+INSERT INTO t (id, email) SELECT g, 'u' || g FROM generate_series(1, 600) g;"));
    let status = migrate(dir.path(), &db.url, &["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("changed since applied"));

    std::fs::remove_file(dir.path().join("V1__create.sql")).unwrap();
    let status = migrate(dir.path(), &db.url, &["status"]);
    assert_stdout_has(&status, "applied, missing from disk");
}

#[test]
fn a_backfill_killed_midway_resumes_and_changes_every_row_once() {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE t (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n\
             INSERT INTO t (id) SELECT g FROM generate_series(1, 20000) g;\n",
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
    ]);
    existing(dir.path(), &db, "1");
    let mut child = migrate_cmd(
        dir.path(),
        &db.url,
        &[
            "apply",
            "--batch-size",
            "100",
            "--batch-target",
            "0",
            "--batch-pause",
            "20ms",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Wait for some committed batches, then SIGKILL the runner.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = db
            .client()
            .query_one(
                "SELECT CASE WHEN to_regclass('safe_migrate.steps') IS NULL THEN 0
                        ELSE (SELECT count(*) FROM safe_migrate.steps WHERE state = 'in-progress') END",
                &[],
            )
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0);
        if done > 0 && scalar(&db, "SELECT count(*) FROM t WHERE n = 1") != "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the backfill never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let bumped: i64 = scalar(&db, "SELECT count(*) FROM t WHERE n = 1").parse().unwrap();
    assert!(
        bumped > 0 && bumped < 20000,
        "killed too late to test resuming: {bumped} rows done"
    );
    let status = migrate(dir.path(), &db.url, &["status"]);
    assert_stdout_has(&status, "in progress at step 1 of 1");

    let out = migrate(
        dir.path(),
        &db.url,
        &["apply", "--batch-size", "1000", "--batch-pause", "0"],
    );
    assert_exit(&out, 0);
    assert_stdout_has(&out, "resuming at step 1");
    assert_eq!(scalar(&db, "SELECT count(*) FROM t WHERE n <> 1"), "0");
    assert_eq!(scalar(&db, "SELECT count(*) FROM t"), "20000");
}

#[test]
fn a_backfill_needs_a_key() {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE t (n integer);\nINSERT INTO t VALUES (1);\n",
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
    ]);
    existing(dir.path(), &db, "1");
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 1);
    assert_stderr_has(&out, "has no primary key");
}

#[test]
fn backfills_cut_composite_keys_of_any_type() {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE t (a text, b timestamptz, n integer NOT NULL DEFAULT 0, PRIMARY KEY (a, b));\n\
             INSERT INTO t (a, b) SELECT 'k' || (g % 7), now() - g * interval '1 minute' FROM generate_series(1, 300) g;\n",
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
    ]);
    existing(dir.path(), &db, "1");
    let out = migrate(
        dir.path(),
        &db.url,
        &["apply", "--batch-size", "17", "--batch-pause", "0"],
    );
    assert_exit(&out, 0);
    assert_stdout_has(&out, "backfill");
    assert_eq!(scalar(&db, "SELECT count(*) FROM t WHERE n <> 1"), "0");
}

#[test]
fn dry_run_prints_the_pending_plan_and_changes_nothing() {
    let db = fresh_database();
    let dir = migrations(&[
        ("V1__create.sql", V1),
        ("V2__idx.sql", "CREATE INDEX t_n_idx ON t (n);\n"),
        ("V3__idx.sql", "CREATE INDEX t_email_idx ON t (email);\n"),
    ]);
    // On an empty database the whole history is one deploy: the new
    // table's index is built plainly.
    let out = migrate(dir.path(), &db.url, &["apply", "--dry-run"]);
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 pending migration(s)"), "{}", text(&out));
    assert!(!stdout.contains("CONCURRENTLY"), "{}", text(&out));
    assert_eq!(
        scalar(
            &db,
            "SELECT to_regclass('t') IS NULL AND to_regnamespace('safe_migrate') IS NULL"
        ),
        "true"
    );
    // Once the table holds data, the next deploy builds concurrently.
    existing(dir.path(), &db, "2");
    let out = migrate(dir.path(), &db.url, &["apply", "--dry-run"]);
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 pending migration(s)"), "{}", text(&out));
    assert!(
        stdout.contains("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_email_idx"),
        "{}",
        text(&out)
    );
    assert_eq!(scalar(&db, "SELECT to_regclass('t_email_idx') IS NULL"), "true");
}

#[test]
fn passwords_never_appear_in_output() {
    let dir = migrations(&[("V1__create.sql", V1)]);
    let secret = "sekrit-pw-42";
    let unreachable = format!("postgres://bob:{secret}@127.0.0.1:1/app");
    let out = migrate(dir.path(), &unreachable, &["apply"]);
    assert_exit(&out, 2);
    assert!(!text(&out).contains(secret), "{}", text(&out));
    assert!(text(&out).contains("bob:***@127.0.0.1"), "{}", text(&out));

    let tls = format!("postgres://bob:{secret}@127.0.0.1:1/app?sslmode=require");
    let out = migrate(dir.path(), &tls, &["status"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, "sslmode=require");
    assert!(!text(&out).contains(secret), "{}", text(&out));

    // The test cluster trusts local connections, so a password in the URL
    // is accepted and ignored: a whole successful run must not print it.
    let db = fresh_database();
    let with_password = db.url.replacen("postgres@", &format!("postgres:{secret}@"), 1);
    assert_ne!(with_password, db.url);
    let out = migrate(dir.path(), &with_password, &["apply", "--format", "json"]);
    assert_exit(&out, 0);
    assert!(!text(&out).contains(secret), "{}", text(&out));
    let out = migrate(dir.path(), &with_password, &["apply", "--dry-run"]);
    assert!(!text(&out).contains(secret), "{}", text(&out));
}

#[test]
fn new_creates_the_next_versioned_file() {
    let dir = migrations(&[("V1__a.sql", "SELECT 1;\n"), ("V7__b.sql", "SELECT 1;\n")]);
    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["new", "Add users email", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(
        dir.path().join("V8__add_users_email.sql").is_file(),
        "{}",
        text(&out)
    );
}

#[test]
fn a_concurrent_build_interrupted_midway_is_cleaned_up_on_resume() {
    let db = fresh_database();
    let dir = migrations(&[("V1__create.sql", V1)]);
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);
    std::fs::write(dir.path().join("V2__idx.sql"), "CREATE INDEX t_n_idx ON t (n);\n").unwrap();
    // An old snapshot makes the concurrent build wait in its last phase,
    // when the index already exists as INVALID.
    let mut snapshot = db.client();
    snapshot
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t")
        .unwrap();
    let child = migrate_cmd(dir.path(), &db.url, &["apply"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut admin = db.client();
    loop {
        let waiting = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap();
        if let Some(row) = waiting {
            let pid: i32 = row.get(0);
            admin.execute("SELECT pg_terminate_backend($1)", &[&pid]).unwrap();
            break;
        }
        assert!(Instant::now() < deadline, "the build never waited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    snapshot.batch_execute("COMMIT").unwrap();
    assert_eq!(
        scalar(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n_idx'::regclass"
        ),
        "false"
    );
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "resuming at step 1");
    assert_eq!(
        scalar(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n_idx'::regclass"
        ),
        "true"
    );
}
