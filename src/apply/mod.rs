//! Applying a plan to a database: the last stage of the pipeline
//! (files → statements → findings → plan → **apply**), and the only module
//! besides the tests that talks to PostgreSQL.
//!
//! `apply` executes the [`Plan`] exactly as `migrate plan` shows it. How a
//! step runs comes from its fields, never from its SQL text: a
//! [`TxMode::InTransaction`] step runs in one short transaction under `SET
//! LOCAL lock_timeout` with retries (see [`run`]), a [`TxMode::Outside`] step
//! runs bare in autocommit, a [`crate::plan::StepKind::Backfill`] runs keyset batches (see
//! [`backfill`]), and a [`crate::plan::StepKind::Check`] must return true. Every step's
//! "done" record is written to the history (see [`history`]) in the same
//! transaction as its effect when it has one, so an interrupted run resumes
//! at the first step not done. One runner at a time is enforced with a
//! session advisory lock (see [`lock`]).
//!
//! Nothing here exits the process or prints: progress is reported as
//! [`Event`]s to the caller, failures as [`ApplyError`].

pub mod adopt;
pub mod backfill;
pub mod baseline;
pub mod batch_size;
pub mod context;
pub mod fleet;
pub mod history;
pub mod lock;
pub mod monitor;
pub mod queue;
pub mod retry;
pub mod run;
pub mod throttle;

use crate::pg::{LockMode, QualifiedName};
use crate::plan::{MigrationPlan, Outcome, Plan, TxMode};
use crate::source::{MigrationFile, MigrationVersion};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use adopt::Adopt;
pub use history::{MigrationState, MigrationStatus};

/// How `apply` runs steps. Durations are wall-clock.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// The ceiling of a try's `lock_timeout`: tries start at
    /// `try_lock_timeout` and never go above this (see [`queue`]).
    pub lock_timeout: Duration,
    /// The `lock_timeout` of a step's first tries, short enough that a try
    /// that does queue costs traffic less than 0.1 s (issue #19); it doubles
    /// after every [`queue::ESCALATE_AFTER`] timed-out tries of a step, up to
    /// `lock_timeout`. Never zero.
    pub try_lock_timeout: Duration,
    /// The longest a step waits for its lock in all (polling for old
    /// blockers, tries, backoff) before apply stops naming the blockers.
    pub max_wait: Duration,
    /// How often the wait for old blockers looks at `pg_locks` again.
    pub wait_poll: Duration,
    /// Cancel (`pg_cancel_backend`) running queries that hold or wait for a
    /// lock conflicting with the step's, once their transaction is older
    /// than this. `None` (the default): never cancel anything.
    pub cancel_blockers_after: Option<Duration>,
    /// Where a second connection goes (the URL of the main one), for watching
    /// a try from outside (`pg_blocking_pids`) and a concurrent build's
    /// progress. `None`: no second connection, no such reports.
    pub monitor_url: Option<monitor::MonitorUrl>,
    /// `SET LOCAL statement_timeout` of steps whose `statement_timeout` is true.
    pub statement_timeout: Duration,
    /// Tries per step (and per backfill batch) on lock timeouts and deadlocks
    /// (`max_wait` usually ends the wait first).
    pub max_attempts: u32,
    /// The first retry waits up to this long (full jitter), doubling per try.
    pub retry_base: Duration,
    /// No retry waits longer than this.
    pub retry_cap: Duration,
    /// How long to wait for another runner's run lock.
    pub lock_wait: Duration,
    /// How often to try the run lock while waiting.
    pub lock_poll: Duration,
    /// The pause between backfill batches.
    pub batch_pause: Duration,
    /// The duration backfill batches are sized toward (see [`batch_size`]);
    /// zero keeps the plan's batch size fixed.
    pub batch_target: Duration,
    /// Backfills wait while a replica's `replay_lag` is over this (zero: never).
    pub max_replica_lag: Duration,
    /// Backfills wait while a replica has more WAL than this to replay, in
    /// bytes (zero: never).
    pub max_replica_lag_bytes: u64,
    /// How often a throttled backfill looks again.
    pub throttle_poll: Duration,
    /// How often a backfill reports [`Event::BackfillProgress`].
    pub progress_every: Duration,
    /// The schema holding the history tables.
    pub history_schema: String,
    /// Apply migrations up to and including this version only.
    pub target: Option<MigrationVersion>,
    /// Take over this tool's history first (`--adopt sqlx`).
    pub adopt: Option<Adopt>,
    /// The schema the plan was made from, as DDL: recorded with each
    /// migration this run starts, so a resumed run plans from it again
    /// (see [`context`]).
    pub start_schema: Option<String>,
    /// The advisory lock key of the run lock ([`lock::RUN_LOCK_KEY`]; a
    /// tenant schema's fleet target has its own, see [`fleet`]).
    pub run_lock_key: i64,
    /// Once set, no further migration starts: the one running finishes and
    /// the run ends with [`Summary::stopped`] (a fleet rollout that is
    /// stopping, see [`fleet`]).
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for ApplySettings {
    fn default() -> Self {
        ApplySettings {
            lock_timeout: Duration::from_millis(500),
            try_lock_timeout: Duration::from_millis(50),
            max_wait: Duration::from_secs(180),
            wait_poll: Duration::from_millis(100),
            cancel_blockers_after: None,
            monitor_url: None,
            statement_timeout: Duration::from_secs(5),
            max_attempts: 100,
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(5),
            lock_wait: Duration::from_secs(60),
            lock_poll: Duration::from_secs(1),
            batch_pause: Duration::from_millis(10),
            batch_target: Duration::from_millis(200),
            max_replica_lag: Duration::from_millis(1500),
            max_replica_lag_bytes: 100 << 20,
            throttle_poll: Duration::from_secs(1),
            progress_every: Duration::from_secs(2),
            history_schema: history::DEFAULT_SCHEMA.to_string(),
            target: None,
            adopt: None,
            start_schema: None,
            run_lock_key: lock::RUN_LOCK_KEY,
            stop: None,
        }
    }
}

