//! The test support itself: a real throwaway server, databases of their own.

mod support;

use support::fresh_database;

#[test]
fn two_fresh_databases_are_distinct() {
    let a = fresh_database();
    let b = fresh_database();
    assert_ne!(a.name, b.name);
    assert_ne!(a.url, b.url);

    let current = |db: &support::TestDb| -> String {
        db.client()
            .query_one("SELECT current_database()", &[])
            .expect("current_database()")
            .get(0)
    };
    assert_eq!(current(&a), a.name);
    assert_eq!(current(&b), b.name);

    // What one database holds, the other does not.
    a.client()
        .batch_execute("CREATE TABLE only_in_a (id int)")
        .unwrap();
    let in_b: Option<String> = b
        .client()
        .query_one("SELECT to_regclass('only_in_a')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(in_b, None);
}

#[test]
fn client_can_create_a_table() {
    let db = fresh_database();
    let mut client = db.client();
    client
        .batch_execute("CREATE TABLE things (id bigint PRIMARY KEY, name text NOT NULL)")
        .unwrap();
    client
        .execute("INSERT INTO things VALUES ($1, $2)", &[&1_i64, &"one"])
        .unwrap();
    let name: String = client
        .query_one("SELECT name FROM things WHERE id = $1", &[&1_i64])
        .unwrap()
        .get(0);
    assert_eq!(name, "one");
}

#[test]
fn psql_runs_with_the_url() {
    let db = fresh_database();
    let out = db.psql_ok("CREATE TABLE t (x int);\nINSERT INTO t VALUES (41), (1);\n");
    assert_eq!(out, "");
    let out = db.psql_ok(
        "\\pset tuples_only on\n\\pset format unaligned\nSELECT sum(x), current_database() FROM t;\n",
    );
    assert_eq!(out.trim(), format!("42|{}", db.name));

    // What psql wrote, the postgres crate reads.
    let n: i64 = db
        .client()
        .query_one("SELECT count(*) FROM t", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);

    // ON_ERROR_STOP: an error fails the run and stops it.
    let out = db.psql("SELECT 1/0;\nCREATE TABLE after_error ();\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("division by zero"));
    let after: Option<String> = db
        .client()
        .query_one("SELECT to_regclass('after_error')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(after, None);
}

#[test]
fn dropping_a_test_db_drops_the_database() {
    let db = fresh_database();
    let name = db.name.clone();
    let other = fresh_database();
    // An open connection does not stop the drop (WITH (FORCE)).
    let _open = db.client();
    drop(db);
    let exists: bool = other
        .client()
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!(!exists, "{name} still exists");
}

#[test]
fn with_dbname_replaces_only_the_database() {
    use support::with_dbname;
    assert_eq!(
        with_dbname("postgres://u@/postgres?host=/tmp/x&port=5", "t_1"),
        "postgres://u@/t_1?host=/tmp/x&port=5"
    );
    assert_eq!(
        with_dbname("postgres://u:p@h:5432/db", "t_1"),
        "postgres://u:p@h:5432/t_1"
    );
    assert_eq!(with_dbname("postgresql://h", "t_1"), "postgresql://h/t_1");
    assert_eq!(
        with_dbname("postgres://u@h?sslmode=disable", "t_1"),
        "postgres://u@h/t_1?sslmode=disable"
    );
}
