//! Applying a plan to a database: the last stage of the pipeline
//! (files → statements → findings → plan → **apply**), and the only module
//! besides the tests that talks to PostgreSQL.
//!
//! `apply` executes the [`Plan`] exactly as `migrate plan` shows it. How a
//! step runs comes from its fields, never from its SQL text: a
//! [`TxMode::InTransaction`] step runs in one short transaction under `SET
//! LOCAL lock_timeout` with retries (see [`run`]), a [`TxMode::Outside`] step
//! runs bare in autocommit, a [`StepKind::Backfill`] runs keyset batches (see
//! [`backfill`]), and a [`StepKind::Check`] must return true. Every step's
//! "done" record is written to the history (see [`history`]) in the same
//! transaction as its effect when it has one, so an interrupted run resumes
//! at the first step not done. One runner at a time is enforced with a
//! session advisory lock (see [`lock`]).
//!
//! Nothing here exits the process or prints: progress is reported as
//! [`Event`]s to the caller, failures as [`ApplyError`].

pub mod backfill;
pub mod history;
pub mod lock;
pub mod retry;
pub mod run;

use crate::pg::{LockMode, PgVersion, QualifiedName};
use crate::plan::{MigrationPlan, Outcome, Plan, StepKind, TxMode};
use crate::source::{MigrationFile, MigrationVersion};
use serde::Serialize;
use std::time::{Duration, Instant};

pub use history::{MigrationState, MigrationStatus};

/// How `apply` runs steps. Durations are wall-clock.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// `SET LOCAL lock_timeout` of every transactional step and batch.
    pub lock_timeout: Duration,
    /// `SET LOCAL statement_timeout` of steps whose `statement_timeout` is true.
    pub statement_timeout: Duration,
    /// Tries per step (and per backfill batch) on lock timeouts and deadlocks.
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
    /// The schema holding the history tables.
    pub history_schema: String,
    /// Apply migrations up to and including this version only.
    pub target: Option<MigrationVersion>,
}

impl Default for ApplySettings {
    fn default() -> Self {
        ApplySettings {
            lock_timeout: Duration::from_millis(500),
            statement_timeout: Duration::from_secs(5),
            max_attempts: 10,
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(60),
            lock_wait: Duration::from_secs(60),
            lock_poll: Duration::from_secs(1),
            batch_pause: Duration::from_millis(10),
            history_schema: history::DEFAULT_SCHEMA.to_string(),
            target: None,
        }
    }
}

/// A session that held a lock the runner waited for, from `pg_stat_activity`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    pub pid: i32,
    /// `pg_stat_activity.state`, e.g. `idle in transaction`.
    pub state: String,
    /// How long its transaction has been open.
    #[serde(serialize_with = "ser_ms")]
    pub for_: Duration,
    /// The lock it holds (`pg_locks.mode`).
    pub mode: String,
    /// Its current or last query, cut to 200 characters.
    pub query: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}, transaction open {:.1}s, holds {}): {}",
            self.pid,
            self.state,
            self.for_.as_secs_f64(),
            self.mode,
            self.query
        )
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn blockers_line(blockers: &[Blocker]) -> String {
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
    #[error("invalid database URL {url}: {message}")]
    BadUrl { url: String, message: String },
    #[error("{url}: sslmode={mode} needs TLS, which this build does not support yet")]
    TlsUnsupported { url: String, mode: String },
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("no database URL: pass --database-url, set DATABASE_URL or database_url in migrate.yaml")]
    NoUrl,
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
            Self::BadUrl { .. } => "use postgres://user:password@host:port/dbname or key=value pairs",
            Self::TlsUnsupported { .. } => {
                "connect through a local TLS tunnel with sslmode=disable, or wait for TLS support (docs/apply.md)"
            }
            Self::Connect { .. } => "check the host, port, user and password, and that the server is up",
            Self::NoUrl => "pass --database-url postgres://… (the password is never printed)",
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
            Self::Refused { .. } => {
                "rewrite the statement, or accept it with `-- migrate:ignore <rule> -- <reason>` above it"
            }
            Self::LockNotAcquired { .. } => {
                "a long transaction holds the table: end it (see pg_stat_activity), then rerun to resume"
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
            Self::BadUrl { .. }
            | Self::TlsUnsupported { .. }
            | Self::Connect { .. }
            | Self::NoUrl
            | Self::PoolingProxy { .. }
            | Self::RunLockBusy { .. }
            | Self::History { .. } => 2,
            Self::Drift { .. } | Self::Refused { .. } => 3,
            Self::LockNotAcquired { .. }
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
    StepRetry {
        version: String,
        step: usize,
        attempt: u32,
        error: String,
        #[serde(serialize_with = "ser_ms")]
        sleep: Duration,
    },
    /// One backfill batch committed.
    BatchDone {
        version: String,
        step: usize,
        batch: u64,
        rows: u64,
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

/// `url` with any password replaced by `***`: the user part of a
/// `postgres://user:password@host` URL, a `password=` query parameter, and a
/// `password=` key of a key-value connection string.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                out.replace_range(start..rest_start + at, "***");
            }
        }
    }
    let mut search = 0;
    while let Some(found) = out[search..].find("password=") {
        let start = search + found + "password=".len();
        let end = out[start..]
            .find(|c: char| c == '&' || c.is_whitespace())
            .map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "***");
        search = start + 3;
    }
    out
}