/// A session that holds (or waits for) a lock the runner needs, from
/// `pg_locks` joined with `pg_stat_activity`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    pub pid: i32,
    /// `pg_stat_activity.application_name` (may be empty).
    pub application: String,
    /// `pg_stat_activity.state`, e.g. `idle in transaction`.
    pub state: String,
    /// How long its transaction has been open (serialised as `for_ms`).
    #[serde(rename = "for_ms", serialize_with = "ser_ms")]
    pub for_: Duration,
    /// The lock it holds or waits for (`pg_locks.mode`; empty when unknown).
    pub mode: String,
    /// Whether it holds `mode` (`false`: it is queued for it, ahead of us).
    pub granted: bool,
    /// Its current or last query, cut to 200 characters.
    pub query: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let app = if self.application.is_empty() {
            String::new()
        } else {
            format!("{}, ", self.application)
        };
        let lock = match (self.mode.as_str(), self.granted) {
            ("", _) => String::new(),
            (mode, true) => format!(", holds {mode}"),
            (mode, false) => format!(", waits for {mode}"),
        };
        write!(
            f,
            "pid {} ({app}{}, transaction open {:.1}s{lock}): {}",
            self.pid,
            self.state,
            self.for_.as_secs_f64(),
            self.query
        )
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Blockers as one line of a message.
pub fn blockers_line(blockers: &[Blocker]) -> String {
    if blockers.is_empty() {
        "no blocker found in pg_locks (it may have finished)".to_string()
    } else {
        blockers
            .iter()
            .map(Blocker::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Why `apply` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("no database URL: pass --database-url, set DATABASE_URL or database_url in migrate.yaml")]
    NoUrl,
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// `evidence` says what gave the proxy away (see `lock::check_session`).
    #[error("the connection goes through a transaction-pooling proxy: {evidence}")]
    PoolingProxy { evidence: String },
    #[error("another `migrate apply` holds the run lock{}; gave up after {waited:?}", holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    RunLockBusy { waited: Duration, holder: Option<i32> },
    #[error("history in schema {schema}: {message}")]
    History { schema: String, message: String },
    #[error("{migration}: changed since it was applied (checksum {applied} → {current})")]
    Drift {
        migration: String,
        applied: String,
        current: String,
        /// A unified diff, applied text → file.
        diff: String,
    },
    #[error("cannot read {table}: {message}")]
    AdoptRead { table: &'static str, message: String },
    #[error("--adopt {tool}: this database has no {table} table")]
    AdoptNoHistory { tool: &'static str, table: &'static str },
    #[error(
        "{table} records {versions} migration(s) of {tool} and the history in schema {schema} is empty: \
         applying would run them again; rerun with --adopt {tool}"
    )]
    NotAdopted {
        schema: String,
        tool: &'static str,
        table: &'static str,
        versions: usize,
    },
    #[error(
        "{table} records version {version}{}, but no migration file has that version",
        if name.is_empty() { String::new() } else { format!(" ({name})") }
    )]
    AdoptMissing {
        table: &'static str,
        version: String,
        name: String,
    },
    #[error("{path}: changed since {tool} applied version {version} ({tool} checksum {recorded}, file {computed})")]
    AdoptChecksum {
        path: String,
        tool: &'static str,
        version: String,
        recorded: String,
        computed: String,
    },
    /// `what` is the file of the version, or the version when no file has it.
    #[error("{what}: {table} records version {version} as failed or dirty: {tool} did not finish it")]
    AdoptFailed {
        what: String,
        tool: &'static str,
        table: &'static str,
        version: String,
    },
    #[error("baseline {version}: no migration file has that version; {range}")]
    BaselineUnknown { version: String, range: String },
    #[error("{migration}: started here and not finished, so it cannot be marked applied by a baseline")]
    BaselineInProgress { migration: String },
    #[error("{migration}: {} refused statement(s): {}", reasons.len(), reasons.join("; "))]
    Refused { migration: String, reasons: Vec<String> },
    #[error(
        "{migration} step {step}: no {} lock on {} within {timeout:?} after {attempts} tries; blocked by {}",
        lock.map(|l| l.to_string()).unwrap_or_else(|| "table".into()),
        table.as_deref().unwrap_or("its tables"),
        blockers_line(blockers)
    )]
    LockNotAcquired {
        migration: String,
        step: usize,
        table: Option<String>,
        lock: Option<LockMode>,
        timeout: Duration,
        attempts: u32,
        blockers: Vec<Blocker>,
    },
    /// `--max-wait` ran out while sessions held (or queued for) locks
    /// conflicting with the step's; nothing of the step was done.
    #[error(
        "{migration} step {step}: waited {waited:?} (--max-wait) for {} on {}; blocked by {}",
        lock.map(|l| l.to_string()).unwrap_or_else(|| "its lock".into()),
        table.as_deref().unwrap_or("its tables"),
        blockers_line(blockers)
    )]
    WaitedTooLong {
        migration: String,
        step: usize,
        table: Option<String>,
        lock: Option<LockMode>,
        waited: Duration,
        blockers: Vec<Blocker>,
    },
    #[error("{migration} step {step} ({kind}) failed: {message}")]
    Step {
        migration: String,
        step: usize,
        kind: &'static str,
        message: String,
    },
    /// The server went away mid-step (a restart, a failover, a terminated
    /// backend): told apart from a failing statement so the help fits.
    #[error("{migration} step {step} ({kind}): lost the connection to the server: {message}")]
    ConnectionLost {
        migration: String,
        step: usize,
        kind: &'static str,
        message: String,
    },
    #[error("{migration} step {step}: check failed: {note}")]
    CheckFailed {
        migration: String,
        step: usize,
        note: String,
    },
    #[error("{migration} step {step}: {table} has no primary key to cut backfill batches by")]
    NoKey {
        migration: String,
        step: usize,
        table: QualifiedName,
    },
}

