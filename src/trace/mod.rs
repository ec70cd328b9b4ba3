//! `migrate trace`: run the migrations on a real PostgreSQL and check the
//! linter's lock and rewrite claims against what the server did.
//!
//! This is an edge module, like `apply`: it talks to PostgreSQL. It takes
//! the same [`Source`]s the linter does, lints them, then runs them in
//! history order on a database it may write to (a throwaway cluster with
//! `--temp`, see [`cluster`]). Before each file it fills every empty table
//! with generated rows ([`observe`]), so scans and rewrites are observable.
//! Each statement runs in a transaction of its own and is measured (locks,
//! rewrites, duration, the server's DEBUG1 notes), then committed so later
//! statements see its effect. [`compare`] turns the differences between the
//! findings and the observations into [`Discrepancy`]s; [`render`] prints.
//!
//! Statements inside an explicit `BEGIN … COMMIT` of the file are traced one
//! by one, each in its own transaction (so each one's locks are its own); the
//! `BEGIN`/`COMMIT` themselves are skipped. What the block as a whole holds
//! is the union of its statements' locks, which findings about the block
//! (`slow-statement-after-exclusive-lock`, …) are compared with.
//!
//! It must never run against a database holding our migration history
//! (the `safe_migrate` schema) unless told that it is not production.

pub mod cluster;
pub mod compare;
pub mod observe;
pub mod render;

use crate::lint::{Driver, Finding, LintSettings, Visit};
use crate::parse::{parse_source_indexed, StmtKind};
use crate::pg::{LockMode, PgVersion};
use crate::source::{Source, Span};
use cluster::{ClusterError, TempCluster};
use compare::{Discrepancy, Facts, Key, SeenLock, SeenRewrite};
use observe::{error_text, Execution, Fill, Relations, Session};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where to run the migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A `postgres://` URL (or key=value string) of a database we may write to.
    Url(String),
    /// A throwaway cluster started for this trace and removed after it.
    Temp,
}

/// Whether a database with migration history may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryGuard {
    /// Refuse a database with the `safe_migrate` schema.
    Refuse,
    /// `--i-know-this-is-not-production`.
    Allow,
}

/// Resolved settings for a trace.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    pub database: Database,
    /// Lint settings; `pg_version` is replaced by [`TraceSettings::pg_version`]
    /// or, when that is `None`, by the server's major version.
    pub lint: LintSettings,
    pub pg_version: Option<PgVersion>,
    pub guard: HistoryGuard,
    /// Rows put into each empty table before each file.
    pub rows: u32,
}

/// Why a trace could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// `message` says what could not be reached, and why.
    #[error("{message}")]
    Connect { message: String },
    #[error("database {database} holds migration history (schema safe_migrate)")]
    HasHistory { database: String },
    #[error("{path}: measuring statement at byte {offset} failed: {message}")]
    Measure {
        path: PathBuf,
        offset: usize,
        message: String,
    },
    #[error("{what}: {message}")]
    Setup { what: &'static str, message: String },
}

impl TraceError {
    /// What to do next.
    pub fn help(&self) -> &'static str {
        match self {
            TraceError::Cluster(_) => "install the PostgreSQL server package, or pass --database-url",
            TraceError::Connect { .. } => "check --database-url; the role must be able to create tables",
            TraceError::HasHistory { .. } => {
                "trace on a copy or with --temp; pass --i-know-this-is-not-production if this database is disposable"
            }
            TraceError::Measure { .. } | TraceError::Setup { .. } => {
                "the connection may have been lost; rerun, or trace with --temp"
            }
        }
    }
}

/// A lock observed on one relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedLock {
    /// The relation (table, index, sequence…) as SQL writes it.
    pub relation: String,
    #[serde(serialize_with = "lock_name")]
    pub mode: LockMode,
}

fn lock_name<S: serde::Serializer>(mode: &LockMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.sql_name())
}

/// A finding of the linter on a traced statement (the part that is compared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    pub rule: &'static str,
    #[serde(serialize_with = "opt_lock_name")]
    pub lock: Option<LockMode>,
    pub table: Option<String>,
}

fn opt_lock_name<S: serde::Serializer>(mode: &Option<LockMode>, s: S) -> Result<S::Ok, S::Error> {
    match mode {
        Some(mode) => s.serialize_str(mode.sql_name()),
        None => s.serialize_none(),
    }
}

/// Why a statement was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    /// `BEGIN`, `COMMIT`, `ROLLBACK`: every statement gets its own transaction.
    TransactionControl,
    /// A psql meta-command.
    PsqlMeta,
}

