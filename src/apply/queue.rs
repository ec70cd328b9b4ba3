//! Not joining a lock queue we would lose (issue #19).
//!
//! A lock request that has to wait sits in the table's lock queue, and every
//! later request that conflicts with it (for ACCESS EXCLUSIVE: every query on
//! the table) queues behind it for as long as it waits. `lock_timeout` bounds
//! that wait, but a try made while a long transaction holds a conflicting
//! lock is lost in advance: it stalls traffic for its whole timeout and
//! fails. So before each try of a step that takes a lock on a table:
//!
//! 1. [`conflicting`] reads `pg_locks` joined with `pg_stat_activity`: the
//!    sessions that hold, or are queued for, a lock on the step's table that
//!    conflicts with the step's ([`LockMode::conflicts_with`], the docs'
//!    table 13.2).
//! 2. Those whose transaction has been open longer than the try's
//!    `lock_timeout` will not finish in time: while there is one, the step
//!    waits without queueing, polling every `wait_poll` and reporting them
//!    ([`Event::WaitingForLock`]) every `progress_every`.
//! 3. With `--cancel-blockers-after`, an *active* one whose transaction is
//!    older than that is sent `pg_cancel_backend`. An idle-in-transaction
//!    session has no query to cancel: it is named, never signalled.
//! 4. After `max_wait` in all, the step stops with
//!    [`ApplyError::WaitedTooLong`], nothing of it done.
//!
//! Only when the road is clear does the try run, with a short `lock_timeout`
//! ([`TryTimeout`]): young holders finish within it, and if one does not,
//! traffic queued behind the try for no longer than that.

use super::monitor::{self, Session};
use super::run::StepContext;
use super::{ApplyError, Blocker, Event};
use crate::pg::LockMode;
use std::time::{Duration, Instant};

/// Timed-out tries of a step after which the next tries' `lock_timeout` doubles.
pub const ESCALATE_AFTER: u32 = 3;

/// The `lock_timeout` of the next try: starts at `try_lock_timeout`, doubles
/// after every [`ESCALATE_AFTER`] timed-out tries of the step (a step ends at
/// its first success), never above the `--lock-timeout` ceiling and never zero.
#[derive(Debug, Clone, Copy)]
pub struct TryTimeout {
    current: Duration,
    ceiling: Duration,
    timed_out_tries: u32,
}

impl TryTimeout {
    /// The schedule for `try_lock_timeout` under the `ceiling`.
    pub fn new(first: Duration, ceiling: Duration) -> TryTimeout {
        let floor = Duration::from_millis(1);
        let ceiling = ceiling.max(floor);
        TryTimeout {
            current: first.clamp(floor, ceiling),
            ceiling,
            timed_out_tries: 0,
        }
    }

    /// The next try's `lock_timeout`.
    pub fn get(&self) -> Duration {
        self.current
    }

    /// A try timed out waiting for its lock.
    pub fn timed_out(&mut self) {
        self.timed_out_tries += 1;
        if self.timed_out_tries % ESCALATE_AFTER == 0 {
            self.current = self.current.saturating_mul(2).min(self.ceiling);
        }
    }
}

/// Sessions other than ours (and our second connection) that hold or wait
/// for a lock on `table` conflicting with `wanted`, oldest transaction first.
/// A table that does not exist (yet) has none.
pub fn conflicting(
    client: &mut impl postgres::GenericClient,
    table: &str,
    wanted: LockMode,
) -> Result<Vec<Blocker>, postgres::Error> {
    let rows = client.query(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
                greatest(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start, a.backend_start)), 0)::float8,
                l.mode, l.granted, left(coalesce(a.query, ''), 200)
         FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'relation' AND l.relation = to_regclass($1::text)
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
           AND a.pid <> pg_backend_pid() AND a.application_name <> 'safe-migrate monitor'
         ORDER BY 4 DESC, a.pid",
        &[&table],
    )?;
    let mut found: Vec<Blocker> = Vec::new();
    for r in rows {
        let mode: String = r.get(4);
        let conflicts = LockMode::from_pg_locks_name(&mode).is_none_or(|held| held.conflicts_with(wanted));
        let pid: i32 = r.get(0);
        // A session appears once, with the first of its conflicting locks.
        if conflicts && !found.iter().any(|b| b.pid == pid) {
            found.push(Blocker {
                pid,
                application: r.get(1),
                state: r.get(2),
                for_: Duration::from_secs_f64(r.get::<_, f64>(3)),
                mode,
                granted: r.get(5),
                query: r.get(6),
            });
        }
    }
    Ok(found)
}

/// The sessions `pg_blocking_pids(pid)` names, with what `pg_stat_activity`
/// says of them (read on the second connection while `pid` waits). The
/// function takes the lock manager's locks, so it is called only while `pid`
/// waits for a lock (`wait_event_type = 'Lock'`).
pub fn blocking(client: &mut postgres::Client, pid: i32) -> Result<Vec<Blocker>, postgres::Error> {
    let rows = client.query(
        "WITH waiting AS (
             SELECT pg_catalog.pg_blocking_pids(pid) AS pids FROM pg_catalog.pg_stat_activity
             WHERE pid = $1 AND wait_event_type = 'Lock')
         SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
                greatest(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start, a.backend_start)), 0)::float8,
                coalesce((SELECT string_agg(DISTINCT l.mode, ', ') FROM pg_catalog.pg_locks l
                          WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
                            AND l.relation IN (SELECT w.relation FROM pg_catalog.pg_locks w
                                               WHERE w.pid = $1 AND NOT w.granted)), ''),
                left(coalesce(a.query, ''), 200)
         FROM pg_catalog.pg_stat_activity a, waiting
         WHERE a.pid = ANY (waiting.pids)
         ORDER BY 4 DESC",
        &[&pid],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| Blocker {
            pid: r.get(0),
            application: r.get(1),
            state: r.get(2),
            for_: Duration::from_secs_f64(r.get::<_, f64>(3)),
            mode: r.get(4),
            granted: true,
            query: r.get(5),
        })
        .collect())
}

