//! `migrate apply --targets` and `migrate status --targets` against real
//! PostgreSQL: databases and tenant schemas of one database applied with
//! `--jobs 4`, a second run that changes nothing, a failing target isolated
//! (with and without `--keep-going`), a running target that finishes its
//! migration when the rollout stops, a failing canary, resume after a
//! failure and after SIGKILL, bad targets files, and passwords kept out of
//! the output.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::migrate::{assert_exit, assert_stderr_has, assert_stdout_has, migrations, scalar, text};
use support::{fresh_database, TestDb};

const PASSWORD: &str = "fleet-pw-Zq81";

const HISTORY: &[(&str, &str)] = &[
    (
        "V1__items.sql",
        "CREATE TABLE items (id bigint PRIMARY KEY, name text);\n",
    ),
    ("V2__extra.sql", "CREATE TABLE extra (id bigint PRIMARY KEY);\n"),
    (
        "V3__items_name.sql",
        "ALTER TABLE items ADD COLUMN note text;\nCREATE INDEX items_name_idx ON items (name);\n",
    ),
];

/// The test database's URL with `${FLEET_PW}` as its password (the server
/// trusts local connections, so any password works, and none must show).
fn url_with_password(db: &TestDb) -> String {
    let url = &db.url;
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) if !url[start..start + at].contains(':') => {
            format!("{}:${{FLEET_PW}}{}", &url[..start + at], &url[start + at..])
        }
        Some(_) => url.clone(),
        None => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}password=${{FLEET_PW}}")
        }
    }
}