/// One statement's trace.
#[derive(Debug, Clone)]
pub struct StatementTrace {
    /// Where it stands in its file.
    pub span: Span,
    /// How it ran, or why it did not.
    pub execution: Result<Execution, Skip>,
    /// The strongest mode on each relation, strongest first.
    pub locks: Vec<ObservedLock>,
    /// Relations that got a new filenode.
    pub rewrites: Vec<String>,
    pub duration: Duration,
    /// The server's error; the statement was rolled back.
    pub error: Option<String>,
    /// The server's DEBUG1 notes (`rewriting table …`).
    pub notes: Vec<String>,
    /// The linter's findings on this statement.
    pub claims: Vec<Claim>,
    pub discrepancies: Vec<Discrepancy>,
}

/// One file's trace.
#[derive(Debug, Clone)]
pub struct FileTrace {
    pub source: Source,
    /// The tables filled (or not) before the file ran.
    pub fills: Vec<Fill>,
    pub statements: Vec<StatementTrace>,
}

/// A whole trace.
#[derive(Debug, Clone)]
pub struct Trace {
    /// `server_version`, e.g. `15.18 (Debian 15.18-1)`.
    pub server_version: String,
    /// The version the linter was run for.
    pub pg_version: PgVersion,
    pub files: Vec<FileTrace>,
}

/// Totals over a trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TraceSummary {
    pub files: usize,
    pub statements: usize,
    pub skipped: usize,
    pub failed: usize,
    pub discrepancies: usize,
}

impl Trace {
    /// Counts statements, failures and discrepancies.
    pub fn summary(&self) -> TraceSummary {
        let statements = self.files.iter().flat_map(|f| &f.statements);
        TraceSummary {
            files: self.files.len(),
            statements: statements.clone().filter(|s| s.execution.is_ok()).count(),
            skipped: statements.clone().filter(|s| s.execution.is_err()).count(),
            failed: statements.clone().filter(|s| s.error.is_some()).count(),
            discrepancies: statements.map(|s| s.discrepancies.len()).sum(),
        }
    }

    /// Every discrepancy, with the file and statement it belongs to.
    pub fn discrepancies(&self) -> impl Iterator<Item = (&FileTrace, &StatementTrace, &Discrepancy)> {
        self.files.iter().flat_map(|f| {
            f.statements
                .iter()
                .flat_map(move |s| s.discrepancies.iter().map(move |d| (f, s, d)))
        })
    }
}

/// Lints `sources`, runs them on the database of `settings` in history
/// order, and compares (see the module docs).
pub fn trace(sources: Vec<Source>, settings: &TraceSettings) -> Result<Trace, TraceError> {
    // Declared first so it is dropped (the server stopped) last.
    let (_cluster, url) =
        match &settings.database {
            Database::Url(url) => (None, url.clone()),
            Database::Temp => {
                let cluster = TempCluster::start()?;
                let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)
                    .map_err(|e| TraceError::Connect {
                        message: format!("cannot connect to the throwaway server: {}", error_text(&e)),
                    })?;
                admin
                    .batch_execute("CREATE DATABASE trace")
                    .map_err(|e| setup("creating the trace database", &e))?;
                let url = cluster.url("trace");
                (Some(cluster), url)
            }
        };
    let mut session = Session::connect(&url).map_err(|message| TraceError::Connect { message })?;
    let row = session
        .client()
        .query_one(
            "SELECT current_database()::text, current_setting('server_version'), \
                    current_setting('server_version_num')::int, \
                    EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'safe_migrate')",
            &[],
        )
        .map_err(|e| setup("reading the server version", &e))?;
    let (database, server_version, version_num, has_history): (String, String, i32, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if has_history && settings.guard == HistoryGuard::Refuse {
        return Err(TraceError::HasHistory { database });
    }
    let server = PgVersion::new(u32::try_from(version_num / 10000).unwrap_or(0)).unwrap_or(PgVersion::MAX);
    let pg_version = settings.pg_version.unwrap_or(server);
    let lint_settings = LintSettings {
        pg_version,
        ..settings.lint.clone()
    };
    // Lint knows what the database holds already, as `lint --database-url`
    // would (nothing, on a throwaway cluster).
    let start = crate::db::catalog::read(session.client()).map_err(|e| TraceError::Setup {
        what: "reading the database's schema",
        message: e.to_string(),
    })?;
    let mut driver = Driver::new(&lint_settings, start.schema);
    let mut files = Vec::with_capacity(sources.len());
    for source in sources {
        let fills = observe::fill_empty_tables(session.client(), settings.rows)
            .map_err(|e| setup("filling tables with rows", &e))?;
        let stmts = parse_source_indexed(&source);
        let mut statements = Vec::new();
        let mut block = Vec::new();
        let start = session.relations().map_err(|e| setup("listing relations", &e))?;
        let preexisting: Vec<Key> = start.values().map(|r| r.key.clone()).collect();
        let file = driver.walk(source, &stmts, |source, visit| {
            statements.push(trace_statement(
                &mut session,
                server,
                source,
                &visit,
                &mut block,
                &preexisting,
            )?);
            Ok::<(), TraceError>(())
        })?;
        files.push(FileTrace {
            source: file.source,
            fills,
            statements,
        });
    }
    Ok(Trace {
        server_version,
        pg_version,
        files,
    })
}