impl ApplyError {
    /// What to do next.
    pub fn help(&self) -> &'static str {
        match self {
            Self::NoUrl => "pass --database-url postgres://… (the password is never printed)",
            Self::Db(e) => e.help(),
            Self::PoolingProxy { .. } => {
                "connect directly or through a session-pooled port: the run lock and SET need one session"
            }
            Self::RunLockBusy { .. } => "wait for the other run to finish, or raise --lock-wait",
            Self::History { .. } => {
                "check that the role may create and write the history schema and tables and that the disk \
                 has room, then rerun: an unrecorded step's transaction was rolled back"
            }
            Self::Drift { .. } => {
                "restore the applied file and put the change in a new migration (`migrate new NAME`)"
            }
            Self::AdoptRead { .. } => "check that the role may read the table and that --adopt names the tool that wrote it",
            Self::AdoptNoHistory { .. } => {
                "drop --adopt, or name the tool that migrated this database (its table must be on the search_path)"
            }
            Self::NotAdopted { .. } => {
                "adopting marks the migrations that tool applied as applied here (after checking their checksums) \
                 instead of running them again"
            }
            Self::AdoptMissing { .. } => {
                "restore the migration file the other tool applied (same name and text), then rerun with --adopt"
            }
            Self::AdoptChecksum { .. } => {
                "restore the file as the other tool applied it (byte for byte) and put the change in a new migration"
            }
            Self::AdoptFailed { .. } => {
                "finish or repair that migration with the tool that started it (the database may hold part of it), \
                 then rerun with --adopt"
            }
            Self::BaselineUnknown { .. } => {
                "name the version of the last migration the database already holds (`migrate status` lists them)"
            }
            Self::BaselineInProgress { .. } => "finish it with `migrate apply` (it resumes), or baseline below it",
            Self::Refused { .. } => {
                "rewrite the statement, or accept it with `-- migrate:ignore <rule> -- <reason>` above it"
            }
            Self::LockNotAcquired { .. } => {
                "a long transaction holds the table: end it (see pg_stat_activity), then rerun to resume"
            }
            Self::WaitedTooLong { .. } => {
                "end the blocking transactions (or raise --max-wait, or pass --cancel-blockers-after), \
                 then rerun: the run resumes at this step"
            }
            Self::Step { .. } => "fix the migration or the data, then rerun: done steps are not repeated",
            Self::ConnectionLost { .. } => {
                "the server restarted or ended the session: rerun once it is back; the run resumes at this \
                 step (its open transaction was rolled back)"
            }
            Self::CheckFailed { .. } => "the plan's assertion does not hold; inspect the catalog, then rerun",
            Self::NoKey { .. } => "add a primary key to the table, or backfill it in a migration of its own",
        }
    }

    /// Lines worth printing after the message (a diff), if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Drift { diff, .. } => Some(diff),
            _ => None,
        }
    }

    /// 1: a migration failed and the run can resume; 2: usage, config or
    /// connection; 3: refused (drift, refused statements).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NoUrl
            | Self::Db(_)
            | Self::PoolingProxy { .. }
            | Self::RunLockBusy { .. }
            | Self::History { .. }
            | Self::AdoptRead { .. }
            | Self::AdoptNoHistory { .. }
            | Self::BaselineUnknown { .. } => 2,
            Self::Drift { .. }
            | Self::Refused { .. }
            | Self::NotAdopted { .. }
            | Self::AdoptMissing { .. }
            | Self::AdoptChecksum { .. }
            | Self::AdoptFailed { .. }
            | Self::BaselineInProgress { .. } => 3,
            Self::LockNotAcquired { .. }
            | Self::WaitedTooLong { .. }
            | Self::Step { .. }
            | Self::ConnectionLost { .. }
            | Self::CheckFailed { .. }
            | Self::NoKey { .. } => 1,
        }
    }
}

