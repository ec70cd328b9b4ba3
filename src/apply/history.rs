//! The history tables: which migrations ran, which of their steps are done,
//! and where an interrupted backfill stands.
//!
//! ```sql
//! safe_migrate.migrations (version text PRIMARY KEY, name, checksum, applied_sql,
//!                          status running|applied|failed, step_count, error,
//!                          started_at, finished_at, duration,
//!                          origin: NULL ran here | 'baseline' | 'adopted from <table>')
//! safe_migrate.steps      (version, step (0-based), state done|skipped|in-progress,
//!                          sql_checksum, cursor text[], attempts, rows, finished_at)
//! ```
//!
//! A step's row is written in the same transaction as its effect whenever
//! the step has a transaction (DDL, each backfill batch), which is what makes
//! resuming exact. The schema name is configurable and always quoted.

use super::ApplyError;
use super::MigrationPlan;
use crate::pg::Ident;
use postgres::GenericClient;
use serde::Serialize;

/// The schema the history lives in unless `--history-schema` says otherwise.
pub const DEFAULT_SCHEMA: &str = "safe_migrate";

/// A migration's status in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Applied,
    Failed,
}

impl Status {
    fn parse(s: &str) -> Status {
        match s {
            "applied" => Status::Applied,
            "failed" => Status::Failed,
            _ => Status::Running,
        }
    }
}

/// A step's state in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Done,
    Skipped,
    /// A backfill with a stored cursor.
    InProgress,
}

impl StepState {
    fn as_str(self) -> &'static str {
        match self {
            StepState::Done => "done",
            StepState::Skipped => "skipped",
            StepState::InProgress => "in-progress",
        }
    }

    fn parse(s: &str) -> StepState {
        match s {
            "done" => StepState::Done,
            "skipped" => StepState::Skipped,
            _ => StepState::InProgress,
        }
    }
}

/// One row of `migrations`.
#[derive(Debug, Clone)]
pub struct MigrationRow {
    pub version: String,
    pub name: String,
    pub checksum: String,
    /// The file's text as it was applied (for drift diffs).
    pub applied_sql: String,
    pub status: Status,
    pub error: Option<String>,
    /// How a migration that did not run here came to be applied:
    /// [`BASELINE`], or `adopted from <table>`; `None` when it ran here.
    pub origin: Option<String>,
}

/// The origin of a migration `migrate baseline` marked applied.
pub const BASELINE: &str = "baseline";

/// One row of `steps`.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub version: String,
    /// 0-based index into the migration's steps.
    pub step: usize,
    pub state: StepState,
    pub sql_checksum: String,
    /// The last key a backfill finished, as text, one element per key column.
    pub cursor: Option<Vec<String>>,
}

/// Everything in the history.
#[derive(Debug, Clone, Default)]
pub struct History {
    migrations: Vec<MigrationRow>,
    steps: Vec<StepRow>,
}

impl History {
    /// The row of migration `version`.
    pub fn migration(&self, version: &str) -> Option<&MigrationRow> {
        self.migrations.iter().find(|m| m.version == version)
    }

    /// Every migration row, in the order they started.
    pub fn migrations(&self) -> &[MigrationRow] {
        &self.migrations
    }

    /// The step rows of migration `version`, by step.
    pub fn steps(&self, version: &str) -> Vec<&StepRow> {
        self.steps.iter().filter(|s| s.version == version).collect()
    }
}

/// What `migrate status` says about one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum MigrationState {
    Applied,
    /// Marked applied by `migrate baseline`, never run here.
    Baseline,
    Pending,
    /// Started, not finished: the next run resumes at `step` (1-based) of `of`.
    InProgress {
        step: usize,
        of: usize,
        failed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Applied, but the file changed since.
    Changed,
    /// In the history, but no file has its version.
    Missing,
}

/// One line of `migrate status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    pub version: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(flatten)]
    pub state: MigrationState,
}

pub(crate) fn q(schema: &str) -> String {
    Ident::new(schema).to_string()
}

pub(crate) fn err(schema: &str, e: postgres::Error) -> ApplyError {
    ApplyError::History {
        schema: schema.to_string(),
        message: super::run::error_text(&e),
    }
}