fn setup(what: &'static str, e: &postgres::Error) -> TraceError {
    TraceError::Setup {
        what,
        message: error_text(e),
    }
}

/// Runs one statement of `source` and compares what PostgreSQL did with
/// what lint said of it. `block` holds the locks the statements of the
/// current transaction block took so far.
fn trace_statement(
    session: &mut Session,
    server: PgVersion,
    source: &Source,
    visit: &Visit,
    block: &mut Vec<SeenLock>,
    preexisting: &[Key],
) -> Result<StatementTrace, TraceError> {
    let stmt = visit.stmt;
    let measure = |span: Span, e: postgres::Error| TraceError::Measure {
        path: source.file.path.clone(),
        offset: span.start,
        message: error_text(&e),
    };
    let claims = visit
        .findings
        .iter()
        .chain(visit.inner)
        .map(|f| Claim {
            rule: f.rule.id,
            lock: f.lock,
            table: f.table.as_ref().map(ToString::to_string),
        })
        .collect();
    let skip = match stmt.kind {
        StmtKind::Begin | StmtKind::Commit | StmtKind::Rollback => Some(Skip::TransactionControl),
        StmtKind::PsqlMeta => Some(Skip::PsqlMeta),
        _ => None,
    };
    // A statement outside a transaction block starts a new one.
    if !visit.tx.in_transaction() {
        block.clear();
    }
    let in_block = visit.tx.in_transaction() && skip.is_none();
    if let Some(skip) = skip {
        return Ok(StatementTrace {
            span: stmt.span,
            execution: Err(skip),
            locks: Vec::new(),
            rewrites: Vec::new(),
            duration: Duration::ZERO,
            error: None,
            notes: Vec::new(),
            claims,
            discrepancies: Vec::new(),
        });
    }
    let sql = stmt.span.slice(&source.text);
    let run = session
        .run(sql, stmt.kind.needs_autocommit(server))
        .map_err(|e| measure(stmt.span, e))?;
    let name_of = |oid: &u32| run.before.get(oid).or_else(|| run.after.get(oid));
    // By name: a relation dropped and created again has two OIDs.
    let mut by_key: BTreeMap<Key, LockMode> = BTreeMap::new();
    for (oid, mode) in &run.locks {
        if let Some(relation) = name_of(oid) {
            let held = by_key.entry(relation.key.clone()).or_insert(*mode);
            *held = (*held).max(*mode);
        }
    }
    let seen: Vec<SeenLock> = by_key
        .into_iter()
        .map(|(relation, mode)| SeenLock { relation, mode })
        .collect();
    let rewrites = rewritten(&run.before, &run.after);
    if in_block {
        block.extend(seen.iter().cloned());
    }
    let discrepancies = if run.error.is_some() {
        Vec::new()
    } else {
        let mine: Vec<&Finding> = visit.findings.iter().chain(visit.inner).collect();
        let facts = Facts {
            locks: seen.clone(),
            block: block.clone(),
            rewrites: rewrites.clone(),
            sampled: run.execution == Execution::Autocommit,
            preexisting: preexisting.to_vec(),
        };
        compare::discrepancies(&facts, &mine, &observe::display_name)
    };
    let mut locks: Vec<ObservedLock> = seen
        .iter()
        .map(|l| ObservedLock {
            relation: observe::display_name(&l.relation),
            mode: l.mode,
        })
        .collect();
    locks.sort_by(|a, b| b.mode.cmp(&a.mode).then_with(|| a.relation.cmp(&b.relation)));
    Ok(StatementTrace {
        span: stmt.span,
        execution: Ok(run.execution),
        locks,
        rewrites: rewrites
            .iter()
            .map(|r| observe::display_name(&r.relation))
            .collect(),
        duration: run.elapsed,
        error: run.error,
        notes: run.notes,
        claims,
        discrepancies,
    })
}

fn rewritten(before: &Relations, after: &Relations) -> Vec<SeenRewrite> {
    let owners: BTreeMap<u32, &Key> = before.iter().map(|(oid, r)| (*oid, &r.key)).collect();
    before
        .values()
        .filter(|b| {
            let now = after
                .get(&b.oid)
                .or_else(|| after.values().find(|a| a.key == b.key && a.kind == b.kind));
            now.is_some_and(|a| a.filenode.is_some() && b.filenode.is_some() && a.filenode != b.filenode)
        })
        .map(|b| SeenRewrite {
            relation: b.key.clone(),
            table: b
                .table
                .and_then(|t| owners.get(&t).map(|k| (*k).clone()))
                .unwrap_or_else(|| b.key.clone()),
        })
        .collect()
}
