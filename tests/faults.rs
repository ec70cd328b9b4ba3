//! Faults against real PostgreSQL, through the built binary: `migrate apply`
//! killed with SIGKILL at random and chosen points of a multi-step migration,
//! many runners at once, PgBouncer in front of the server, and a history
//! table the runner may not write. The server restart lives in
//! `tests/fault_restart.rs`, a binary of its own, since it restarts the
//! cluster every test here shares. What was tried, and the figures, are in
//! docs/reliability.md.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::migrate::{assert_exit, migrate, migrate_cmd, migrations, scalar};
use support::{copy_database, fresh_database, TestDb};

/// splitmix64: a tiny seeded generator, so a run's kill points can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, max)`.
    fn below(&mut self, max: Duration) -> Duration {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        max.mul_f64(unit)
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The multi-step migration the kill test interrupts: V1 creates and fills
/// `t` (run once, into a template database); V2 is a batched backfill, V3 a
/// concurrent index build, V4 the column swap (trigger, backfill, NOT NULL
/// through a validated CHECK, concurrent index copy, swap transaction, drop).
fn kill_migrations(rows: u64) -> tempfile::TempDir {
    migrations(&[
        (
            "V1__create.sql",
            &format!(
                "CREATE TABLE t (id bigint PRIMARY KEY, n integer NOT NULL DEFAULT 0, amount integer NOT NULL, note text);\n\
                 CREATE INDEX t_amount_idx ON t (amount);\n\
                 INSERT INTO t (id, amount, note) SELECT g, g % 1000, 'note ' || (g % 97) FROM generate_series(1, {rows}) g;\n"
            ),
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
        ("V3__note_idx.sql", "CREATE INDEX t_note_idx ON t (note);\n"),
        ("V4__widen.sql", "ALTER TABLE t ALTER COLUMN amount TYPE bigint;\n"),
    ])
}

/// Small batches and a pause, so an uninterrupted run takes a few seconds.
const KILL_APPLY: &[&str] = &["apply", "--batch-size", "2000", "--batch-pause", "20ms"];

/// Every user-visible fact of the schema in `public`, one sorted line each:
/// columns (type, nullability, default), constraints (definition,
/// `convalidated`), indexes (definition, `indisvalid`, `indisready`),
/// triggers, functions and relations.
const CATALOG_SNAPSHOT: &str = r#"
SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') FROM (
  SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') AS line
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
         || ' validated=' || convalidated
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid || ' ready=' || i.indisready
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'relation ' || relname || ' ' || relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace
) s
"#;

/// Row count and an md5 over every column the migrations touch.
const DATA_CHECKSUM: &str = "SELECT count(*) || ' rows, md5 ' || md5(string_agg(id || ':' || n || ':' || amount || ':' || \
     coalesce(note, '-'), ',' ORDER BY id)) FROM t";

/// Objects a finished plan must not leave: INVALID indexes, sync triggers
/// and functions, `*_new` / `*_old` columns, CHECK constraints, event triggers.
fn leftovers(db: &TestDb) -> String {
    scalar(
        db,
        r#"SELECT coalesce(string_agg(x, '; '), '') FROM (
          SELECT 'invalid index ' || indexrelid::regclass AS x FROM pg_index WHERE NOT indisvalid OR NOT indisready
          UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
          UNION ALL SELECT 'function ' || oid::regprocedure FROM pg_proc WHERE pronamespace = 'public'::regnamespace
          UNION ALL SELECT 'column ' || attname FROM pg_attribute
            WHERE attrelid = 't'::regclass AND NOT attisdropped AND (attname LIKE '%\_new' OR attname LIKE '%\_old')
          UNION ALL SELECT 'check ' || conname FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'c'
          UNION ALL SELECT 'event trigger ' || evtname FROM pg_event_trigger
        ) s"#,
    )
}

/// What a finished run must look like, taken from the uninterrupted run.
struct Expected {
    catalog: String,
    data: String,
}