/// What became of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepOutcome {
    /// It ran.
    Ran,
    /// Its guard said its effect is already in place.
    SkippedGuard,
    /// Its `only_if` condition was false.
    SkippedCondition,
}

/// Progress, in the order it happens. `--format json` prints each as one line.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Another runner holds the run lock; polling.
    WaitingForRunLock,
    /// The migration starts, or resumes an earlier attempt at `resume_at` (1-based).
    MigrationStarted {
        version: String,
        name: String,
        steps: usize,
        resume_at: usize,
        resuming: bool,
    },
    /// A lock timeout or deadlock; the step is tried again after `sleep_ms`.
    /// `blocked_by`: the sessions `pg_blocking_pids()` named while the try
    /// waited (seen from the second connection; empty without one).
    StepRetry {
        version: String,
        step: usize,
        attempt: u32,
        error: String,
        #[serde(serialize_with = "ser_ms")]
        sleep: Duration,
        #[serde(serialize_with = "ser_ms")]
        lock_timeout: Duration,
        blocked_by: Vec<Blocker>,
    },
    /// A step does not try for its lock while these sessions, open longer
    /// than a try's `lock_timeout`, hold or queue for a conflicting lock on
    /// `table`: a try would queue traffic behind it and lose. Reported when
    /// the wait starts and every `progress_every` while it lasts.
    WaitingForLock {
        version: String,
        step: usize,
        table: String,
        lock: LockMode,
        blockers: Vec<Blocker>,
        #[serde(serialize_with = "ser_ms")]
        waited: Duration,
        #[serde(serialize_with = "ser_ms")]
        max_wait: Duration,
    },
    /// `--cancel-blockers-after`: `pg_cancel_backend` was sent to `blocker`.
    BlockerCancelled {
        version: String,
        step: usize,
        table: String,
        blocker: Blocker,
        /// What `pg_cancel_backend` returned.
        signalled: bool,
    },
    /// A concurrent index build's progress, from
    /// `pg_stat_progress_create_index` (PostgreSQL 12+) read by the second
    /// connection every `progress_every`.
    IndexProgress {
        version: String,
        step: usize,
        table: String,
        phase: String,
        blocks_done: u64,
        blocks_total: u64,
        tuples_done: u64,
        tuples_total: u64,
        #[serde(serialize_with = "ser_ms")]
        elapsed: Duration,
        /// Seconds left in this phase at its rate so far, when it can be told.
        #[serde(skip_serializing_if = "Option::is_none")]
        phase_eta_secs: Option<u64>,
    },
    /// A long scan (`VALIDATE`) is still running: time so far and the
    /// table's size (`pg_table_size`), every `progress_every`.
    ScanProgress {
        version: String,
        step: usize,
        table: String,
        #[serde(serialize_with = "ser_ms")]
        elapsed: Duration,
        #[serde(skip_serializing_if = "Option::is_none")]
        table_bytes: Option<u64>,
    },
    /// A backfill starts (or resumes) on `table`, whose `pg_class.reltuples`
    /// estimate is `estimated_rows`; `rows_before` were done by earlier runs.
    BackfillStarted {
        version: String,
        step: usize,
        table: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        estimated_rows: Option<u64>,
        rows_before: u64,
        batch_size: u32,
    },
    /// One backfill batch committed: `rows` changed by a batch of at most
    /// `batch_size` keys in `duration`; `total` changed so far, earlier runs included.
    BatchDone {
        version: String,
        step: usize,
        batch: u64,
        rows: u64,
        batch_size: u32,
        #[serde(serialize_with = "ser_ms")]
        duration: Duration,
        total: u64,
    },
    /// Every `progress_every` of a backfill: rows done (earlier runs
    /// included), the rate of this run, the next batch's size, and the time
    /// left at that rate when the table's size is known.
    BackfillProgress {
        version: String,
        step: usize,
        rows: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        estimated_rows: Option<u64>,
        rows_per_sec: u64,
        batch_size: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        eta_secs: Option<u64>,
    },
    /// A backfill waits before its next batch, and says why (every
    /// 30 seconds while it keeps waiting); `waited` so far.
    Throttled {
        version: String,
        step: usize,
        reason: String,
        #[serde(serialize_with = "ser_ms")]
        waited: Duration,
    },
    /// A step finished.
    StepDone {
        version: String,
        step: usize,
        of: usize,
        kind: &'static str,
        table: Option<String>,
        outcome: StepOutcome,
        attempts: u32,
        #[serde(serialize_with = "ser_ms")]
        duration: Duration,
        #[serde(skip_serializing_if = "Option::is_none")]
        rows: Option<u64>,
    },
    /// Every step of the migration is done.
    MigrationApplied {
        version: String,
        #[serde(serialize_with = "ser_ms")]
        duration: Duration,
    },
    /// The migration stopped at `step`; the next run resumes there.
    MigrationFailed {
        version: String,
        step: usize,
        error: String,
    },
    /// A migration that failed before was edited; done steps whose SQL is
    /// unchanged are kept.
    ResumingChanged { version: String, kept_steps: usize },
    /// A migration another tool applied was recorded as applied (`--adopt`);
    /// none of its steps ran.
    MigrationAdopted {
        version: String,
        name: String,
        /// The other tool's table.
        from: &'static str,
        /// Whether the file was checked against the tool's checksum (some
        /// tools keep none).
        checksum_verified: bool,
    },
    /// Everything is applied.
    NothingPending,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Migrations that reached `applied` in this run.
    pub applied: usize,
    /// Steps that ran.
    pub steps_run: usize,
    /// Steps skipped by their guard or condition.
    pub steps_skipped: usize,
    /// Pending migrations were left because [`ApplySettings::stop`] was set.
    pub stopped: bool,
}

