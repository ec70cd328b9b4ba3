//! Lock truth: every lock a rule claims is the lock PostgreSQL takes.
//!
//! Each rule's `bad` example runs against the lint fixture in a real database,
//! inside one transaction, and `pg_locks` for our own backend says which
//! modes were granted on the table the finding names. Transaction-level locks
//! are held until the end of the transaction, so the strongest granted mode is
//! the strongest the statements took.
//!
//! Rewrite claims are checked the same way against `pg_relation_filenode`:
//! the `bad` example of a rule that says it rewrites the table must give the
//! table a new file, and the `good` example of the same change made safely
//! must not ([`REWRITING_RULES`]).

mod support;

use postgres::Client;
use safe_migrate::lint::fixture::{POPULATE, SCHEMA};
use safe_migrate::lint::rules::ALL;
use safe_migrate::lint::{lint_snippet, statement_locks, Finding, LintSettings, Rule};
use safe_migrate::parse::parse_sql;
use safe_migrate::pg::LockMode;
use safe_migrate::pg::PgVersion;
use safe_migrate::schema::Schema;
use std::fmt::Write as _;
use support::{error_text, fresh_database};

/// SQLSTATE 25001 `active_sql_transaction`: "… cannot run inside a transaction block".
const CANNOT_RUN_IN_TRANSACTION: &str = "25001";

/// A database holding the lint fixture, and a client connected to it.
fn fixture_database() -> (support::TestDb, Client) {
    let db = fresh_database();
    let mut client = db.client();
    client
        .batch_execute(SCHEMA)
        .unwrap_or_else(|e| panic!("fixture SCHEMA: {}", error_text(&e)));
    client
        .batch_execute(POPULATE)
        .unwrap_or_else(|e| panic!("fixture POPULATE: {}", error_text(&e)));
    (db, client)
}

/// What running some SQL in a transaction showed.
#[derive(Debug)]
enum Observed {
    /// The strongest mode granted on each table asked about (`None`: no lock).
    Locks(Vec<Option<LockMode>>),
    /// A statement that PostgreSQL refuses to run in a transaction block.
    NotInTransaction { statement: String, message: String },
    /// A statement failed.
    Error { statement: String, message: String },
}

/// The relation's OID, or `None` when it does not exist (yet).
fn relation_oid(client: &mut impl postgres::GenericClient, table: &str) -> Option<u32> {
    client
        .query_one("SELECT to_regclass($1::text)::oid", &[&table])
        .unwrap_or_else(|e| panic!("to_regclass({table}): {}", error_text(&e)))
        .get(0)
}

/// The strongest relation lock this backend holds (granted) on `oid`.
fn strongest_granted(client: &mut impl postgres::GenericClient, oid: u32) -> Option<LockMode> {
    client
        .query(
            "SELECT mode FROM pg_locks \
             WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = $1 AND granted",
            &[&oid],
        )
        .unwrap_or_else(|e| panic!("reading pg_locks: {}", error_text(&e)))
        .iter()
        .filter_map(|row| LockMode::from_pg_locks_name(row.get(0)))
        .max()
}

/// Runs `statements` in one transaction, reads which locks it holds on each
/// of `tables` (SQL names, as `regclass` input), and rolls back.
///
/// A table is resolved before the statements run when it exists (so a drop
/// or rename is still seen), else after (a table the statements create).
fn locks_taken(client: &mut Client, statements: &[String], tables: &[String]) -> Observed {
    let mut tx = client.transaction().expect("BEGIN");
    let before: Vec<Option<u32>> = tables.iter().map(|t| relation_oid(&mut tx, t)).collect();
    for statement in statements {
        if let Err(e) = tx.batch_execute(statement) {
            let message = error_text(&e);
            let statement = statement.clone();
            return match e.code().map(|c| c.code()) {
                Some(CANNOT_RUN_IN_TRANSACTION) => Observed::NotInTransaction { statement, message },
                _ => Observed::Error { statement, message },
            };
        }
    }
    let locks = tables
        .iter()
        .zip(before)
        .map(|(table, oid)| {
            let oid = oid.or_else(|| relation_oid(&mut tx, table))?;
            strongest_granted(&mut tx, oid)
        })
        .collect();
    tx.rollback().expect("ROLLBACK");
    Observed::Locks(locks)
}

