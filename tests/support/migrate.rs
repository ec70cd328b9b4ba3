//! Running the built `migrate` binary against a test database, for the
//! apply, backfill and fault tests: a directory of migrations, a command
//! with fast retries, and readable failure output.

use super::TestDb;
use std::path::Path;
use std::process::{Command, Output};

/// A temporary directory holding `files` (relative path, SQL); directories
/// in a path (diesel's `…/up.sql`, Prisma's `…/migration.sql`) are created.
pub fn migrations(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, sql).unwrap();
    }
    dir
}

/// `migrate <args> <dir> --database-url <url>` run in `dir` (so no
/// migrate.yaml is found), with `--retry-base 50ms` for `apply`.
pub fn migrate_cmd(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate"));
    cmd.args(args)
        .arg(dir)
        .args(["--database-url", url])
        .current_dir(dir)
        .env_remove("DATABASE_URL");
    if args.first() == Some(&"apply") {
        cmd.args(["--retry-base", "50ms"]);
    }
    cmd
}

/// Runs `migrate` to the end; with `MIGRATE_TEST_SHOW=1` (and `--nocapture`)
/// prints what it said.
pub fn migrate(dir: &Path, url: &str, args: &[&str]) -> Output {
    let out = migrate_cmd(dir, url, args).output().unwrap();
    if std::env::var_os("MIGRATE_TEST_SHOW").is_some() {
        eprintln!("$ migrate {}\n{}", args.join(" "), text(&out));
    }
    out
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "--- exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Panics with the whole output unless `migrate` exited with `code`.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
}

/// Panics with the whole output unless `migrate`'s stdout contains `needle`.
#[track_caller]
pub fn assert_stdout_has(out: &Output, needle: &str) {
    assert_has(out, &out.stdout, needle);
}

/// Panics with the whole output unless `migrate`'s stderr contains `needle`.
#[track_caller]
pub fn assert_stderr_has(out: &Output, needle: &str) {
    assert_has(out, &out.stderr, needle);
}

#[track_caller]
fn assert_has(out: &Output, stream: &[u8], needle: &str) {
    assert!(
        String::from_utf8_lossy(stream).contains(needle),
        "no {needle:?} in\n{}",
        text(out)
    );
}

/// The first column of the first row of `sql`, as text ("" for NULL).
pub fn scalar(db: &TestDb, sql: &str) -> String {
    let mut client = db.client();
    let row = client
        .query_one(&format!("SELECT ({sql})::text"), &[])
        .unwrap_or_else(|e| panic!("{sql}: {}", super::error_text(&e)));
    row.get::<_, Option<String>>(0).unwrap_or_default()
}

/// Applies the migrations in `dir` up to `version` as a deploy of their
/// own, so the tables they create hold data when the next ones are deployed
/// (a deploy's own new tables are empty and take plain DDL).
pub fn existing(dir: &Path, db: &TestDb, version: &str) {
    let out = migrate(dir, &db.url, &["apply", "--target", version]);
    assert_exit(&out, 0);
}
