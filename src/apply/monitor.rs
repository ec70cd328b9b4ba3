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
//! The second connection is opened when a run has something to apply, with
//! `application_name = safe-migrate monitor`; it reads statistics views only
//! and takes no lock on user tables. It is best effort: when it cannot be
//! opened within 3 s (a connection limit, a full pool), steps run as before
//! without these reports.

use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// The URL of the second connection. Its `Debug` shows the URL redacted:
/// settings get printed, passwords must not be.
#[derive(Clone)]
pub struct MonitorUrl(pub String);

impl std::fmt::Debug for MonitorUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MonitorUrl")
            .field(&crate::db::redact_url(&self.0))
            .finish()
    }
}

/// How long opening the second connection may take, first query included:
/// behind a pooler whose pool is full, the query would wait for a server
/// connection (PgBouncer's `query_wait_timeout`, 2 minutes by default).
const OPEN_WITHIN: Duration = Duration::from_secs(3);

/// Facts about the main session, read once per run, and the second connection.
pub struct Session {
    /// `pg_backend_pid()` of the main connection.
    pub backend_pid: i32,
    /// `server_version_num`, e.g. 150004 (0 when it could not be read).
    pub server_version_num: i32,
    /// `None` without a URL, or when it could not be opened in time.
    monitor: Mutex<Option<postgres::Client>>,
}

impl Session {
    /// Reads the main session's pid and the server version, and opens the
    /// second connection now (a try's lock wait is too short to connect in).
    pub fn new(client: &mut postgres::Client, url: Option<MonitorUrl>) -> Session {
        let row = client
            .query_one(
                "SELECT pg_backend_pid(), current_setting('server_version_num')::int",
                &[],
            )
            .ok();
        Session {
            backend_pid: row.as_ref().map_or(0, |r| r.get(0)),
            server_version_num: row.as_ref().map_or(0, |r| r.get(1)),
            monitor: Mutex::new(url.and_then(open)),
        }
    }

    /// A session with no server behind it, for unit tests of what a step sends.
    #[cfg(test)]
    pub(crate) fn detached(server_version_num: i32) -> Session {
        Session {
            backend_pid: 0,
            server_version_num,
            monitor: Mutex::new(None),
        }
    }

    /// Whether the server is at least PostgreSQL `major`.
    pub fn server_at_least(&self, major: i32) -> bool {
        self.server_version_num >= major * 10_000
    }

    /// Whether the second connection is open.
    pub fn has_monitor(&self) -> bool {
        self.monitor.lock().is_ok_and(|m| m.is_some())
    }
}

/// Opens the second connection and runs a first query, within [`OPEN_WITHIN`];
/// `None` if that fails or takes longer (the thread is left to finish alone).
fn open(url: MonitorUrl) -> Option<postgres::Client> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let client = crate::db::connect_as(&url.0, "safe-migrate monitor", |_| {})
            .ok()
            .and_then(|mut c| c.batch_execute("SET statement_timeout = '5s'").ok().map(|()| c));
        let _ = sender.send(client);
    });
    receiver.recv_timeout(OPEN_WITHIN).ok().flatten()
}

/// Runs a query on the second connection, if there is one; `None` on any failure.
pub fn with_monitor<T>(session: &Session, f: impl FnOnce(&mut postgres::Client) -> Option<T>) -> Option<T> {
    let mut guard = session.monitor.lock().ok()?;
    f(guard.as_mut()?)
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