/// Runs `setup` (committed), then `sql` in a transaction, and returns the
/// strongest lock `sql` took on `table`; panics on errors.
fn lock_of(client: &mut Client, setup: &str, sql: &str, table: &str) -> Option<LockMode> {
    client
        .batch_execute(setup)
        .unwrap_or_else(|e| panic!("setup {setup:?}: {}", error_text(&e)));
    match locks_taken(client, &split_statements(sql), &[table.to_string()]) {
        Observed::Locks(locks) => locks[0],
        other => panic!("{sql:?}: {other:?}"),
    }
}

/// `pg_relation_filenode` of `table`: it changes exactly when the table is rewritten.
fn relfilenode(client: &mut impl postgres::GenericClient, table: &str) -> u32 {
    client
        .query_one("SELECT pg_relation_filenode($1::text::regclass)", &[&table])
        .unwrap_or_else(|e| panic!("pg_relation_filenode({table}): {}", error_text(&e)))
        .get(0)
}

/// Splits SQL into statements at top-level semicolons, minding quotes,
/// dollar quotes and comments. Empty statements are dropped.
fn split_statements(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    let push = |out: &mut Vec<String>, current: &mut String| {
        if !strip_comments(current).trim().is_empty() {
            out.push(current.trim().to_string());
        }
        current.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            ';' => {
                push(&mut out, &mut current);
                i += 1;
                continue;
            }
            '-' if next == Some('-') => {
                while i < chars.len() && chars[i] != '\n' {
                    current.push(chars[i]);
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        current.push_str("/*");
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        current.push_str("*/");
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        current.push(chars[i]);
                        i += 1;
                    }
                }
                continue;
            }
            '\'' | '"' => {
                let escapes = c == '\'' && i > 0 && matches!(chars[i - 1], 'e' | 'E');
                current.push(c);
                i += 1;
                while i < chars.len() {
                    let d = chars[i];
                    current.push(d);
                    i += 1;
                    if escapes && d == '\\' {
                        if let Some(&e) = chars.get(i) {
                            current.push(e);
                            i += 1;
                        }
                    } else if d == c {
                        if chars.get(i) == Some(&c) {
                            current.push(c);
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
                continue;
            }
            '$' => {
                // `$tag$ … $tag$` (a tag is empty or an identifier not starting with a digit).
                let rest: String = chars[i + 1..].iter().collect();
                let tag_len = rest.find('$').filter(|&n| {
                    rest[..n].chars().all(|ch| ch.is_alphanumeric() || ch == '_')
                        && !rest.starts_with(|ch: char| ch.is_ascii_digit())
                });
                let prev_is_word = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
                if let (Some(n), false) = (tag_len, prev_is_word) {
                    let delimiter = format!("${}$", &rest[..n]);
                    let body: String = chars[i..].iter().collect();
                    let end = body[delimiter.len()..]
                        .find(&delimiter)
                        .map_or(body.len(), |e| e + 2 * delimiter.len());
                    current.push_str(&body[..end]);
                    i += body[..end].chars().count();
                    continue;
                }
            }
            _ => {}
        }
        current.push(c);
        i += 1;
    }
    push(&mut out, &mut current);
    out
}

/// The statement without `--` and `/* */` comments (quotes are not minded:
/// only used to see whether anything but comments is left).
fn strip_comments(statement: &str) -> String {
    let mut out = String::new();
    for line in statement.lines() {
        out.push_str(line.split("--").next().unwrap_or(""));
        out.push('\n');
    }
    while let (Some(a), Some(b)) = (out.find("/*"), out.find("*/")) {
        if b < a {
            break;
        }
        out.replace_range(a..b + 2, " ");
    }
    out
}

/// Whether a statement only controls the transaction (`BEGIN`, `COMMIT`, …):
/// the harness supplies its own transaction and drops these.
fn is_transaction_control(statement: &str) -> bool {
    let stripped = strip_comments(statement);
    let words: Vec<String> = stripped
        .split_whitespace()
        .take(2)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    match words.first().map(String::as_str) {
        Some("BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "ABORT") => true,
        Some("START") => words.get(1).is_some_and(|w| w == "TRANSACTION"),
        _ => false,
    }
}

/// One lock claim checked against the server.
struct Check {
    rule: &'static str,
    table: String,
    claimed: LockMode,
    observed: Result<Option<LockMode>, String>,
}

fn describe(observed: &Result<Option<LockMode>, String>) -> String {
    match observed {
        Ok(Some(mode)) => mode.to_string(),
        Ok(None) => "(no lock)".to_string(),
        Err(e) => format!("error: {e}"),
    }
}

/// What checking a set of rules found.
#[derive(Debug, Default)]
struct Verdict {
    /// Rules whose claims were run against the server.
    checked: Vec<&'static str>,
    /// Rules whose `bad` cannot run in a transaction, so cannot be measured this way.
    skipped: Vec<&'static str>,
    /// How many (rule, table) claims were compared.
    claims: usize,
    notes: Vec<String>,
    /// Empty when every claim held; else a table of what disagreed.
    failures: String,
}

/// Checks each rule's lock claims: lints its `bad` with `lint`, runs `bad` in
/// a fresh fixture database, and compares the strongest lock granted on each
/// finding's table with the finding's lock.
fn check_lock_claims(rules: &[&'static Rule], lint: &dyn Fn(&'static Rule) -> Vec<Finding>) -> Verdict {
    let mut verdict = Verdict::default();
    let mut checks: Vec<Check> = Vec::new();

    for &rule in rules {
        let mut claims: Vec<(LockMode, String)> = lint(rule)
            .into_iter()
            .filter(|f| f.rule.id == rule.id)
            .filter_map(|f| Some((f.lock?, f.table?.to_string())))
            .collect();
        claims.sort();
        claims.dedup();
        if claims.is_empty() {
            continue;
        }

        let mut statements = split_statements(rule.bad);
        let before = statements.len();
        statements.retain(|s| !is_transaction_control(s));
        if statements.len() != before {
            verdict.notes.push(format!(
                "{}: dropped BEGIN/COMMIT from `bad`; the harness runs it in its own transaction",
                rule.id
            ));
        }

        let (_db, mut client) = fixture_database();
        let tables: Vec<String> = claims.iter().map(|(_, t)| t.clone()).collect();
        let observed: Vec<Result<Option<LockMode>, String>> =
            match locks_taken(&mut client, &statements, &tables) {
                Observed::Locks(locks) => locks.into_iter().map(Ok).collect(),
                Observed::NotInTransaction { statement, message } => {
                    verdict.notes.push(format!(
                        "{}: skipped, `{statement}` cannot run in a transaction block ({message})",
                        rule.id
                    ));
                    verdict.skipped.push(rule.id);
                    continue;
                }
                Observed::Error { statement, message } => {
                    vec![Err(format!("`{statement}`: {message}")); claims.len()]
                }
            };
        for ((claimed, table), observed) in claims.into_iter().zip(observed) {
            checks.push(Check {
                rule: rule.id,
                table,
                claimed,
                observed,
            });
        }
        verdict.checked.push(rule.id);
    }
    verdict.claims = checks.len();

    let mismatches: Vec<&Check> = checks
        .iter()
        .filter(|c| c.observed != Ok(Some(c.claimed)))
        .collect();
    let report = &mut verdict.failures;
    if !mismatches.is_empty() {
        let width = |f: &dyn Fn(&Check) -> usize, min: usize| {
            mismatches.iter().map(|c| f(c)).max().unwrap_or(0).max(min)
        };
        let (wr, wt, wc) = (
            width(&|c| c.rule.len(), 4),
            width(&|c| c.table.len(), 5),
            width(&|c| c.claimed.to_string().len(), 7),
        );
        writeln!(
            report,
            "{} lock claim(s) disagree with PostgreSQL:",
            mismatches.len()
        )
        .unwrap();
        writeln!(
            report,
            "  {:wr$}  {:wt$}  {:wc$}  observed",
            "rule", "table", "claimed"
        )
        .unwrap();
        for c in &mismatches {
            let claimed = c.claimed.to_string();
            let observed = describe(&c.observed);
            writeln!(
                report,
                "  {:wr$}  {:wt$}  {claimed:wc$}  {observed}",
                c.rule, c.table
            )
            .unwrap();
        }
    }

    // A rule that claims a lock must have it measured (or say why not), so
    // the check cannot pass by finding nothing to check.
    let unmeasured: Vec<&str> = rules
        .iter()
        .filter(|r| r.lock.is_some())
        .map(|r| r.id)
        .filter(|id| !verdict.checked.contains(id) && !verdict.skipped.contains(id))
        .collect();
    if !unmeasured.is_empty() {
        writeln!(
            report,
            "{} rule(s) claim a lock, but linting their `bad` example against the fixture gives no \
             finding of theirs with both a lock and a table, so the claim is never checked: {}",
            unmeasured.len(),
            unmeasured.join(", ")
        )
        .unwrap();
    }
    verdict
}

/// The test server's major version, the target every claim here is linted
/// for (tests/pg-matrix.sh runs this file on every supported major).
fn server_pg_version() -> PgVersion {
    let db = fresh_database();
    safe_migrate::db::server_version(&mut db.client())
        .expect("the server's version")
        .min(PgVersion::MAX)
}

#[test]
fn every_lock_rule_takes_the_lock_it_claims() {
    let settings = LintSettings {
        pg_version: server_pg_version(),
        ..LintSettings::default()
    };
    let claiming = ALL.iter().filter(|r| r.lock.is_some()).count();
    let verdict = check_lock_claims(ALL, &|rule| lint_snippet(SCHEMA, rule.bad, &settings));
    eprintln!(
        "lock truth: {} rules, {claiming} claim a lock; {} checked ({} claims), {} skipped",
        ALL.len(),
        verdict.checked.len(),
        verdict.claims,
        verdict.skipped.len()
    );
    for note in &verdict.notes {
        eprintln!("  note: {note}");
    }
    assert!(verdict.failures.is_empty(), "\n{}", verdict.failures);
    assert!(
        verdict.checked.len() + verdict.skipped.len() >= claiming,
        "checked {} and skipped {} rules, but {claiming} claim a lock",
        verdict.checked.len(),
        verdict.skipped.len(),
    );
}

/// Rules made up for [`harness_reports_what_disagrees`]; their `check` is
/// never called (the test lints them with a closure).
mod made_up {
    use safe_migrate::lint::{Category, Finding, LintContext, Rule, Severity};
    use safe_migrate::parse::Stmt;
    use safe_migrate::pg::LockMode;

    fn no_check(_: &LintContext, _: &Stmt, _: &mut Vec<Finding>) {}

    const fn rule(id: &'static str, lock: Option<LockMode>, bad: &'static str) -> Rule {
        Rule {
            id,
            category: Category::Lock,
            default_severity: Severity::Error,
            lock,
            summary: "",
            doc: "",
            bad,
            good: "",
            rewritable: false,
            enabled_by_default: true,
            check: no_check,
        }
    }

    pub static RIGHT: Rule = rule(
        "right",
        Some(LockMode::AccessExclusive),
        "ALTER TABLE users ADD COLUMN x int;",
    );
    pub static WRONG: Rule = rule(
        "wrong",
        Some(LockMode::Share),
        "ALTER TABLE users ADD COLUMN y int;",
    );
    pub static WRAPPED: Rule = rule(
        "wrapped",
        Some(LockMode::Share),
        "BEGIN;\nCREATE INDEX users_age_idx ON users (age);\nCOMMIT;",
    );
    pub static CONCURRENT: Rule = rule(
        "concurrent",
        Some(LockMode::ShareUpdateExclusive),
        "CREATE INDEX CONCURRENTLY users_age_idx ON users (age);",
    );
    pub static BROKEN: Rule = rule(
        "broken",
        Some(LockMode::AccessExclusive),
        "ALTER TABLE no_such_table ADD COLUMN x int;",
    );
    pub static SILENT: Rule = rule("silent", Some(LockMode::Share), "CREATE INDEX ON users (age);");
    pub static NO_CLAIM: Rule = rule("no-claim", None, "SELECT 1;");
}

#[test]
fn harness_reports_what_disagrees() {
    use made_up::*;
    use safe_migrate::pg::{Ident, QualifiedName};
    use safe_migrate::source::Span;

    let rules: &[&'static Rule] = &[&RIGHT, &WRONG, &WRAPPED, &CONCURRENT, &BROKEN, &SILENT, &NO_CLAIM];
    let verdict = check_lock_claims(rules, &|rule| {
        if rule.id == SILENT.id || rule.id == NO_CLAIM.id {
            return Vec::new();
        }
        vec![Finding::new(rule, Span::new(0, 0), "made up").table(&QualifiedName::bare(Ident::new("users")))]
    });
    assert_eq!(
        verdict.checked,
        ["right", "wrong", "wrapped", "broken"],
        "{verdict:#?}"
    );
    assert_eq!(verdict.skipped, ["concurrent"]);
    let lines: Vec<&str> = verdict.failures.lines().collect();
    assert_eq!(
        lines[0], "2 lock claim(s) disagree with PostgreSQL:",
        "{}",
        verdict.failures
    );
    assert!(lines[1]
        .split_whitespace()
        .eq(["rule", "table", "claimed", "observed"]));
    assert!(lines[2]
        .split_whitespace()
        .eq(["wrong", "users", "SHARE", "ACCESS", "EXCLUSIVE"]));
    assert!(lines[3].starts_with("  broken  users  ACCESS EXCLUSIVE  error: `ALTER TABLE no_such_table"));
    assert!(lines[4].starts_with("1 rule(s) claim a lock") && lines[4].ends_with(": silent"));
    assert_eq!(lines.len(), 5, "{}", verdict.failures);
    assert!(verdict
        .notes
        .iter()
        .any(|n| n.starts_with("wrapped: dropped BEGIN/COMMIT")));
    assert!(verdict.notes.iter().any(|n| n.starts_with("concurrent: skipped")));
}

/// The locks `statement_locks` reads from the schema model, on tables a
/// statement does not name (the other side of a foreign key it drops or
/// changes), are the locks PostgreSQL takes; so are the ones it names. Every
/// table of the setup holds exactly the claimed mode, or nothing unclaimed.
#[test]
fn statement_locks_follow_foreign_keys_as_postgres_does() {
    const SETUP: &str = "\
CREATE TABLE parent (id bigint PRIMARY KEY);
CREATE TABLE other (id bigint PRIMARY KEY);
CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint REFERENCES parent (id), other_id bigint, note text,
    CONSTRAINT child_other_fk FOREIGN KEY (other_id) REFERENCES other (id));
INSERT INTO parent VALUES (1);
INSERT INTO other VALUES (1);
INSERT INTO child VALUES (1, 1, 1, 'x');";
    let cases = [
        "DROP TABLE child",
        "ALTER TABLE child DROP COLUMN parent_id",
        "ALTER TABLE child DROP COLUMN note",
        "ALTER TABLE child DROP CONSTRAINT child_other_fk",
        "ALTER TABLE child DROP CONSTRAINT child_parent_id_fkey",
        "ALTER TABLE child ALTER COLUMN other_id TYPE integer",
        "ALTER TABLE child ALTER COLUMN note TYPE varchar(10)",
    ];
    let tables = ["parent", "other", "child"].map(String::from);
    let db = fresh_database();
    let mut client = db.client();
    client
        .batch_execute(SETUP)
        .unwrap_or_else(|e| panic!("setup: {}", error_text(&e)));
    let mut schema = Schema::default();
    for stmt in parse_sql(SETUP) {
        schema.apply(&stmt, 0);
    }
    let mut report = String::new();
    let pg = server_pg_version();
    for sql in cases {
        let claimed = statement_locks(&parse_sql(sql)[0], pg, &schema);
        let Observed::Locks(observed) = locks_taken(&mut client, &[sql.to_string()], &tables) else {
            panic!("{sql} did not run");
        };
        for (table, seen) in tables.iter().zip(observed) {
            let claim = claimed
                .iter()
                .find(|(t, _)| t.name.as_str() == table)
                .map(|(_, mode)| *mode);
            if claim != seen {
                let _ = writeln!(
                    report,
                    "{sql}: on {table} claimed {claim:?}, PostgreSQL took {seen:?}"
                );
            }
        }
    }
    assert!(report.is_empty(), "{report}");
}

#[test]
fn harness_sees_real_locks() {
    let (_db, mut client) = fixture_database();
    use LockMode::*;
    let cases: &[(&str, &str, &str, Option<LockMode>)] = &[
        (
            "",
            "ALTER TABLE users ADD COLUMN x int",
            "users",
            Some(AccessExclusive),
        ),
        ("", "CREATE INDEX ON users (email)", "users", Some(Share)),
        (
            "ALTER TABLE users ADD CONSTRAINT age_nonnegative CHECK (age >= 0) NOT VALID",
            "ALTER TABLE users VALIDATE CONSTRAINT age_nonnegative",
            "users",
            Some(ShareUpdateExclusive),
        ),
        (
            "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
            "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()",
            "users",
            Some(ShareRowExclusive),
        ),
        ("", "SELECT count(*) FROM orders", "orders", Some(AccessShare)),
        ("", "SELECT * FROM orders FOR UPDATE", "orders", Some(RowShare)),
        (
            "",
            "UPDATE orders SET status = 'paid' WHERE id = 1",
            "orders",
            Some(RowExclusive),
        ),
        (
            "",
            "LOCK TABLE accounts IN EXCLUSIVE MODE",
            "accounts",
            Some(Exclusive),
        ),
        // Several statements: the strongest counts.
        (
            "",
            "SELECT count(*) FROM users; ALTER TABLE users ALTER COLUMN name TYPE varchar(100)",
            "users",
            Some(AccessExclusive),
        ),
        // The table a statement drops is still seen (resolved before it runs) ...
        ("", "DROP TABLE accounts", "accounts", Some(AccessExclusive)),
        // ... and one it creates is seen after.
        (
            "",
            "CREATE TABLE brand_new (id int)",
            "brand_new",
            Some(AccessExclusive),
        ),
        // Nothing touches accounts here.
        ("", "SELECT 1", "accounts", None),
        // Dropping a table, or a column, with a foreign key also locks the
        // referenced table (what `drop-table` and `drop-column` say).
        (
            "CREATE TABLE child (id int, account_id bigint REFERENCES accounts (id))",
            "DROP TABLE child",
            "accounts",
            Some(AccessExclusive),
        ),
        (
            "ALTER TABLE orders ADD COLUMN account_id bigint REFERENCES accounts (id)",
            "ALTER TABLE orders DROP COLUMN account_id",
            "accounts",
            Some(AccessExclusive),
        ),
    ];
    let mut wrong = Vec::new();
    for &(setup, sql, table, expected) in cases {
        let observed = lock_of(&mut client, setup, sql, table);
        if observed != expected {
            wrong.push(format!(
                "{sql}: expected {expected:?} on {table}, observed {observed:?}"
            ));
        }
    }
    // Everything ran in transactions that were rolled back.
    assert_eq!(relation_oid(&mut client, "brand_new"), None);
    assert!(relation_oid(&mut client, "accounts").is_some());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn statements_that_cannot_run_in_a_transaction_are_recognised() {
    let (_db, mut client) = fixture_database();
    let statements = split_statements("CREATE INDEX CONCURRENTLY users_age_idx ON users (age);");
    match locks_taken(&mut client, &statements, &["users".to_string()]) {
        Observed::NotInTransaction { .. } => {}
        other => panic!("expected NotInTransaction, got {other:?}"),
    }
    // And a plain failure is an error, not a skip.
    match locks_taken(
        &mut client,
        &split_statements("ALTER TABLE nope ADD COLUMN x int"),
        &[],
    ) {
        Observed::Error { message, .. } => assert!(message.contains("does not exist"), "{message}"),
        other => panic!("expected Error, got {other:?}"),
    }
}

#[test]
fn rewrites_change_the_filenode() {
    let (_db, mut client) = fixture_database();

    let before = relfilenode(&mut client, "users");
    client
        .batch_execute("ALTER TABLE users ALTER COLUMN name TYPE varchar(100)")
        .unwrap();
    assert_eq!(
        relfilenode(&mut client, "users"),
        before,
        "widening a varchar must not rewrite"
    );

    client
        .batch_execute("ALTER TABLE users ALTER COLUMN age TYPE bigint")
        .unwrap();
    assert_ne!(
        relfilenode(&mut client, "users"),
        before,
        "int to bigint rewrites the table"
    );
}

/// Rules whose findings say the flagged statement rewrites the table: writes
/// every row into a new file, so `pg_relation_filenode` changes. A list here
/// rather than a `Rule` field: the claim is made in each rule's messages and
/// docs, some only for some forms of the statement, and no code reads it but
/// this test.
const REWRITING_RULES: &[&str] = &[
    "add-column-rewrite",
    "change-column-type",
    "set-logged-unlogged",
    "vacuum-full",
    "cluster",
    "truncate",
];

/// Rules among [`REWRITING_RULES`] whose `good` example is the same change
/// made without a rewrite.
const GOOD_DOES_NOT_REWRITE: &[&str] = &["add-column-rewrite", "change-column-type"];

/// The tables `rule`'s findings on its `bad` example name.
fn flagged_tables(rule: &'static Rule) -> Vec<String> {
    let mut tables: Vec<String> = lint_snippet(SCHEMA, rule.bad, &LintSettings::default())
        .into_iter()
        .filter(|f| f.rule.id == rule.id)
        .map(|f| {
            f.table
                .unwrap_or_else(|| panic!("{}: finding names no table: {}", rule.id, f.message))
                .to_string()
        })
        .collect();
    tables.dedup();
    assert!(!tables.is_empty(), "{}: `bad` gives no finding", rule.id);
    tables
}

/// Runs `sql` statement by statement in autocommit (`VACUUM FULL` cannot run
/// in a transaction block) on a fresh, populated fixture database and returns
/// each of `tables` with its filenode before and after.
fn filenodes_around(sql: &str, tables: &[String]) -> Vec<(String, u32, u32)> {
    let (_db, mut client) = fixture_database();
    let before: Vec<u32> = tables.iter().map(|t| relfilenode(&mut client, t)).collect();
    for statement in split_statements(sql) {
        if is_transaction_control(&statement) {
            continue;
        }
        client
            .batch_execute(&statement)
            .unwrap_or_else(|e| panic!("{statement}: {}", error_text(&e)));
    }
    tables
        .iter()
        .zip(before)
        .map(|(t, b)| (t.clone(), b, relfilenode(&mut client, t)))
        .collect()
}

#[test]
fn rewrite_claims_change_the_filenode() {
    let mut wrong = Vec::new();
    for id in REWRITING_RULES {
        let rule = safe_migrate::lint::rules::by_id(id).unwrap_or_else(|| panic!("no rule {id}"));
        let tables = flagged_tables(rule);
        for (table, before, after) in filenodes_around(rule.bad, &tables) {
            if before == after {
                wrong.push(format!(
                    "{id}: `bad` left {table} in filenode {before}, but the rule says it rewrites it"
                ));
            }
        }
        if GOOD_DOES_NOT_REWRITE.contains(id) {
            assert!(
                lint_snippet(SCHEMA, rule.good, &LintSettings::default())
                    .iter()
                    .all(|f| f.rule.id != rule.id),
                "{id}: `good` is flagged"
            );
            for (table, before, after) in filenodes_around(rule.good, &tables) {
                if before != after {
                    wrong.push(format!(
                        "{id}: `good` moved {table} from filenode {before} to {after}: it rewrites too"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn splits_statements_like_postgres() {
    let sql = "\
-- a comment; with a semicolon
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
SELECT 'a;b', \"we;ird\", E'it\\'s;';
/* block; /* nested; */ still; */ SELECT $tag$ ; $tag$;
BEGIN;
  ;
COMMIT";
    let statements = split_statements(sql);
    assert_eq!(statements.len(), 5, "{statements:#?}");
    assert!(statements[0].ends_with("$$ SELECT 1; $$"));
    assert_eq!(statements[1], "SELECT 'a;b', \"we;ird\", E'it\\'s;'");
    assert!(statements[2].ends_with("SELECT $tag$ ; $tag$"));
    assert!(is_transaction_control(&statements[3]));
    assert!(is_transaction_control(&statements[4]));
    assert!(!is_transaction_control("SELECT 1"));
    assert!(is_transaction_control(
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE"
    ));
}
