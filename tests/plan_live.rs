//! `migrate plan --database-url`: facts the history lacks come from the live
//! catalog, and nothing is changed.

mod support;

use std::process::Command;

#[test]
fn plan_reads_keys_and_version_from_the_catalog() {
    let db = support::fresh_database();
    db.psql_ok("CREATE TABLE legacy (\"Key\" text, part int, v int, PRIMARY KEY (\"Key\", part));");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("V1__update.sql"), "UPDATE legacy SET v = 1;\n").unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .arg("plan")
            .arg(dir.path())
            .args(["--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let offline = run(&[]);
    assert_eq!(
        offline["migrations"][0]["steps"][0]["backfill"]["key"],
        serde_json::json!([])
    );
    let live = run(&["--database-url", &db.url]);
    assert_eq!(
        live["migrations"][0]["steps"][0]["backfill"]["key"],
        serde_json::json!(["Key", "part"])
    );
    let mut client = db.client();
    let server: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int / 10000", &[])
        .unwrap()
        .get(0);
    assert_eq!(live["pg_version"], server);
    // Planning changed nothing: no history schema.
    let untouched: bool = client
        .query_one("SELECT to_regnamespace('safe_migrate') IS NULL", &[])
        .unwrap()
        .get(0);
    assert!(untouched);
}
