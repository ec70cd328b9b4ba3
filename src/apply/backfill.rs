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
//! plan the primary key is read from the catalog; a table without one is
//! refused. Batch size is fixed by the plan; adaptive sizing is future work.

use super::history::StepState;
use super::run::{set_local_timeouts, with_retries, StepContext, StepReport};
use super::{ApplyError, Event, StepOutcome};
use crate::pg::Ident;
use crate::plan::Backfill;
use postgres::types::ToSql;

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
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
                 FROM pg_catalog.pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = to_regclass($1::text) AND i.indisprimary
                 ORDER BY k.ord",
                &[&table],
            )
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

/// The SQL of one backfill, built once.
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
    let n = b.batch_size.max(1);
    let end = |condition: &str| {
        format!(
            "SELECT {texts} FROM (SELECT {list} FROM {table} WHERE {condition}{filter} ORDER BY {list} LIMIT {n}) batch \
             ORDER BY {desc} LIMIT 1"
        )
    };
    let k = keys.len();
    BatchSql {
        end_first: end("true"),
        end_after: end(&format!("({list}) > ({})", params(0))),
        change_first: format!("{} WHERE ({list}) <= ({}){filter}", b.head, params(0)),
        change_after: format!(
            "{} WHERE ({list}) > ({}) AND ({list}) <= ({}){filter}",
            b.head,
            params(0),
            params(k)
        ),
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
    let timeouts = set_local_timeouts(cx.step, cx.settings);
    let mut batch = 0u64;
    let mut total = 0u64;
    let mut most_attempts = 1;
    loop {
        let (progress, attempts) = with_retries(client, cx, events, |client| {
            let mut tx = client.transaction()?;
            tx.batch_execute(&timeouts)?;
            let after: Vec<&(dyn ToSql + Sync)> = cursor
                .iter()
                .flatten()
                .map(|s| s as &(dyn ToSql + Sync))
                .collect();
            let end_sql = if cursor.is_some() {
                &sql.end_after
            } else {
                &sql.end_first
            };
            let Some(row) = tx.query_opt(end_sql.as_str(), &after)? else {
                cx.record(&mut tx, StepState::Done, cursor.as_deref(), 1, None)?;
                tx.commit()?;
                return Ok(None);
            };
            let end: Vec<String> = (0..keys.len())
                .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
                .collect();
            let mut params = after.clone();
            params.extend(end.iter().map(|s| s as &(dyn ToSql + Sync)));
            let change_sql = if cursor.is_some() {
                &sql.change_after
            } else {
                &sql.change_first
            };
            let rows = tx.execute(change_sql.as_str(), &params)?;
            cx.record(&mut tx, StepState::InProgress, Some(&end), 1, Some(rows))?;
            tx.commit()?;
            Ok(Some((end, rows)))
        })?;
        most_attempts = most_attempts.max(attempts);
        let Some((end, rows)) = progress else { break };
        cursor = Some(end);
        batch += 1;
        total += rows;
        events(&Event::BatchDone {
            version: cx.migration.to_string(),
            step: cx.index + 1,
            batch,
            rows,
        });
        if !cx.settings.batch_pause.is_zero() {
            std::thread::sleep(cx.settings.batch_pause);
        }
    }
    Ok(StepReport {
        outcome: StepOutcome::Ran,
        attempts: most_attempts,
        rows: Some(total),
    })
}
