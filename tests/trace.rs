//! `migrate trace` on a real PostgreSQL: the observations it makes, and the
//! linter's claims it checks.

mod support;

use safe_migrate::lint::fixture::{POPULATE, SCHEMA};
use safe_migrate::lint::rules::ALL;
use safe_migrate::lint::LintSettings;
use safe_migrate::source::{from_text, MigrationFile, NamingScheme, Source};
use safe_migrate::trace::compare::Discrepancy;
use safe_migrate::trace::{trace, Database, HistoryGuard, Trace, TraceSettings};
use serde_json::Value;
use std::process::Command;
use support::fresh_database;

fn migrate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
}

fn file(name: &str, text: &str) -> Source {
    let file = MigrationFile {
        path: name.into(),
        version: None,
        name: name.into(),
        scheme: NamingScheme::Explicit,
    };
    from_text(file, text.to_string())
}

/// Traces `sql` as the migration after the lint fixture (schema and rows).
fn trace_after_fixture(sql: &str) -> Trace {
    trace_after_fixture_on(&fresh_database(), sql)
}

fn trace_after_fixture_on(db: &support::TestDb, sql: &str) -> Trace {
    let history = format!("{SCHEMA}{POPULATE}");
    let settings = TraceSettings {
        database: Database::Url(db.url.clone()),
        lint: LintSettings::default(),
        pg_version: None,
        guard: HistoryGuard::Refuse,
        rows: 100,
    };
    trace(
        vec![file("V1__fixture.sql", &history), file("V2__example.sql", sql)],
        &settings,
    )
    .unwrap_or_else(|e| panic!("trace failed: {e}"))
}

/// The statements of the JSON report's file whose path ends with `suffix`.
fn statements<'a>(doc: &'a Value, suffix: &str) -> &'a Vec<Value> {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no file {suffix}"))["statements"]
        .as_array()
        .unwrap()
}

fn statement<'a>(doc: &'a Value, suffix: &str, sql_part: &str) -> &'a Value {
    statements(doc, suffix)
        .iter()
        .find(|s| s["sql"].as_str().unwrap().contains(sql_part))
        .unwrap_or_else(|| panic!("no statement with {sql_part:?} in {suffix}"))
}

fn has_lock(stmt: &Value, relation: &str, mode: &str) -> bool {
    stmt["locks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["relation"] == relation && l["mode"] == mode)
}

fn rewrites(stmt: &Value) -> Vec<&str> {
    stmt["rewrites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect()
}

#[test]
fn traces_the_examples_on_a_throwaway_cluster() {
    let child = migrate()
        .args(["trace", "--temp", "migrations-examples", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["discrepancies"], 0, "{doc:#}");
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");
    assert_eq!(doc["summary"]["files"], 10);

    let set_not_null = statement(&doc, "V4__require_user_email.sql", "SET NOT NULL");
    assert!(
        has_lock(set_not_null, "users", "ACCESS EXCLUSIVE"),
        "{set_not_null:#}"
    );
    assert!(rewrites(set_not_null).is_empty());

    let index = statement(&doc, "V5__orders_status_index.sql", "CREATE INDEX");
    assert!(has_lock(index, "orders", "SHARE"), "{index:#}");
    assert!(!has_lock(index, "orders", "ACCESS EXCLUSIVE"), "{index:#}");

    let bigint = statement(&doc, "V7__order_column_types.sql", "TYPE bigint");
    assert!(rewrites(bigint).contains(&"orders"), "{bigint:#}");
    let text = statement(&doc, "V7__order_column_types.sql", "TYPE text");
    assert!(rewrites(text).is_empty(), "{text:#}");
    assert!(has_lock(text, "orders", "ACCESS EXCLUSIVE"), "{text:#}");

    // The tables were filled before the file that first changes them.
    let v2 = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with("V2__create_orders.sql"))
        .unwrap();
    let filled: Vec<&str> = v2["filled"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rows"] == 100)
        .map(|f| f["table"].as_str().unwrap())
        .collect();
    assert_eq!(filled, ["accounts", "users"]);

    // The cluster is stopped and its directory removed.
    let prefix = format!("safe-migrate-trace.{pid}.");
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn every_bad_example_takes_the_locks_and_rewrites_its_findings_claim() {
    let mut report = String::new();
    let mut traced = 0;
    for rule in ALL.iter().filter(|r| !r.bad.is_empty()) {
        let trace = trace_after_fixture(rule.bad);
        let example = trace.files.last().unwrap();
        for stmt in &example.statements {
            let sql = stmt.span.slice(&example.source.text);
            if let Some(error) = &stmt.error {
                eprintln!("{}: `{sql}` failed (not compared): {error}", rule.id);
            }
            for d in &stmt.discrepancies {
                report.push_str(&format!("{}: `{sql}`: {d}\n", rule.id));
            }
        }
        // The fixture itself must trace cleanly too.
        for (f, s, d) in trace.discrepancies() {
            if !std::ptr::eq(f, example) {
                report.push_str(&format!("fixture at byte {}: {d}\n", s.span.start));
            }
        }
        traced += 1;
    }
    assert!(traced > 30, "only {traced} rules traced");
    assert!(report.is_empty(), "\n{report}");
}

#[test]
fn reports_a_rewrite_claim_that_does_not_hold() {
    // `change-column-type` says timestamp → timestamptz rewrites unless the
    // session TimeZone is UTC. Here the database's default makes the session
    // UTC, which the migration's text does not show, so PostgreSQL (12+)
    // skips the rewrite and the static claim does not hold.
    let db = fresh_database();
    db.psql_ok(&format!("ALTER DATABASE {} SET TimeZone = 'UTC';", db.name));
    let trace = trace_after_fixture_on(&db, "ALTER TABLE users ALTER COLUMN created_at TYPE timestamptz;");
    let found: Vec<&Discrepancy> = trace.discrepancies().map(|(_, _, d)| d).collect();
    assert_eq!(
        found,
        [&Discrepancy::NoRewrite {
            rule: "change-column-type",
            table: "users".into()
        }]
    );
}

#[test]
fn fails_on_discrepancy_and_refuses_a_database_with_history() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("V1__fixture.sql"), format!("{SCHEMA}{POPULATE}")).unwrap();
    std::fs::write(
        dir.path().join("V2__tz.sql"),
        "ALTER TABLE users ALTER COLUMN created_at TYPE timestamptz;\n",
    )
    .unwrap();
    let db = fresh_database();
    db.psql_ok(&format!("ALTER DATABASE {} SET TimeZone = 'UTC';", db.name));
    let run = |extra: &[&str]| {
        migrate()
            .arg("trace")
            .arg(dir.path())
            .args(["--database-url", &db.url])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--fail-on-discrepancy"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("discrepancy: change-column-type says users is rewritten, and it was not"),
        "{stdout}"
    );

    db.psql_ok("CREATE SCHEMA safe_migrate;");
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("holds migration history"), "{stderr}");
    let out = run(&["--i-know-this-is-not-production"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
