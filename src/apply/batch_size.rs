//! Adaptive backfill batch sizes: the next batch's row count from how long
//! the last one took, steering toward a target duration.
//!
//! Pure arithmetic, no database: [`super::backfill`] measures each batch's
//! transaction (end-key query, change and cursor record, commit) and asks
//! [`Sizing::next`] for the next size. The rule is multiplicative, as
//! GitLab's batched background migrations do (they adapt
//! the batch size to the time efficiency of recent jobs, catalog §3.7):
//!
//! ```text
//! next = clamp(size · target / elapsed, size / 2, size · 2), then clamp(min, max)
//! ```
//!
//! A fast batch at most doubles the next one, so growth is gradual and a
//! sudden slowdown costs one slow batch. A slow batch halves the next one at
//! least as fast as it grew, and keeps halving while batches stay slow, so a
//! backfill backs off under load and never becomes one giant transaction.

use std::time::Duration;

/// The batch-size policy of one backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// The batch duration to steer toward; zero keeps the size fixed.
    pub target: Duration,
    /// Never fewer rows per batch than this.
    pub min: u32,
    /// Never more rows per batch than this.
    pub max: u32,
}

impl Sizing {
    /// The default bounds: at least 10 rows, at most 100,000.
    pub const MIN: u32 = 10;
    pub const MAX: u32 = 100_000;

    /// The size of the batch after one of `size` rows that took `elapsed`.
    ///
    /// ```
    /// use safe_migrate::apply::batch_size::Sizing;
    /// use std::time::Duration;
    /// let s = Sizing { target: Duration::from_millis(200), min: 10, max: 100_000 };
    /// assert_eq!(s.next(1000, Duration::from_millis(100)), 2000); // fast: grow, at most ×2
    /// assert_eq!(s.next(1000, Duration::from_millis(400)), 500); // slow: shrink, at most ÷2 per batch
    /// assert_eq!(s.next(1000, Duration::from_millis(250)), 800);
    /// ```
    pub fn next(&self, size: u32, elapsed: Duration) -> u32 {
        let size = size.max(1);
        if self.target.is_zero() {
            return size;
        }
        let elapsed = elapsed.as_secs_f64().max(1e-6);
        let ideal = f64::from(size) * self.target.as_secs_f64() / elapsed;
        let stepped = ideal.clamp(f64::from(size) / 2.0, f64::from(size) * 2.0);
        let (min, max) = (self.min.max(1), self.max.max(self.min.max(1)));
        (stepped.round() as u64).clamp(u64::from(min), u64::from(max)) as u32
    }

    /// The first batch's size: the plan's (`--batch-size`) within the bounds.
    /// A start below `min` lowers the floor instead, so `--batch-size 5`
    /// means what it says.
    pub fn start(&mut self, planned: u32) -> u32 {
        let planned = planned.max(1);
        self.min = self.min.min(planned);
        planned.min(self.max.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizing() -> Sizing {
        Sizing {
            target: Duration::from_millis(200),
            min: Sizing::MIN,
            max: Sizing::MAX,
        }
    }

    #[test]
    fn grows_at_most_twofold_when_batches_are_fast() {
        let s = sizing();
        assert_eq!(s.next(1000, Duration::from_millis(1)), 2000);
        assert_eq!(s.next(1000, Duration::from_millis(150)), 1333);
    }

    #[test]
    fn shrinks_when_batches_are_slow_and_keeps_shrinking() {
        let s = sizing();
        let mut size = 64_000;
        for _ in 0..3 {
            size = s.next(size, Duration::from_secs(5));
        }
        assert_eq!(size, 8000);
    }

    #[test]
    fn converges_toward_the_target() {
        // A table where a batch costs 0.05 ms a row: the target of 200 ms is 4000 rows.
        let s = sizing();
        let mut size = 1000;
        for _ in 0..20 {
            size = s.next(size, Duration::from_micros(50 * u64::from(size)));
        }
        assert!((3900..=4100).contains(&size), "{size}");
    }

    #[test]
    fn stays_within_min_and_max() {
        let s = sizing();
        assert_eq!(s.next(15, Duration::from_secs(60)), 10);
        assert_eq!(s.next(90_000, Duration::from_millis(1)), 100_000);
        assert_eq!(s.next(100_000, Duration::ZERO), 100_000);
    }

    #[test]
    fn ignores_the_target_when_it_is_zero() {
        let s = Sizing {
            target: Duration::ZERO,
            ..sizing()
        };
        assert_eq!(s.next(17, Duration::from_secs(9)), 17);
    }

    #[test]
    fn starts_at_the_planned_size_even_below_the_floor() {
        let mut s = sizing();
        assert_eq!(s.start(5), 5);
        assert_eq!(s.next(5, Duration::from_secs(10)), 5);
        let mut s = sizing();
        assert_eq!(s.start(1_000_000), 100_000);
    }
}
