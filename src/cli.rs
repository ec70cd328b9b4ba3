//! The command line: clap types for the raw arguments, their resolution
//! (with `migrate.yaml`) into settings, and the commands themselves.
//!
//! `main.rs` calls [`run`] and maps its result to an exit code; nothing else
//! exits the process.

use crate::apply::{self, ApplySettings, Event, MigrationState, StepOutcome};
use crate::config::{self, Config};
use crate::db::{self, DbError};
use crate::lint::{docs, lint_files, rules, Driver, LintSettings, Severity, Summary};
use crate::pg::PgVersion;
use crate::plan;
use crate::report::{self, Format, TextStyle};
use crate::schema::Schema;
use crate::source::{self, DiscoveryWarning, MigrationVersion, Source};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Zero-downtime PostgreSQL migrations: lint, plan and apply.
#[derive(Debug, Parser)]
#[command(name = "migrate", version, about, propagate_version = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check migrations for statements that block traffic or break running code.
    Lint(LintArgs),
    /// Rewrite flagged statements into zero-downtime plans.
    Plan(PlanArgs),
    /// Run pending migrations against a database, as `migrate plan` shows them.
    Apply(ApplyArgs),
    /// Show which migrations are applied, pending, in progress or changed.
    Status(StatusArgs),
    /// Mark every migration up to VERSION applied without running it (a database built by hand or restored).
    #[command(override_usage = "migrate baseline [OPTIONS] [DIR] VERSION")]
    Baseline(BaselineArgs),
    /// Create the next `V<n>__NAME.sql` migration file.
    New(NewArgs),
    /// Run migrations on a scratch PostgreSQL and check the lint claims against it.
    Trace(TraceArgs),
    /// List every rule.
    Rules,
    /// Print a rule's documentation page.
    Explain {
        /// The rule id, e.g. set-not-null.
        id: String,
    },
}

/// How `apply` and `status` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per step.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the database is and how to read the migrations (shared by `apply` and `status`).
#[derive(Debug, clap::Args)]
pub struct DatabaseArgs {
    /// The migration directory (default: the config's first path, else `migrations`).
    pub dir: Option<PathBuf>,
    /// postgres://user:password@host:port/dbname (never printed with its password).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Config file (default: migrate.yaml in this directory or a parent).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The schema holding the history tables.
    #[arg(long, default_value = apply::history::DEFAULT_SCHEMA)]
    pub history_schema: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Plan for this PostgreSQL major version instead of the server's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(10..=18))]
    pub pg_version: Option<u32>,
}

/// `migrate apply` arguments, as typed.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Print the pending plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply migrations up to and including this version (e.g. 7 or 1.2).
    #[arg(long, value_parser = parse_version)]
    pub target: Option<MigrationVersion>,
    /// First mark the migrations this tool applied as applied, after checking their checksums.
    #[arg(long, value_name = "TOOL", value_parser = parse_adopt())]
    pub adopt: Option<apply::Adopt>,
    /// The ceiling of a try's lock_timeout: tries start at 50ms and double after every 3 timeouts (never 0).
    #[arg(long, default_value = "500ms", value_parser = parse_positive_duration)]
    pub lock_timeout: Duration,
    /// Tries per step on lock timeouts and deadlocks.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// The longest a step waits for its lock in all (old blockers, tries, backoff) before apply stops.
    #[arg(long, default_value = "3m", value_parser = parse_max_wait)]
    pub max_wait: Duration,
    /// Cancel (pg_cancel_backend) running queries that block a step and whose transaction is older than this.
    #[arg(long, value_parser = parse_cancel_after)]
    pub cancel_blockers_after: Option<Duration>,
    /// statement_timeout of short steps (scans, builds and validations get none).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub statement_timeout: Duration,
    /// The longest first backoff between tries; it doubles per try up to 5s.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub retry_base: Duration,
    /// How long to wait for another `migrate apply` to finish.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub lock_wait: Duration,
    /// The pause between backfill batches.
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    pub batch_pause: Duration,
    /// Rows in the first backfill batch; later batches adapt toward --batch-target.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// The duration backfill batches are sized toward (0: keep --batch-size fixed).
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    pub batch_target: Duration,
    /// Backfills wait while a replica's replay_lag is over this (0: never).
    #[arg(long, default_value = "1500ms", value_parser = parse_duration)]
    pub max_replica_lag: Duration,
    /// Backfills wait while a replica has more WAL than this to replay (0: never).
    #[arg(long, default_value = "100MB", value_parser = apply::throttle::parse_bytes)]
    pub max_replica_lag_bytes: u64,
}