/// The name a migration has in the history: its version, else its name.
pub fn migration_id(file: &MigrationFile) -> String {
    match &file.version {
        Some(v) => v.to_string(),
        None => file.name.clone(),
    }
}

/// The text a checksum covers: `\r\n` (and a lone `\r`) become `\n`, trailing
/// whitespace on every line and trailing blank lines are dropped, so a file
/// re-saved with other line endings or editor trimming keeps its checksum.
pub fn normalise(text: &str) -> String {
    let unix = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = unix.split('\n').map(str::trim_end).collect();
    lines.join("\n").trim_end_matches('\n').to_string()
}

/// SHA-256 (lowercase hex) of the normalised text (see [`normalise`]).
///
/// ```
/// use safe_migrate::apply::checksum;
/// assert_eq!(checksum("SELECT 1;\r\n"), checksum("SELECT 1;  \n"));
/// assert_ne!(checksum("SELECT 1;"), checksum("SELECT 2;"));
/// ```
pub fn checksum(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(normalise(text).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The migrations of `plan` that `settings.target` includes, in plan order.
fn in_target<'p>(plan: &'p Plan, settings: &ApplySettings) -> impl Iterator<Item = &'p MigrationPlan> + 'p {
    let target = settings.target.clone();
    plan.migrations
        .iter()
        .filter(move |m| match (&target, &m.file.version) {
            (None, _) => true,
            (Some(t), Some(v)) => v <= t,
            (Some(_), None) => false,
        })
}

fn refusals(m: &MigrationPlan) -> Vec<String> {
    m.statements
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Refused { rule, reason } => Some(format!("[{rule}] {reason}")),
            _ => None,
        })
        .collect()
}

