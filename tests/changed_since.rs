//! `migrate lint --changed-since REV`: the CI gate of a pull request.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lint(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .current_dir(dir)
        .args(["lint", "migrations", "--format", "json", "--fail-on", "never"])
        .args(extra)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn reported(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            let file = f["file"].as_str().unwrap();
            let name = Path::new(file)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, f["rule"].as_str().unwrap().to_string())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn reports_only_the_new_files_and_deploys_them_together() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    let m = dir.join("migrations");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(
        m.join("V1__t.sql"),
        "CREATE TABLE t (id bigint PRIMARY KEY, a int);\n",
    )
    .unwrap();
    std::fs::write(m.join("V2__t_idx.sql"), "CREATE INDEX t_a ON t (a);\n").unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "base"]);
    git(dir, &["checkout", "-q", "-b", "feature"]);
    // The pull request: a table and, in a later file of the same release, its index.
    std::fs::write(
        m.join("V3__u.sql"),
        "CREATE TABLE u (id bigint PRIMARY KEY, b int);\n",
    )
    .unwrap();
    std::fs::write(
        m.join("V4__u_idx.sql"),
        "CREATE INDEX u_b ON u (b);\nCREATE INDEX t_id_a ON t (id, a);\n",
    )
    .unwrap();
    git(dir, &["add", "migrations/V3__u.sql"]);
    git(dir, &["commit", "-q", "-m", "u"]);
    // V4 is not even committed yet.

    let everything = reported(&lint(dir, &[]));
    assert!(
        everything.contains(&("V2__t_idx.sql".into(), "create-index-non-concurrent".into())),
        "{everything:?}"
    );
    assert!(
        everything.contains(&("V4__u_idx.sql".into(), "create-index-non-concurrent".into())),
        "{everything:?}"
    );

    let doc = lint(dir, &["--changed-since", "main"]);
    let changed = reported(&doc);
    // Only V3 and V4 are reported; u is new in this deploy, t holds data.
    assert_eq!(
        changed,
        vec![(
            "V4__u_idx.sql".to_string(),
            "create-index-non-concurrent".to_string()
        )],
        "{doc:#}"
    );
    let index = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["severity"] == "error")
        .unwrap();
    assert_eq!(index["line"], 2);
    assert_eq!(doc["summary"]["files"], 2);
}

#[test]
fn a_revision_git_does_not_know_is_a_clear_error() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join("migrations")).unwrap();
    std::fs::write(repo.path().join("migrations/V1__t.sql"), "SELECT 1;\n").unwrap();
    git(repo.path(), &["init", "-q"]);
    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .current_dir(repo.path())
        .args(["lint", "migrations", "--changed-since", "no-such-branch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--changed-since no-such-branch"), "{stderr}");
    assert!(stderr.contains("git fetch"), "{stderr}");
}
