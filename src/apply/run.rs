//! Running one step as its fields say (style §3: a step says how it must run),
//! through its lowering ([`lower::lower`], [`lower::timeouts`]), the same the
//! psql script renders; this module wraps it in tries, waits and reports.
//!
//! * Guard true → the step is recorded as skipped; `only_if` false → the same.
//! * [`TxMode::InTransaction`]: `BEGIN; SET LOCAL lock_timeout; SET LOCAL
//!   statement_timeout (or 0); [SET LOCAL transaction_timeout, PG 17+];
//!   <sql>; <record done>; COMMIT` — the effect and its record commit
//!   together. A step whose plan says `lock_timeout` tries only when no old
//!   transaction is in the way, with a short lock timeout (see
//!   [`super::queue`]). A lock timeout (55P03) or deadlock (40P01) rolls back
//!   and retries with backoff (see [`super::retry`]) within `max_attempts`
//!   and `max_wait`; then the blockers are named (`pg_blocking_pids` of the
//!   last waiting try, seen from the second connection, else `pg_locks`).
//!   There is never a try without a lock or statement timeout.
//! * [`TxMode::Outside`] (`CONCURRENTLY`): autocommit, `statement_timeout` 0
//!   for the session while it runs, no `lock_timeout` (a timeout would cancel
//!   the build and leave an INVALID index). A failed try drops the INVALID
//!   index it left on the step's table before trying again or giving up.
//!   While it builds, the second connection reports its progress (see
//!   [`super::monitor`]); a `VALIDATE` reports its elapsed time.
//! * [`StepKind::Check`]: the query must return true, else the migration fails.
//! * [`StepKind::Backfill`]: see [`super::backfill`].

use super::history::{self, StepState};
use super::monitor::{self, Session};
use super::queue;
use super::retry::{self, Backoff};
use super::{ApplyError, ApplySettings, Blocker, Event, StepOutcome};
use crate::plan::lower::{self, Action, LowerSettings};
use crate::plan::{Step, StepKind, TxMode};
use postgres::GenericClient;
use std::time::{Duration, Instant};

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
    /// The main session's pid, the server version and the second connection.
    pub session: &'a Session,
}