fn drift(m: &MigrationPlan, row: &history::MigrationRow) -> ApplyError {
    let path = m.file.path.display().to_string();
    let diff = similar::TextDiff::from_lines(row.applied_sql.as_str(), m.text.as_str())
        .unified_diff()
        .context_radius(3)
        .header(&format!("{path} (applied)"), &path)
        .to_string();
    ApplyError::Drift {
        migration: path,
        applied: row.checksum.chars().take(12).collect(),
        current: checksum(&m.text).chars().take(12).collect(),
        diff,
    }
}

/// The migrations `apply` would run next: not yet applied (and within the target).
pub fn pending<'p>(
    plan: &'p Plan,
    client: &mut postgres::Client,
    settings: &ApplySettings,
) -> Result<Vec<&'p MigrationPlan>, ApplyError> {
    let history = history::load(client, &settings.history_schema)?;
    Ok(in_target(plan, settings)
        .filter(|m| {
            history
                .migration(&migration_id(&m.file))
                .is_none_or(|r| r.status != history::Status::Applied)
        })
        .collect())
}

/// Applies every pending migration of `plan`, in order, reporting progress
/// to `events`. Takes the run lock first and releases it at the end.
///
/// Before changing anything it checks every applied migration against its
/// file (a changed one is [`ApplyError::Drift`]) and every pending one for
/// refused statements ([`ApplyError::Refused`]), so a refusal in V7 stops
/// the run before V1 is touched.
pub fn apply(
    plan: &Plan,
    client: &mut postgres::Client,
    settings: &ApplySettings,
    events: &mut dyn FnMut(&Event),
) -> Result<Summary, ApplyError> {
    lock::check_session(client)?;
    lock::acquire(client, settings, events)?;
    let result = apply_locked(plan, client, settings, events);
    lock::release(client, settings.run_lock_key);
    result
}

