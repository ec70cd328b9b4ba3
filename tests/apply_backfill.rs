//! The batching engine of `migrate apply` against real PostgreSQL, through
//! the built binary: adaptive batch sizes and progress events, SIGKILL at
//! random points of a backfill, throttling while a vacuum works on the
//! table, a unique NOT NULL key standing in for a primary key, and the
//! column swap killed during its backfill and right after its swap step.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::migrate::{assert_exit, existing, migrate, migrate_cmd, migrations, scalar, text};
use support::{fresh_database, TestDb};

fn count(db: &TestDb, sql: &str) -> i64 {
    scalar(db, sql).parse().unwrap()
}

/// The history's state of `step` (0-based) of migration `version`, if recorded.
fn step_state(db: &TestDb, version: &str, step: i32) -> Option<String> {
    db.client()
        .query_opt(
            "SELECT state FROM safe_migrate.steps WHERE version = $1 AND step = $2
             AND to_regclass('safe_migrate.steps') IS NOT NULL",
            &[&version, &step],
        )
        .ok()
        .flatten()
        .map(|r| r.get(0))
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// JSON events of a running `migrate apply`, line by line, on a channel.
fn events(child: &mut Child) -> mpsc::Receiver<serde_json::Value> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            if send.send(value).is_err() {
                break;
            }
        }
    });
    receive
}

/// A cheap pseudo-random sequence (xorshift), seeded from the clock and
/// printed, so a failing run can be told apart from another.
struct Xorshift(u64);

