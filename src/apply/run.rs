//! Running one step as its fields say (style §3: a step says how it must run).
//!
//! * Guard true → the step is recorded as skipped; `only_if` false → the same.
//! * [`TxMode::InTransaction`]: `BEGIN; SET LOCAL lock_timeout; SET LOCAL
//!   statement_timeout (or 0); <sql>; <record done>; COMMIT` — the effect and
//!   its record commit together. A lock timeout (55P03) or deadlock (40P01)
//!   rolls back and retries with backoff (see [`super::retry`]); after the
//!   last try the sessions holding conflicting locks on the step's table are
//!   named. There is never a try without a lock timeout.
//! * [`TxMode::Outside`] (`CONCURRENTLY`): autocommit, `statement_timeout` 0
//!   for the session while it runs, no `lock_timeout` (a timeout would cancel
//!   the build and leave an INVALID index). A failed try drops the INVALID
//!   index it left on the step's table before trying again or giving up.
//! * [`StepKind::Check`]: the query must return true, else the migration fails.
//! * [`StepKind::Backfill`]: see [`super::backfill`].

use super::history::{self, StepState};
use super::retry::{self, Backoff};
use super::{ApplyError, ApplySettings, Blocker, Event, StepOutcome};
use crate::pg::LockMode;
use crate::plan::{Step, StepKind, TxMode};
use postgres::GenericClient;
use std::time::Duration;

/// What a step runs with.
pub struct StepContext<'a> {
    /// The migration's history id.
    pub migration: &'a str,
    /// The migration as error messages name it (its path).
    pub label: &'a str,
    /// 0-based.
    pub index: usize,
    pub step: &'a Step,
    /// Recorded with the step (see `apply::step_checksum`).
    pub sql_checksum: String,
    pub settings: &'a ApplySettings,
}

impl StepContext<'_> {
    pub(crate) fn failed(&self, e: &postgres::Error) -> ApplyError {
        if connection_lost(e) {
            return ApplyError::ConnectionLost {
                migration: self.label.to_string(),
                step: self.index + 1,
                kind: super::kind_name(self.step.kind),
                message: error_text(e),
            };
        }
        ApplyError::Step {
            migration: self.label.to_string(),
            step: self.index + 1,
            kind: super::kind_name(self.step.kind),
            message: error_text(e),
        }
    }

    /// The table the step's lock is on (a backfill's table otherwise).
    pub(crate) fn table(&self) -> Option<String> {
        self.step
            .table
            .as_ref()
            .or(self.step.backfill.as_ref().map(|b| &b.table))
            .map(|t| t.to_string())
    }

    /// Writes the step's history row. A failure to write it (permission
    /// denied, disk full) is reported as [`ApplyError::History`], not as the
    /// step's own failure, except a lock timeout or deadlock, which is
    /// retried like the step; either way the caller's transaction, and the
    /// effect in it, rolls back.
    pub(crate) fn record(
        &self,
        client: &mut impl GenericClient,
        state: StepState,
        cursor: Option<&[String]>,
        attempts: u32,
        rows: Option<u64>,
    ) -> Result<(), TryError> {
        history::record_step(
            client,
            &self.settings.history_schema,
            self.migration,
            self.index,
            state,
            &self.sql_checksum,
            cursor,
            attempts,
            rows,
        )
        .map_err(|e| {
            if retry::is_retryable(&e) {
                TryError::Db(e)
            } else {
                TryError::Stop(self.history_failed(&e))
            }
        })
    }

    fn history_failed(&self, e: &postgres::Error) -> ApplyError {
        ApplyError::History {
            schema: self.settings.history_schema.clone(),
            message: format!(
                "recording {} step {}: {}",
                self.label,
                self.index + 1,
                error_text(e)
            ),
        }
    }

    /// A [`TryError`] outside any retry loop, as the error `apply` reports.
    fn stop(&self, e: TryError) -> ApplyError {
        match e {
            TryError::Db(e) => self.failed(&e),
            TryError::Stop(e) => e,
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            base: self.settings.retry_base,
            cap: self.settings.retry_cap,
        }
    }
}

/// What became of a step that did not fail.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    pub outcome: StepOutcome,
    pub attempts: u32,
    pub rows: Option<u64>,
}

/// A failed try: a database error (maybe retryable) or a decision to stop.
pub(crate) enum TryError {
    Db(postgres::Error),
    Stop(ApplyError),
}

impl From<postgres::Error> for TryError {
    fn from(e: postgres::Error) -> Self {
        TryError::Db(e)
    }
}