/// Checks a database after the runs: schema and data equal the
/// uninterrupted run's, nothing temporary left, every migration applied and
/// every step recorded exactly once.
fn assert_finished(db: &TestDb, expected: &Expected, label: &str) {
    assert_eq!(
        scalar(db, CATALOG_SNAPSHOT),
        expected.catalog,
        "{label}: the schema differs from the uninterrupted run's"
    );
    assert_eq!(
        scalar(db, DATA_CHECKSUM),
        expected.data,
        "{label}: the data differs from the uninterrupted run's"
    );
    assert_eq!(leftovers(db), "", "{label}: temporary objects left");
    assert_eq!(
        scalar(
            db,
            "SELECT string_agg(version || ':' || status, ',' ORDER BY version) FROM safe_migrate.migrations"
        ),
        "1:applied,2:applied,3:applied,4:applied",
        "{label}"
    );
    assert_eq!(
        scalar(
            db,
            "SELECT (SELECT sum(step_count) FROM safe_migrate.migrations) = \
                    (SELECT count(*) FROM safe_migrate.steps WHERE state IN ('done', 'skipped'))"
        ),
        "true",
        "{label}: every step is recorded once as done or skipped"
    );
}

/// Where the run stood, from the history: the first migration not applied
/// and its first step not done, or "finished".
fn position(db: &TestDb) -> String {
    scalar(
        db,
        "SELECT coalesce((SELECT 'V' || m.version || ' step ' || (1 + (SELECT count(*) FROM safe_migrate.steps s \
                 WHERE s.version = m.version AND s.state <> 'in-progress')) || '/' || m.step_count \
                 || CASE WHEN EXISTS (SELECT 1 FROM safe_migrate.steps s WHERE s.version = m.version \
                    AND s.state = 'in-progress') THEN ' (backfill midway)' ELSE '' END \
             FROM safe_migrate.migrations m WHERE m.status <> 'applied' ORDER BY m.version LIMIT 1), \
             (SELECT CASE WHEN count(*) = 4 THEN 'finished' ELSE 'V' || (count(*) + 1) || ' not started' END \
              FROM safe_migrate.migrations))",
    )
}

fn spawn_apply(dir: &Path, db: &TestDb) -> Child {
    migrate_cmd(dir, &db.url, KILL_APPLY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// SIGKILLs `child` unless it already exited; true when the kill landed.
fn kill(child: &mut Child) -> bool {
    let landed = child.try_wait().unwrap().is_none();
    if landed {
        child.kill().unwrap();
    }
    child.wait().unwrap();
    landed
}

/// Polls `sql` (a boolean) until it is true, for up to 60 s.
fn wait_for(db: &TestDb, sql: &str, what: &str) {
    let mut client = db.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok: Option<bool> = client.query_one(sql, &[]).unwrap().get(0);
        if ok == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The runner's session is waiting (`wait_event_type = 'Lock'`) in a
/// statement that matches `pattern`.
fn runner_waits_in(pattern: &str) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'safe-migrate apply' \
         AND datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '{pattern}')"
    )
}

/// Kills a runner while its concurrent index build waits for an old
/// snapshot (a REPEATABLE READ transaction opened when `open_snapshot_when`
/// holds), then lets the orphaned build finish.
fn kill_during_concurrent_build(dir: &Path, db: &TestDb, open_snapshot_when: Option<&str>, build: &str) {
    let mut child = spawn_apply(dir, db);
    if let Some(sql) = open_snapshot_when {
        wait_for(db, sql, "the step before the index build");
    }
    let mut snapshot = db.client();
    snapshot
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .unwrap();
    wait_for(
        db,
        &runner_waits_in(&format!("CREATE INDEX CONCURRENTLY%{build}%")),
        build,
    );
    assert!(kill(&mut child), "the runner exited before the kill");
    // The server does not notice the dead client until it writes to it: the
    // build goes on, finishes once the snapshot is gone, and its session
    // (holding the run lock) ends with it.
    snapshot.batch_execute("COMMIT").unwrap();
}

