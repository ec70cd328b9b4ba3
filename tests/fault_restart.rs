//! The server restarted under a running `migrate apply`. A binary of its own:
//! it restarts the cluster that every test of a binary shares
//! (`support::restart_server`), which would disturb the tests beside it.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};
use support::migrate::{
    assert_exit, assert_stdout_has, existing, migrate, migrate_cmd, migrations, scalar, text,
};
use support::{fresh_database, restart_server};

#[test]
fn a_server_restart_mid_backfill_fails_cleanly_and_the_next_run_resumes() {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE t (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n\
             INSERT INTO t (id) SELECT g FROM generate_series(1, 20000) g;\n",
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
        ("V3__idx.sql", "CREATE INDEX t_n_idx ON t (n);\n"),
    ]);
    existing(dir.path(), &db, "1");
    let child = migrate_cmd(
        dir.path(),
        &db.url,
        &["apply", "--batch-size", "100", "--batch-pause", "20ms"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Restart once some batches of V2 have committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = db
            .client()
            .query_one(
                "SELECT to_regclass('safe_migrate.steps') IS NOT NULL
                 AND EXISTS (SELECT 1 FROM safe_migrate.steps WHERE version = '2' AND state = 'in-progress')",
                &[],
            )
            .map(|r| r.get::<_, bool>(0))
            .unwrap_or(false);
        if started {
            break;
        }
        assert!(Instant::now() < deadline, "the backfill never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    restart_server();
    let out = child.wait_with_output().unwrap();
    eprintln!("the interrupted run:\n{}", text(&out));
    // A migration failed and the run is resumable: exit 1, with the server's
    // reason and the usual help line, never a panic.
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{}", text(&out));
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("V2__bump.sql step 1 (backfill): lost the connection to the server"),
        "{}",
        text(&out)
    );
    assert!(stderr.contains("\nhelp: "), "{}", text(&out));
    let bumped: i64 = scalar(&db, "SELECT count(*) FROM t WHERE n = 1").parse().unwrap();
    assert!(
        bumped > 0 && bumped < 20000,
        "restarted too late to test resuming: {bumped} rows done"
    );

    let out = migrate(
        dir.path(),
        &db.url,
        &["apply", "--batch-size", "1000", "--batch-pause", "0ms"],
    );
    assert_exit(&out, 0);
    assert_stdout_has(&out, "resuming at step 1");
    assert_eq!(scalar(&db, "SELECT count(*) FROM t WHERE n <> 1"), "0");
    assert_eq!(scalar(&db, "SELECT count(*) FROM t"), "20000");
    assert_eq!(
        scalar(
            &db,
            "SELECT string_agg(version || ':' || status, ',' ORDER BY version) FROM safe_migrate.migrations"
        ),
        "1:applied,2:applied,3:applied"
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        "0"
    );
}
