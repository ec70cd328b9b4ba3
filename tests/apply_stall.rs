//! `migrate apply` without stalls (issue #19), on real PostgreSQL through the
//! built binary: a step does not queue for its lock behind an old
//! transaction (traffic keeps flowing while it waits), `--max-wait` gives up
//! naming the blocker with the database consistent and the run resumable,
//! `--cancel-blockers-after` cancels only conflicting, older blockers, and a
//! try that times out names who blocked it (`pg_blocking_pids`).
//!
//! Facts are read from the JSON events and the catalog, not from text output.

mod support;

use serde_json::Value;
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::migrate::{assert_exit, migrate, migrate_cmd, migrations, scalar, text};
use support::{fresh_database, TestDb};

const V1: &str = "CREATE TABLE t (id bigint PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n\
CREATE TABLE u (id bigint PRIMARY KEY);\n\
INSERT INTO u SELECT g FROM generate_series(1, 100) g;\n\
INSERT INTO t (id, n) SELECT g, g % 100 + 1 FROM generate_series(1, 500) g;\n";

/// A database with V1 applied and its migration directory. Its config
/// counts no table as small, so the planner rewrites statements on these
/// tables of a few hundred rows as it would on large ones.
fn setup() -> (TestDb, tempfile::TempDir) {
    let db = fresh_database();
    let dir = migrations(&[
        ("V1__create.sql", V1),
        ("migrate.yaml", "small_table: {rows: 0, bytes: 0}\n"),
    ]);
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);
    (db, dir)
}

fn add_migration(dir: &tempfile::TempDir, sql: &str) {
    std::fs::write(dir.path().join("V2__change.sql"), sql).unwrap();
}

fn spawn_apply(dir: &tempfile::TempDir, db: &TestDb, extra: &[&str]) -> Child {
    let mut args = vec!["apply", "--format", "json"];
    args.extend_from_slice(extra);
    migrate_cmd(dir.path(), &db.url, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// A session named `app` in an open transaction that took `lock` on `table`
/// and now sits idle in it.
fn idle_holder(db: &TestDb, app: &str, table: &str, lock: &str) -> (postgres::Client, i32) {
    let mut c = db.client();
    let pid = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    c.batch_execute(&format!(
        "SET application_name = '{app}'; BEGIN; LOCK TABLE {table} IN {lock} MODE"
    ))
    .unwrap();
    (c, pid)
}

/// A session named `app` that took ACCESS SHARE on `table` and runs
/// `pg_sleep(60)` in the same transaction; the thread returns the SQLSTATE
/// the sleep ended with (`None`: it was not interrupted).
fn busy_holder(db: &TestDb, app: &str, table: &str) -> (std::thread::JoinHandle<Option<String>>, i32) {
    let mut c = db.client();
    c.batch_execute(&format!("SET application_name = '{app}'"))
        .unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let table = table.to_string();
    let handle = std::thread::spawn(move || {
        let result = c.batch_execute(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS SHARE MODE; SELECT pg_sleep(60); COMMIT"
        ));
        result.err().and_then(|e| e.code().map(|c| c.code().to_string()))
    });
    let mut watcher = db.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    while watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(60)%' AND state = 'active'",
            &[&pid],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(Instant::now() < deadline, "the holder {app} never started sleeping");
        std::thread::sleep(Duration::from_millis(20));
    }
    (handle, pid)
}