impl StepContext<'_> {
    pub(crate) fn failed(&self, e: &postgres::Error) -> ApplyError {
        if connection_lost(e) {
            return ApplyError::ConnectionLost {
                migration: self.label.to_string(),
                step: self.index + 1,
                kind: self.step.kind.name(),
                message: error_text(e),
            };
        }
        ApplyError::Step {
            migration: self.label.to_string(),
            step: self.index + 1,
            kind: self.step.kind.name(),
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
    /// retried like the step, and a lost connection, which is
    /// [`ApplyError::ConnectionLost`] like any other; either way the caller's
    /// transaction, and the effect in it, rolls back.
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
            } else if connection_lost(&e) {
                // The server went away, not the history: the step's own error.
                TryError::Stop(self.failed(&e))
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

    /// What the step's lowering needs of this try.
    pub(crate) fn lower_settings(&self, try_timeout: Duration) -> LowerSettings {
        LowerSettings {
            try_lock_timeout: try_timeout,
            lock_timeout: self.settings.lock_timeout,
            statement_timeout: self.settings.statement_timeout,
            server_version_num: Some(self.session.server_version_num),
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

pub use crate::db::error_text;

/// The `SET LOCAL`s of one try of a step's (or a batch's) transaction: the
/// step's lowering (see [`lower::timeouts`]) with the try's `lock_timeout`
/// (see [`queue::TryTimeout`]), `--lock-timeout` as the ceiling,
/// `--statement-timeout` and the server's version.
pub(crate) fn set_local_timeouts(cx: &StepContext, try_timeout: Duration) -> String {
    lower::set_local_timeouts(cx.step, &cx.lower_settings(try_timeout))
}

/// What the second connection looks at while a try runs, and when.
struct Watch<'a> {
    cx: &'a StepContext<'a>,
    /// When to read `pg_blocking_pids` of the waiting try (until it names someone).
    blocking_at: Option<Duration>,
    /// The try's lock_timeout.
    try_timeout: Duration,
    blocked_by: Vec<Blocker>,
    /// The next progress report, for scans and concurrent builds.
    progress_at: Option<Duration>,
    table_bytes: Option<u64>,
    index: IndexEta,
}

impl Watch<'_> {
    fn first(&self) -> Option<Duration> {
        [self.blocking_at, self.progress_at].into_iter().flatten().min()
    }

    fn poll(&mut self, elapsed: Duration, events: &mut dyn FnMut(&Event)) -> Option<Duration> {
        let cx = self.cx;
        if self.blocking_at.is_some_and(|at| elapsed >= at) {
            self.blocked_by = queue::blocking_from_monitor(cx.session);
            // Not queued yet (a slow start): look again while the try may still wait.
            let again = elapsed + Duration::from_millis(10);
            self.blocking_at = (self.blocked_by.is_empty() && again < self.try_timeout).then_some(again);
        }
        if let Some(at) = self.progress_at.filter(|at| elapsed >= *at) {
            self.progress_at = Some(at + cx.settings.progress_every.max(Duration::from_millis(100)));
            let table = cx.table().unwrap_or_default();
            if cx.step.tx == TxMode::Outside {
                let row = monitor::with_monitor(cx.session, |m| {
                    m.query_opt(
                        "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total
                         FROM pg_catalog.pg_stat_progress_create_index WHERE pid = $1",
                        &[&cx.session.backend_pid],
                    )
                    .ok()
                    .flatten()
                });
                if let Some(r) = row {
                    let count = |i: usize| r.get::<_, Option<i64>>(i).unwrap_or(0).max(0) as u64;
                    let phase: String = r.get(0);
                    let (blocks_done, blocks_total) = (count(1), count(2));
                    let (tuples_done, tuples_total) = (count(3), count(4));
                    let (done, total) = if blocks_total > 0 {
                        (blocks_done, blocks_total)
                    } else {
                        (tuples_done, tuples_total)
                    };
                    events(&Event::IndexProgress {
                        version: cx.migration.to_string(),
                        step: cx.index + 1,
                        table,
                        phase_eta_secs: self.index.eta(&phase, done, total, elapsed),
                        phase,
                        blocks_done,
                        blocks_total,
                        tuples_done,
                        tuples_total,
                        elapsed,
                    });
                }
            } else {
                events(&Event::ScanProgress {
                    version: cx.migration.to_string(),
                    step: cx.index + 1,
                    table,
                    elapsed,
                    table_bytes: self.table_bytes,
                });
            }
        }
        let next = [self.blocking_at, self.progress_at].into_iter().flatten().min()?;
        Some(next.saturating_sub(elapsed).max(Duration::from_millis(1)))
    }
}

/// The time left in a concurrent build's current phase, at the rate since
/// the phase was first seen.
#[derive(Default)]
struct IndexEta {
    phase: String,
    since: Duration,
    done_then: u64,
}

impl IndexEta {
    fn eta(&mut self, phase: &str, done: u64, total: u64, now: Duration) -> Option<u64> {
        if phase != self.phase {
            *self = IndexEta {
                phase: phase.to_string(),
                since: now,
                done_then: done,
            };
            return None;
        }
        eta_secs(
            done - self.done_then.min(done),
            total.saturating_sub(done),
            now.saturating_sub(self.since),
        )
    }
}

/// Seconds to do `left` more at the rate of `done` in `took`.
fn eta_secs(done: u64, left: u64, took: Duration) -> Option<u64> {
    if done == 0 || took.is_zero() {
        return None;
    }
    Some((left as f64 * took.as_secs_f64() / done as f64).ceil() as u64)
}

/// Runs `attempt` until it succeeds, retrying lock timeouts and deadlocks
/// with backoff. Returns the value and the tries used.
///
/// A step whose plan says `lock_timeout`, taking a lock on a known table,
/// goes through [`queue`]: before each try it waits while an old
/// transaction holds or queues for a conflicting lock, each try gets the
/// short [`queue::TryTimeout`] (passed to `attempt` as `SET LOCAL`s), and
/// `max_wait` bounds the whole. Every step stops after `max_attempts` tries.
pub(crate) fn with_retries<T: Send>(
    client: &mut postgres::Client,
    cx: &StepContext,
    events: &mut dyn FnMut(&Event),
    mut attempt: impl FnMut(&mut postgres::Client, &str) -> Result<T, TryError> + Send,
) -> Result<(T, u32), ApplyError> {
    let settings = cx.settings;
    let table = cx.table();
    let wait = match (cx.step.lock_timeout, cx.step.tx, &table, cx.step.lock) {
        (true, TxMode::InTransaction, Some(table), Some(lock)) => Some(queue::Wait {
            table,
            lock,
            started: Instant::now(),
        }),
        _ => None,
    };
    let mut try_timeout = queue::TryTimeout::new(settings.try_lock_timeout, settings.lock_timeout);
    let long = match (cx.step.kind, cx.step.tx) {
        (_, TxMode::Outside) => cx.session.has_monitor() && cx.session.server_at_least(12),
        (StepKind::Validate, _) => true,
        _ => false,
    };
    let table_bytes = match (&table, long && cx.step.tx == TxMode::InTransaction) {
        (Some(t), true) => client
            .query_opt("SELECT pg_catalog.pg_table_size(to_regclass($1::text))", &[t])
            .ok()
            .flatten()
            .and_then(|r| r.get::<_, Option<i64>>(0))
            .map(|n| n.max(0) as u64),
        _ => None,
    };
    let mut tries = 0;
    loop {
        if let Some(w) = &wait {
            w.until_clear(client, cx, try_timeout.get(), events)?;
        }
        tries += 1;
        let this_try = try_timeout.get();
        let timeouts = set_local_timeouts(cx, this_try);
        let mut watch = Watch {
            cx,
            // Well into the try's lock_timeout: a try still running then is
            // most likely waiting for its lock.
            blocking_at: (wait.is_some() && cx.session.has_monitor()).then(|| this_try.mul_f64(0.5)),
            try_timeout: this_try,
            blocked_by: Vec::new(),
            progress_at: long.then_some(settings.progress_every),
            table_bytes,
            index: IndexEta::default(),
        };
        let result = monitor::watched(
            client,
            watch.first(),
            |client| attempt(client, &timeouts),
            |elapsed| watch.poll(elapsed, events),
        );
        match result {
            Ok(value) => return Ok((value, tries)),
            Err(TryError::Stop(e)) => return Err(e),
            Err(TryError::Db(e)) if retry::is_retryable(&e) => {
                if e.as_db_error()
                    .is_some_and(|db| db.code().code() == retry::LOCK_NOT_AVAILABLE)
                {
                    try_timeout.timed_out();
                }
                if tries >= settings.max_attempts {
                    let blockers = if watch.blocked_by.is_empty() {
                        blockers(client, cx)
                    } else {
                        watch.blocked_by
                    };
                    return Err(ApplyError::LockNotAcquired {
                        migration: cx.label.to_string(),
                        step: cx.index + 1,
                        table,
                        lock: cx.step.lock,
                        timeout: this_try,
                        attempts: tries,
                        blockers,
                    });
                }
                let mut sleep = cx.backoff().delay(tries);
                if let Some(w) = &wait {
                    if w.expired(cx) {
                        return Err(w.gave_up(client, cx, watch.blocked_by));
                    }
                    sleep = sleep.min(settings.max_wait.saturating_sub(w.started.elapsed()));
                }
                events(&Event::StepRetry {
                    version: cx.migration.to_string(),
                    step: cx.index + 1,
                    attempt: tries,
                    error: error_text(&e),
                    sleep,
                    lock_timeout: this_try,
                    blocked_by: watch.blocked_by,
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

/// Runs one step as [`lower::lower`] lowers it: guard, condition, then its
/// action, wrapped in retries, lock-queue waits and progress reports.
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
    let lowered = lower::lower(cx.step);
    if let Some(guard) = lowered.guard {
        if query_bool(client, guard).map_err(|e| cx.failed(&e))? {
            return skip(client, StepOutcome::SkippedGuard);
        }
    }
    if let Some(condition) = lowered.only_if {
        if !query_bool(client, condition).map_err(|e| cx.failed(&e))? {
            return skip(client, StepOutcome::SkippedCondition);
        }
    }
    match lowered.action {
        Action::Backfill(backfill) => super::backfill::run(client, cx, backfill, cursor, events),
        Action::Check { query } => check(client, cx, query, events),
        Action::Outside { sql } => concurrent(client, cx, sql, events),
        Action::Transaction { sql } => transactional(client, cx, sql, events),
    }
}

fn transactional(
    client: &mut postgres::Client,
    cx: &StepContext,
    sql: &str,
    events: &mut dyn FnMut(&Event),
) -> Result<StepReport, ApplyError> {
    let ((), attempts) = with_retries(client, cx, events, |client, timeouts| {
        let mut tx = client.transaction()?;
        tx.batch_execute(timeouts)?;
        tx.batch_execute(sql)?;
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
    query: &str,
    events: &mut dyn FnMut(&Event),
) -> Result<StepReport, ApplyError> {
    let ((), attempts) = with_retries(client, cx, events, |client, timeouts| {
        let mut tx = client.transaction()?;
        tx.batch_execute(timeouts)?;
        if !query_bool(&mut tx, query)? {
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
    sql: &str,
    events: &mut dyn FnMut(&Event),
) -> Result<StepReport, ApplyError> {
    let table = cx.table();
    client
        .batch_execute("SET statement_timeout = 0")
        .map_err(|e| cx.failed(&e))?;
    let result = with_retries(client, cx, events, |client, _| {
        let before = invalid_indexes(client, table.as_deref())?;
        match client.batch_execute(sql) {
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

/// Sessions holding or queued for locks on the step's table that conflict
/// with the step's lock; failing that, every open transaction in the database.
fn blockers(client: &mut postgres::Client, cx: &StepContext) -> Vec<Blocker> {
    let found = match (cx.table(), cx.step.lock) {
        (Some(table), Some(lock)) => queue::conflicting(client, &table, lock).unwrap_or_default(),
        _ => Vec::new(),
    };
    if !found.is_empty() {
        return found;
    }
    client
        .query(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
                    coalesce(extract(epoch FROM now() - a.xact_start), 0)::float8,
                    left(coalesce(a.query, ''), 200)
             FROM pg_catalog.pg_stat_activity a
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
               AND a.xact_start IS NOT NULL AND a.backend_type = 'client backend'
               AND a.application_name <> 'safe-migrate monitor'
             ORDER BY a.xact_start LIMIT 5",
            &[],
        )
        .unwrap_or_default()
        .into_iter()
        .map(|r| Blocker {
            pid: r.get(0),
            application: r.get(1),
            state: r.get(2),
            for_: Duration::from_secs_f64(r.get::<_, f64>(3).max(0.0)),
            mode: String::new(),
            granted: true,
            query: r.get(4),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts_of(step: &Step, server_version_num: i32) -> String {
        let session = Session::detached(server_version_num);
        let settings = ApplySettings::default();
        let cx = StepContext {
            migration: "2",
            label: "V2__x.sql",
            index: 0,
            step,
            sql_checksum: String::new(),
            settings: &settings,
            session: &session,
        };
        set_local_timeouts(&cx, Duration::from_millis(50))
    }

    #[test]
    fn a_try_gets_the_short_timeout_and_a_check_its_statement_timeout() {
        let span = crate::source::Span::new(0, 0);
        let ddl = Step::ddl(crate::plan::sql::Sql::kw("ALTER TABLE t ADD COLUMN c int"), span);
        assert_eq!(
            timeouts_of(&ddl, 150_004),
            "SET LOCAL lock_timeout = '50ms'; SET LOCAL statement_timeout = '5s'"
        );
        let check = Step::check(crate::plan::sql::Sql::kw("SELECT true"), span, "holds");
        assert_eq!(timeouts_of(&check, 150_004), "SET LOCAL statement_timeout = '5s'");
        let validate = Step::validate(
            crate::plan::sql::Sql::kw("ALTER TABLE t VALIDATE CONSTRAINT c"),
            span,
        );
        assert_eq!(
            timeouts_of(&validate, 150_004),
            "SET LOCAL lock_timeout = '50ms'; SET LOCAL statement_timeout = 0"
        );
    }

    #[test]
    fn postgres_17_gets_a_transaction_timeout_too() {
        let span = crate::source::Span::new(0, 0);
        let ddl = Step::ddl(crate::plan::sql::Sql::kw("ALTER TABLE t ADD COLUMN c int"), span);
        assert_eq!(
            timeouts_of(&ddl, 170_000),
            "SET LOCAL lock_timeout = '50ms'; SET LOCAL statement_timeout = '5s'; \
             SET LOCAL transaction_timeout = '10500ms'"
        );
        let validate = Step::validate(
            crate::plan::sql::Sql::kw("ALTER TABLE t VALIDATE CONSTRAINT c"),
            span,
        );
        assert!(timeouts_of(&validate, 180_001).ends_with("SET LOCAL transaction_timeout = 0"));
    }

    #[test]
    fn an_index_phase_eta_comes_from_its_own_rate() {
        let mut eta = IndexEta::default();
        let s = Duration::from_secs;
        assert_eq!(
            eta.eta("building index: scanning table", 1000, 10_000, s(2)),
            None
        );
        // 2000 blocks in 4 s since the phase was first seen: 7000 left → 14 s.
        assert_eq!(
            eta.eta("building index: scanning table", 3000, 10_000, s(6)),
            Some(14)
        );
        // A new phase starts its own clock.
        assert_eq!(eta.eta("building index: sorting live tuples", 0, 0, s(8)), None);
        assert_eq!(eta.eta("building index: sorting live tuples", 0, 0, s(10)), None);
    }
}
