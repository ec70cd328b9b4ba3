//! Running one statement on PostgreSQL and watching what it does.
//!
//! The measurements are the ones the operation catalog used to verify its
//! lock facts (its §5.3, "How the \[V\] facts were produced"):
//!
//! * **Locks.** In a transaction: the statement runs after `BEGIN`, then
//!   `pg_locks WHERE pid = pg_backend_pid()` is read before `COMMIT`; locks
//!   are held until the end of the transaction, so this is every lock the
//!   statement took. A statement that cannot run in a transaction
//!   (`CONCURRENTLY`, `VACUUM`) runs in autocommit while a second connection
//!   polls `pg_locks` for the tracing backend's pid: a *sample*, which can
//!   miss a lock held only for an instant.
//! * **Rewrites.** `pg_relation_filenode` of every user relation before and
//!   after: a table or index gets a new file exactly when it is rewritten
//!   (or truncated).
//! * **Server notes.** With `client_min_messages = debug1` the server says
//!   `rewriting table …`, `verifying table …`, `building index …`,
//!   `validating foreign key constraint …`; those lines are kept.
//!
//! Only user relations count (OID ≥ 16384, outside `pg_catalog`,
//! `pg_toast`, `information_schema` and our own `safe_migrate` schema): the
//! catalog lookups of the measuring queries themselves are not the
//! statement's.

use crate::pg::{Ident, LockMode};
use postgres::Client;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// SQLSTATE 25001 `active_sql_transaction`: "… cannot run inside a transaction block".
const CANNOT_RUN_IN_TRANSACTION: &str = "25001";

/// The server's DEBUG1 messages worth keeping (prefixes).
const NOTE_PREFIXES: &[&str] = &[
    "rewriting table",
    "verifying table",
    "building index",
    "validating foreign key constraint",
    "existing constraints on column",
    "partition constraint for table",
    "updating partition constraint",
];

/// One user relation as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relation {
    pub oid: u32,
    /// `(schema, name)`, as [`crate::pg::QualifiedName::key`] spells it.
    pub key: (String, String),
    /// `pg_class.relkind`: `r` table, `i` index, `p` partitioned table, …
    pub kind: char,
    /// `pg_relation_filenode`; `None` for relations without storage.
    pub filenode: Option<u32>,
    /// For an index, the OID of its table.
    pub table: Option<u32>,
}

/// `users` for `("public", "users")`, `audit."Log"` otherwise.
pub(crate) fn display_name(key: &(String, String)) -> String {
    let name = Ident::new(key.1.clone()).to_string();
    if key.0 == "public" {
        name
    } else {
        format!("{}.{name}", Ident::new(key.0.clone()))
    }
}

/// Every user relation by OID.
pub(crate) type Relations = BTreeMap<u32, Relation>;

/// How a statement was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Execution {
    /// In a transaction of its own, committed after the locks were read.
    Transaction,
    /// In autocommit (it cannot run in a transaction); locks were sampled
    /// from a second connection.
    Autocommit,
}

/// What one statement did on the server.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub execution: Execution,
    /// The strongest mode granted on each relation, by OID.
    pub locks: BTreeMap<u32, LockMode>,
    pub before: Relations,
    pub after: Relations,
    pub elapsed: Duration,
    /// The server's message when the statement failed (it was rolled back).
    pub error: Option<String>,
    pub notes: Vec<String>,
}

/// A session that runs and measures statements: the tracing connection and
/// a second one that samples `pg_locks` for autocommit statements.
pub(crate) struct Session {
    client: Client,
    poller: Client,
    pid: i32,
    notes: Arc<Mutex<Vec<String>>>,
}

pub(crate) use crate::db::error_text;