/// `migrate status` arguments, as typed.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// `migrate baseline` arguments, as typed. Both positionals are optional to
/// clap (`DIR` comes first and may be left out); with one, it is `VERSION`.
#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The last migration the database already holds, e.g. 7 or 1.2.
    #[arg(value_name = "VERSION")]
    pub upto: Option<String>,
}

/// `migrate new` arguments, as typed.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// What the migration does, e.g. add_users_email.
    pub name: String,
    /// The migration directory.
    #[arg(long, default_value = "migrations")]
    pub dir: PathBuf,
}

/// Parses `500ms`, `5s`, `2m`, `1h`, `1m30s` or `0` into a `Duration`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err("empty duration".to_string());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}`: expected a number, e.g. 500ms, 5s, 2m"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(format!("`{text}`: unknown unit `{unit}` (use ms, s, m or h)")),
        };
    }
    Ok(total)
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err("must be more than 0: a step never runs without a lock timeout".to_string()),
        d => Ok(d),
    }
}

fn parse_max_wait(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err("must be more than 0: a step would give up before its first try".to_string()),
        d => Ok(d),
    }
}

fn parse_cancel_after(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(
            "must be more than 0: it would cancel every conflicting query at once; leave the flag out to cancel none"
                .to_string(),
        ),
        d => Ok(d),
    }
}

fn parse_version(text: &str) -> Result<MigrationVersion, String> {
    text.trim()
        .trim_start_matches(['V', 'v'])
        .split(['.', '_'])
        .map(|p| {
            p.parse::<u64>()
                .map_err(|_| format!("`{text}` is not a version like 7 or 1.2"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(MigrationVersion)
}

/// `--adopt TOOL`: one of [`apply::Adopt::NAMES`], listed in `--help`.
fn parse_adopt() -> impl clap::builder::TypedValueParser<Value = apply::Adopt> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(apply::Adopt::NAMES)
        .map(|name| apply::Adopt::from_name(&name).expect("a name from Adopt::NAMES"))
}

/// When `lint` exits non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Never,
}

/// The history `lint` and `plan` read, and how, as typed.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Migration files or directories (a directory is an ordered history).
    pub paths: Vec<PathBuf>,
    /// Target PostgreSQL major version (10–18); default 15 or the config's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(10..=18))]
    pub pg_version: Option<u32>,
    /// Config file (default: migrate.yaml in this directory or a parent).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Each file without a transaction directive runs inside one transaction
    /// (default: as the runner its layout names runs it).
    #[arg(long)]
    pub assume_in_transaction: bool,
    /// Start from this database's schema: its catalog (read-only, with each
    /// table's size) and the migrations its history says are applied.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Start from the schema in this `pg_dump --schema-only` file (e.g.
    /// db/structure.sql); takes precedence over --database-url.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Report only files added or changed since this git revision (e.g.
    /// origin/main); the files added since are one deploy.
    #[arg(long, value_name = "REV")]
    pub changed_since: Option<String>,
}

/// `migrate lint` arguments, as typed.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Lowest severity that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// How `plan` prints the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Numbered steps and a diff against the original.
    Text,
    /// A psql script (`psql -v ON_ERROR_STOP=1 -f plan.sql`).
    Sql,
    /// The plan model (see docs/plan-format.md).
    Json,
}

/// `migrate plan` arguments, as typed.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Rows per backfill batch.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
}

/// Everything `lint` needs, resolved from arguments and config.
#[derive(Debug, Clone)]
pub struct LintRun {
    pub paths: Vec<PathBuf>,
    pub exclude: Vec<String>,
    pub settings: LintSettings,
    pub format: Format,
    pub fail_on: FailOn,
    /// The schema the history starts from.
    pub start: StartFrom,
    /// Whether `--pg-version` or the config named the version (otherwise a
    /// database's own version is used).
    pub explicit_version: bool,
    /// Report only what changed since this git revision.
    pub changed_since: Option<String>,
}

/// Where the schema the migrations run against comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFrom {
    /// Nothing: only what the migrations create is known.
    Empty,
    /// A `pg_dump --schema-only` file.
    Dump(PathBuf),
    /// A live database's catalog and history (the URL holds the password: never print it).
    Database(String),
}

