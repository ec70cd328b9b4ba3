//! Backfills: a data change cut into keyset batches, each batch one short
//! transaction that also stores how far the backfill got.
//!
//! Each batch, in one transaction under `SET LOCAL lock_timeout` and
//! `statement_timeout`:
//!
//! 1. the batch end: the last of the next `batch_size` keys after the cursor
//!    (`SELECT key FROM t WHERE (key) > (cursor) AND filter ORDER BY key LIMIT n`);
//! 2. `head WHERE (key) > (cursor) AND (key) <= (end) AND filter`;
//! 3. the cursor in the history becomes `end`.
//!
//! So a batch and its cursor commit together: a run killed at any point
//! resumes after the last committed batch, and every row is changed exactly
//! once. Keys travel as text (`key::text`) and come back as parameters cast
//! to the column's type (`$1::text::<format_type>`), which works for any key
//! type and, with row comparison, for composite keys. With no key in the
//! plan the primary key is read from the catalog, else a unique index whose
//! columns are all NOT NULL (not partial, no expressions; the query is
//! [`lower::key_columns_sql`], which the psql script runs too); a table with
//! neither is refused.
//!
//! The batch size starts at the plan's (`--batch-size`) and adapts toward
//! `--batch-target` (see [`super::batch_size`]); a batch cancelled by its
//! `statement_timeout` is retried at half the size. Before each batch the
//! backfill waits while a replica lags or a vacuum works on the table (see
//! [`super::throttle`]), then sleeps `--batch-pause` after it. Progress is
//! reported as events: one per batch, and a summary every `progress_every`.

use super::batch_size::Sizing;
use super::history::StepState;
use super::run::{with_retries, StepContext, StepReport, TryError};
use super::throttle::{self, LagLimits};
use super::{ApplyError, Event, StepOutcome};
use crate::pg::Ident;
use crate::plan::{lower, Backfill};
use postgres::error::SqlState;
use postgres::types::ToSql;
use std::time::{Duration, Instant};

/// A key column: its quoted name and its SQL type.
struct KeyColumn {
    name: String,
    type_sql: String,
}

fn key_columns(
    client: &mut postgres::Client,
    cx: &StepContext,
    b: &Backfill,
) -> Result<Vec<KeyColumn>, ApplyError> {
    let table = b.table.to_string();
    let column = |name: String, type_sql: String| KeyColumn {
        name: Ident::new(name).to_string(),
        type_sql,
    };
    if b.key.is_empty() {
        let rows = client
            .query(lower::key_columns_sql("$1::text").as_str(), &[&table])
            .map_err(|e| cx.failed(&e))?;
        if rows.is_empty() {
            return Err(ApplyError::NoKey {
                migration: cx.label.to_string(),
                step: cx.index + 1,
                table: b.table.clone(),
            });
        }
        return Ok(rows.into_iter().map(|r| column(r.get(0), r.get(1))).collect());
    }
    let mut out = Vec::new();
    for key in &b.key {
        let row = client
            .query_opt(
                "SELECT format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute
                 WHERE attrelid = to_regclass($1::text) AND attname = $2 AND NOT attisdropped",
                &[&table, &key.as_str()],
            )
            .map_err(|e| cx.failed(&e))?;
        let Some(row) = row else {
            return Err(ApplyError::Step {
                migration: cx.label.to_string(),
                step: cx.index + 1,
                kind: "backfill",
                message: format!("key column {key} not found on {table}"),
            });
        };
        out.push(column(key.as_str().to_string(), row.get(0)));
    }
    Ok(out)
}

/// The SQL of one backfill, built once. The batch's key count is the last
/// parameter of the end-key queries.
struct BatchSql {
    end_first: String,
    end_after: String,
    change_first: String,
    change_after: String,
}