impl Session {
    /// Connects twice to `url`, with TLS as its `sslmode` says (as `migrate
    /// apply` connects: [`crate::db::connect`]).
    pub fn connect(url: &str) -> Result<Session, String> {
        let notes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&notes);
        let notice = |config: &mut postgres::Config| {
            config.notice_callback(move |notice| {
                let message = notice.message();
                if NOTE_PREFIXES.iter().any(|p| message.starts_with(p)) {
                    if let Ok(mut notes) = sink.lock() {
                        notes.push(message.to_string());
                    }
                }
            });
        };
        let name = "safe-migrate trace";
        let mut client = crate::db::connect_as(url, name, notice).map_err(|e| e.to_string())?;
        let mut poller = crate::db::connect_as(url, name, |_| {}).map_err(|e| e.to_string())?;
        let setup = |e: postgres::Error| format!("setting up the trace session: {}", error_text(&e));
        // A statement blocked by someone else's lock fails instead of hanging.
        client
            .batch_execute("SET lock_timeout = '30s'; SET client_min_messages = debug1")
            .map_err(setup)?;
        let pid = client
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(setup)?
            .get(0);
        poller.batch_execute("SELECT 1").map_err(setup)?;
        Ok(Session {
            client,
            poller,
            pid,
            notes,
        })
    }

    /// The tracing connection, for setup queries.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Every user relation, with its filenode.
    pub fn relations(&mut self) -> Result<Relations, postgres::Error> {
        relations(&mut self.client)
    }

    /// Runs `sql` in a transaction of its own (or in autocommit when
    /// `autocommit` is set or the server refuses it in a transaction), and
    /// measures it. A failed statement is rolled back and reported in
    /// [`Run::error`]; only a failure of the measuring queries is an `Err`.
    pub fn run(&mut self, sql: &str, autocommit: bool) -> Result<Run, postgres::Error> {
        if autocommit {
            return self.run_autocommit(sql);
        }
        let before = self.relations()?;
        self.take_notes();
        self.client.batch_execute("BEGIN")?;
        let start = Instant::now();
        let result = self.client.batch_execute(sql);
        let elapsed = start.elapsed();
        match result {
            Err(e) => {
                self.client.batch_execute("ROLLBACK")?;
                if e.code().map(|c| c.code()) == Some(CANNOT_RUN_IN_TRANSACTION) {
                    return self.run_autocommit(sql);
                }
                Ok(Run {
                    execution: Execution::Transaction,
                    locks: BTreeMap::new(),
                    after: before.clone(),
                    before,
                    elapsed,
                    error: Some(error_text(&e)),
                    notes: self.take_notes(),
                })
            }
            Ok(()) => {
                let mut locks = BTreeMap::new();
                for row in self.client.query(LOCKS, &[&self.pid])? {
                    record(&mut locks, row.get(0), row.get(1));
                }
                let after = self.relations()?;
                // COMMIT can fail too (deferred constraints).
                let error = self.client.batch_execute("COMMIT").err().map(|e| error_text(&e));
                if error.is_some() {
                    let _ = self.client.batch_execute("ROLLBACK");
                }
                Ok(Run {
                    execution: Execution::Transaction,
                    locks,
                    before,
                    after,
                    elapsed,
                    error,
                    notes: self.take_notes(),
                })
            }
        }
    }

    fn run_autocommit(&mut self, sql: &str) -> Result<Run, postgres::Error> {
        let before = self.relations()?;
        self.take_notes();
        let done = AtomicBool::new(false);
        let polling = AtomicBool::new(false);
        let pid = self.pid;
        let (client, poller) = (&mut self.client, &mut self.poller);
        let (result, elapsed, sampled) = std::thread::scope(|scope| {
            let sampler = scope.spawn(|| sample_locks(poller, pid, &polling, &done));
            // Start once the sampler polls, so even a short statement is seen.
            while !polling.load(Ordering::Acquire) && !sampler.is_finished() {
                std::thread::yield_now();
            }
            let start = Instant::now();
            let result = client.batch_execute(sql);
            let elapsed = start.elapsed();
            done.store(true, Ordering::Release);
            let sampled = sampler.join().unwrap_or_else(|_| Ok(BTreeMap::new()));
            (result, elapsed, sampled)
        });
        let locks = sampled?;
        let after = self.relations()?;
        Ok(Run {
            execution: Execution::Autocommit,
            locks,
            before,
            after,
            elapsed,
            error: result.err().map(|e| error_text(&e)),
            notes: self.take_notes(),
        })
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }
}