/// Why a command could not do its job (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Source(#[from] source::Error),
    #[error(transparent)]
    Dump(#[from] crate::schema::dump::DumpError),
    #[error(transparent)]
    Git(#[from] source::GitError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error("no migration paths given")]
    NoPaths,
    #[error("unknown rule `{id}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownRule { id: String, suggestion: Option<String> },
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
    #[error("baseline: no VERSION given")]
    NoBaselineVersion,
    #[error("baseline: {0}")]
    BaselineVersion(String),
    #[error("{}: cannot create the migration: {source}", path.display())]
    NewFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// What to do next.
    pub fn help(&self) -> &'static str {
        match self {
            Error::Source(e) => e.help(),
            Error::Dump(e) => e.help(),
            Error::Git(e) => e.help(),
            Error::Db(e) => e.help(),
            Error::Config(e) => e.help(),
            Error::NoPaths => "pass a migration file or directory, or set `paths` in migrate.yaml",
            Error::UnknownRule { .. } => "`migrate rules` lists every rule id",
            Error::Output(_) => "check that standard output is writable",
            Error::Apply(e) => e.help(),
            Error::Trace(e) => e.help(),
            Error::NewFile { .. } => "check that the directory is writable",
            Error::NoBaselineVersion | Error::BaselineVersion(_) => {
                "run `migrate baseline [DIR] VERSION` with the version of the last migration the database holds"
            }
        }
    }

    /// More lines to print after the message (a diff), if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Apply(e) => e.detail(),
            _ => None,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Apply(e) => e.exit_code(),
            _ => 2,
        }
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run(args: Args) -> Result<u8, Error> {
    match args.command {
        Command::Lint(lint_args) => {
            let mut run = resolve(lint_args.history, lint_args.format, lint_args.fail_on)?;
            lint_command(&mut run)
        }
        Command::Plan(plan_args) => {
            let format = plan_args.format;
            let batch_size = plan_args.batch_size;
            let mut run = resolve(plan_args.history, Format::Text, FailOn::Error)?;
            plan_command(&mut run, format, batch_size)
        }
        Command::Rules => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<40} {:<12} {:<8} {:<9} summary",
                "rule", "category", "severity", "plannable"
            )?;
            for rule in rules::ALL {
                writeln!(
                    out,
                    "{:<40} {:<12} {:<8} {:<9} {}",
                    rule.id,
                    rule.category.as_str(),
                    rule.default_severity.as_str(),
                    if rule.rewritable { "yes" } else { "no" },
                    rule.summary
                )?;
            }
            Ok(0)
        }
        Command::Trace(trace_args) => trace_command(trace_args),
        Command::Explain { id } => match rules::by_id(&id) {
            Some(rule) => {
                write!(std::io::stdout().lock(), "{}", docs::page(rule))?;
                Ok(0)
            }
            None => Err(Error::UnknownRule {
                suggestion: config::closest_rule(&id),
                id,
            }),
        },
        Command::Apply(args) => apply_command(&args),
        Command::Status(args) => status_command(&args.db),
        Command::Baseline(args) => baseline_command(args),
        Command::New(args) => new_command(&args),
    }
}

/// Resolves the history arguments of a `lint` run against the config file.
pub fn resolve(args: HistoryArgs, format: Format, fail_on: FailOn) -> Result<LintRun, Error> {
    let config_path = match args.config {
        Some(path) => Some(path),
        None => std::env::current_dir().ok().and_then(|d| config::find(&d)),
    };
    let config = match &config_path {
        Some(path) => config::load(path)?,
        None => Config::default(),
    };
    let pg_version = args
        .pg_version
        .or(config.pg_version)
        .and_then(PgVersion::new)
        .unwrap_or_default();
    let mut settings = LintSettings {
        pg_version,
        assume_in_transaction: args
            .assume_in_transaction
            .then_some(true)
            .or(config.assume_in_transaction),
        ..LintSettings::default()
    };
    for (id, level) in &config.rules {
        if let Some(rule) = rules::by_id(id) {
            settings.severity.insert(rule.id, level.severity());
        }
    }
    settings.small_table = Some(config.small_table.unwrap_or_default());
    let paths = if args.paths.is_empty() {
        config.paths.clone()
    } else {
        args.paths
    };
    if paths.is_empty() {
        return Err(Error::NoPaths);
    }
    // A dump named in the config is relative to the config file.
    let config_dump =
        config
            .schema
            .as_ref()
            .map(|dump| match config_path.as_deref().and_then(Path::parent) {
                Some(dir) if dump.is_relative() => dir.join(dump),
                _ => dump.clone(),
            });
    let url = args.database_url.filter(|u| !u.trim().is_empty());
    let start = match (args.schema, url, config_dump, config.database_url) {
        (Some(dump), _, _, _) => StartFrom::Dump(dump),
        (None, Some(url), _, _) => StartFrom::Database(url),
        (None, None, Some(dump), _) => StartFrom::Dump(dump),
        (None, None, None, Some(url)) => StartFrom::Database(url),
        (None, None, None, None) => StartFrom::Empty,
    };
    Ok(LintRun {
        paths,
        exclude: config.exclude,
        settings,
        format,
        fail_on,
        start,
        explicit_version: args.pg_version.is_some() || config.pg_version.is_some(),
        changed_since: args.changed_since,
    })
}