fn batch_sql(b: &Backfill, keys: &[KeyColumn]) -> BatchSql {
    let list = keys
        .iter()
        .map(|k| k.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let texts = keys
        .iter()
        .map(|k| format!("{}::text", k.name))
        .collect::<Vec<_>>()
        .join(", ");
    let desc = keys
        .iter()
        .map(|k| format!("{} DESC", k.name))
        .collect::<Vec<_>>()
        .join(", ");
    let params = |offset: usize| {
        keys.iter()
            .enumerate()
            .map(|(i, k)| format!("${}::text::{}", i + 1 + offset, k.type_sql))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let filter = b
        .filter
        .as_ref()
        .map(|f| format!(" AND ({f})"))
        .unwrap_or_default();
    let table = b.table.to_string();
    let end = |condition: &str, limit: usize| {
        format!(
            "SELECT {texts} FROM (SELECT {list} FROM {table} WHERE {condition}{filter} ORDER BY {list} \
             LIMIT ${limit}::bigint) batch ORDER BY {desc} LIMIT 1"
        )
    };
    let k = keys.len();
    BatchSql {
        end_first: end("true", 1),
        end_after: end(&format!("({list}) > ({})", params(0)), k + 1),
        change_first: format!("{} WHERE ({list}) <= ({}){filter}", b.head, params(0)),
        change_after: format!(
            "{} WHERE ({list}) > ({}) AND ({list}) <= ({}){filter}",
            b.head,
            params(0),
            params(k)
        ),
    }
}

/// What one try of a batch did.
enum BatchResult {
    /// No key after the cursor: the backfill is done (and recorded so).
    Finished,
    /// A batch committed: its last key and the rows it changed.
    Done { end: Vec<String>, rows: u64 },
    /// The batch ran into its statement timeout; try again smaller.
    TooBig,
}

/// The table's row estimate from `pg_class.reltuples` (`None` if never analysed).
fn estimated_rows(client: &mut postgres::Client, b: &Backfill) -> Option<u64> {
    let row = client
        .query_opt(
            "SELECT reltuples::float8 FROM pg_catalog.pg_class WHERE oid = to_regclass($1::text)",
            &[&b.table.to_string()],
        )
        .ok()??;
    let n: f64 = row.get(0);
    (n > 0.0).then_some(n as u64)
}

/// Rows earlier runs changed, from the step's history row.
fn rows_before(client: &mut postgres::Client, cx: &StepContext) -> u64 {
    let sql = format!(
        "SELECT coalesce(rows, 0) FROM {}.steps WHERE version = $1 AND step = $2",
        Ident::new(cx.settings.history_schema.clone())
    );
    client
        .query_opt(sql.as_str(), &[&cx.migration, &(cx.index as i32)])
        .ok()
        .flatten()
        .map_or(0, |r| r.get::<_, i64>(0).max(0) as u64)
}

/// When to report progress: every `every`, and the rate over the whole run.
struct Progress {
    started: Instant,
    last: Instant,
    every: Duration,
    rows_this_run: u64,
}

impl Progress {
    fn rate(&self) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs <= 0.0 {
            0
        } else {
            (self.rows_this_run as f64 / secs) as u64
        }
    }
}

/// Seconds left at `rate` rows/s with `done` of `total` rows done.
fn eta_secs(done: u64, total: Option<u64>, rate: u64) -> Option<u64> {
    let total = total?;
    if rate == 0 {
        return None;
    }
    Some(total.saturating_sub(done).div_ceil(rate))
}

/// Waits while [`throttle::reason`] says so, reporting why.
fn wait_while_throttled(
    client: &mut postgres::Client,
    cx: &StepContext,
    b: &Backfill,
    events: &mut dyn FnMut(&Event),
) -> Result<(), ApplyError> {
    let limits = LagLimits {
        time: cx.settings.max_replica_lag,
        bytes: cx.settings.max_replica_lag_bytes,
    };
    let table = b.table.to_string();
    let started = Instant::now();
    let mut reported: Option<(String, Instant)> = None;
    loop {
        let Some(reason) = throttle::reason(client, &table, &limits).map_err(|e| cx.failed(&e))? else {
            return Ok(());
        };
        let text = reason.to_string();
        let due = match &reported {
            None => true,
            Some((last, at)) => *last != text || at.elapsed() >= Duration::from_secs(30),
        };
        if due {
            events(&Event::Throttled {
                version: cx.migration.to_string(),
                step: cx.index + 1,
                reason: text.clone(),
                waited: started.elapsed(),
            });
            reported = Some((text, Instant::now()));
        }
        std::thread::sleep(cx.settings.throttle_poll.max(Duration::from_millis(10)));
    }
}

/// Runs a backfill from `cursor` (the last key done, from the history) to the end.
pub fn run(
    client: &mut postgres::Client,
    cx: &StepContext,
    b: &Backfill,
    mut cursor: Option<Vec<String>>,
    events: &mut dyn FnMut(&Event),
) -> Result<StepReport, ApplyError> {
    let keys = key_columns(client, cx, b)?;
    let sql = batch_sql(b, &keys);
    let mut sizing = Sizing {
        target: cx.settings.batch_target,
        min: Sizing::MIN,
        max: Sizing::MAX,
    };
    let mut size = sizing.start(b.batch_size);
    let estimate = estimated_rows(client, b);
    let before = if cursor.is_some() {
        rows_before(client, cx)
    } else {
        0
    };
    events(&Event::BackfillStarted {
        version: cx.migration.to_string(),
        step: cx.index + 1,
        table: b.table.to_string(),
        estimated_rows: estimate,
        rows_before: before,
        batch_size: size,
    });
    let mut progress = Progress {
        started: Instant::now(),
        last: Instant::now(),
        every: cx.settings.progress_every,
        rows_this_run: 0,
    };
    let mut batch = 0u64;
    let mut most_attempts = 1;
    loop {
        wait_while_throttled(client, cx, b, events)?;
        let limit = i64::from(size);
        let mut took = Duration::ZERO;
        let (result, attempts) = with_retries(client, cx, events, |client, timeouts| {
            let t = Instant::now();
            let mut tx = client.transaction()?;
            tx.batch_execute(timeouts)?;
            let mut after: Vec<&(dyn ToSql + Sync)> = cursor
                .iter()
                .flatten()
                .map(|s| s as &(dyn ToSql + Sync))
                .collect();
            let end_sql = if cursor.is_some() {
                &sql.end_after
            } else {
                &sql.end_first
            };
            let mut end_params = after.clone();
            end_params.push(&limit);
            let found = match tx.query_opt(end_sql.as_str(), &end_params) {
                Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) && size > sizing.min => {
                    return Ok(BatchResult::TooBig)
                }
                found => found?,
            };
            let Some(row) = found else {
                cx.record(&mut tx, StepState::Done, cursor.as_deref(), 1, None)?;
                tx.commit()?;
                return Ok(BatchResult::Finished);
            };
            let end: Vec<String> = (0..keys.len())
                .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
                .collect();
            after.extend(end.iter().map(|s| s as &(dyn ToSql + Sync)));
            let change_sql = if cursor.is_some() {
                &sql.change_after
            } else {
                &sql.change_first
            };
            let rows = match tx.execute(change_sql.as_str(), &after) {
                Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) && size > sizing.min => {
                    return Ok(BatchResult::TooBig)
                }
                rows => rows?,
            };
            cx.record(&mut tx, StepState::InProgress, Some(&end), 1, Some(rows))?;
            tx.commit().map_err(TryError::Db)?;
            took = t.elapsed();
            Ok(BatchResult::Done { end, rows })
        })?;
        most_attempts = most_attempts.max(attempts);
        let (end, rows) = match result {
            BatchResult::Finished => break,
            BatchResult::TooBig => {
                // GitLab's batched migrations split a timed-out job in two (catalog §3.7).
                size = (size / 2).max(sizing.min);
                continue;
            }
            BatchResult::Done { end, rows } => (end, rows),
        };
        cursor = Some(end);
        batch += 1;
        progress.rows_this_run += rows;
        let total = before + progress.rows_this_run;
        events(&Event::BatchDone {
            version: cx.migration.to_string(),
            step: cx.index + 1,
            batch,
            rows,
            batch_size: size,
            duration: took,
            total,
        });
        size = sizing.next(size, took);
        if progress.last.elapsed() >= progress.every {
            progress.last = Instant::now();
            let rate = progress.rate();
            events(&Event::BackfillProgress {
                version: cx.migration.to_string(),
                step: cx.index + 1,
                rows: total,
                estimated_rows: estimate,
                rows_per_sec: rate,
                batch_size: size,
                eta_secs: eta_secs(total, estimate, rate),
            });
        }
        if !cx.settings.batch_pause.is_zero() {
            std::thread::sleep(cx.settings.batch_pause);
        }
    }
    let total = before + progress.rows_this_run;
    events(&Event::BackfillProgress {
        version: cx.migration.to_string(),
        step: cx.index + 1,
        rows: total,
        estimated_rows: estimate,
        rows_per_sec: progress.rate(),
        batch_size: size,
        eta_secs: Some(0),
    });
    Ok(StepReport {
        outcome: StepOutcome::Ran,
        attempts: most_attempts,
        rows: Some(progress.rows_this_run),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_the_time_left_from_the_rate() {
        assert_eq!(eta_secs(1000, Some(11_000), 500), Some(20));
        assert_eq!(eta_secs(1000, Some(1001), 500), Some(1));
        assert_eq!(eta_secs(2000, Some(1000), 500), Some(0));
        assert_eq!(eta_secs(1000, None, 500), None);
        assert_eq!(eta_secs(1000, Some(5000), 0), None);
    }
}
