//! Faults against real PostgreSQL, through the built binary: `migrate apply`
//! killed with SIGKILL at random and chosen points of a multi-step migration,
//! many runners at once, PgBouncer in front of the server, and a history
//! table the runner may not write. The server restart lives in
//! `tests/fault_restart.rs`, a binary of its own, since it restarts the
//! cluster every test here shares. What was tried, and the figures, are in
//! docs/reliability.md.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::migrate::{
    assert_exit, assert_stdout_has, existing, migrate, migrate_cmd, migrations, scalar, text,
};
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
const DATA_CHECKSUM: &str =
    "SELECT count(*) || ' rows, md5 ' || md5(string_agg(id || ':' || n || ':' || amount || ':' || \
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
    let rows: u64 = env_or("MIGRATE_FAULT_ROWS", 30_000);
    let points: usize = env_or("MIGRATE_FAULT_POINTS", 20);
    eprintln!("kill test: seed {seed:#x} (MIGRATE_FAULT_SEED), {rows} rows, {points} random points");
    let mut rng = Rng(seed);
    let dir = kill_migrations(rows);

    // V1 once, into a template every run copies.
    let template = fresh_database();
    assert_exit(
        &migrate(dir.path(), &template.url, &["apply", "--target", "1"]),
        0,
    );

    // The uninterrupted run: the reference, and the span kill delays cover.
    // It runs twice, and the faster run's duration counts: the first run
    // on a cold cache is slower than the ones the kills interrupt.
    let mut duration = Duration::MAX;
    let mut reference: Option<Expected> = None;
    for _ in 0..2 {
        let db = copy_database(&template);
        let started = Instant::now();
        let out = migrate(dir.path(), &db.url, KILL_APPLY);
        duration = duration.min(started.elapsed());
        assert_exit(&out, 0);
        assert_eq!(leftovers(&db), "", "the uninterrupted run left objects");
        assert_eq!(scalar(&db, "SELECT count(*) FROM t WHERE n <> 1"), "0");
        match &reference {
            None => {
                reference = Some(Expected {
                    catalog: scalar(&db, CATALOG_SNAPSHOT),
                    data: scalar(&db, DATA_CHECKSUM),
                })
            }
            Some(expected) => assert_finished(&db, expected, "the second uninterrupted run"),
        }
    }
    let expected = reference.unwrap();
    assert!(
        expected.catalog.contains("column t.amount bigint not null"),
        "{}",
        expected.catalog
    );
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
        landed >= points / 4,
        "most kills should land mid-run (the runs got faster than the reference?): {landed} of {points}"
    );
}