/// The session is gone: the socket closed or failed, or the server ended it
/// (SQLSTATE class 08, connection exception; 57P01–57P05, shutdown,
/// crash shutdown, cannot connect now, idle timeouts).
fn connection_lost(e: &postgres::Error) -> bool {
    let code = e.as_db_error().map(|db| db.code().code());
    e.is_closed()
        || code.is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
        || (code.is_none() && std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()))
}

/// The server's message, SQLSTATE and detail for a database error, else the error.
pub fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                s.push_str(&format!("; detail: {detail}"));
            }
            s
        }
        None => e.to_string(),
    }
}

/// `SET LOCAL` of both timeouts, for a step's (or a batch's) transaction.
pub(crate) fn set_local_timeouts(step: &Step, settings: &ApplySettings) -> String {
    let statement = if step.statement_timeout {
        format!("'{}ms'", settings.statement_timeout.as_millis())
    } else {
        "0".to_string()
    };
    // Every transactional try has a lock timeout, whatever the step says:
    // an unbounded wait queues all traffic behind it (docs/apply.md).
    format!(
        "SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = {statement}",
        settings.lock_timeout.as_millis().max(1)
    )
}

/// Runs `attempt` until it succeeds, retrying lock timeouts and deadlocks
/// with backoff up to `max_attempts` tries. Returns the value and the tries used.
pub(crate) fn with_retries<T>(
    client: &mut postgres::Client,
    cx: &StepContext,
    events: &mut dyn FnMut(&Event),
    mut attempt: impl FnMut(&mut postgres::Client) -> Result<T, TryError>,
) -> Result<(T, u32), ApplyError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt(client) {
            Ok(value) => return Ok((value, tries)),
            Err(TryError::Stop(e)) => return Err(e),
            Err(TryError::Db(e)) if retry::is_retryable(&e) => {
                if tries >= cx.settings.max_attempts {
                    return Err(ApplyError::LockNotAcquired {
                        migration: cx.label.to_string(),
                        step: cx.index + 1,
                        table: cx.table(),
                        lock: cx.step.lock,
                        timeout: cx.settings.lock_timeout,
                        attempts: tries,
                        blockers: blockers(client, cx),
                    });
                }
                let sleep = cx.backoff().delay(tries);
                events(&Event::StepRetry {
                    version: cx.migration.to_string(),
                    step: cx.index + 1,
                    attempt: tries,
                    error: error_text(&e),
                    sleep,
                });
                std::thread::sleep(sleep);
            }
            Err(TryError::Db(e)) => return Err(cx.failed(&e)),
        }
    }
}

fn query_bool(client: &mut impl GenericClient, sql: &str) -> Result<bool, postgres::Error> {
    let row = client.query_one(sql, &[])?;
    Ok(row.try_get::<_, Option<bool>>(0)?.unwrap_or(false))
}

/// Runs one step: guard, condition, then as its kind and transaction mode say.
pub fn run_step(
    client: &mut postgres::Client,
    cx: &StepContext,
    cursor: Option<Vec<String>>,
    events: &mut dyn FnMut(&Event),
) -> Result<StepReport, ApplyError> {
    let skip = |client: &mut postgres::Client, outcome| {
        cx.record(client, StepState::Skipped, None, 1, None)
            .map_err(|e| cx.stop(e))?;
        Ok(StepReport {
            outcome,
            attempts: 1,
            rows: None,
        })
    };
    if let Some(guard) = &cx.step.guard {
        if query_bool(client, guard).map_err(|e| cx.failed(&e))? {
            return skip(client, StepOutcome::SkippedGuard);
        }
    }
    if let Some(condition) = &cx.step.only_if {
        if !query_bool(client, condition).map_err(|e| cx.failed(&e))? {
            return skip(client, StepOutcome::SkippedCondition);
        }
    }
    match (cx.step.kind, cx.step.tx, &cx.step.backfill) {
        (StepKind::Backfill, _, Some(backfill)) => super::backfill::run(client, cx, backfill, cursor, events),
        (StepKind::Check, _, _) => check(client, cx, events),
        (_, TxMode::Outside, _) => concurrent(client, cx, events),
        (_, TxMode::InTransaction, _) => transactional(client, cx, events),
    }
}

fn transactional(
    client: &mut postgres::Client,
    cx: &StepContext,
    events: &mut dyn FnMut(&Event),
) -> Result<StepReport, ApplyError> {
    let timeouts = set_local_timeouts(cx.step, cx.settings);
    let ((), attempts) = with_retries(client, cx, events, |client| {
        let mut tx = client.transaction()?;
        tx.batch_execute(&timeouts)?;
        tx.batch_execute(&cx.step.sql)?;
        cx.record(&mut tx, StepState::Done, None, 1, None)?;
        tx.commit()?;
        Ok(())
    })?;
    Ok(StepReport {
        outcome: StepOutcome::Ran,
        attempts,
        rows: None,
    })
}

