//! A fresh database built from a whole real history: every pending
//! migration is part of one deploy, so the tables they create are new and
//! take plain DDL, and `migrate apply` ends with the schema that running
//! the files one by one gives.

mod support;

use safe_migrate::db::catalog;
use safe_migrate::source;
use std::path::Path;
use support::migrate::{assert_exit, migrate};

/// The model of a database's schema (every fact the rules read), without
/// the history safe-migrate keeps.
fn facts(db: &support::TestDb) -> Vec<String> {
    let mut client = db.client();
    let read = catalog::read(&mut client).expect("the catalog reads");
    assert_eq!(read.load.unknown, 0, "{:?}", read.load);
    read.schema
        .facts()
        .into_iter()
        .filter(|f| !f.contains("safe_migrate."))
        .collect()
}

/// Applies the history in `dir` with `migrate apply` to one empty database
/// and file by file with psql (each file in one transaction, as its runner
/// runs it) to another, and compares the two schemas.
fn same_schema_as_the_files(dir: &Path) {
    let through_migrate = support::fresh_database();
    let out = migrate(dir, &through_migrate.url, &["apply"]);
    assert_exit(&out, 0);

    let one_by_one = support::fresh_database();
    let discovery = source::discover(&[dir.to_path_buf()], &[]).unwrap();
    assert!(discovery.files.len() > 10, "{} files", discovery.files.len());
    for file in &discovery.files {
        let out = support::psql_command(&one_by_one.url, &["-1", "-f"])
            .arg(&file.path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (applied, expected) = (facts(&through_migrate), facts(&one_by_one));
    assert!(applied.len() > 20, "{applied:?}");
    assert_eq!(applied, expected);
}

#[test]
fn a_diesel_history_builds_a_fresh_database() {
    same_schema_as_the_files(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/real/neondatabase__neon/storage_controller/migrations"),
    );
}