/// Reads `pg_blocking_pids` of the main session on the second connection,
/// best effort (empty when there is no second connection or it fails).
pub fn blocking_from_monitor(session: &Session) -> Vec<Blocker> {
    monitor::with_monitor(session, |m| blocking(m, session.backend_pid).ok()).unwrap_or_default()
}

/// What a step waits for: its lock on its table, within `max_wait` from `started`.
pub struct Wait<'a> {
    pub table: &'a str,
    pub lock: LockMode,
    pub started: Instant,
}

impl Wait<'_> {
    fn too_long(&self, cx: &StepContext, blockers: Vec<Blocker>) -> ApplyError {
        ApplyError::WaitedTooLong {
            migration: cx.label.to_string(),
            step: cx.index + 1,
            table: Some(self.table.to_string()),
            lock: Some(self.lock),
            waited: self.started.elapsed(),
            blockers,
        }
    }

    /// Whether `max_wait` has run out.
    pub fn expired(&self, cx: &StepContext) -> bool {
        self.started.elapsed() >= cx.settings.max_wait
    }

    /// The error for a wait that ran out after a failed try, naming `blockers`
    /// (else whoever conflicts now).
    pub fn gave_up(
        &self,
        client: &mut postgres::Client,
        cx: &StepContext,
        blockers: Vec<Blocker>,
    ) -> ApplyError {
        let blockers = if blockers.is_empty() {
            conflicting(client, self.table, self.lock).unwrap_or_default()
        } else {
            blockers
        };
        self.too_long(cx, blockers)
    }

    /// Returns once no session that conflicts with the step has had its
    /// transaction open longer than `try_timeout`; meanwhile reports them,
    /// cancels them if asked to, and gives up after `max_wait`.
    pub fn until_clear(
        &self,
        client: &mut postgres::Client,
        cx: &StepContext,
        try_timeout: Duration,
        events: &mut dyn FnMut(&Event),
    ) -> Result<(), ApplyError> {
        let settings = cx.settings;
        let mut reported: Option<Instant> = None;
        let mut cancelled: Vec<i32> = Vec::new();
        loop {
            let old: Vec<Blocker> = conflicting(client, self.table, self.lock)
                .map_err(|e| cx.failed(&e))?
                .into_iter()
                .filter(|b| b.for_ > try_timeout)
                .collect();
            if old.is_empty() {
                return Ok(());
            }
            if let Some(after) = settings.cancel_blockers_after {
                let due: Vec<&Blocker> = old
                    .iter()
                    .filter(|b| b.for_ >= after && b.state == "active" && !cancelled.contains(&b.pid))
                    .collect();
                for b in due {
                    // Without pg_signal_backend (or against a superuser's
                    // session) the server refuses: the blocker stays named.
                    let signalled = match client
                        .query_one("SELECT pg_catalog.pg_cancel_backend($1)", &[&b.pid])
                    {
                        Ok(r) => r.get::<_, bool>(0),
                        Err(e) if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
                            false
                        }
                        Err(e) => return Err(cx.failed(&e)),
                    };
                    cancelled.push(b.pid);
                    events(&Event::BlockerCancelled {
                        version: cx.migration.to_string(),
                        step: cx.index + 1,
                        table: self.table.to_string(),
                        blocker: b.clone(),
                        signalled,
                    });
                }
            }
            if self.expired(cx) {
                return Err(self.too_long(cx, old));
            }
            if reported.is_none_or(|at| at.elapsed() >= settings.progress_every) {
                events(&Event::WaitingForLock {
                    version: cx.migration.to_string(),
                    step: cx.index + 1,
                    table: self.table.to_string(),
                    lock: self.lock,
                    blockers: old,
                    waited: self.started.elapsed(),
                    max_wait: settings.max_wait,
                });
                reported = Some(Instant::now());
            }
            let left = settings.max_wait.saturating_sub(self.started.elapsed());
            std::thread::sleep(settings.wait_poll.min(left).max(Duration::from_millis(10)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_timeouts_start_short_and_double_up_to_the_ceiling() {
        let mut t = TryTimeout::new(Duration::from_millis(50), Duration::from_millis(500));
        let mut seen = Vec::new();
        for _ in 0..12 {
            seen.push(t.get().as_millis());
            t.timed_out();
        }
        assert_eq!(seen, [50, 50, 50, 100, 100, 100, 200, 200, 200, 400, 400, 400]);
        for _ in 0..10 {
            t.timed_out();
        }
        assert_eq!(t.get(), Duration::from_millis(500));
    }

    #[test]
    fn a_ceiling_below_the_first_try_wins_and_nothing_is_zero() {
        assert_eq!(
            TryTimeout::new(Duration::from_millis(50), Duration::from_millis(20)).get(),
            Duration::from_millis(20)
        );
        assert_eq!(
            TryTimeout::new(Duration::ZERO, Duration::ZERO).get(),
            Duration::from_millis(1)
        );
    }
}