fn check(
    client: &mut postgres::Client,
    cx: &StepContext,
    events: &mut dyn FnMut(&Event),
) -> Result<StepReport, ApplyError> {
    let timeouts = set_local_timeouts(cx.step, cx.settings);
    let ((), attempts) = with_retries(client, cx, events, |client| {
        let mut tx = client.transaction()?;
        tx.batch_execute(&timeouts)?;
        if !query_bool(&mut tx, &cx.step.sql)? {
            return Err(TryError::Stop(ApplyError::CheckFailed {
                migration: cx.label.to_string(),
                step: cx.index + 1,
                note: cx.step.note.clone().unwrap_or_else(|| cx.step.sql.clone()),
            }));
        }
        cx.record(&mut tx, StepState::Done, None, 1, None)?;
        tx.commit()?;
        Ok(())
    })?;
    Ok(StepReport {
        outcome: StepOutcome::Ran,
        attempts,
        rows: None,
    })
}

/// INVALID indexes on `table` (every table when `None`), as SQL names.
fn invalid_indexes(
    client: &mut postgres::Client,
    table: Option<&str>,
) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT i.indexrelid::regclass::text FROM pg_catalog.pg_index i
         WHERE NOT i.indisvalid AND ($1::text IS NULL OR i.indrelid = to_regclass($1::text))",
        &[&table],
    )?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

fn concurrent(
    client: &mut postgres::Client,
    cx: &StepContext,
    events: &mut dyn FnMut(&Event),
) -> Result<StepReport, ApplyError> {
    let table = cx.table();
    client
        .batch_execute("SET statement_timeout = 0")
        .map_err(|e| cx.failed(&e))?;
    let result = with_retries(client, cx, events, |client| {
        let before = invalid_indexes(client, table.as_deref())?;
        match client.batch_execute(&cx.step.sql) {
            Ok(()) => Ok(()),
            Err(e) => {
                // A failed concurrent build leaves an INVALID index that
                // still slows writes (and, if unique, enforces uniqueness).
                if let Ok(after) = invalid_indexes(client, table.as_deref()) {
                    for index in after.iter().filter(|i| !before.contains(i)) {
                        // `index` is PostgreSQL's own quoted spelling of the name.
                        let _ = client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {index}"));
                    }
                }
                Err(TryError::Db(e))
            }
        }
    });
    let _ = client.batch_execute("RESET statement_timeout");
    let ((), attempts) = result?;
    // Autocommit: the index stays if this fails; the step's guard makes the
    // next run skip it.
    cx.record(client, StepState::Done, None, attempts, None)
        .map_err(|e| cx.stop(e))?;
    Ok(StepReport {
        outcome: StepOutcome::Ran,
        attempts,
        rows: None,
    })
}

/// Sessions holding locks on the step's table that conflict with the step's
/// lock; failing that, every open transaction in the database.
fn blockers(client: &mut postgres::Client, cx: &StepContext) -> Vec<Blocker> {
    let to_blocker = |r: postgres::Row| Blocker {
        pid: r.get(0),
        state: r.get(1),
        for_: Duration::from_secs_f64(r.get::<_, f64>(2).max(0.0)),
        mode: r.get(3),
        query: r.get(4),
    };
    let mut found: Vec<Blocker> = Vec::new();
    if let Some(table) = cx.table() {
        let rows = client
            .query(
                "SELECT a.pid, coalesce(a.state, ''),
                        coalesce(extract(epoch FROM now() - a.xact_start), 0)::float8,
                        l.mode, left(coalesce(a.query, ''), 200)
                 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
                 WHERE l.granted AND l.locktype = 'relation' AND l.relation = to_regclass($1::text)
                   AND a.pid <> pg_backend_pid()
                 ORDER BY a.xact_start",
                &[&table],
            )
            .unwrap_or_default();
        found = rows
            .into_iter()
            .map(to_blocker)
            .filter(|b| match (cx.step.lock, LockMode::from_pg_locks_name(&b.mode)) {
                (Some(wanted), Some(held)) => held.conflicts_with(wanted),
                _ => true,
            })
            .collect();
    }
    if found.is_empty() {
        let rows = client
            .query(
                "SELECT a.pid, coalesce(a.state, ''),
                        coalesce(extract(epoch FROM now() - a.xact_start), 0)::float8,
                        ''::text, left(coalesce(a.query, ''), 200)
                 FROM pg_catalog.pg_stat_activity a
                 WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                   AND a.xact_start IS NOT NULL AND a.backend_type = 'client backend'
                 ORDER BY a.xact_start LIMIT 5",
                &[],
            )
            .unwrap_or_default();
        found = rows.into_iter().map(to_blocker).collect();
    }
    found
}