fn apply_locked(
    plan: &Plan,
    client: &mut postgres::Client,
    settings: &ApplySettings,
    events: &mut dyn FnMut(&Event),
) -> Result<Summary, ApplyError> {
    let schema = settings.history_schema.as_str();
    history::ensure(client, schema)?;
    let mut history = history::load(client, schema)?;
    if let Some(tool) = settings.adopt {
        let records = adopt::history(client, tool)?.ok_or(ApplyError::AdoptNoHistory {
            tool: tool.name(),
            table: tool.table(),
        })?;
        let adopted = adopt::check(plan, tool, &records)?;
        let mut tx = client.transaction().map_err(|e| ApplyError::History {
            schema: schema.to_string(),
            message: run::error_text(&e),
        })?;
        for m in &adopted {
            let id = migration_id(&m.file);
            if history.migration(&id).is_some() {
                continue;
            }
            let origin = format!("adopted from {}", tool.table());
            history::adopt_migration(&mut tx, schema, &id, m, &checksum(&m.text), &origin)?;
            events(&Event::MigrationAdopted {
                version: id,
                name: m.file.name.clone(),
                from: tool.table(),
                checksum_verified: tool.keeps_checksums(),
            });
        }
        tx.commit().map_err(|e| ApplyError::History {
            schema: schema.to_string(),
            message: run::error_text(&e),
        })?;
        history = history::load(client, schema)?;
    } else if history.migrations().is_empty() {
        // Our history is empty, so every migration another tool ran would run again.
        if let Some((tool, versions)) = adopt::detect(client)? {
            return Err(ApplyError::NotAdopted {
                schema: schema.to_string(),
                tool: tool.name(),
                table: tool.table(),
                versions,
            });
        }
    }
    let mut todo = Vec::new();
    for m in in_target(plan, settings) {
        match history.migration(&migration_id(&m.file)) {
            Some(row) if row.status == history::Status::Applied => {
                if row.checksum != checksum(&m.text) {
                    return Err(drift(m, row));
                }
            }
            _ => todo.push(m),
        }
    }
    for m in &todo {
        let reasons = refusals(m);
        if !reasons.is_empty() {
            return Err(ApplyError::Refused {
                migration: m.file.path.display().to_string(),
                reasons,
            });
        }
    }
    if todo.is_empty() {
        events(&Event::NothingPending);
        return Ok(Summary::default());
    }
    let mut summary = Summary::default();
    let session = monitor::Session::new(client, settings.monitor_url.clone());
    for m in todo {
        if settings
            .stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::SeqCst))
        {
            summary.stopped = true;
            break;
        }
        apply_migration(m, &history, client, &session, settings, events, &mut summary)?;
        summary.applied += 1;
    }
    Ok(summary)
}

/// The checksum a step's "done" record carries, so an edited failed
/// migration keeps only the done steps that did not change.
fn step_checksum(step: &crate::plan::Step) -> String {
    checksum(&format!("{}\n{}", step.kind.name(), step.sql))
}