/// The schema a history starts from, with what the database says.
struct Start {
    schema: Schema,
    /// Ids of the migrations the database's history says are applied.
    applied: HashSet<String>,
    /// Whether the files not applied are deployed together (a database:
    /// every pending migration is one release).
    one_deploy: bool,
    /// The database's schema as DDL, which `apply` records (see
    /// [`apply::context`]).
    ddl: Option<String>,
}

/// Reads the schema `run` starts from: a dump, or a database's catalog and
/// history through `client` (which `run.start` names). Sets the target
/// version to the database's unless one was given.
fn start(
    run: &mut LintRun,
    client: Option<&mut postgres::Client>,
    history_schema: &str,
) -> Result<Start, Error> {
    match (&run.start, client) {
        (StartFrom::Dump(path), _) => {
            let (schema, summary) = crate::schema::dump::read(path)?;
            if summary.unknown > 0 {
                eprintln!(
                    "note: {}: {} statement(s) of the dump were not understood and were skipped (the first at line {})",
                    path.display(),
                    summary.unknown,
                    summary.first_unknown_line.unwrap_or(0)
                );
            }
            Ok(Start {
                schema,
                applied: HashSet::new(),
                one_deploy: false,
                ddl: None,
            })
        }
        (StartFrom::Database(_), Some(client)) => {
            let context = apply::context::read(client, history_schema)?;
            if !run.explicit_version {
                run.settings.pg_version = context.catalog.version;
            }
            let (schema, applied, ddl) = context.start();
            Ok(Start {
                schema,
                applied,
                one_deploy: true,
                ddl: Some(ddl),
            })
        }
        _ => Ok(Start {
            schema: Schema::default(),
            applied: HashSet::new(),
            one_deploy: false,
            ddl: None,
        }),
    }
}

/// A connection to the database `run` starts from, if it names one.
fn connect_for(run: &LintRun) -> Result<Option<postgres::Client>, Error> {
    match &run.start {
        StartFrom::Database(url) => Ok(Some(db::connect(url)?)),
        _ => Ok(None),
    }
}

fn lint_command(run: &mut LintRun) -> Result<u8, Error> {
    let discovery = source::discover(&run.paths, &run.exclude)?;
    let warnings = discovery.warnings;
    let mut err = std::io::stderr().lock();
    for warning in warnings {
        if let DiscoveryWarning::DuplicateVersion {
            version,
            first,
            second,
        } = warning
        {
            writeln!(
                err,
                "warning: {} and {} share version {version}; they are linted in path order",
                first.display(),
                second.display()
            )?;
        }
    }
    let mut client = connect_for(run)?;
    let start = start(run, client.as_mut(), apply::history::DEFAULT_SCHEMA)?;
    drop(client);
    let mut files = discovery.files;
    files.retain(|f| !start.applied.contains(&apply::migration_id(f)));
    let changed = run
        .changed_since
        .as_deref()
        .map(|revision| source::changed_since(revision, &run.paths))
        .transpose()?;
    let mut driver = Driver::new(&run.settings, start.schema);
    if start.one_deploy {
        driver = driver.deploy_from(0);
    } else if let Some(first) = changed
        .as_ref()
        .and_then(|c| files.iter().position(|f| c.added(&f.path)))
    {
        driver = driver.deploy_from(first);
    }
    let stdout = std::io::stdout();
    let style = TextStyle::coloured(report::use_colour(stdout.is_terminal()));
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    // Written file by file as the files are linted; see `report::Stream`.
    let mut stream = report::Stream::new(run.format, style, &mut out);
    let mut worst = None;
    // What is reported: every file, or those changed since the revision.
    let mut reported = Summary::default();
    let all = lint_files(files, &mut driver, |file| {
        if changed
            .as_ref()
            .is_some_and(|c| !c.touches(&file.source.file.path))
        {
            return Ok(());
        }
        reported.add(&file);
        worst = worst.max(file.findings.iter().map(|f| f.severity).max());
        Ok::<(), Error>(stream.file(file)?)
    })?;
    let summary = if changed.is_some() { reported } else { all };
    stream.finish(&summary)?;
    out.flush()?;
    let threshold = match run.fail_on {
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Never => None,
    };
    let failed = matches!((threshold, worst), (Some(t), Some(w)) if w >= t);
    Ok(u8::from(failed))
}

