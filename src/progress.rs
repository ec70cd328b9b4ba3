//! How `migrate apply` shows a backfill's progress in text mode: a progress
//! bar (indicatif) on stderr when stderr is a terminal, else plain lines.
//!
//! It only renders [`Event`]s; the backfill decides what happens and when
//! (`apply::backfill` emits [`Event::BatchDone`] per batch and
//! [`Event::BackfillProgress`] every `progress_every`). JSON mode prints every
//! event as it is and does not come here.
//!
//! * Terminal: the bar counts rows done (earlier runs included) against the
//!   table's `pg_class.reltuples`, with rows/s, the ETA and the current batch
//!   size; throttling shows as the bar's message and as a line.
//! * Otherwise (a pipe, a CI log): one line per [`Event::BackfillProgress`],
//!   i.e. every 2 seconds, and one per [`Event::Throttled`].
//! * Either way, a line per [`Event::WaitingForLock`],
//!   [`Event::BlockerCancelled`], [`Event::IndexProgress`] and
//!   [`Event::ScanProgress`] (every 2 seconds while a step waits or runs long).

use crate::apply::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};

/// The text-mode renderer of one `apply` run.
pub struct Progress {
    /// Draw a bar (stderr is a terminal).
    bar_mode: bool,
    /// The bar of the running backfill.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A renderer for this process: bars only in text mode on a terminal.
    pub fn new(json: bool) -> Progress {
        Progress {
            bar_mode: !json && std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    /// Shows `event`: updates the bar, or hands the event to `lines` (the
    /// plain text renderer) while keeping the bar intact.
    pub fn show<W: Write>(
        &mut self,
        event: &Event,
        out: &mut W,
        mut lines: impl FnMut(&mut W, &Event) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if !self.bar_mode {
            return lines(out, event);
        }
        match event {
            Event::BackfillStarted {
                estimated_rows,
                rows_before,
                table,
                ..
            } => {
                let bar = match estimated_rows {
                    Some(n) => ProgressBar::new((*n).max(*rows_before)),
                    None => ProgressBar::no_length(),
                };
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "   {prefix} [{bar:30}] {human_pos}/~{human_len} rows, {per_sec}, ETA {eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(format!("backfill {table}"));
                bar.set_position(*rows_before);
                bar.reset_eta();
                self.bar = Some(bar);
                Ok(())
            }
            Event::BatchDone {
                total, batch_size, ..
            } => {
                if let Some(bar) = &self.bar {
                    if bar.length().is_some_and(|len| *total > len) {
                        bar.set_length(*total);
                    }
                    bar.set_position(*total);
                    bar.set_message(format!("(batch {batch_size})"));
                }
                Ok(())
            }
            Event::BackfillProgress { .. } => Ok(()),
            Event::Throttled { reason, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("throttled: {reason}"));
                }
                self.suspended(|| lines(out, event))
            }
            Event::StepDone { .. } | Event::MigrationFailed { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                lines(out, event)
            }
            _ => self.suspended(|| lines(out, event)),
        }
    }

    fn suspended<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}