/// Starts `n` runners at once on the same migrations; all must exit 0, one
/// applying everything and the others finding nothing pending.
fn runners_apply_each_step_once(n: usize) {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE t (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n\
             CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text NOT NULL);\n\
             INSERT INTO t (id) SELECT g FROM generate_series(1, 5000) g;\n",
        ),
        ("V2__bump.sql", "UPDATE t SET n = n + 1;\n"),
        ("V3__idx.sql", "CREATE INDEX t_n_idx ON t (n);\n"),
        (
            "V4__audit.sql",
            "INSERT INTO audit (what) VALUES ('v4');\nSELECT pg_sleep(0.5);\n",
        ),
    ]);
    // t holds data when V2–V4 are deployed.
    existing(dir.path(), &db, "1");
    let children: Vec<Child> = (0..n)
        .map(|_| {
            migrate_cmd(dir.path(), &db.url, &["apply", "--batch-size", "500"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outs {
        assert_exit(out, 0);
    }
    let stdouts: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    let applied = stdouts
        .iter()
        .filter(|s| s.contains("applied 3 migration(s)"))
        .count();
    let idle = stdouts
        .iter()
        .filter(|s| s.contains("nothing to apply") && !s.contains("== "))
        .count();
    assert_eq!((applied, idle), (1, n - 1), "{stdouts:#?}");
    // Exactly-once effects: the backfill bumped every row once, the insert ran once.
    assert_eq!(scalar(&db, "SELECT count(*) FROM t WHERE n <> 1"), "0");
    assert_eq!(scalar(&db, "SELECT count(*) FROM audit"), "1");
    assert_eq!(
        scalar(
            &db,
            "SELECT string_agg(version || ':' || status || ':' || step_count, ',' ORDER BY version) \
             FROM safe_migrate.migrations"
        ),
        // A `V` file runs in one transaction, as Flyway and refinery run it:
        // its kept statements are one step.
        "1:applied:1,2:applied:1,3:applied:3,4:applied:1"
    );
    // Each step recorded once, by one runner, on its first try.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) || ' rows, ' || count(DISTINCT (version, step)) || ' steps, max attempts ' || max(attempts) \
             FROM safe_migrate.steps"
        ),
        "6 rows, 6 steps, max attempts 1"
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        "0"
    );
}

#[test]
fn two_runners_started_together_apply_each_step_once() {
    runners_apply_each_step_once(2);
}

#[test]
fn eight_runners_started_together_apply_each_step_once() {
    runners_apply_each_step_once(8);
}

/// A PgBouncer in front of the test cluster, stopped when dropped.
struct PgBouncer {
    child: Child,
    port: u16,
    /// Holds the ini, userlist and log.
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts `pgbouncer` on a free port of 127.0.0.1 with `pool_mode`,
    /// trusting the `postgres` user and connecting to the cluster's socket.
    /// `None` when pgbouncer is not installed (see [`pgbouncer_binary`]).
    fn start(pool_mode: &str) -> Option<PgBouncer> {
        let binary = pgbouncer_binary()?;
        let (socket_dir, server_port) = support::socket_and_port()
            .expect("the PgBouncer tests need the throwaway cluster, not MIGRATE_TEST_DATABASE_URL");
        let dir = tempfile::Builder::new()
            .prefix("safe-migrate-pgbouncer.")
            .tempdir_in("/tmp")
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = dir.path();
        std::fs::write(root.join("userlist.txt"), "\"postgres\" \"\"\n").unwrap();
        // `server_round_robin` hands out server connections in turn, as a
        // busy pool does, so consecutive transactions of one client land on
        // different backends.
        let ini = format!(
            "[databases]\n* = host={sock} port={server_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {root}/userlist.txt\npool_mode = {pool_mode}\n\
             server_round_robin = 1\ndefault_pool_size = 4\nmax_client_conn = 50\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {root}/pgbouncer.log\npidfile =\n",
            sock = socket_dir.display(),
            root = root.display(),
        );
        std::fs::write(root.join("pgbouncer.ini"), ini).unwrap();
        let mut cmd = Command::new(binary);
        cmd.arg(root.join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // PgBouncer refuses to run as root; run it as the server's user,
        // which may also enter the cluster's socket directory.
        if let Some((uid, gid)) = support::server_user() {
            for entry in [
                root.to_path_buf(),
                root.join("userlist.txt"),
                root.join("pgbouncer.ini"),
            ] {
                std::os::unix::fs::chown(&entry, Some(uid), Some(gid)).unwrap();
            }
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(root.join("pgbouncer.log")).unwrap_or_default();
                panic!("pgbouncer exited ({status}):\n{log}");
            }
            assert!(Instant::now() < deadline, "pgbouncer did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(PgBouncer {
            child,
            port,
            _dir: dir,
        })
    }

    fn url(&self, db: &TestDb) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{}", self.port, db.name)
    }
}

/// The pgbouncer binary, or `None` (with the reason printed) when it is not
/// installed: PgBouncer is an optional prerequisite of the test suite. With
/// `CI` set the test fails instead, since `.ci/run` installs it.
fn pgbouncer_binary() -> Option<&'static str> {
    let found = ["pgbouncer", "/usr/sbin/pgbouncer"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let reason = "pgbouncer is not installed (neither on PATH nor /usr/sbin/pgbouncer); \
                      install it (`apt-get install pgbouncer`) to run this test";
        assert!(std::env::var_os("CI").is_none(), "CI is set and {reason}");
        // Straight to stderr, past the test harness's capture, so the skip
        // shows in a plain `cargo test` run.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "faults: skipped a PgBouncer test: {reason}");
    }
    found
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens two transactions through the pooler at once, so its pool holds
/// two server connections (a busy pool's normal state).
fn warm_pool(url: &str) {
    let mut a = support::connect(url);
    let mut b = support::connect(url);
    a.batch_execute("BEGIN; SELECT 1").unwrap();
    b.batch_execute("BEGIN; SELECT 1").unwrap();
    a.batch_execute("COMMIT").unwrap();
    b.batch_execute("COMMIT").unwrap();
}