/// Creates the history schema and tables if they are missing.
pub fn ensure(client: &mut postgres::Client, schema: &str) -> Result<(), ApplyError> {
    let s = q(schema);
    let sql = format!(
        "BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_sql text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'applied', 'failed')),
    step_count integer NOT NULL,
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    duration interval,
    origin text
);
CREATE TABLE IF NOT EXISTS {s}.steps (
    version text NOT NULL REFERENCES {s}.migrations (version) ON DELETE CASCADE,
    step integer NOT NULL,
    state text NOT NULL CHECK (state IN ('done', 'skipped', 'in-progress')),
    sql_checksum text NOT NULL,
    cursor text[],
    attempts integer NOT NULL DEFAULT 1,
    rows bigint,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, step)
);
COMMIT;"
    );
    client.batch_execute(&sql).map_err(|e| {
        let _ = client.batch_execute("ROLLBACK");
        err(schema, e)
    })?;
    // A history created before `origin` existed gains it. Only then: the
    // ALTER takes ACCESS EXCLUSIVE on the table, which would wait for any
    // open transaction that touched the history.
    let has_origin: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1::text) \
             AND attname = 'origin' AND NOT attisdropped)",
            &[&format!("{s}.migrations")],
        )
        .map_err(|e| err(schema, e))?
        .get(0);
    if !has_origin {
        let alter = format!(
            "BEGIN; SET LOCAL lock_timeout = '5s'; \
             ALTER TABLE {s}.migrations ADD COLUMN IF NOT EXISTS origin text; COMMIT;"
        );
        client.batch_execute(&alter).map_err(|e| {
            let _ = client.batch_execute("ROLLBACK");
            err(schema, e)
        })?;
    }
    Ok(())
}

/// Reads the whole history; empty when the tables do not exist yet.
pub fn load(client: &mut impl GenericClient, schema: &str) -> Result<History, ApplyError> {
    let s = q(schema);
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1::text) IS NOT NULL AND to_regclass($2::text) IS NOT NULL",
            &[&format!("{s}.migrations"), &format!("{s}.steps")],
        )
        .map_err(|e| err(schema, e))?
        .get(0);
    if !exists {
        return Ok(History::default());
    }
    let migrations = client
        .query(
            &format!(
                // `origin` through to_jsonb, so that a history created
                // before the column existed reads as NULL without an ALTER
                // (`migrate status` never writes).
                "SELECT version, name, checksum, applied_sql, status, error, to_jsonb(m) ->> 'origin' \
                 FROM {s}.migrations m ORDER BY started_at, version"
            ),
            &[],
        )
        .map_err(|e| err(schema, e))?
        .into_iter()
        .map(|r| MigrationRow {
            version: r.get(0),
            name: r.get(1),
            checksum: r.get(2),
            applied_sql: r.get(3),
            status: Status::parse(r.get(4)),
            error: r.get(5),
            origin: r.get(6),
        })
        .collect();
    let steps = client
        .query(
            &format!(
                "SELECT version, step, state, sql_checksum, cursor FROM {s}.steps ORDER BY version, step"
            ),
            &[],
        )
        .map_err(|e| err(schema, e))?
        .into_iter()
        .map(|r| StepRow {
            version: r.get(0),
            step: r.get::<_, i32>(1) as usize,
            state: StepState::parse(r.get(2)),
            sql_checksum: r.get(3),
            cursor: r.get(4),
        })
        .collect();
    Ok(History { migrations, steps })
}

/// Marks a migration `running` (inserting its row, or updating the row of
/// an earlier failed or interrupted attempt with the current text).
pub fn begin_migration(
    client: &mut impl GenericClient,
    schema: &str,
    version: &str,
    m: &MigrationPlan,
    checksum: &str,
) -> Result<(), ApplyError> {
    let s = q(schema);
    let sql = format!(
        "INSERT INTO {s}.migrations (version, name, checksum, applied_sql, status, step_count)
         VALUES ($1, $2, $3, $4, 'running', $5)
         ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum,
           applied_sql = EXCLUDED.applied_sql, status = 'running', step_count = EXCLUDED.step_count,
           error = NULL, started_at = now(), finished_at = NULL, duration = NULL"
    );
    insert_migration(client, schema, &sql, version, m, checksum)
}