/// The plain line of a progress or throttle event (text mode without a terminal).
pub fn write_line(out: &mut impl Write, event: &Event) -> std::io::Result<()> {
    match event {
        Event::BackfillProgress {
            step,
            rows,
            estimated_rows,
            rows_per_sec,
            batch_size,
            eta_secs,
            ..
        } => {
            let of = estimated_rows.map(|n| format!(" of ~{n}")).unwrap_or_default();
            let eta = eta_secs.map(|s| format!(", ETA {s}s")).unwrap_or_default();
            writeln!(
                out,
                "   step {step}: backfill {rows}{of} rows, {rows_per_sec} rows/s, batch {batch_size}{eta}"
            )
        }
        Event::Throttled { step, reason, .. } => writeln!(out, "   step {step}: throttled: {reason}"),
        Event::WaitingForLock {
            step,
            table,
            lock,
            blockers,
            waited,
            max_wait,
            ..
        } => writeln!(
            out,
            "   step {step}: not queueing for {lock} on {table} behind {} (waited {:.1}s of {:.0}s)",
            crate::apply::blockers_line(blockers),
            waited.as_secs_f64(),
            max_wait.as_secs_f64()
        ),
        Event::BlockerCancelled {
            step,
            blocker,
            signalled,
            ..
        } => {
            let what = if *signalled {
                "cancelled the query of"
            } else {
                "could not cancel"
            };
            writeln!(out, "   step {step}: {what} {blocker}")
        }
        Event::IndexProgress {
            step,
            table,
            phase,
            blocks_done,
            blocks_total,
            tuples_done,
            tuples_total,
            elapsed,
            phase_eta_secs,
            ..
        } => {
            let mut figures = Vec::new();
            if *blocks_total > 0 {
                figures.push(format!("blocks {blocks_done} of {blocks_total}"));
            }
            if *tuples_total > 0 {
                figures.push(format!("tuples {tuples_done} of {tuples_total}"));
            }
            if let Some(eta) = phase_eta_secs {
                figures.push(format!("phase ETA {eta}s"));
            }
            figures.push(format!("{}s so far", elapsed.as_secs()));
            writeln!(
                out,
                "   step {step}: index on {table}: {phase}, {}",
                figures.join(", ")
            )
        }
        Event::ScanProgress {
            step,
            table,
            elapsed,
            table_bytes,
            ..
        } => {
            let size = table_bytes
                .map(|b| format!(" of {:.1} MB", b as f64 / (1024.0 * 1024.0)))
                .unwrap_or_default();
            writeln!(
                out,
                "   step {step}: scanning {table}{size}, {}s so far",
                elapsed.as_secs()
            )
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(event: &Event) -> String {
        let mut out = Vec::new();
        write_line(&mut out, event).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prints_progress_with_rate_and_eta() {
        let event = Event::BackfillProgress {
            version: "2".into(),
            step: 1,
            rows: 12_000,
            estimated_rows: Some(200_000),
            rows_per_sec: 5400,
            batch_size: 4000,
            eta_secs: Some(35),
        };
        assert_eq!(
            line(&event),
            "   step 1: backfill 12000 of ~200000 rows, 5400 rows/s, batch 4000, ETA 35s\n"
        );
    }

    #[test]
    fn prints_an_index_build_with_its_figures() {
        let event = Event::IndexProgress {
            version: "2".into(),
            step: 2,
            table: "orders".into(),
            phase: "building index: scanning table".into(),
            blocks_done: 4000,
            blocks_total: 10_000,
            tuples_done: 0,
            tuples_total: 0,
            elapsed: std::time::Duration::from_secs(12),
            phase_eta_secs: Some(18),
        };
        assert_eq!(
            line(&event),
            "   step 2: index on orders: building index: scanning table, blocks 4000 of 10000, \
             phase ETA 18s, 12s so far\n"
        );
    }

    #[test]
    fn prints_who_a_step_waits_for() {
        let event = Event::WaitingForLock {
            version: "2".into(),
            step: 1,
            table: "t".into(),
            lock: crate::pg::LockMode::AccessExclusive,
            blockers: vec![crate::apply::Blocker {
                pid: 42,
                application: "report".into(),
                state: "active".into(),
                for_: std::time::Duration::from_millis(20_500),
                mode: "AccessShareLock".into(),
                granted: true,
                query: "SELECT sum(n) FROM t".into(),
            }],
            waited: std::time::Duration::from_secs(4),
            max_wait: std::time::Duration::from_secs(180),
        };
        assert_eq!(
            line(&event),
            "   step 1: not queueing for ACCESS EXCLUSIVE on t behind pid 42 (report, active, \
             transaction open 20.5s, holds AccessShareLock): SELECT sum(n) FROM t (waited 4.0s of 180s)\n"
        );
    }

    #[test]
    fn prints_why_a_backfill_waits() {
        let event = Event::Throttled {
            version: "2".into(),
            step: 3,
            reason: "replica lag 2.1s > 1.5s".into(),
            waited: std::time::Duration::ZERO,
        };
        assert_eq!(line(&event), "   step 3: throttled: replica lag 2.1s > 1.5s\n");
    }
}