fn plan_command(run: &mut LintRun, format: PlanFormat, batch_size: u32) -> Result<u8, Error> {
    let mut client = connect_for(run)?;
    let (mut plan, _) = plan_history(run, client.as_mut(), batch_size, apply::history::DEFAULT_SCHEMA)?;
    // What the database has applied is context, not part of the plan.
    plan.migrations.retain(|m| !m.applied);
    let stdout = std::io::stdout();
    let colour = report::use_colour(stdout.is_terminal());
    let text = match format {
        PlanFormat::Text => plan::render::text(&plan, colour),
        PlanFormat::Sql => plan::render::sql(&plan),
        PlanFormat::Json => plan::render::json(&plan),
    };
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(u8::from(plan.has_refusals()))
}

/// Plans the migrations of `run` from the schema it starts from. With a
/// database, the migrations its history says are applied are context only
/// (kept in the plan, unplanned, for drift checks), and every pending one
/// is part of one deploy.
fn plan_history(
    run: &mut LintRun,
    client: Option<&mut postgres::Client>,
    batch_size: u32,
    history_schema: &str,
) -> Result<(plan::Plan, Option<String>), Error> {
    let discovery = source::discover(&run.paths, &run.exclude)?;
    let start = start(run, client, history_schema)?;
    let sources = discovery
        .files
        .into_iter()
        .map(source::read)
        .collect::<Result<Vec<_>, _>>()?;
    let settings = plan::PlanSettings {
        // A plan takes the safe path on small tables too.
        lint: LintSettings {
            small_table: None,
            ..run.settings.clone()
        },
        batch_size,
    };
    let mut driver = Driver::new(&settings.lint, start.schema);
    if start.one_deploy {
        driver = driver.deploy_from(0);
    }
    let applied = |s: &Source| start.applied.contains(&apply::migration_id(&s.file));
    let plan = plan::plan_from(sources, applied, driver, &settings);
    Ok((plan, start.ddl))
}

/// The migrations, settings and URL `apply` and `status` work from.
struct DatabaseRun {
    lint: LintRun,
    url: Option<String>,
}

fn resolve_database(args: &DatabaseArgs) -> Result<DatabaseRun, Error> {
    let config_path = match &args.config {
        Some(path) => Some(path.clone()),
        None => std::env::current_dir().ok().and_then(|d| config::find(&d)),
    };
    let config = match &config_path {
        Some(path) => config::load(path)?,
        None => Config::default(),
    };
    let dir = args
        .dir
        .clone()
        .or_else(|| config.paths.first().cloned())
        .unwrap_or_else(|| PathBuf::from("migrations"));
    let url = args
        .database_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or(config.database_url.clone());
    let history = HistoryArgs {
        paths: vec![dir],
        pg_version: args.pg_version,
        config: config_path,
        assume_in_transaction: false,
        database_url: url.clone(),
        schema: None,
        changed_since: None,
    };
    let lint = resolve(history, Format::Text, FailOn::Error)?;
    Ok(DatabaseRun { lint, url })
}

/// Plans the migrations of `run` against the database `client` is
/// connected to (its catalog, history and version), or from nothing; with
/// the schema planned from, as DDL, when it came from the database.
fn plan_for(
    run: &mut DatabaseRun,
    client: Option<&mut postgres::Client>,
    batch_size: u32,
    history_schema: &str,
) -> Result<(plan::Plan, Option<String>), Error> {
    if client.is_none() {
        run.lint.start = StartFrom::Empty;
    }
    plan_history(&mut run.lint, client, batch_size, history_schema)
}