#[test]
fn pgbouncer_transaction_pooling_is_refused_and_session_pooling_works() {
    let db = fresh_database();
    let dir = migrations(&[
        (
            "V1__create.sql",
            "CREATE TABLE t (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n",
        ),
        ("V2__idx.sql", "CREATE INDEX t_n_idx ON t (n);\n"),
    ]);

    let Some(transaction) = PgBouncer::start("transaction") else {
        return;
    };
    let url = transaction.url(&db);
    warm_pool(&url);
    let out = migrate(dir.path(), &url, &["apply"]);
    eprintln!("through pool_mode=transaction:\n{}", text(&out));
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("transaction-pooling proxy"), "{}", text(&out));
    assert!(stderr.contains("session-pooled"), "{}", text(&out));
    assert_eq!(
        scalar(&db, "SELECT (to_regnamespace('safe_migrate') IS NULL)::text"),
        "true"
    );
    drop(transaction);

    let session = PgBouncer::start("session").expect("pgbouncer ran a moment ago");
    let url = session.url(&db);
    warm_pool(&url);
    let out = migrate(dir.path(), &url, &["apply"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "applied 2 migration(s)");
    assert_eq!(
        scalar(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n_idx'::regclass"
        ),
        "true"
    );
}

#[test]
fn a_history_write_denied_is_reported_and_rolls_the_step_back() {
    let db = fresh_database();
    let role = format!("migrator_{}", db.name);
    db.psql_ok(&format!(
        "CREATE ROLE {role} LOGIN; GRANT CREATE ON DATABASE {db} TO {role}; GRANT ALL ON SCHEMA public TO {role};",
        db = db.name
    ));
    let as_role = db
        .url
        .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    assert_ne!(as_role, db.url);
    let dir = migrations(&[(
        "V1__create.sql",
        "CREATE TABLE t (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);\n\
         INSERT INTO t (id) SELECT g FROM generate_series(1, 1000) g;\n",
    )]);
    assert_exit(&migrate(dir.path(), &as_role, &["apply"]), 0);
    // The role keeps its tables and may read the history and mark
    // migrations, but may no longer record steps.
    db.psql_ok(&format!(
        "ALTER SCHEMA safe_migrate OWNER TO postgres;
         ALTER TABLE safe_migrate.migrations OWNER TO postgres;
         ALTER TABLE safe_migrate.steps OWNER TO postgres;
         GRANT USAGE, CREATE ON SCHEMA safe_migrate TO {role};
         GRANT SELECT, INSERT, UPDATE ON safe_migrate.migrations TO {role};
         GRANT SELECT, DELETE ON safe_migrate.steps TO {role};"
    ));
    std::fs::write(
        dir.path().join("V2__grow.sql"),
        "ALTER TABLE t ADD COLUMN c integer;\nUPDATE t SET n = n + 1;\n",
    )
    .unwrap();
    let out = migrate(dir.path(), &as_role, &["apply"]);
    eprintln!("history write denied:\n{}", text(&out));
    // A history that cannot be written is a setup problem: exit 2, named
    // as the history's, with the server's reason.
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("history in schema safe_migrate: recording")
            && stderr.contains("V2__grow.sql step 1")
            && stderr.contains("permission denied for table steps (SQLSTATE 42501)"),
        "{}",
        text(&out)
    );
    assert!(!stderr.contains("panicked"), "{}", text(&out));
    // The step's effect rolled back with its record.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'"
        ),
        "0"
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM safe_migrate.steps WHERE version = '2'"),
        "0"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT status FROM safe_migrate.migrations WHERE version = '2'"
        ),
        "failed"
    );

    db.psql_ok(&format!("GRANT INSERT, UPDATE ON safe_migrate.steps TO {role};"));
    let out = migrate(dir.path(), &as_role, &["apply", "--batch-size", "100"]);
    assert_exit(&out, 0);
    assert_eq!(scalar(&db, "SELECT count(*) FROM t WHERE n <> 1"), "0");
    assert_eq!(
        scalar(
            &db,
            "SELECT status FROM safe_migrate.migrations WHERE version = '2'"
        ),
        "applied"
    );
    db.psql_ok(&format!(
        "REASSIGN OWNED BY {role} TO postgres; DROP OWNED BY {role};"
    ));
    // Roles are cluster-wide: drop this one, which matters on a shared
    // MIGRATE_TEST_DATABASE_URL server.
    let mut admin = support::connect(&support::with_dbname(&db.url, "postgres"));
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .unwrap_or_else(|e| panic!("DROP ROLE {role}: {}", support::error_text(&e)));
}
