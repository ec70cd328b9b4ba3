//! Backfill throttling: before each batch, wait while a replica lags or a
//! vacuum works on the table (catalog §3.7: gh-ost's `--max-lag-millis`,
//! GitLab's health indicators that pause a batched migration).
//!
//! The decisions are pure ([`lag_reason`]); the two reads are the edge:
//!
//! * **Replica lag** ([`replica_lag`]), from `pg_stat_replication` on the
//!   server `apply` talks to: the largest `pg_wal_lsn_diff(pg_current_wal_lsn(),
//!   replay_lsn)` (bytes not yet replayed) and the largest `replay_lag`
//!   (time). Either over its limit pauses. No standby, or a role that may not
//!   see the columns (they read NULL without `pg_read_all_stats`), reads as
//!   no lag. `replay_lag` of an idle, caught-up standby is NULL: no lag.
//! * **Vacuum** ([`vacuum_on`]): a row in `pg_stat_progress_vacuum` whose
//!   `relid` is the table. Any vacuum of the table pauses the backfill, an
//!   autovacuum worker or a manual `VACUUM`: both compete for the same I/O,
//!   and a backfill that keeps creating dead tuples while vacuum is cleaning
//!   them is what GitLab's "active autovacuum" indicator stops.

use std::fmt;
use std::time::Duration;

/// Replica-lag limits; a zero limit is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagLimits {
    /// Pause while any standby's `replay_lag` is over this.
    pub time: Duration,
    /// Pause while any standby has more WAL than this left to replay, in bytes.
    pub bytes: u64,
}

/// The worst replica lag the primary reports; `None` where it reports none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReplicaLag {
    pub time: Option<Duration>,
    pub bytes: Option<u64>,
}

/// Why a backfill waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A standby's `replay_lag` over the limit.
    LagTime { lag: Duration, limit: Duration },
    /// A standby's unreplayed WAL over the limit.
    LagBytes { lag: u64, limit: u64 },
    /// A vacuum of the table is running.
    Vacuum {
        table: String,
        pid: i32,
        /// `autovacuum worker`, or the backend type of a manual VACUUM.
        by: String,
        phase: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::LagTime { lag, limit } => write!(
                f,
                "replica lag {:.1}s > {:.1}s",
                lag.as_secs_f64(),
                limit.as_secs_f64()
            ),
            Reason::LagBytes { lag, limit } => {
                write!(f, "replica lag {} > {}", bytes_text(*lag), bytes_text(*limit))
            }
            Reason::Vacuum {
                table,
                pid,
                by,
                phase,
            } => {
                let who = if by == "autovacuum worker" {
                    "autovacuum"
                } else {
                    "vacuum"
                };
                write!(f, "{who} working on {table} (pid {pid}, {phase})")
            }
        }
    }
}

/// `104857600` → `100MB`; sizes in binary units as PostgreSQL prints them.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if value.fract() == 0.0 {
                format!("{value:.0}{unit}")
            } else {
                format!("{value:.1}{unit}")
            };
        }
    }
    format!("{bytes}B")
}

/// Parses a size: `100MB`, `1.5GB`, `512kB`, `4096` (bytes) or `0`. Units
/// are binary (`kB` = 1024 bytes), as in PostgreSQL's settings; case is ignored.
///
/// ```
/// use safe_migrate::apply::throttle::parse_bytes;
/// assert_eq!(parse_bytes("100MB"), Ok(100 << 20));
/// assert!(parse_bytes("lots").is_err());
/// ```
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a size, e.g. 100MB, 1GB, 512kB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1 << 10,
        "mb" | "m" => 1 << 20,
        "gb" | "g" => 1 << 30,
        "tb" | "t" => 1 << 40,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use B, kB, MB, GB or TB)"
            ))
        }
    };
    Ok((value * scale as f64).round() as u64)
}

/// Whether `lag` is over `limits`: the time limit first, as gh-ost's is.
///
/// ```
/// use safe_migrate::apply::throttle::{lag_reason, LagLimits, ReplicaLag};
/// use std::time::Duration;
/// let limits = LagLimits { time: Duration::from_millis(1500), bytes: 100 << 20 };
/// let lag = ReplicaLag { time: Some(Duration::from_millis(2100)), bytes: Some(4096) };
/// assert_eq!(lag_reason(&lag, &limits).unwrap().to_string(), "replica lag 2.1s > 1.5s");
/// assert!(lag_reason(&ReplicaLag::default(), &limits).is_none());
/// ```
pub fn lag_reason(lag: &ReplicaLag, limits: &LagLimits) -> Option<Reason> {
    if let Some(time) = lag.time {
        if !limits.time.is_zero() && time > limits.time {
            return Some(Reason::LagTime {
                lag: time,
                limit: limits.time,
            });
        }
    }
    if let Some(bytes) = lag.bytes {
        if limits.bytes > 0 && bytes > limits.bytes {
            return Some(Reason::LagBytes {
                lag: bytes,
                limit: limits.bytes,
            });
        }
    }
    None
}

