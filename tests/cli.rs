//! The `migrate` command line, end to end: formats, exit codes, config
//! errors and bad input.

use assert_cmd::Command;
use std::fs;
use std::path::Path;

fn migrate() -> Command {
    let mut cmd = Command::cargo_bin("migrate").unwrap();
    cmd.env("NO_COLOR", "1").current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn stdout(cmd: &mut Command, code: i32) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn lints_the_examples_as_pinned() {
    let text = stdout(migrate().args(["lint", "migrations-examples"]), 1);
    insta::assert_snapshot!("examples_text", text);
}

#[test]
fn json_output_has_the_documented_shape() {
    let text = stdout(
        migrate().args(["lint", "migrations-examples", "--format", "json"]),
        1,
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for key in [
        "rule",
        "category",
        "severity",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "message",
        "help",
        "lock",
        "blocks",
        "plannable",
    ] {
        assert!(findings[0].get(key).is_some(), "missing {key}");
    }
    let set_not_null = findings.iter().find(|f| f["rule"] == "set-not-null").unwrap();
    assert_eq!(
        set_not_null["file"],
        "migrations-examples/V4__require_user_email.sql"
    );
    assert_eq!(set_not_null["line"], 2);
    assert_eq!(set_not_null["lock"], "ACCESS EXCLUSIVE");
    assert_eq!(doc["summary"]["files"], 10);
    let count = |key: &str| doc["summary"][key].as_u64().unwrap() as usize;
    assert_eq!(
        count("errors") + count("warnings") + count("infos"),
        findings.len()
    );
}

#[test]
fn sarif_and_github_formats_render() {
    let sarif = stdout(
        migrate().args(["lint", "migrations-examples", "--format", "sarif"]),
        1,
    );
    let doc: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    assert!(!doc["runs"][0]["results"].as_array().unwrap().is_empty());
    let github = stdout(
        migrate().args(["lint", "migrations-examples", "--format", "github"]),
        1,
    );
    assert!(github
        .lines()
        .all(|l| l.starts_with("::error ") || l.starts_with("::warning ") || l.starts_with("::notice ")));
    assert!(github.contains("file=migrations-examples/V5__orders_status_index.sql,line=2"));
}

#[test]
fn fail_on_controls_the_exit_code() {
    stdout(
        migrate().args(["lint", "migrations-examples", "--fail-on", "never"]),
        0,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("V1__meta.sql");
    fs::write(&file, "\\set ON_ERROR_STOP on\nSELECT 1;\n").unwrap();
    stdout(migrate().arg("lint").arg(&file), 0);
    stdout(migrate().arg("lint").arg(&file).args(["--fail-on", "warning"]), 1);
}

#[test]
fn clean_migrations_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("V1__t.sql"),
        "CREATE TABLE t (id bigint PRIMARY KEY);\nCREATE INDEX t_i ON t (id);\n",
    )
    .unwrap();
    let text = stdout(migrate().arg("lint").arg(dir.path()), 0);
    assert!(text.contains("no findings"), "{text}");
}

#[test]
fn a_syntax_error_in_the_middle_does_not_hide_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("V1__x.sql");
    fs::write(
        &file,
        "SELECT 1;\n\nALTER TABEL users ADD x int;\n\nCREATE INDEX i ON users (email);\n",
    )
    .unwrap();
    let text = stdout(migrate().arg("lint").arg(&file).args(["--format", "json"]), 1);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rules: Vec<(&str, u64)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        rules,
        vec![("parse-error", 3), ("create-index-non-concurrent", 5)]
    );
}

#[test]
fn unreadable_and_missing_paths_exit_two_with_help() {
    let out = migrate().args(["lint", "no/such/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no/such/dir") && err.contains("help:"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("V1__bad.sql");
    fs::write(&file, b"SELECT '\xff\xfe';\n").unwrap();
    let out = migrate().arg("lint").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid UTF-8"));
}

#[test]
fn config_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("migrate.yaml");
    fs::write(&config, "pg_version: 15\nrulez: {}\n").unwrap();
    let out = migrate()
        .args(["lint", "migrations-examples", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rulez"));

    fs::write(&config, "rules:\n  set-not-nul: off\n").unwrap();
    let out = migrate()
        .args(["lint", "migrations-examples", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `set-not-null`"));
}

#[test]
fn config_turns_rules_off_and_is_found_in_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("migrate.yaml"),
        "rules:\n  create-index-non-concurrent: off\npaths: [m]\n",
    )
    .unwrap();
    let sub = dir.path().join("m");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("V1__i.sql"), "CREATE INDEX i ON users (email);\n").unwrap();
    let mut cmd = migrate();
    cmd.current_dir(&sub).args(["lint", "."]);
    stdout(&mut cmd, 0);
    let mut cmd = migrate();
    cmd.current_dir(dir.path()).arg("lint");
    stdout(&mut cmd, 0);
}

#[test]
fn pg_version_changes_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("V1__d.sql");
    fs::write(&file, "ALTER TABLE users ADD COLUMN c int DEFAULT 0;\n").unwrap();
    stdout(migrate().arg("lint").arg(&file).args(["--pg-version", "11"]), 0);
    stdout(migrate().arg("lint").arg(&file).args(["--pg-version", "10"]), 1);
    let out = migrate()
        .arg("lint")
        .arg(&file)
        .args(["--pg-version", "9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ignore_directives_silence_and_unused_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("V1__i.sql");
    fs::write(
        &file,
        "-- migrate:ignore create-index-non-concurrent -- tiny table\nCREATE INDEX i ON users (email);\n-- migrate:ignore set-not-null\nSELECT 1;\n",
    )
    .unwrap();
    let text = stdout(migrate().arg("lint").arg(&file).args(["--format", "json"]), 0);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rules: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, vec!["unused-ignore"]);
}

#[test]
fn rules_and_explain() {
    let list = stdout(migrate().arg("rules"), 0);
    assert!(list.contains("set-not-null") && list.contains("create-index-non-concurrent"));
    let page = stdout(migrate().args(["explain", "set-not-null"]), 0);
    let on_disk =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules/set-not-null.md")).unwrap();
    assert_eq!(page, on_disk);
    let out = migrate().args(["explain", "set-not-nul"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `set-not-null`"));
}

#[test]
fn bad_arguments_exit_two() {
    let out = migrate().args(["lint", "--format", "xml", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = migrate().arg("lint").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn plans_the_examples_as_pinned() {
    // V7's int → bigint change is rewritten into a column swap; nothing is refused.
    let text = stdout(migrate().args(["plan", "migrations-examples"]), 0);
    let pinned =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations-examples/PLAN.txt"))
            .unwrap();
    assert_eq!(text, pinned, "migrations-examples/PLAN.txt is stale: regenerate it with `cargo run -- plan migrations-examples > migrations-examples/PLAN.txt`");
    let sql = stdout(
        migrate().args(["plan", "migrations-examples", "--format", "sql"]),
        0,
    );
    insta::assert_snapshot!("examples_plan_sql", sql);
    let json = stdout(
        migrate().args(["plan", "migrations-examples", "--format", "json"]),
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["migrations"].as_array().unwrap().len(), 10);
    let kinds: Vec<&str> = doc["migrations"][4]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["concurrent", "concurrent", "check"], "V5 plan");
}

#[test]
fn plan_exits_one_when_something_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("V1__r.sql");
    fs::write(&file, "ALTER TABLE users ADD COLUMN active boolean NOT NULL;\n").unwrap();
    let text = stdout(migrate().arg("plan").arg(&file), 1);
    assert!(
        text.contains("refused [add-column-not-null-without-default]"),
        "{text}"
    );
}