/// Kills a runner inside the swap transaction: an event trigger sleeps
/// after its first `RENAME COLUMN`, so the kill lands with the renames half
/// done and ACCESS EXCLUSIVE held.
fn kill_inside_swap(dir: &Path, db: &TestDb) {
    db.psql_ok(
        "CREATE SCHEMA fault;
         CREATE FUNCTION fault.stall() RETURNS event_trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF current_query() LIKE '%RENAME COLUMN amount TO amount_old%'
              AND current_setting('fault.stalled', true) IS DISTINCT FROM 'yes' THEN
             PERFORM set_config('fault.stalled', 'yes', false);
             PERFORM pg_sleep(2);
           END IF;
         END $$;
         CREATE EVENT TRIGGER fault_stall ON ddl_command_end EXECUTE FUNCTION fault.stall();",
    );
    let mut child = spawn_apply(dir, db);
    wait_for(
        db,
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'safe-migrate apply' \
         AND datname = current_database() AND wait_event = 'PgSleep' AND xact_start IS NOT NULL)",
        "the swap transaction",
    );
    assert!(kill(&mut child), "the runner exited before the kill");
    // The orphaned session wakes, finds its client gone and rolls back.
    db.psql_ok("DROP EVENT TRIGGER fault_stall; DROP SCHEMA fault CASCADE;");
}

#[test]
fn apply_killed_at_random_points_resumes_to_the_same_schema_and_data() {
    let seed: u64 = env_or("MIGRATE_FAULT_SEED", 0x5afe_1a7e);
    let rows: u64 = env_or("MIGRATE_FAULT_ROWS", 50_000);
    let points: usize = env_or("MIGRATE_FAULT_POINTS", 20);
    eprintln!("kill test: seed {seed:#x} (MIGRATE_FAULT_SEED), {rows} rows, {points} random points");
    let mut rng = Rng(seed);
    let dir = kill_migrations(rows);

    // V1 once, into a template every run copies.
    let template = fresh_database();
    assert_exit(&migrate(dir.path(), &template.url, &["apply", "--target", "1"]), 0);

    // The uninterrupted run: the reference, and the span kill delays cover.
    let reference = copy_database(&template);
    let started = Instant::now();
    let out = migrate(dir.path(), &reference.url, KILL_APPLY);
    let duration = started.elapsed();
    assert_exit(&out, 0);
    let expected = Expected {
        catalog: scalar(&reference, CATALOG_SNAPSHOT),
        data: scalar(&reference, DATA_CHECKSUM),
    };
    assert_eq!(leftovers(&reference), "", "the uninterrupted run left objects");
    assert_eq!(scalar(&reference, "SELECT count(*) FROM t WHERE n <> 1"), "0");
    assert!(expected.catalog.contains("column t.amount bigint not null"), "{}", expected.catalog);
    drop(reference);
    eprintln!("uninterrupted run: {duration:?}");

    let mut landed = 0;
    let mut report = Vec::new();
    let mut resume = |db: &TestDb, label: &str| {
        let at = position(db);
        let out = migrate(dir.path(), &db.url, KILL_APPLY);
        assert_exit(&out, 0);
        assert_finished(db, &expected, label);
        report.push(format!("{label}: killed at {at}; resumed"));
    };

    for point in 0..points {
        let delay = rng.below(duration);
        let db = copy_database(&template);
        let mut child = spawn_apply(dir.path(), &db);
        std::thread::sleep(delay);
        if kill(&mut child) {
            landed += 1;
        }
        resume(&db, &format!("point {point} ({delay:?})"));
    }

    // Chosen points that random delays rarely hit.
    let db = copy_database(&template);
    kill_during_concurrent_build(dir.path(), &db, None, "t_note_idx");
    resume(&db, "during V3's concurrent build");
    let db = copy_database(&template);
    kill_during_concurrent_build(
        dir.path(),
        &db,
        Some(
            "SELECT to_regclass('safe_migrate.steps') IS NOT NULL AND EXISTS (SELECT 1 FROM safe_migrate.steps \
             WHERE version = '4' AND step = 1)",
        ),
        "t_amount_idx_new",
    );
    resume(&db, "during the swap's concurrent index copy");
    let db = copy_database(&template);
    kill_inside_swap(dir.path(), &db);
    resume(&db, "inside the swap transaction");

    eprintln!("{}", report.join("\n"));
    eprintln!(
        "{landed} of {points} random kills landed before the run finished; 3 chosen kills; \
         every run resumed to the reference schema and {}",
        expected.data
    );
    assert!(
        landed >= points / 2,
        "most kills should land mid-run (the runs got faster than the reference?): {landed} of {points}"
    );
}