impl Xorshift {
    fn from_clock() -> Xorshift {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("random kill points: seed {seed}");
        Xorshift(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn batches_grow_toward_the_target_and_progress_is_reported_as_json() {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE t (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n\
             INSERT INTO t (id) SELECT g FROM generate_series(1, 30000) g;\nANALYZE t;\n",
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
    ]);
    existing(dir.path(), &db, "1");
    let out = migrate(
        dir.path(),
        &db.url,
        &[
            "apply",
            "--format",
            "json",
            "--batch-size",
            "50",
            "--batch-pause",
            "0",
        ],
    );
    assert_exit(&out, 0);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sizes: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "batch-done")
        .map(|e| e["batch_size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes.first(), Some(&50), "{}", text(&out));
    assert!(
        sizes.windows(2).all(|w| w[1] <= w[0] * 2),
        "grew more than twofold: {sizes:?}"
    );
    assert!(sizes.iter().max().unwrap() >= &400, "never grew: {sizes:?}");
    let started = events.iter().find(|e| e["event"] == "backfill-started").unwrap();
    assert_eq!(started["estimated_rows"], 30000);
    let progress = events
        .iter()
        .rfind(|e| e["event"] == "backfill-progress")
        .unwrap();
    assert_eq!(progress["rows"], 30000, "{progress}");
    assert!(progress["rows_per_sec"].as_u64().unwrap() > 0, "{progress}");
    assert!(progress["batch_size"].as_u64().unwrap() >= 50, "{progress}");
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE n <> 1"), 0);
}

#[test]
fn a_backfill_killed_at_random_points_changes_every_row_exactly_once() {
    let db = fresh_database();
    let rows = 100_000;
    let dir = migrations(&[
        (
            "V1__create.sql",
            &format!(
                "CREATE TABLE t (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n\
                 INSERT INTO t (id) SELECT g FROM generate_series(1, {rows}) g;\n"
            ),
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
    ]);
    existing(dir.path(), &db, "1");
    assert_exit(&migrate(dir.path(), &db.url, &["apply", "--target", "1"]), 0);
    let mut random = Xorshift::from_clock();
    let mut killed_midway = 0;
    for round in 0..5 {
        let done_before = count(&db, "SELECT count(*) FROM t WHERE n = 1");
        let child = migrate_cmd(
            dir.path(),
            &db.url,
            &[
                "apply",
                "--batch-size",
                "50",
                "--batch-target",
                "10ms",
                "--batch-pause",
                "30ms",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        if round > 0 {
            // The first kill lands anywhere (maybe before the first batch);
            // the others once this run's batches are committing.
            wait_for("this run's batches", || {
                count(&db, "SELECT count(*) FROM t WHERE n = 1") > done_before
                    || step_state(&db, "2", 0).as_deref() == Some("done")
            });
        }
        std::thread::sleep(Duration::from_millis(random.below(400)));
        kill_9(child);
        let done = count(&db, "SELECT count(*) FROM t WHERE n = 1");
        if step_state(&db, "2", 0).as_deref() == Some("in-progress") && done > 0 && done < rows {
            killed_midway += 1;
        }
        // Never a row done twice, whenever the kill lands.
        assert_eq!(count(&db, "SELECT count(*) FROM t WHERE n > 1"), 0);
    }
    assert!(
        killed_midway >= 2,
        "only {killed_midway} kills landed mid-backfill"
    );
    let out = migrate(dir.path(), &db.url, &["apply", "--batch-pause", "0"]);
    assert_exit(&out, 0);
    // The same as an uninterrupted run: every counter incremented once.
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE n <> 1"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM t"), rows);
    assert_eq!(step_state(&db, "2", 0).as_deref(), Some("done"));
}

#[test]
fn a_backfill_waits_while_a_vacuum_works_on_the_table() {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE big (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n\
             INSERT INTO big (id) SELECT g FROM generate_series(1, 300000) g;\n",
        ),
        ("V2__bump.sql", "UPDATE big SET n = n + 1;\n"),
    ]);
    existing(dir.path(), &db, "1");
    assert_exit(&migrate(dir.path(), &db.url, &["apply", "--target", "1"]), 0);

    // A slow VACUUM of the table on another connection (a few pages a second).
    let mut vacuum = db.client();
    let vacuum_pid: i32 = vacuum.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let vacuuming = std::thread::spawn(move || {
        // One statement per call: VACUUM refuses to run in a multi-statement string.
        vacuum
            .batch_execute("SET vacuum_cost_delay = 50")
            .and_then(|()| vacuum.batch_execute("SET vacuum_cost_limit = 1"))
            .and_then(|()| vacuum.batch_execute("VACUUM big"))
            .err()
            .map(|e| support::error_text(&e))
    });
    wait_for("the VACUUM in pg_stat_progress_vacuum", || {
        assert!(!vacuuming.is_finished(), "the VACUUM ended early");
        count(
            &db,
            "SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = 'big'::regclass",
        ) > 0
    });

    let mut child = migrate_cmd(dir.path(), &db.url, &["apply", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = events(&mut child);
    let throttled = loop {
        let event = events
            .recv_timeout(Duration::from_secs(60))
            .expect("no throttled event while the VACUUM ran");
        assert_ne!(
            event["event"], "batch-done",
            "a batch ran during the VACUUM: {event}"
        );
        if event["event"] == "throttled" {
            break event;
        }
    };
    let reason = throttled["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("vacuum working on big (pid {vacuum_pid}")),
        "{reason}"
    );
    // Nothing changes while it waits.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&db, "SELECT count(*) FROM big WHERE n <> 0"), 0);

    // Once the vacuum is gone the backfill goes on to the end.
    db.client()
        .execute("SELECT pg_cancel_backend($1)", &[&vacuum_pid])
        .unwrap();
    let cancelled = vacuuming.join().unwrap();
    assert!(
        cancelled.is_some_and(|e| e.contains("canceling statement")),
        "the VACUUM ended on its own: it must outlast the check"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "apply failed after the vacuum ended");
    let rest: Vec<serde_json::Value> = events.iter().collect();
    assert!(rest.iter().any(|e| e["event"] == "migration-applied"));
    assert_eq!(count(&db, "SELECT count(*) FROM big WHERE n <> 1"), 0);
}

#[test]
fn a_unique_not_null_key_cuts_batches_when_there_is_no_primary_key() {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE t (code text NOT NULL, n integer NOT NULL DEFAULT 0, other integer);\n\
             CREATE UNIQUE INDEX t_other_idx ON t (other);\n\
             CREATE UNIQUE INDEX t_code_idx ON t (code);\n\
             INSERT INTO t (code, other) SELECT 'c' || g, g FROM generate_series(1, 2000) g;\n",
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
    ]);
    existing(dir.path(), &db, "1");
    let out = migrate(
        dir.path(),
        &db.url,
        &["apply", "--batch-size", "30", "--batch-pause", "0"],
    );
    assert_exit(&out, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE n <> 1"), 0);
}

/// The column swap of `quantity integer` → bigint on 30,000 rows.
const SWAP_V1: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, quantity integer NOT NULL, note text);\n\
CREATE INDEX orders_quantity_idx ON orders (quantity);\n\
INSERT INTO orders SELECT g, g, 'n' FROM generate_series(1, 30000) g;\n";
const SWAP_V2: &str = "ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;\n";

/// The 0-based indexes of the plan's backfill and swap steps of migration 2.
fn swap_plan_steps(dir: &Path) -> (i32, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["plan", "--format", "json"])
        .arg(dir)
        .current_dir(dir)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = plan["migrations"][1]["steps"].as_array().unwrap();
    let index = |kind: &str| steps.iter().position(|s| s["kind"] == kind).unwrap() as i32;
    (index("backfill"), index("swap"))
}

#[test]
fn the_column_swap_resumes_after_kill_9_during_the_backfill_and_after_the_swap() {
    let db = fresh_database();
    let dir = migrations(&[("V1__create.sql", SWAP_V1), ("V2__widen.sql", SWAP_V2)]);
    let (backfill, swap) = swap_plan_steps(dir.path());
    assert_exit(&migrate(dir.path(), &db.url, &["apply", "--target", "1"]), 0);

    // 1. Killed during the backfill.
    let child = migrate_cmd(
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
    wait_for("backfill batches", || {
        step_state(&db, "2", backfill).as_deref() == Some("in-progress")
    });
    std::thread::sleep(Duration::from_millis(200));
    kill_9(child);
    let copied = count(&db, "SELECT count(*) FROM orders WHERE quantity_new IS NOT NULL");
    assert!(copied > 0 && copied < 30000, "{copied} rows copied at the kill");
    // Writes between runs go through the sync trigger.
    db.psql_ok(
        "UPDATE orders SET quantity = quantity + 1000000 WHERE id % 100 = 0;
         INSERT INTO orders VALUES (30001, 7, 'late');",
    );

    // 2. Killed right after the swap step: an uncommitted row in the history
    // where the next step's record goes holds that step back, so the kill
    // lands between the swap and the contract step, every time.
    let mut holder = db.client();
    holder
        .batch_execute(&format!(
            "BEGIN; INSERT INTO safe_migrate.steps (version, step, state, sql_checksum) \
             VALUES ('2', {}, 'done', 'held by the test')",
            swap + 1
        ))
        .unwrap();
    let child = migrate_cmd(
        dir.path(),
        &db.url,
        &["apply", "--batch-pause", "0", "--max-attempts", "1000"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_for("the swap step", || {
        step_state(&db, "2", swap).as_deref() == Some("done")
    });
    kill_9(child);
    holder.batch_execute("ROLLBACK").unwrap();
    let column_type = "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                       WHERE attrelid = 'orders'::regclass AND attname = 'quantity' AND NOT attisdropped";
    assert_eq!(scalar(&db, column_type), "bigint");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass \
             AND attname = 'quantity_old' AND NOT attisdropped"
        ),
        1,
        "killed after the contract step: the test proves nothing"
    );

    // 3. A new run completes.
    let out = migrate(dir.path(), &db.url, &["apply"]);
    assert_exit(&out, 0);
    assert_eq!(scalar(&db, column_type), "bigint");
    let checks = [
        ("SELECT count(*) FROM orders", "30001"),
        (
            "SELECT sum(quantity) FROM orders",
            // 1..30000, plus 1,000,000 on each of 300 rows, plus the late 7.
            &(30000i64 * 30001 / 2 + 300 * 1_000_000 + 7).to_string(),
        ),
        ("SELECT count(*) FROM orders WHERE quantity IS NULL", "0"),
        (
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass \
             AND attname LIKE 'quantity\\_%' AND NOT attisdropped",
            "0",
        ),
        (
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal",
            "0",
        ),
        ("SELECT count(*) FROM pg_index WHERE NOT indisvalid", "0"),
        (
            "SELECT pg_get_indexdef('orders_quantity_idx'::regclass)",
            "CREATE INDEX orders_quantity_idx ON public.orders USING btree (quantity)",
        ),
        (
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'quantity'",
            "true",
        ),
    ];
    for (sql, expected) in checks {
        assert_eq!(scalar(&db, sql), expected, "{sql}\n{}", text(&out));
    }
    assert_exit(&migrate(dir.path(), &db.url, &["apply"]), 0);
}