fn apply_migration(
    m: &MigrationPlan,
    history: &history::History,
    client: &mut postgres::Client,
    session: &monitor::Session,
    settings: &ApplySettings,
    events: &mut dyn FnMut(&Event),
    summary: &mut Summary,
) -> Result<(), ApplyError> {
    let schema = settings.history_schema.as_str();
    let id = migration_id(&m.file);
    let label = m.file.path.display().to_string();
    let started = Instant::now();
    // Done steps count only while their SQL is what the plan says now: a
    // failed migration may have been edited to fix it.
    let done_rows = history.steps(&id);
    let mut kept = 0;
    for (i, step) in m.steps.iter().enumerate() {
        match done_rows.iter().find(|r| r.step == i) {
            Some(r) if r.state != history::StepState::InProgress && r.sql_checksum == step_checksum(step) => {
                kept = i + 1
            }
            _ => break,
        }
    }
    // A concurrent step interrupted mid-build leaves an INVALID index that
    // `IF NOT EXISTS` would keep: resume at the plan's cleanup step before it.
    while kept > 0
        && m.steps.get(kept).is_some_and(|s| s.tx == TxMode::Outside)
        && m.steps[kept - 1].tx == TxMode::Outside
        && m.steps[kept - 1].only_if.is_some()
    {
        kept -= 1;
    }
    let resume_cursor: Option<(usize, Vec<String>)> = done_rows
        .iter()
        .find(|r| r.step == kept && r.state == history::StepState::InProgress)
        .filter(|r| {
            m.steps
                .get(kept)
                .is_some_and(|s| r.sql_checksum == step_checksum(s))
        })
        .and_then(|r| r.cursor.clone().map(|c| (kept, c)));
    let earlier = history.migration(&id);
    let edited = earlier.is_some_and(|r| r.checksum != checksum(&m.text));
    history::begin_migration(client, schema, &id, m, &checksum(&m.text))?;
    if let Some(start) = &settings.start_schema {
        context::record_start(client, schema, &id, start)?;
    }
    history::forget_steps_from(client, schema, &id, kept, resume_cursor.is_some())?;
    events(&Event::MigrationStarted {
        version: id.clone(),
        name: m.file.name.clone(),
        steps: m.steps.len(),
        resume_at: kept + 1,
        resuming: earlier.is_some(),
    });
    if edited {
        events(&Event::ResumingChanged {
            version: id.clone(),
            kept_steps: kept,
        });
    }

    for (index, step) in m.steps.iter().enumerate().skip(kept) {
        let cursor = resume_cursor
            .as_ref()
            .filter(|(i, _)| *i == index)
            .map(|(_, c)| c.clone());
        let cx = run::StepContext {
            migration: &id,
            label: &label,
            index,
            step,
            sql_checksum: step_checksum(step),
            settings,
            session,
        };
        let t = Instant::now();
        match run::run_step(client, &cx, cursor, events) {
            Ok(report) => {
                if report.outcome == StepOutcome::Ran {
                    summary.steps_run += 1;
                } else {
                    summary.steps_skipped += 1;
                }
                events(&Event::StepDone {
                    version: id.clone(),
                    step: index + 1,
                    of: m.steps.len(),
                    kind: step.kind.name(),
                    table: step
                        .table
                        .as_ref()
                        .or(step.backfill.as_ref().map(|b| &b.table))
                        .map(|t| t.to_string()),
                    outcome: report.outcome,
                    attempts: report.attempts,
                    duration: t.elapsed(),
                    rows: report.rows,
                });
            }
            Err(e) => {
                let message = e.to_string();
                // Best effort: the connection may be the thing that failed.
                let _ = history::fail_migration(client, schema, &id, &message);
                events(&Event::MigrationFailed {
                    version: id.clone(),
                    step: index + 1,
                    error: message,
                });
                return Err(e);
            }
        }
    }
    history::finish_migration(client, schema, &id)?;
    events(&Event::MigrationApplied {
        version: id,
        duration: started.elapsed(),
    });
    Ok(())
}

/// The state of every migration on disk and in the history, in plan order,
/// then history rows with no file. Reads only: never creates the history.
pub fn status(
    plan: &Plan,
    client: &mut postgres::Client,
    settings: &ApplySettings,
) -> Result<Vec<MigrationStatus>, ApplyError> {
    let history = history::load(client, &settings.history_schema)?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for m in &plan.migrations {
        let id = migration_id(&m.file);
        seen.insert(id.clone());
        let state = match history.migration(&id) {
            None => MigrationState::Pending,
            Some(row) if row.status == history::Status::Applied => {
                if row.checksum != checksum(&m.text) {
                    MigrationState::Changed
                } else if row.origin.as_deref() == Some(history::BASELINE) {
                    MigrationState::Baseline
                } else {
                    MigrationState::Applied
                }
            }
            Some(row) => {
                let done = history
                    .steps(&id)
                    .iter()
                    .filter(|s| s.state != history::StepState::InProgress)
                    .count();
                MigrationState::InProgress {
                    step: done + 1,
                    of: m.steps.len(),
                    failed: row.status == history::Status::Failed,
                    error: row.error.clone(),
                }
            }
        };
        out.push(MigrationStatus {
            version: id,
            name: m.file.name.clone(),
            path: Some(m.file.path.display().to_string()),
            state,
        });
    }
    for row in history.migrations() {
        if !seen.contains(&row.version) {
            out.push(MigrationStatus {
                version: row.version.clone(),
                name: row.name.clone(),
                path: None,
                state: MigrationState::Missing,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_line_endings_and_trailing_space() {
        assert_eq!(checksum("a;\r\nb;\r\n"), checksum("a;\nb;"));
        assert_eq!(checksum("a;   \nb;\t\n\n"), checksum("a;\nb;"));
        assert_ne!(checksum("a;\nb;"), checksum("a; b;"));
    }
}