/// Granted relation locks of backend `$1` on user relations of this database.
const LOCKS: &str = "\
SELECT l.relation, l.mode FROM pg_catalog.pg_locks l
WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND l.relation >= 16384
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())";

fn record(locks: &mut BTreeMap<u32, LockMode>, oid: u32, mode: &str) {
    if let Some(mode) = LockMode::from_pg_locks_name(mode) {
        let held = locks.entry(oid).or_insert(mode);
        *held = (*held).max(mode);
    }
}

/// Polls `pg_locks` for `pid` until `done`, keeping the strongest mode seen
/// on each relation; sets `polling` when it is about to poll. Polls back to back: the statement under test is the
/// only other work, and a gap could miss a short lock.
fn sample_locks(
    poller: &mut Client,
    pid: i32,
    polling: &AtomicBool,
    done: &AtomicBool,
) -> Result<BTreeMap<u32, LockMode>, postgres::Error> {
    let statement = poller.prepare(LOCKS)?;
    let mut locks = BTreeMap::new();
    polling.store(true, Ordering::Release);
    loop {
        // Read `done` first: a poll that starts after the statement ended sees nothing of it.
        let last = done.load(Ordering::Acquire);
        for row in poller.query(&statement, &[&pid])? {
            record(&mut locks, row.get(0), row.get(1));
        }
        if last {
            return Ok(locks);
        }
        std::thread::yield_now();
    }
}

/// Every user relation (see the module docs), with its filenode.
pub(crate) fn relations(client: &mut Client) -> Result<Relations, postgres::Error> {
    let rows = client.query(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, \
                pg_catalog.pg_relation_filenode(c.oid), i.indrelid \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid \
         WHERE c.oid >= 16384 \
           AND n.nspname NOT IN ('pg_catalog', 'pg_toast', 'information_schema', 'safe_migrate') \
           AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|row| {
            let oid: u32 = row.get(0);
            let kind: String = row.get(3);
            let relation = Relation {
                oid,
                key: (row.get(1), row.get(2)),
                kind: kind.chars().next().unwrap_or('?'),
                filenode: row.get(4),
                table: row.get(5),
            };
            (oid, relation)
        })
        .collect())
}

/// How filling one table went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fill {
    /// The table, as SQL writes it.
    pub table: String,
    /// Rows inserted; 0 when the table was skipped.
    pub rows: u64,
    /// Why the table was left empty.
    pub skipped: Option<String>,
}

/// Puts `rows` generated rows into every empty ordinary table, so scans and
/// rewrites have something to do. Values come from each column's type (see
/// [`value_for`]); columns with a default, identity or generated columns are
/// left to the server. A table whose insert fails (a foreign key to an empty
/// table, a CHECK, an unknown NOT NULL type) is retried after the others,
/// so referenced tables fill first, and skipped when no progress is made.
pub(crate) fn fill_empty_tables(client: &mut Client, rows: u32) -> Result<Vec<Fill>, postgres::Error> {
    let tables = client.query(
        "SELECT c.oid, n.nspname::text, c.relname::text \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.oid >= 16384 \
           AND n.nspname NOT IN ('pg_catalog', 'pg_toast', 'information_schema', 'safe_migrate') \
           AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
         ORDER BY c.oid",
        &[],
    )?;
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut fills = Vec::new();
    for row in &tables {
        let oid: u32 = row.get(0);
        let name = display_name(&(row.get(1), row.get(2)));
        // `regclass` output is the server's own quoting of the name.
        let regclass: String = client
            .query_one("SELECT $1::oid::regclass::text", &[&oid])?
            .get(0);
        let empty: bool = client
            .query_one(&format!("SELECT NOT EXISTS (SELECT FROM {regclass})"), &[])?
            .get(0);
        if !empty {
            continue;
        }
        match insert_statement(client, oid, &regclass, rows)? {
            Ok(sql) => pending.push((name, sql)),
            Err(reason) => fills.push(Fill {
                table: name,
                rows: 0,
                skipped: Some(reason),
            }),
        }
    }
    let mut last_error: HashMap<String, String> = HashMap::new();
    loop {
        let mut progress = false;
        let mut still = Vec::new();
        for (name, sql) in pending {
            match client.execute(sql.as_str(), &[]) {
                Ok(n) => {
                    progress = true;
                    fills.push(Fill {
                        table: name,
                        rows: n,
                        skipped: None,
                    });
                }
                Err(e) => {
                    last_error.insert(name.clone(), error_text(&e));
                    still.push((name, sql));
                }
            }
        }
        pending = still;
        if pending.is_empty() || !progress {
            break;
        }
    }
    for (name, _) in pending {
        let reason = last_error.remove(&name).unwrap_or_default();
        fills.push(Fill {
            table: name,
            rows: 0,
            skipped: Some(reason),
        });
    }
    fills.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(fills)
}