fn apply_settings(args: &ApplyArgs) -> ApplySettings {
    ApplySettings {
        lock_timeout: args.lock_timeout,
        statement_timeout: args.statement_timeout,
        max_attempts: args.max_attempts,
        max_wait: args.max_wait,
        cancel_blockers_after: args.cancel_blockers_after,
        retry_base: args.retry_base,
        lock_wait: args.lock_wait,
        batch_pause: args.batch_pause,
        batch_target: args.batch_target,
        max_replica_lag: args.max_replica_lag,
        max_replica_lag_bytes: args.max_replica_lag_bytes,
        history_schema: args.db.history_schema.clone(),
        target: args.target.clone(),
        adopt: args.adopt,
        ..ApplySettings::default()
    }
}

fn apply_command(args: &ApplyArgs) -> Result<u8, Error> {
    let mut run = resolve_database(&args.db)?;
    let settings = apply_settings(args);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let Some(url) = run.url.clone() else {
        if args.dry_run {
            // Without a database every migration counts as pending.
            let (plan, _) = plan_for(&mut run, None, args.batch_size, &settings.history_schema)?;
            out.write_all(plan::render::text(&plan, false).as_bytes())?;
            return Ok(0);
        }
        return Err(apply::ApplyError::NoUrl.into());
    };
    let mut client = db::connect(&url)?;
    // Before the catalog read, whose queries a transaction-pooling proxy
    // would scatter over server sessions.
    apply::lock::check_session(&mut client)?;
    let mut settings = ApplySettings {
        monitor_url: Some(apply::monitor::MonitorUrl(url.clone())),
        ..settings
    };
    let (plan, start_schema) = plan_for(
        &mut run,
        Some(&mut client),
        args.batch_size,
        &settings.history_schema,
    )?;
    settings.start_schema = start_schema;
    if args.dry_run {
        let pending = apply::pending(&plan, &mut client, &settings)?;
        writeln!(out, "{} pending migration(s):", pending.len())?;
        for m in &pending {
            writeln!(
                out,
                "  {} {} ({} steps)",
                apply::migration_id(&m.file),
                m.file.path.display(),
                m.steps.len()
            )?;
        }
        let pending = plan::Plan {
            pg_version: plan.pg_version,
            migrations: pending.into_iter().cloned().collect(),
        };
        out.write_all(plan::render::text(&pending, false).as_bytes())?;
        return Ok(0);
    }
    let json = args.db.format == OutputFormat::Json;
    let mut write_error = None;
    let mut progress = crate::progress::Progress::new(json);
    let result = apply::apply(&plan, &mut client, &settings, &mut |event| {
        let written = if json {
            serde_json::to_string(event)
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}"))
        } else {
            progress.show(event, &mut out, write_event_text)
        };
        if let Err(e) = written.and_then(|()| out.flush()) {
            write_error.get_or_insert(e);
        }
    });
    if let Some(e) = write_error {
        return Err(e.into());
    }
    match result {
        Ok(summary) => {
            if !json && summary.applied > 0 {
                writeln!(
                    out,
                    "applied {} migration(s): {} steps run, {} skipped",
                    summary.applied, summary.steps_run, summary.steps_skipped
                )?;
            }
            Ok(0)
        }
        Err(e) => {
            if json {
                let line = serde_json::json!({
                    "event": "error",
                    "message": e.to_string(),
                    "exit_code": e.exit_code(),
                });
                writeln!(out, "{line}")?;
            }
            Err(e.into())
        }
    }
}

