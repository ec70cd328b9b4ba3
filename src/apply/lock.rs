//! One runner at a time: a session-level advisory lock on the main
//! connection, taken with `pg_try_advisory_lock` and polled, never with the
//! blocking `pg_advisory_lock` (a blocked runner would sit in the lock queue
//! with no timeout), and never inside a transaction (it must outlive every
//! step's transaction).
//!
//! Both need one server session for the whole run, which a
//! transaction-pooling proxy (PgBouncer `pool_mode = transaction`) does not
//! give: [`check_session`] refuses such a connection.

use super::{ApplyError, ApplySettings, Event};
use crate::db::DbError;
use std::time::{Duration, Instant};

/// The advisory lock key: the bytes of "safemigr". Fixed, so every runner
/// against a database contends for the same lock.
pub const RUN_LOCK_KEY: i64 = 0x7361_6665_6d69_6772;

fn backend_pid(client: &mut postgres::Client) -> Result<i32, ApplyError> {
    // The simple protocol: one message, one transaction, even through a
    // transaction pooler (an extended-protocol query is two round trips a
    // pooler may send to two backends).
    let messages = client
        .simple_query("SELECT pg_backend_pid()")
        .map_err(|e| connection_lost(&e))?;
    messages
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
            _ => None,
        })
        .ok_or_else(|| {
            DbError::Connect {
                url: "the database".to_string(),
                message: "SELECT pg_backend_pid() returned no row".to_string(),
            }
            .into()
        })
}

fn connection_lost(e: &postgres::Error) -> ApplyError {
    DbError::Connect {
        url: "the database".to_string(),
        message: crate::db::error_text(e),
    }
    .into()
}

/// Refuses a connection whose server session changes between transactions.
///
/// Two signs, either enough: the backend pid differs between two
/// transactions, or a statement prepared in one round trip is unknown in the
/// next (SQLSTATE 26000, what PgBouncer's transaction mode does to the
/// extended protocol when the two land on different backends). Neither shows
/// when the pooler happens to reuse the same backend every time (an idle
/// pool of one); docs/reliability.md says so.
pub fn check_session(client: &mut postgres::Client) -> Result<(), ApplyError> {
    // Two autocommit statements are two transactions: a transaction pooler
    // may hand each to a different server connection.
    let first = backend_pid(client)?;
    let second = backend_pid(client)?;
    if first != second {
        return Err(ApplyError::PoolingProxy {
            evidence: format!("backend pid {first} became {second} between two transactions"),
        });
    }
    let prepared = client.query_one("SELECT pg_backend_pid()", &[]);
    match prepared {
        Ok(row) => {
            let third: i32 = row.get(0);
            if third != first {
                return Err(ApplyError::PoolingProxy {
                    evidence: format!("backend pid {first} became {third} between two transactions"),
                });
            }
            Ok(())
        }
        Err(e) if e.code() == Some(&postgres::error::SqlState::INVALID_SQL_STATEMENT_NAME) => {
            Err(ApplyError::PoolingProxy {
                evidence: format!(
                    "a statement prepared in one round trip was gone in the next ({})",
                    super::run::error_text(&e)
                ),
            })
        }
        Err(e) => Err(connection_lost(&e)),
    }
}

/// Takes the run lock, polling every `settings.lock_poll` for up to
/// `settings.lock_wait`.
pub fn acquire(
    client: &mut postgres::Client,
    settings: &ApplySettings,
    events: &mut dyn FnMut(&Event),
) -> Result<(), ApplyError> {
    let started = Instant::now();
    let mut announced = false;
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&settings.run_lock_key])
            .map(|r| r.get(0))
            .map_err(|e| connection_lost(&e))?;
        if got {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= settings.lock_wait {
            return Err(ApplyError::RunLockBusy {
                waited,
                holder: holder(client, settings.run_lock_key),
            });
        }
        if !announced {
            events(&Event::WaitingForRunLock);
            announced = true;
        }
        let left = settings.lock_wait.saturating_sub(waited);
        std::thread::sleep(settings.lock_poll.min(left).max(Duration::from_millis(10)));
    }
}

/// The pid holding the run lock, if it can be seen.
fn holder(client: &mut postgres::Client, key: i64) -> Option<i32> {
    // A bigint key is split into classid (high half) and objid (low half).
    client
        .query_opt(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
               AND classid::bigint = ($1 >> 32) AND objid::bigint = ($1 & 4294967295)
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&key],
        )
        .ok()
        .flatten()
        .map(|r| r.get(0))
}

/// Releases the run lock `key` (best effort: closing the session releases it too).
pub fn release(client: &mut postgres::Client, key: i64) {
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&key]);
}
