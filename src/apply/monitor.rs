//! Watching a step from outside: a second connection that sees what the main
//! one cannot while it is busy in a statement.
//!
//! While a try waits for its lock, `pg_blocking_pids(<main pid>)` names who it
//! waits for; while `CREATE INDEX CONCURRENTLY` runs,
//! `pg_stat_progress_create_index` says how far it got. Both must be read
//! during the statement, so [`watched`] runs the statement on the main
//! connection in a scoped thread and polls from this thread, where progress
//! events can be emitted as they happen.
//!
//! The second connection is opened on first use, with
//! `application_name = safe-migrate monitor`; it reads statistics views only
//! and takes no lock on user tables. It is best effort: when it cannot be
//! opened (a connection limit, say), steps run as before without these
//! reports, and it is not tried again in this run.

use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The URL of the second connection. Its `Debug` shows the URL redacted:
/// settings get printed, passwords must not be.
#[derive(Clone)]
pub struct MonitorUrl(pub String);

impl std::fmt::Debug for MonitorUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MonitorUrl")
            .field(&super::redact_url(&self.0))
            .finish()
    }
}

/// Facts about the main session, read once per run, and the second connection.
pub struct Session {
    /// `pg_backend_pid()` of the main connection.
    pub backend_pid: i32,
    /// `server_version_num`, e.g. 150004 (0 when it could not be read).
    pub server_version_num: i32,
    url: Option<MonitorUrl>,
    /// `None` before first use; `Some(None)` once opening it failed.
    monitor: Mutex<Option<Option<postgres::Client>>>,
}

impl Session {
    /// Reads the main session's pid and the server version.
    pub fn new(client: &mut postgres::Client, url: Option<MonitorUrl>) -> Session {
        let row = client
            .query_one(
                "SELECT pg_backend_pid(), current_setting('server_version_num')::int",
                &[],
            )
            .ok();
        let session = Session {
            backend_pid: row.as_ref().map_or(0, |r| r.get(0)),
            server_version_num: row.as_ref().map_or(0, |r| r.get(1)),
            url,
            monitor: Mutex::new(None),
        };
        // Opened now: a try's lock wait is too short to connect in.
        drop(session.monitor());
        session
    }

    /// A session with no server behind it, for unit tests of what a step sends.
    #[cfg(test)]
    pub(crate) fn detached(server_version_num: i32) -> Session {
        Session {
            backend_pid: 0,
            server_version_num,
            url: None,
            monitor: Mutex::new(None),
        }
    }

    /// Whether the server is at least PostgreSQL `major`.
    pub fn server_at_least(&self, major: i32) -> bool {
        self.server_version_num >= major * 10_000
    }

    /// Whether a second connection is configured.
    pub fn has_monitor(&self) -> bool {
        self.url.is_some()
    }

    /// The second connection, opened on first use; `None` when there is no
    /// URL or it could not be opened.
    pub fn monitor(&self) -> Option<MutexGuard<'_, Option<Option<postgres::Client>>>> {
        let url = self.url.as_ref()?;
        let mut guard = self.monitor.lock().ok()?;
        if guard.is_none() {
            *guard = Some(super::connect_as(&url.0, "safe-migrate monitor", |_| {}).ok());
        }
        guard.as_ref()?.as_ref()?;
        Some(guard)
    }
}

/// Runs a query on the second connection, if there is one; `None` on any failure.
pub fn with_monitor<T>(session: &Session, f: impl FnOnce(&mut postgres::Client) -> Option<T>) -> Option<T> {
    let mut guard = session.monitor()?;
    let client = guard.as_mut()?.as_mut()?;
    f(client)
}

/// Runs `work` on `client` in a scoped thread; meanwhile calls `poll` with
/// the time since the start, first after `first`, then after whatever delay
/// `poll` returns (`None`: stop polling), until `work` is done.
pub fn watched<T: Send>(
    client: &mut postgres::Client,
    first: Option<Duration>,
    work: impl FnOnce(&mut postgres::Client) -> T + Send,
    mut poll: impl FnMut(Duration) -> Option<Duration>,
) -> T {
    let Some(first) = first else {
        return work(client);
    };
    let started = Instant::now();
    std::thread::scope(|scope| {
        let (done, finished) = mpsc::channel::<()>();
        let handle = scope.spawn(move || {
            let value = work(client);
            let _ = done.send(());
            value
        });
        let mut next = Some(first);
        while let Some(delay) = next {
            match finished.recv_timeout(delay) {
                Err(mpsc::RecvTimeoutError::Timeout) => next = poll(started.elapsed()),
                _ => break,
            }
        }
        match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