/// A targets file in `dir`: `(name, db, schema)`.
fn targets_file(dir: &Path, targets: &[(&str, &TestDb, Option<&str>)]) -> std::path::PathBuf {
    let mut yaml = String::from("targets:\n");
    for (name, db, schema) in targets {
        yaml.push_str(&format!(
            "  - name: {name}\n    url: '{}'\n",
            url_with_password(db)
        ));
        if let Some(schema) = schema {
            yaml.push_str(&format!("    schema: {schema}\n"));
        }
    }
    let path = dir.join("targets.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `migrate <args> DIR --targets FILE`, with the password in the environment.
fn fleet(dir: &Path, targets: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .arg(dir)
        .arg("--targets")
        .arg(targets)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("FLEET_PW", PASSWORD)
        .args(if args.first() == Some(&"apply") {
            &["--retry-base", "50ms"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap();
    if std::env::var_os("MIGRATE_TEST_SHOW").is_some() {
        eprintln!("$ migrate {}\n{}", args.join(" "), text(&out));
    }
    assert!(
        !text(&out).contains(PASSWORD),
        "the password was printed:\n{}",
        text(&out)
    );
    out
}

/// Applied versions in `history` of `db`, in order, comma-separated ("" when
/// there is no history).
fn applied(db: &TestDb, history: &str) -> String {
    if scalar(db, &format!("to_regclass('{history}.migrations') IS NULL")) == "true" {
        return String::new();
    }
    scalar(
        db,
        &format!(
            "SELECT coalesce(string_agg(version, ',' ORDER BY version), '') FROM {history}.migrations \
             WHERE status = 'applied'"
        ),
    )
}

/// The summary table line of `target`.
fn summary_line(out: &Output, target: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(target))
        .unwrap_or_else(|| panic!("no summary line for {target}:\n{}", text(out)))
        .to_string()
}

#[test]
fn databases_and_tenant_schemas_with_jobs_then_a_rerun_changes_nothing() {
    let dbs: Vec<TestDb> = (0..4).map(|_| fresh_database()).collect();
    let tenants = fresh_database();
    tenants.psql_ok("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b; CREATE SCHEMA \"Tenant C\";");
    let dir = migrations(HISTORY);
    let mut list: Vec<(String, &TestDb, Option<&str>)> = dbs
        .iter()
        .enumerate()
        .map(|(i, db)| (format!("db{i}"), db, None))
        .collect();
    // The tenants' database has its own public objects too.
    list.push(("tp".into(), &tenants, None));
    list.push(("ta".into(), &tenants, Some("tenant_a")));
    list.push(("tb".into(), &tenants, Some("tenant_b")));
    list.push(("tc".into(), &tenants, Some("Tenant C")));
    let list: Vec<(&str, &TestDb, Option<&str>)> =
        list.iter().map(|(n, d, s)| (n.as_str(), *d, *s)).collect();
    let file = targets_file(dir.path(), &list);

    let out = fleet(dir.path(), &file, &["apply", "--jobs", "4"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "[db0] started (");
    assert_stdout_has(&out, ":***@");
    for (name, ..) in &list {
        let line = summary_line(&out, name);
        assert!(
            line.contains("- → 3") && line.contains("applied 3"),
            "{line}\n{}",
            text(&out)
        );
    }
    for db in &dbs {
        assert_eq!(applied(db, "safe_migrate"), "1,2,3");
        assert_eq!(
            scalar(db, "to_regclass('public.items_name_idx') IS NOT NULL"),
            "true"
        );
    }
    // Each tenant's objects are in its schema, its history beside it; nothing in public.
    for (schema, history) in [
        ("tenant_a", "safe_migrate_tenant_a"),
        ("tenant_b", "safe_migrate_tenant_b"),
        ("\"Tenant C\"", "\"safe_migrate_Tenant C\""),
    ] {
        assert_eq!(applied(&tenants, history), "1,2,3", "{schema}");
        assert_eq!(
            scalar(
                &tenants,
                &format!("to_regclass('{schema}.items_name_idx') IS NOT NULL")
            ),
            "true",
            "{schema}"
        );
        assert_eq!(
            scalar(&tenants, &format!("to_regclass('{schema}.extra') IS NOT NULL")),
            "true"
        );
    }
    // The database's own history is `tp`'s alone.
    assert_eq!(applied(&tenants, "safe_migrate"), "1,2,3");
    assert_eq!(
        scalar(&tenants, "(SELECT count(*) FROM safe_migrate.migrations)"),
        "3"
    );

    let finished = scalar(
        &tenants,
        "(SELECT max(finished_at) FROM safe_migrate_tenant_a.migrations)",
    );
    let again = fleet(dir.path(), &file, &["apply", "--jobs", "4"]);
    assert_exit(&again, 0);
    for (name, ..) in &list {
        let line = summary_line(&again, name);
        assert!(line.contains("3 → 3") && line.contains("up to date"), "{line}");
    }
    assert_eq!(
        scalar(
            &tenants,
            "(SELECT max(finished_at) FROM safe_migrate_tenant_a.migrations)"
        ),
        finished
    );

    let status = fleet(dir.path(), &file, &["status"]);
    assert_exit(&status, 0);
    assert_stdout_has(&status, "tc      applied  applied  applied");

    // A later deploy on existing tables: guarded concurrent builds. Each
    // tenant's guard must see its own schema, not public's index of the
    // same name (built first, by `tp`, with --jobs 1).
    std::fs::write(
        dir.path().join("V4__note_idx.sql"),
        "CREATE INDEX items_note_idx ON items (note);\n",
    )
    .unwrap();
    let out = fleet(dir.path(), &file, &["apply", "--jobs", "1"]);
    assert_exit(&out, 0);
    for schema in ["public", "tenant_a", "tenant_b", "\"Tenant C\""] {
        assert_eq!(
            scalar(
                &tenants,
                &format!("to_regclass('{schema}.items_note_idx') IS NOT NULL")
            ),
            "true",
            "{schema}\n{}",
            text(&out)
        );
    }
    assert!(summary_line(&out, "tb").contains("3 → 4"), "{}", text(&out));
}

#[test]
fn a_failing_target_is_isolated_and_resumes() {
    let good: Vec<TestDb> = (0..3).map(|_| fresh_database()).collect();
    let bad = fresh_database();
    // V2's table is already there: V2 fails on this target.
    bad.psql_ok("CREATE TABLE extra (id bigint PRIMARY KEY, other text);");
    let dir = migrations(HISTORY);
    let file = targets_file(
        dir.path(),
        &[
            ("g0", &good[0], None),
            ("bad", &bad, None),
            ("g1", &good[1], None),
            ("g2", &good[2], None),
        ],
    );

    // Without --keep-going: no target starts after the failure.
    let out = fleet(dir.path(), &file, &["apply", "--jobs", "1"]);
    assert_exit(&out, 1);
    assert!(
        summary_line(&out, "bad").contains("failed at migration 2 step 1"),
        "{}",
        text(&out)
    );
    assert!(summary_line(&out, "bad").contains("- → 1"), "{}", text(&out));
    assert!(summary_line(&out, "g1").contains("skipped"), "{}", text(&out));
    assert_eq!(applied(&good[0], "safe_migrate"), "1,2,3");
    assert_eq!(applied(&bad, "safe_migrate"), "1");
    assert_eq!(applied(&good[1], "safe_migrate"), "");
    // Nothing of V2 or V3 is half done on the failing target.
    assert_eq!(
        scalar(
            &bad,
            "(SELECT count(*) FROM information_schema.columns WHERE table_name = 'items')"
        ),
        "2"
    );
    assert_eq!(
        scalar(
            &bad,
            "(SELECT count(*) FROM information_schema.columns WHERE table_name = 'extra')"
        ),
        "2"
    );

    let status = fleet(dir.path(), &file, &["status"]);
    assert_exit(&status, 1);
    assert_stdout_has(&status, "failed@1");

    // With --keep-going the others are applied; the failing one stays at 1.
    let out = fleet(dir.path(), &file, &["apply", "--jobs", "4", "--keep-going"]);
    assert_exit(&out, 1);
    assert!(summary_line(&out, "g0").contains("up to date"), "{}", text(&out));
    assert!(summary_line(&out, "g2").contains("applied 3"), "{}", text(&out));
    assert!(summary_line(&out, "bad").contains("1 → 1"), "{}", text(&out));
    assert_eq!(applied(&good[2], "safe_migrate"), "1,2,3");
    assert_eq!(applied(&bad, "safe_migrate"), "1");

    // Once the target is fixed, the same command resumes it.
    bad.psql_ok("DROP TABLE extra;");
    let out = fleet(dir.path(), &file, &["apply", "--jobs", "4"]);
    assert_exit(&out, 0);
    assert!(summary_line(&out, "bad").contains("1 → 3"), "{}", text(&out));
    assert_eq!(applied(&bad, "safe_migrate"), "1,2,3");
}

#[test]
fn a_failing_canary_stops_the_rollout() {
    let bad = fresh_database();
    bad.psql_ok("CREATE TABLE extra (id bigint PRIMARY KEY);");
    let other = fresh_database();
    let dir = migrations(HISTORY);
    let file = targets_file(dir.path(), &[("canary", &bad, None), ("rest", &other, None)]);
    let out = fleet(
        dir.path(),
        &file,
        &["apply", "--canary", "1", "--keep-going", "--jobs", "4"],
    );
    assert_exit(&out, 1);
    assert!(
        summary_line(&out, "canary").contains("failed at migration 2"),
        "{}",
        text(&out)
    );
    assert!(summary_line(&out, "rest").contains("skipped"), "{}", text(&out));
    assert_eq!(applied(&other, "safe_migrate"), "");

    // The same as JSON: every event names its target.
    let out = fleet(dir.path(), &file, &["apply", "--canary", "1", "--format", "json"]);
    assert_exit(&out, 1);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(events.iter().all(|e| e["target"].is_string()), "{}", text(&out));
    assert!(events
        .iter()
        .any(|e| e["event"] == "migration-failed" && e["target"] == "canary" && e["version"] == "2"));
    let result = |target: &str| {
        events
            .iter()
            .find(|e| e["event"] == "target_result" && e["target"] == target)
            .map(|e| e["result"].clone())
    };
    assert_eq!(result("canary"), Some("failed".into()));
    assert_eq!(result("rest"), Some("skipped".into()));
}

#[test]
fn bad_targets_files_exit_2_with_where_and_what() {
    let dir = migrations(HISTORY);
    let file = dir.path().join("targets.yaml");
    std::fs::write(
        &file,
        "targets:\n  - name: a\n    url: postgres://x/y\n    shema: t\n",
    )
    .unwrap();
    let out = fleet(dir.path(), &file, &["apply"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, "targets.yaml:4: ");
    assert_stderr_has(&out, "shema");

    std::fs::write(
        &file,
        "targets:\n  - {name: a, url: 'postgres://u:${NO_SUCH_VAR_Q}@x/y'}\n",
    )
    .unwrap();
    let out = fleet(dir.path(), &file, &["status"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, "${NO_SUCH_VAR_Q}");
}

#[test]
fn a_running_target_finishes_its_migration_when_the_rollout_stops() {
    let slow = fresh_database();
    let bad = fresh_database();
    // `bad` fails at V2 (its table exists) while `slow` is in V1 (4 s
    // against 1.5 s).
    bad.psql_ok("CREATE TABLE more (id bigint PRIMARY KEY, other text);");
    let dir = migrations(&[
        (
            "V1__slow.sql",
            &format!(
                "CREATE TABLE items (id bigint PRIMARY KEY);\n\
                 SELECT pg_sleep(CASE WHEN current_database() = '{}' THEN 4 ELSE 1.5 END);\n",
                slow.name
            ),
        ),
        ("V2__more.sql", "CREATE TABLE more (id bigint PRIMARY KEY);\n"),
    ]);
    let file = targets_file(dir.path(), &[("slow", &slow, None), ("bad", &bad, None)]);
    let out = fleet(dir.path(), &file, &["apply", "--jobs", "2"]);
    assert_exit(&out, 1);
    assert!(
        summary_line(&out, "bad").contains("failed at migration 2 step 1"),
        "{}",
        text(&out)
    );
    let line = summary_line(&out, "slow");
    assert!(
        line.contains("- → 1") && line.contains("stopped after 1 migration(s)"),
        "{}",
        text(&out)
    );
    assert_eq!(applied(&slow, "safe_migrate"), "1");
    // The next run resumes both where they stopped.
    bad.psql_ok("DROP TABLE more;");
    let out = fleet(dir.path(), &file, &["apply", "--jobs", "2"]);
    assert_exit(&out, 0);
    assert!(summary_line(&out, "slow").contains("1 → 2"), "{}", text(&out));
}

#[test]
fn a_tenant_killed_mid_migration_resumes() {
    let db = fresh_database();
    db.psql_ok("CREATE SCHEMA tenant_k; CREATE TABLE tenant_k.hold ();");
    let dir = migrations(&[
        ("V1__items.sql", HISTORY[0].1),
        (
            "V2__wait.sql",
            "SELECT pg_sleep(CASE WHEN to_regclass('hold') IS NOT NULL THEN 4 ELSE 0 END);\n",
        ),
    ]);
    let file = targets_file(dir.path(), &[("k", &db, Some("tenant_k"))]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["apply"])
        .arg(dir.path())
        .arg("--targets")
        .arg(&file)
        .current_dir(dir.path())
        .env("FLEET_PW", PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // SIGKILL the runner while V2 runs in the tenant's session.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while scalar(
        &db,
        "(SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND datname = current_database() \
         AND query LIKE 'SELECT pg_sleep(CASE%')",
    ) == "0"
    {
        assert!(std::time::Instant::now() < deadline, "V2 never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The server notices a dead client only when the sleep ends: end it now.
    db.psql_ok(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'safe-migrate%' AND datname = current_database();",
    );

    let status = fleet(dir.path(), &file, &["status"]);
    assert_stdout_has(&status, "applied  running@1");
    db.psql_ok("DROP TABLE tenant_k.hold;");
    let out = fleet(dir.path(), &file, &["apply"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "[k] == 2 wait: 1 steps, resuming at step 1");
    assert!(summary_line(&out, "k").contains("1 → 2"), "{}", text(&out));
    assert_eq!(applied(&db, "safe_migrate_tenant_k"), "1,2");
}