/// Connects with the URL (or key-value string), refusing TLS modes this
/// build cannot honour rather than silently connecting in the clear.
/// No message built here contains the password.
pub fn connect(url: &str) -> Result<postgres::Client, ApplyError> {
    let shown = redact_url(url);
    if let Some(mode) = ssl_mode(url) {
        if !matches!(mode.as_str(), "disable" | "allow" | "prefer") {
            return Err(ApplyError::TlsUnsupported { url: shown, mode });
        }
    }
    let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| ApplyError::BadUrl {
        url: shown.clone(),
        message: scrub(&e.to_string(), url),
    })?;
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    config.application_name("safe-migrate apply");
    config.connect(postgres::NoTls).map_err(|e| {
        let mut message = run::error_text(&e);
        if let Some(p) = password.as_deref().filter(|p| !p.is_empty()) {
            message = message.replace(p, "***");
        }
        ApplyError::Connect {
            url: shown,
            message: scrub(&message, url),
        }
    })
}

/// Removes the URL and its password from a message, in case a library quoted them.
fn scrub(message: &str, url: &str) -> String {
    message.replace(url, &redact_url(url))
}

fn ssl_mode(url: &str) -> Option<String> {
    let at = url.find("sslmode=")? + "sslmode=".len();
    let value: String = url[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Some(value.to_ascii_lowercase())
}

/// The server's major version, for planning against the real target.
pub fn server_version(client: &mut postgres::Client) -> Option<PgVersion> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .ok()?;
    let num: i32 = row.get(0);
    PgVersion::new((num / 10000) as u32)
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
    lock::release(client);
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
    let history = history::load(client, schema)?;
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
    for m in todo {
        apply_migration(m, &history, client, settings, events, &mut summary)?;
        summary.applied += 1;
    }
    Ok(summary)
}

fn kind_name(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Ddl => "ddl",
        StepKind::Concurrent => "concurrent",
        StepKind::Validate => "validate",
        StepKind::Backfill => "backfill",
        StepKind::Swap => "swap",
        StepKind::Check => "check",
    }
}

/// The checksum a step's "done" record carries, so an edited failed
/// migration keeps only the done steps that did not change.
fn step_checksum(step: &crate::plan::Step) -> String {
    checksum(&format!("{}\n{}", kind_name(step.kind), step.sql))
}

fn apply_migration(
    m: &MigrationPlan,
    history: &history::History,
    client: &mut postgres::Client,
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
                    kind: kind_name(step.kind),
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
                if row.checksum == checksum(&m.text) {
                    MigrationState::Applied
                } else {
                    MigrationState::Changed
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
    fn redacts_passwords_in_every_form() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/app"),
            "postgres://bob:***@db:5432/app"
        );
        assert_eq!(redact_url("postgres://bob@db/app"), "postgres://bob@db/app");
        assert_eq!(
            redact_url("postgres://db/app?user=bob&password=s3cret&sslmode=disable"),
            "postgres://db/app?user=bob&password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("host=db password=s3cret user=bob"),
            "host=db password=*** user=bob"
        );
    }

    #[test]
    fn checksum_ignores_line_endings_and_trailing_space() {
        assert_eq!(checksum("a;\r\nb;\r\n"), checksum("a;\nb;"));
        assert_eq!(checksum("a;   \nb;\t\n\n"), checksum("a;\nb;"));
        assert_ne!(checksum("a;\nb;"), checksum("a; b;"));
    }

    #[test]
    fn refuses_tls_modes_it_cannot_honour() {
        let Err(e) = connect("postgres://u:pw@localhost/db?sslmode=require") else {
            panic!("connected without TLS")
        };
        assert!(matches!(e, ApplyError::TlsUnsupported { .. }), "{e}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}
