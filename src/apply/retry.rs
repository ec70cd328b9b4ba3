//! Retrying a step that hit a lock timeout or a deadlock: full-jitter
//! exponential backoff ("Exponential Backoff And Jitter", AWS architecture
//! blog), as pgroll does (catalog §3.2), with a 100 ms base and a 5 s cap by
//! default: a try is made only when no old transaction is in the way (see
//! [`super::queue`]), so what made it fail is short-lived traffic.
//!
//! Try `n` (1-based) that failed sleeps a uniformly random time in
//! `[0, min(cap, base · 2^(n-1))]`, so runners that collided spread out.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// SQLSTATE 55P03 `lock_not_available` (what `lock_timeout` raises).
pub const LOCK_NOT_AVAILABLE: &str = "55P03";
/// SQLSTATE 40P01 `deadlock_detected`.
pub const DEADLOCK: &str = "40P01";

/// Whether a failed try may be repeated: the transaction rolled back
/// because of a lock wait, not because of the statement itself.
pub fn is_retryable(e: &postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| matches!(db.code().code(), LOCK_NOT_AVAILABLE | DEADLOCK))
}

/// The backoff schedule.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The longest sleep after failed try `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random sleep in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        ceiling.mul_f64(random_unit())
    }
}

/// A random number in `[0, 1)` from the standard library's per-process
/// random hash keys: jitter needs spread, not cryptographic quality.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_base_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        assert_eq!(b.ceiling(1), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(4));
        assert_eq!(b.ceiling(7), Duration::from_secs(60));
        assert_eq!(b.ceiling(40), Duration::from_secs(60));
        for n in 1..10 {
            assert!(b.delay(n) <= b.ceiling(n));
        }
    }
}