fn write_event_text(out: &mut impl Write, event: &Event) -> std::io::Result<()> {
    match event {
        Event::WaitingForRunLock => writeln!(out, "waiting for another `migrate apply` to finish"),
        Event::MigrationStarted {
            version,
            name,
            steps,
            resume_at,
            resuming,
        } => {
            if *resuming {
                writeln!(
                    out,
                    "== {version} {name}: {steps} steps, resuming at step {resume_at}"
                )
            } else {
                writeln!(out, "== {version} {name}: {steps} steps")
            }
        }
        Event::ResumingChanged { kept_steps, .. } => writeln!(
            out,
            "   the file changed since the failed run; {kept_steps} unchanged done step(s) kept"
        ),
        Event::StepRetry {
            step,
            attempt,
            error,
            sleep,
            blocked_by,
            ..
        } => {
            let by = if blocked_by.is_empty() {
                String::new()
            } else {
                format!(" (blocked by {})", apply::blockers_line(blocked_by))
            };
            writeln!(
                out,
                "   step {step}: try {attempt} failed: {error}{by}; retrying in {}ms",
                sleep.as_millis()
            )
        }
        Event::BatchDone { .. } | Event::BackfillStarted { .. } => Ok(()),
        Event::BackfillProgress { .. }
        | Event::Throttled { .. }
        | Event::WaitingForLock { .. }
        | Event::BlockerCancelled { .. }
        | Event::IndexProgress { .. }
        | Event::ScanProgress { .. } => crate::progress::write_line(out, event),
        Event::StepDone {
            step,
            of,
            kind,
            table,
            outcome,
            attempts,
            duration,
            rows,
            ..
        } => {
            let what = match outcome {
                StepOutcome::Ran => "done",
                StepOutcome::SkippedGuard => "skipped (already done)",
                StepOutcome::SkippedCondition => "skipped (condition false)",
            };
            let rows = rows.map(|r| format!(", {r} rows")).unwrap_or_default();
            let tries = if *attempts == 1 {
                "1 try".to_string()
            } else {
                format!("{attempts} tries")
            };
            writeln!(
                out,
                "   {step}/{of} {kind:<10} {:<24} {what} in {}ms, {tries}{rows}",
                table.as_deref().unwrap_or("-"),
                duration.as_millis()
            )
        }
        Event::MigrationApplied { duration, .. } => writeln!(out, "   applied in {}ms", duration.as_millis()),
        Event::MigrationFailed { step, .. } => writeln!(out, "   failed at step {step}; rerun to resume"),
        Event::MigrationAdopted {
            version,
            name,
            from,
            checksum_verified,
        } => {
            let how = if *checksum_verified {
                "checksum verified, not run"
            } else {
                "not run; the tool keeps no checksum"
            };
            writeln!(out, "== {version} {name}: adopted from {from} ({how})")
        }
        Event::NothingPending => writeln!(out, "nothing to apply: every migration is applied"),
    }
}

fn status_command(args: &DatabaseArgs) -> Result<u8, Error> {
    let mut run = resolve_database(args)?;
    let url = run.url.clone().ok_or(apply::ApplyError::NoUrl)?;
    let mut client = db::connect(&url)?;
    let (plan, _) = plan_for(&mut run, Some(&mut client), 1000, &args.history_schema)?;
    let settings = ApplySettings {
        history_schema: args.history_schema.clone(),
        ..ApplySettings::default()
    };
    let statuses = apply::status(&plan, &mut client, &settings)?;
    let mut out = std::io::stdout().lock();
    for s in &statuses {
        if args.format == OutputFormat::Json {
            writeln!(
                out,
                "{}",
                serde_json::to_string(s).map_err(std::io::Error::other)?
            )?;
            continue;
        }
        let state = match &s.state {
            MigrationState::Applied => "applied".to_string(),
            MigrationState::Baseline => "applied (baseline, not run here)".to_string(),
            MigrationState::Pending => "pending".to_string(),
            MigrationState::InProgress { step, of, failed, .. } => format!(
                "{} at step {step} of {of}",
                if *failed { "failed" } else { "in progress" }
            ),
            MigrationState::Changed => "changed since applied".to_string(),
            MigrationState::Missing => "applied, missing from disk".to_string(),
        };
        writeln!(out, "{:<8} {:<40} {state}", s.version, s.name)?;
        if s.state == MigrationState::Pending {
            if let Some(m) = plan
                .migrations
                .iter()
                .find(|m| apply::migration_id(&m.file) == s.version)
            {
                let tables = touched_tables(m);
                if !tables.is_empty() {
                    writeln!(out, "{:<8} touches {}", "", tables.join(", "))?;
                }
            }
        }
    }
    Ok(0)
}

/// The tables a migration's steps lock, each once, with its size when the
/// plan was made against the catalog: `orders (~30k rows, 2.6 MB)`.
fn touched_tables(m: &plan::MigrationPlan) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for step in &m.steps {
        let Some(table) = step.table.as_ref().or(step.backfill.as_ref().map(|b| &b.table)) else {
            continue;
        };
        let name = table.to_string();
        if seen.contains(&name) {
            continue;
        }
        out.push(match step.size {
            Some(size) => format!("{name} ({size})"),
            None => format!("{name} (new)"),
        });
        seen.push(name);
    }
    out
}