/// The worst lag over every standby streaming from this server.
pub fn replica_lag(client: &mut impl postgres::GenericClient) -> Result<ReplicaLag, postgres::Error> {
    // On a standby (cascading replication) pg_current_wal_lsn() fails; its
    // own replay position is the reference there.
    let row = client.query_one(
        "SELECT max(pg_catalog.pg_wal_lsn_diff(
                    CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
                         ELSE pg_catalog.pg_current_wal_lsn() END,
                    replay_lsn))::float8,
                extract(epoch FROM max(replay_lag))::float8
         FROM pg_catalog.pg_stat_replication",
        &[],
    )?;
    let bytes: Option<f64> = row.get(0);
    let secs: Option<f64> = row.get(1);
    Ok(ReplicaLag {
        bytes: bytes.map(|b| b.max(0.0) as u64),
        time: secs.map(|s| Duration::from_secs_f64(s.max(0.0))),
    })
}

/// A vacuum working on `table` (a SQL name), if any.
pub fn vacuum_on(
    client: &mut impl postgres::GenericClient,
    table: &str,
) -> Result<Option<Reason>, postgres::Error> {
    let row = client.query_opt(
        "SELECT p.pid, coalesce(a.backend_type, ''), p.phase
         FROM pg_catalog.pg_stat_progress_vacuum p
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
         WHERE p.relid = to_regclass($1::text)
         ORDER BY p.pid LIMIT 1",
        &[&table],
    )?;
    Ok(row.map(|r| Reason::Vacuum {
        table: table.to_string(),
        pid: r.get(0),
        by: r.get(1),
        phase: r.get(2),
    }))
}

/// Why the next batch should wait, if it should.
pub fn reason(
    client: &mut impl postgres::GenericClient,
    table: &str,
    limits: &LagLimits,
) -> Result<Option<Reason>, postgres::Error> {
    if !limits.time.is_zero() || limits.bytes > 0 {
        if let Some(r) = lag_reason(&replica_lag(client)?, limits) {
            return Ok(Some(r));
        }
    }
    vacuum_on(client, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LagLimits {
        LagLimits {
            time: Duration::from_millis(1500),
            bytes: 100 << 20,
        }
    }

    #[test]
    fn pauses_when_replay_lag_is_over_the_limit() {
        let lag = ReplicaLag {
            time: Some(Duration::from_millis(2100)),
            bytes: None,
        };
        let r = lag_reason(&lag, &limits()).unwrap();
        assert_eq!(r.to_string(), "replica lag 2.1s > 1.5s");
    }

    #[test]
    fn pauses_when_unreplayed_wal_is_over_the_limit() {
        let lag = ReplicaLag {
            time: Some(Duration::from_millis(200)),
            bytes: Some(150 << 20),
        };
        let r = lag_reason(&lag, &limits()).unwrap();
        assert_eq!(r.to_string(), "replica lag 150MB > 100MB");
    }

    #[test]
    fn ignores_lag_at_or_under_the_limits_and_missing_figures() {
        let at = ReplicaLag {
            time: Some(Duration::from_millis(1500)),
            bytes: Some(100 << 20),
        };
        assert_eq!(lag_reason(&at, &limits()), None);
        assert_eq!(lag_reason(&ReplicaLag::default(), &limits()), None);
    }

    #[test]
    fn ignores_a_zero_limit() {
        let lag = ReplicaLag {
            time: Some(Duration::from_secs(60)),
            bytes: Some(1 << 40),
        };
        let off = LagLimits {
            time: Duration::ZERO,
            bytes: 0,
        };
        assert_eq!(lag_reason(&lag, &off), None);
    }

    #[test]
    fn names_autovacuum_and_manual_vacuum() {
        let r = |by: &str| Reason::Vacuum {
            table: "t".into(),
            pid: 7,
            by: by.into(),
            phase: "scanning heap".into(),
        };
        assert_eq!(
            r("autovacuum worker").to_string(),
            "autovacuum working on t (pid 7, scanning heap)"
        );
        assert_eq!(
            r("client backend").to_string(),
            "vacuum working on t (pid 7, scanning heap)"
        );
    }

    #[test]
    fn parses_sizes_with_binary_units() {
        assert_eq!(parse_bytes("100MB"), Ok(100 << 20));
        assert_eq!(parse_bytes("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_bytes("512kB"), Ok(512 << 10));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("0"), Ok(0));
        assert!(parse_bytes("MB").is_err());
        assert!(parse_bytes("10 parsecs").is_err());
    }

    #[test]
    fn prints_sizes_like_postgres() {
        assert_eq!(bytes_text(100 << 20), "100MB");
        assert_eq!(bytes_text(1536), "1.5kB");
        assert_eq!(bytes_text(12), "12B");
    }
}