/// Waits until `migrate apply` has opened its second connection: it has
/// something to apply and is about to run its first step.
fn wait_for_monitor(db: &TestDb) {
    let mut watcher = db.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'safe-migrate monitor'",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "migrate apply never opened its second connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn column_exists(db: &TestDb, column: &str) -> bool {
    scalar(
        db,
        &format!("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = '{column}' AND NOT attisdropped"),
    ) == "1"
}

#[test]
fn an_old_blocker_delays_the_step_without_queueing_traffic() {
    let (db, dir) = setup();
    add_migration(&dir, "ALTER TABLE t ADD COLUMN c integer;\n");
    let (mut blocker, blocker_pid) = idle_holder(&db, "report", "t", "ACCESS SHARE");
    std::thread::sleep(Duration::from_millis(300));

    // Traffic on the table: reads in a loop, each timed.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, mut c) = (stop.clone(), db.client());
        std::thread::spawn(move || {
            let mut longest = Duration::ZERO;
            let mut queries = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                c.query_one("SELECT count(*) FROM t", &[]).unwrap();
                longest = longest.max(t.elapsed());
                queries += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (longest, queries)
        })
    };
    // Whether a backend of `migrate apply` is ever seen queued for a lock.
    let watching = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (watching, mut c) = (watching.clone(), db.client());
        std::thread::spawn(move || {
            let (mut samples, mut queued) = (0u32, 0u32);
            while watching.load(Ordering::Relaxed) {
                let n: i64 = c
                    .query_one(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                         WHERE NOT l.granted AND a.application_name LIKE 'safe-migrate%'",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                samples += 1;
                queued += u32::from(n > 0);
                std::thread::sleep(Duration::from_millis(2));
            }
            (samples, queued)
        })
    };

    let child = spawn_apply(&dir, &db, &["--lock-timeout", "500ms"]);
    wait_for_monitor(&db);
    std::thread::sleep(Duration::from_secs(3));
    watching.store(false, Ordering::Relaxed);
    let (samples, queued) = sampler.join().unwrap();
    assert!(
        !column_exists(&db, "c"),
        "the step ran while the blocker held its lock"
    );
    blocker.batch_execute("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    let (longest, queries) = traffic.join().unwrap();

    assert_exit(&out, 0);
    assert!(samples > 100, "only {samples} samples of pg_locks");
    assert_eq!(
        queued, 0,
        "migrate queued for a lock in {queued} of {samples} samples while the blocker was old"
    );
    assert!(queries > 50, "only {queries} traffic queries");
    // Generous for a loaded machine: a try queued behind the blocker would
    // hold every read for its whole lock_timeout, again and again.
    assert!(longest < Duration::from_secs(1), "a read waited {longest:?}");
    let events = events(&out);
    let waits = of_kind(&events, "waiting-for-lock");
    assert!(!waits.is_empty(), "{}", text(&out));
    let first = &waits[0];
    assert_eq!(first["table"], "t");
    assert_eq!(first["lock"], "ACCESS EXCLUSIVE");
    assert_eq!(first["blockers"][0]["pid"], blocker_pid);
    assert_eq!(first["blockers"][0]["application"], "report");
    assert_eq!(first["blockers"][0]["mode"], "AccessShareLock");
    assert_eq!(first["blockers"][0]["granted"], true);
    assert!(
        first["blockers"][0]["query"]
            .as_str()
            .unwrap()
            .contains("LOCK TABLE t"),
        "{first}"
    );
    // Reported at a steady interval (every 2 s) while it lasted: 3 s → 2 reports.
    assert!(waits.len() >= 2, "{}", text(&out));
    assert!(of_kind(&events, "step-retry").is_empty(), "{}", text(&out));
    assert!(column_exists(&db, "c"));
}

#[test]
fn max_wait_gives_up_naming_the_blocker_and_the_run_resumes() {
    let (db, dir) = setup();
    add_migration(
        &dir,
        "ALTER TABLE t ADD COLUMN c integer;\nALTER TABLE t ADD COLUMN d integer;\n",
    );
    let (blocker, pid) = idle_holder(&db, "nightly-report", "t", "ACCESS SHARE");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let out = spawn_apply(&dir, &db, &["--max-wait", "2s"])
        .wait_with_output()
        .unwrap();
    let took = started.elapsed();
    assert_exit(&out, 1);
    assert!(took >= Duration::from_secs(2), "gave up after {took:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("pid {pid} (nightly-report, idle in transaction")),
        "{}",
        text(&out)
    );
    assert!(stderr.contains("--max-wait"), "{}", text(&out));
    let events = events(&out);
    let error = events.last().unwrap();
    assert_eq!(error["event"], "error", "{}", text(&out));
    assert_eq!(error["exit_code"], 1);
    assert_eq!(of_kind(&events, "migration-failed")[0]["step"], 1);
    // Consistent: nothing of the migration is done, and it is recorded as failed at step 1.
    assert!(!column_exists(&db, "c") && !column_exists(&db, "d"));
    assert_eq!(
        scalar(
            &db,
            "SELECT status FROM safe_migrate.migrations WHERE version = '2'"
        ),
        "failed"
    );
    drop(blocker);
    let again = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&again, 0);
    assert!(column_exists(&db, "c") && column_exists(&db, "d"));
}

#[test]
fn cancel_blockers_after_cancels_only_conflicting_older_blockers() {
    let (db, dir) = setup();
    add_migration(&dir, "ALTER TABLE t ADD COLUMN c integer;\n");
    // Old and conflicting: cancelled at once.
    let (old_on_t, old_pid) = busy_holder(&db, "old-on-t", "t");
    // Old, but on another table: never cancelled.
    let (on_u, u_pid) = busy_holder(&db, "old-on-u", "u");
    std::thread::sleep(Duration::from_millis(2500));
    // Young and conflicting: cancelled only once it is 2 s old.
    let (young_on_t, young_pid) = busy_holder(&db, "young-on-t", "t");
    let child = spawn_apply(&dir, &db, &["--cancel-blockers-after", "2s", "--max-wait", "30s"]);
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);

    let events = events(&out);
    let cancelled = of_kind(&events, "blocker-cancelled");
    let pids: Vec<i64> = cancelled
        .iter()
        .map(|e| e["blocker"]["pid"].as_i64().unwrap())
        .collect();
    assert!(pids.contains(&i64::from(old_pid)), "{}", text(&out));
    assert!(pids.contains(&i64::from(young_pid)), "{}", text(&out));
    assert!(!pids.contains(&i64::from(u_pid)), "{}", text(&out));
    for e in &cancelled {
        assert!(e["blocker"]["for_ms"].as_u64().unwrap() >= 2000, "{e}");
        assert_eq!(e["signalled"], true, "{e}");
    }
    assert_eq!(old_on_t.join().unwrap().as_deref(), Some("57014"));
    assert_eq!(young_on_t.join().unwrap().as_deref(), Some("57014"));
    // The session on u is still asleep, untouched.
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT state FROM pg_stat_activity WHERE pid = {u_pid}")
        ),
        "active"
    );
    assert!(column_exists(&db, "c"));
    let mut admin = db.client();
    admin.execute("SELECT pg_cancel_backend($1)", &[&u_pid]).unwrap();
    assert_eq!(on_u.join().unwrap().as_deref(), Some("57014"));
}

