//! The command line: clap types for the raw arguments, their resolution
//! (with `migrate.yaml`) into settings, and the commands themselves.
//!
//! `main.rs` calls [`run`] and maps its result to an exit code; nothing else
//! exits the process.

use crate::config::{self, Config};
use crate::lint::{docs, rules, FileLint, LintOutcome, LintSettings, Linter, Severity, Summary};
use crate::parse::{parse_source_indexed, Stmt};
use crate::pg::PgVersion;
use crate::plan;
use crate::report::{self, Format, TextStyle};
use crate::source::{self, DiscoveryWarning, MigrationFile, Source};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

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
    /// List every rule.
    Rules,
    /// Print a rule's documentation page.
    Explain {
        /// The rule id, e.g. set-not-null.
        id: String,
    },
    /// Run migrations on a scratch PostgreSQL and check the lint claims against it.
    Trace(TraceArgs),
}

/// When `lint` exits non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Never,
}

/// `migrate lint` arguments, as typed.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Migration files or directories (a directory is an ordered history).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Target PostgreSQL major version (10–18); default 15 or the config's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(10..=18))]
    pub pg_version: Option<u32>,
    /// Config file (default: migrate.yaml in this directory or a parent).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Lowest severity that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Each file runs inside one transaction (for runners that wrap files).
    #[arg(long)]
    pub assume_in_transaction: bool,
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
    /// Migration files or directories (a directory is an ordered history).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Target PostgreSQL major version (10–18); default 15 or the config's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(10..=18))]
    pub pg_version: Option<u32>,
    /// Config file (default: migrate.yaml in this directory or a parent).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Each file runs inside one transaction (for runners that wrap files).
    #[arg(long)]
    pub assume_in_transaction: bool,
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
}

/// Why a command could not do its job (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Source(#[from] source::Error),
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error("no migration paths given")]
    NoPaths,
    #[error("unknown rule `{id}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownRule { id: String, suggestion: Option<String> },
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
}

impl Error {
    /// What to do next.
    pub fn help(&self) -> &'static str {
        match self {
            Error::Source(e) => e.help(),
            Error::Config(e) => e.help(),
            Error::NoPaths => "pass a migration file or directory, or set `paths` in migrate.yaml",
            Error::UnknownRule { .. } => "`migrate rules` lists every rule id",
            Error::Output(_) => "check that standard output is writable",
            Error::Trace(e) => e.help(),
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run(args: Args) -> Result<u8, Error> {
    match args.command {
        Command::Lint(lint_args) => {
            let run = resolve(lint_args)?;
            lint_command(&run)
        }
        Command::Plan(plan_args) => {
            let format = plan_args.format;
            let batch_size = plan_args.batch_size;
            let run = resolve(LintArgs {
                paths: plan_args.paths,
                format: Format::Text,
                pg_version: plan_args.pg_version,
                config: plan_args.config,
                fail_on: FailOn::Error,
                assume_in_transaction: plan_args.assume_in_transaction,
            })?;
            plan_command(&run, format, batch_size)
        }
        Command::Rules => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<40} {:<12} {:<8} {:<8} summary",
                "rule", "category", "severity", "rewrite"
            )?;
            for rule in rules::ALL {
                writeln!(
                    out,
                    "{:<40} {:<12} {:<8} {:<8} {}",
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
    }
}

/// Resolves `lint` arguments against the config file.
pub fn resolve(args: LintArgs) -> Result<LintRun, Error> {
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
        assume_in_transaction: args.assume_in_transaction || config.assume_in_transaction.unwrap_or(false),
        ..LintSettings::default()
    };
    for (id, level) in &config.rules {
        if let Some(rule) = rules::by_id(id) {
            settings.severity.insert(rule.id, level.severity());
        }
    }
    let paths = if args.paths.is_empty() {
        config.paths.clone()
    } else {
        args.paths
    };
    if paths.is_empty() {
        return Err(Error::NoPaths);
    }
    Ok(LintRun {
        paths,
        exclude: config.exclude,
        settings,
        format: args.format,
        fail_on: args.fail_on,
    })
}

/// Discovers, reads and lints the migrations of `run`.
pub fn lint_paths(run: &LintRun) -> Result<(LintOutcome, Vec<DiscoveryWarning>), Error> {
    let discovery = source::discover(&run.paths, &run.exclude)?;
    let mut files = Vec::with_capacity(discovery.files.len());
    let summary = lint_files(discovery.files, &run.settings, |file| {
        files.push(file);
        Ok(())
    })?;
    Ok((LintOutcome { files, summary }, discovery.warnings))
}

/// Reads, splits and parses `files` on worker threads (one per core) and
/// lints them on this thread in history order (the schema model is
/// sequential), handing each linted file to `sink` as soon as it is done.
/// At most a few files per worker are in flight, so memory does not grow
/// with the number of files. The result is [`crate::lint::lint`]'s over
/// [`source::read`] of every file; a read error is the first in history order.
pub fn lint_files(
    files: Vec<MigrationFile>,
    settings: &LintSettings,
    mut sink: impl FnMut(FileLint) -> Result<(), Error>,
) -> Result<Summary, Error> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let mut linter = Linter::new(settings);
    if workers <= 1 {
        for file in files {
            let source = source::read(file)?;
            let stmts = parse_source_indexed(&source);
            sink(linter.file(source, &stmts))?;
        }
        return Ok(linter.summary());
    }
    type Parsed = Result<(Source, Vec<(usize, Stmt)>), source::Error>;
    let next = AtomicUsize::new(0);
    let files = &files;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<(usize, Parsed)>(workers * 4);
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let parsed = source::read(file.clone()).map(|source| {
                    let stmts = parse_source_indexed(&source);
                    (source, stmts)
                });
                // The receiver is gone after an error: stop.
                if tx.send((i, parsed)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Files that arrived before an earlier one, by index.
        let mut early: BTreeMap<usize, Parsed> = BTreeMap::new();
        let mut wanted = 0;
        for (i, parsed) in rx.iter() {
            early.insert(i, parsed);
            while let Some(parsed) = early.remove(&wanted) {
                let (source, stmts) = parsed?;
                sink(linter.file(source, &stmts))?;
                wanted += 1;
            }
        }
        Ok(linter.summary())
    })
}

fn lint_command(run: &LintRun) -> Result<u8, Error> {
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
    let stdout = std::io::stdout();
    let style = TextStyle::coloured(report::use_colour(stdout.is_terminal()));
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    // Written file by file as the files are linted; see `report::Stream`.
    let mut stream = report::Stream::new(run.format, style, &mut out);
    let mut worst = None;
    let summary = lint_files(discovery.files, &run.settings, |file| {
        worst = worst.max(file.findings.iter().map(|f| f.severity).max());
        Ok(stream.file(file)?)
    })?;
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

fn plan_command(run: &LintRun, format: PlanFormat, batch_size: u32) -> Result<u8, Error> {
    let discovery = source::discover(&run.paths, &run.exclude)?;
    let sources = discovery
        .files
        .into_iter()
        .map(source::read)
        .collect::<Result<Vec<_>, _>>()?;
    let settings = plan::PlanSettings {
        lint: run.settings.clone(),
        batch_size,
    };
    let plan = plan::plan(sources, &settings);
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
    let run = resolve(LintArgs {
        paths: args.paths,
        format: Format::Text,
        pg_version: args.pg_version,
        config: args.config,
        fail_on: FailOn::Never,
        assume_in_transaction: false,
    })?;
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