/// Records a migration that did not run here as applied, with none of its
/// steps run: one another tool applied (`apply --adopt`, `origin` is
/// `adopted from <table>`) or one `migrate baseline` marks ([`BASELINE`]).
/// A version already in the history is left as it is.
pub fn adopt_migration(
    client: &mut impl GenericClient,
    schema: &str,
    version: &str,
    m: &MigrationPlan,
    checksum: &str,
    origin: &str,
) -> Result<(), ApplyError> {
    let s = q(schema);
    let sql = format!(
        "INSERT INTO {s}.migrations (version, name, checksum, applied_sql, status, step_count,
                                     finished_at, duration, origin)
         VALUES ($1, $2, $3, $4, 'applied', $5, now(), interval '0', $6)
         ON CONFLICT (version) DO NOTHING"
    );
    let steps = m.steps.len() as i32;
    execute(
        client,
        schema,
        &sql,
        &[&version, &m.file.name, &checksum, &m.text, &steps, &origin],
    )
}

/// Runs `sql`, an insert of a migration row, with the row's values as
/// `$1`…`$5`: version, name, checksum, text, step count.
fn insert_migration(
    client: &mut impl GenericClient,
    schema: &str,
    sql: &str,
    version: &str,
    m: &MigrationPlan,
    checksum: &str,
) -> Result<(), ApplyError> {
    let steps = m.steps.len() as i32;
    execute(
        client,
        schema,
        sql,
        &[&version, &m.file.name, &checksum, &m.text, &steps],
    )
}

/// Runs one statement on the history tables.
fn execute(
    client: &mut impl GenericClient,
    schema: &str,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<(), ApplyError> {
    client.execute(sql, params).map_err(|e| err(schema, e))?;
    Ok(())
}

/// Drops the step rows from `from` on (steps that must run again), keeping
/// the in-progress row of step `from` when `keep_cursor`.
pub fn forget_steps_from(
    client: &mut impl GenericClient,
    schema: &str,
    version: &str,
    from: usize,
    keep_cursor: bool,
) -> Result<(), ApplyError> {
    let s = q(schema);
    let first = (from + usize::from(keep_cursor)) as i32;
    execute(
        client,
        schema,
        &format!("DELETE FROM {s}.steps WHERE version = $1 AND step >= $2"),
        &[&version, &first],
    )
}

/// Records a step's state (inside the step's own transaction when it has one).
#[allow(clippy::too_many_arguments)]
pub fn record_step(
    client: &mut impl GenericClient,
    schema: &str,
    version: &str,
    step: usize,
    state: StepState,
    sql_checksum: &str,
    cursor: Option<&[String]>,
    attempts: u32,
    rows: Option<u64>,
) -> Result<(), postgres::Error> {
    let s = q(schema);
    let cursor: Option<Vec<String>> = cursor.map(<[String]>::to_vec);
    client.execute(
        &format!(
            "INSERT INTO {s}.steps (version, step, state, sql_checksum, cursor, attempts, rows)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (version, step) DO UPDATE SET state = EXCLUDED.state,
               sql_checksum = EXCLUDED.sql_checksum, cursor = EXCLUDED.cursor,
               attempts = greatest({s}.steps.attempts, EXCLUDED.attempts),
               rows = coalesce({s}.steps.rows, 0) + coalesce(EXCLUDED.rows, 0), finished_at = now()"
        ),
        &[
            &version,
            &(step as i32),
            &state.as_str(),
            &sql_checksum,
            &cursor,
            &(attempts as i32),
            &rows.map(|r| r as i64),
        ],
    )?;
    Ok(())
}

/// Marks a migration applied.
pub fn finish_migration(
    client: &mut impl GenericClient,
    schema: &str,
    version: &str,
) -> Result<(), ApplyError> {
    let s = q(schema);
    execute(
        client,
        schema,
        &format!(
            "UPDATE {s}.migrations SET status = 'applied', finished_at = now(), \
             duration = now() - started_at, error = NULL WHERE version = $1"
        ),
        &[&version],
    )
}

/// Marks a migration failed with the error message.
pub fn fail_migration(
    client: &mut impl GenericClient,
    schema: &str,
    version: &str,
    error: &str,
) -> Result<(), ApplyError> {
    let s = q(schema);
    execute(
        client,
        schema,
        &format!("UPDATE {s}.migrations SET status = 'failed', error = $2 WHERE version = $1"),
        &[&version, &error],
    )
}