#[test]
fn an_idle_blocker_is_named_but_never_cancelled() {
    let (db, dir) = setup();
    add_migration(&dir, "ALTER TABLE t ADD COLUMN c integer;\n");
    let (mut blocker, pid) = idle_holder(&db, "idle-on-t", "t", "ACCESS SHARE");
    let out = spawn_apply(&dir, &db, &["--cancel-blockers-after", "1s", "--max-wait", "2s"])
        .wait_with_output()
        .unwrap();
    assert_exit(&out, 1);
    let events = events(&out);
    assert!(of_kind(&events, "blocker-cancelled").is_empty(), "{}", text(&out));
    assert_eq!(of_kind(&events, "waiting-for-lock")[0]["blockers"][0]["pid"], pid);
    // Still in its transaction.
    blocker.batch_execute("SELECT 1; COMMIT").unwrap();
}

#[test]
fn a_try_that_times_out_names_its_blockers_from_pg_blocking_pids() {
    // The foreign key's first step locks t and u (SHARE ROW EXCLUSIVE on
    // both); the step names t only, so a holder on u is met by the try itself.
    let (db, dir) = setup();
    add_migration(
        &dir,
        "ALTER TABLE t ADD CONSTRAINT t_n_fk FOREIGN KEY (n) REFERENCES u (id);\n",
    );
    let (_blocker, pid) = idle_holder(&db, "writer-on-u", "u", "ROW EXCLUSIVE");
    let out = spawn_apply(&dir, &db, &["--max-attempts", "4", "--lock-timeout", "100ms"])
        .wait_with_output()
        .unwrap();
    assert_exit(&out, 1);
    let events = events(&out);
    let retries = of_kind(&events, "step-retry");
    assert_eq!(retries.len(), 3, "{}", text(&out));
    for r in &retries {
        assert!(r["error"].as_str().unwrap().contains("55P03"), "{r}");
        let ms = r["lock_timeout"].as_u64().unwrap();
        assert!((1..=100).contains(&ms), "{r}");
        assert_eq!(r["blocked_by"][0]["pid"], pid, "{r}");
        assert_eq!(r["blocked_by"][0]["application"], "writer-on-u", "{r}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("after 4 tries"), "{}", text(&out));
    assert!(
        stderr.contains(&format!("pid {pid} (writer-on-u")),
        "{}",
        text(&out)
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM pg_constraint WHERE conname = 't_n_fk'"),
        "0"
    );
}

#[test]
fn a_concurrent_build_reports_its_phase_while_it_runs() {
    let (db, dir) = setup();
    add_migration(&dir, "CREATE INDEX t_n_idx ON t (n);\n");
    // A writer in an open transaction: the build waits for it (phase
    // "waiting for writers before build") without blocking anyone.
    let (mut writer, _) = idle_holder(&db, "writer-on-t", "t", "ROW EXCLUSIVE");
    let child = spawn_apply(&dir, &db, &[]);
    // Once the build waits, two reports are due within 4.5 s (one every 2 s).
    let mut watcher = db.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_progress_create_index WHERE relid = 't'::regclass",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(4500));
    writer.batch_execute("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    let events = events(&out);
    let progress = of_kind(&events, "index-progress");
    assert!(progress.len() >= 2, "{}", text(&out));
    for p in &progress {
        assert_eq!(p["table"], "t", "{p}");
        assert!(p["phase"].as_str().unwrap().starts_with("waiting for"), "{p}");
        assert!(p["elapsed"].as_u64().unwrap() >= 1900, "{p}");
        assert!(
            p.get("blocks_total").is_some() && p.get("tuples_done").is_some(),
            "{p}"
        );
    }
    let done = of_kind(&events, "step-done");
    let step = progress[0]["step"].as_u64().unwrap() as usize;
    assert_eq!(done[step - 1]["kind"], "concurrent", "{}", text(&out));
    assert_eq!(
        scalar(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n_idx'::regclass"
        ),
        "true"
    );
}

#[test]
fn a_long_validate_reports_elapsed_time_against_the_table_size() {
    let (db, dir) = setup();
    // A check that sleeps 10 ms a row: VALIDATE scans 500 rows for about 5 s.
    add_migration(
        &dir,
        "ALTER TABLE t ADD CONSTRAINT t_slow CHECK (length(pg_sleep(0.01)::text) >= 0);\n",
    );
    let out = spawn_apply(&dir, &db, &[]).wait_with_output().unwrap();
    assert_exit(&out, 0);
    let events = events(&out);
    let scans = of_kind(&events, "scan-progress");
    assert!(!scans.is_empty(), "{}", text(&out));
    let table_bytes = scalar(&db, "SELECT pg_table_size('t')");
    for s in &scans {
        assert_eq!(s["table"], "t", "{s}");
        assert!(s["elapsed"].as_u64().unwrap() >= 1900, "{s}");
        assert_eq!(s["table_bytes"].to_string(), table_bytes, "{s}");
    }
    let step = scans[0]["step"].as_u64().unwrap() as usize;
    assert_eq!(of_kind(&events, "step-done")[step - 1]["kind"], "validate");
    assert_eq!(
        scalar(
            &db,
            "SELECT convalidated FROM pg_constraint WHERE conname = 't_slow'"
        ),
        "true"
    );
}

#[test]
fn zero_waits_are_refused_with_what_to_do() {
    let dir = migrations(&[("V1__create.sql", V1)]);
    for (flag, says) in [
        ("--max-wait", "a step would give up before its first try"),
        ("--cancel-blockers-after", "leave the flag out to cancel none"),
        ("--lock-timeout", "a step never runs without a lock timeout"),
    ] {
        let out = migrate(
            dir.path(),
            "postgres://nobody@127.0.0.1:1/none",
            &["apply", flag, "0"],
        );
        assert_exit(&out, 2);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn a_backfill_batch_does_not_queue_behind_an_old_share_lock() {
    let (db, dir) = setup();
    add_migration(&dir, "UPDATE t SET n = n + 1;\n");
    // SHARE (a plain CREATE INDEX holds it) conflicts with a batch's ROW EXCLUSIVE.
    let (mut blocker, pid) = idle_holder(&db, "index-builder", "t", "SHARE");
    let child = spawn_apply(&dir, &db, &[]);
    wait_for_monitor(&db);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        scalar(&db, "SELECT sum(n) FROM t"),
        "25250",
        "a batch ran under the SHARE lock"
    );
    blocker.batch_execute("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    let events = events(&out);
    let waits = of_kind(&events, "waiting-for-lock");
    assert!(!waits.is_empty(), "{}", text(&out));
    assert_eq!(waits[0]["lock"], "ROW EXCLUSIVE");
    assert_eq!(waits[0]["blockers"][0]["pid"], pid);
    assert_eq!(waits[0]["blockers"][0]["mode"], "ShareLock");
    let step = waits[0]["step"].as_u64().unwrap() as usize;
    assert_eq!(of_kind(&events, "step-done")[step - 1]["kind"], "backfill");
    // Every row changed exactly once.
    assert_eq!(scalar(&db, "SELECT sum(n) FROM t"), "25750");
}