/// `INSERT INTO t (…) SELECT … FROM generate_series(1, rows) g`, or why not.
fn insert_statement(
    client: &mut Client,
    table: u32,
    regclass: &str,
    rows: u32,
) -> Result<Result<String, String>, postgres::Error> {
    let columns = client.query(
        "SELECT pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), \
                a.attnotnull, a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', \
                COALESCE(b.typname, t.typname)::text, COALESCE(b.typcategory, t.typcategory)::text \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_catalog.pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        &[&table],
    )?;
    let mut names = Vec::new();
    let mut values = Vec::new();
    for column in &columns {
        let (name, sql_type): (String, String) = (column.get(0), column.get(1));
        let (not_null, server_fills): (bool, bool) = (column.get(2), column.get(3));
        if server_fills {
            continue;
        }
        let (base, category): (String, String) = (column.get(4), column.get(5));
        match value_for(&base, &category, &sql_type) {
            Some(value) => {
                names.push(name);
                values.push(value);
            }
            None if not_null => {
                return Ok(Err(format!(
                    "no value generator for NOT NULL column {name} of type {sql_type}"
                )))
            }
            None => {}
        }
    }
    Ok(Ok(format!(
        "INSERT INTO {regclass} ({}) SELECT {} FROM pg_catalog.generate_series(1, {rows}) AS g",
        names.join(", "),
        values.join(", ")
    )))
}

/// A SQL expression over the row number `g` giving a value of `sql_type`
/// (`format_type` output), from its base type's name and `typcategory`.
fn value_for(base: &str, category: &str, sql_type: &str) -> Option<String> {
    let value = match (base, category) {
        ("uuid", _) => "gen_random_uuid()".to_string(),
        ("json" | "jsonb", _) => "'{}'".to_string(),
        ("bytea", _) => "convert_to('x' || g, 'UTF8')".to_string(),
        (_, "N") => "g".to_string(),
        // An explicit cast to varchar(n)/char(n) truncates instead of failing.
        (_, "S") => "'x' || g".to_string(),
        (_, "B") => "true".to_string(),
        (_, "D") => "now()".to_string(),
        (_, "T") => "interval '1 minute'".to_string(),
        (_, "I") => "'127.0.0.1'".to_string(),
        (_, "E") => format!("enum_first(NULL::{sql_type})"),
        (_, "A") => "'{}'".to_string(),
        _ => return None,
    };
    Some(format!("({value})::{sql_type}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_values_by_type_category() {
        assert_eq!(value_for("int4", "N", "integer").as_deref(), Some("(g)::integer"));
        assert_eq!(
            value_for("varchar", "S", "character varying(2)").as_deref(),
            Some("('x' || g)::character varying(2)")
        );
        assert_eq!(
            value_for("uuid", "U", "uuid").as_deref(),
            Some("(gen_random_uuid())::uuid")
        );
        assert_eq!(value_for("point", "G", "point"), None);
    }

    #[test]
    fn displays_names_without_public() {
        assert_eq!(display_name(&("public".into(), "users".into())), "users");
        assert_eq!(display_name(&("audit".into(), "Log".into())), "audit.\"Log\"");
    }
}