fn baseline_command(mut args: BaselineArgs) -> Result<u8, Error> {
    let version = match (args.db.dir.take(), args.upto.take()) {
        (Some(dir), Some(version)) => {
            args.db.dir = Some(dir);
            version
        }
        (Some(version), None) => version.to_string_lossy().into_owned(),
        (None, _) => return Err(Error::NoBaselineVersion),
    };
    let version = parse_version(&version).map_err(Error::BaselineVersion)?;
    let mut run = resolve_database(&args.db)?;
    let url = run.url.clone().ok_or(apply::ApplyError::NoUrl)?;
    let mut client = db::connect(&url)?;
    // Marking needs the files, not a plan against the catalog.
    let (plan, _) = plan_for(&mut run, None, 1000, &args.db.history_schema)?;
    let settings = ApplySettings {
        history_schema: args.db.history_schema.clone(),
        ..ApplySettings::default()
    };
    let marked = apply::baseline::baseline(&plan, &mut client, &settings, &version)?;
    let mut out = std::io::stdout().lock();
    for m in &marked {
        let id = apply::migration_id(&m.file);
        if args.db.format == OutputFormat::Json {
            let line = serde_json::json!({"event": "baseline", "version": id, "name": m.file.name});
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "== {id} {}: baseline (marked applied, not run)", m.file.name)?;
        }
    }
    if args.db.format == OutputFormat::Text {
        writeln!(
            out,
            "baselined {} migration(s) up to {version}; `migrate apply` runs the ones after it",
            marked.len()
        )?;
    }
    Ok(0)
}

fn new_command(args: &NewArgs) -> Result<u8, Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::NewFile { path, source }
    };
    std::fs::create_dir_all(&args.dir).map_err(io(&args.dir))?;
    let mut last = 0u64;
    for entry in std::fs::read_dir(&args.dir).map_err(io(&args.dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let number = name
            .strip_prefix('V')
            .and_then(|rest| rest.split_once("__"))
            .and_then(|(v, _)| v.split(['.', '_']).next()?.parse::<u64>().ok());
        if let Some(n) = number {
            last = last.max(n);
        }
    }
    let name: String = args
        .name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let path = args.dir.join(format!("V{}__{name}.sql", last + 1));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io(&path))?;
    writeln!(file, "-- {}\n", args.name.trim()).map_err(io(&path))?;
    writeln!(std::io::stdout().lock(), "{}", path.display())?;
    Ok(0)
}

// ---- `migrate trace` ------------------------------------------------------

/// How `trace` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    Text,
    Json,
}

/// `migrate trace` arguments, as typed.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("database").required(true).args(["database_url", "temp"])))]
pub struct TraceArgs {
    /// Migration files or directories (a directory is an ordered history).
    pub paths: Vec<PathBuf>,
    /// A database the migrations may be run on (it is changed!).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Start a throwaway PostgreSQL cluster from the local binaries, remove it after.
    #[arg(long)]
    pub temp: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TraceFormat::Text)]
    pub format: TraceFormat,
    /// Lint for this PostgreSQL major version (10–18); default: the server's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(10..=18))]
    pub pg_version: Option<u32>,
    /// Config file (default: migrate.yaml in this directory or a parent).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Exit 1 when PostgreSQL contradicts a lint claim.
    #[arg(long)]
    pub fail_on_discrepancy: bool,
    /// Allow a database that holds migration history (the safe_migrate schema).
    #[arg(long)]
    pub i_know_this_is_not_production: bool,
}

fn trace_command(args: TraceArgs) -> Result<u8, Error> {
    use crate::trace::{self, Database, HistoryGuard, TraceSettings};
    let history = HistoryArgs {
        paths: args.paths,
        pg_version: args.pg_version,
        config: args.config,
        assume_in_transaction: false,
        database_url: None,
        schema: None,
        changed_since: None,
    };
    let run = resolve(history, Format::Text, FailOn::Never)?;
    let discovery = source::discover(&run.paths, &run.exclude)?;
    let sources = discovery
        .files
        .into_iter()
        .map(source::read)
        .collect::<Result<Vec<_>, _>>()?;
    let settings = TraceSettings {
        database: match args.database_url {
            Some(url) if !args.temp => Database::Url(url),
            _ => Database::Temp,
        },
        lint: run.settings,
        pg_version: args.pg_version.and_then(PgVersion::new),
        guard: if args.i_know_this_is_not_production {
            HistoryGuard::Allow
        } else {
            HistoryGuard::Refuse
        },
        rows: 100,
    };
    let traced = trace::trace(sources, &settings)?;
    let text = match args.format {
        TraceFormat::Text => trace::render::text(&traced),
        TraceFormat::Json => trace::render::json(&traced),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(u8::from(
        args.fail_on_discrepancy && traced.summary().discrepancies > 0,
    ))
}
