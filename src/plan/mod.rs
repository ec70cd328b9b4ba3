//! Planning: each flagged statement becomes the sequence of steps that
//! reaches the same end state without blocking traffic.
//!
//! A plan is plain data ([`Plan`] → [`MigrationPlan`] → [`Step`]): `migrate
//! plan` prints it, and `migrate apply` executes exactly it, choosing
//! transactions, `lock_timeout`, retries and batching from each step's
//! fields, never from its SQL text. One rewrite lives in one file under
//! [`rewrites`]. Statements that need no rewrite pass through unchanged;
//! statements nothing can make safe are kept and marked refused.
//!
//! Planning is pure: it uses the lint findings and the schema model, never
//! a database.

mod catalog;
pub mod lower;
pub mod render;
pub mod rewrites;
pub mod sql;

use crate::lint::{self, Finding, LintSettings, Severity};
use crate::parse::{parse_source_indexed, AlterAction, Stmt, StmtKind};
use crate::pg::{LockMode, PgVersion, QualifiedName};
use crate::schema::Schema;
use crate::source::{MigrationFile, Source, Span};
use serde::Serialize;
use sql::{SourceSlice, Sql};

/// What a step is, which decides how `apply` runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// DDL in a short transaction, under `lock_timeout` with retries.
    Ddl,
    /// A `CONCURRENTLY` statement, outside any transaction, with no timeouts.
    Concurrent,
    /// `VALIDATE CONSTRAINT`: `lock_timeout` for its lock, no `statement_timeout` for its scan.
    Validate,
    /// Rows changed in keyset batches, each batch its own transaction.
    Backfill,
    /// The short transaction of a column swap.
    Swap,
    /// A catalog assertion that must hold before the plan goes on.
    Check,
}

impl StepKind {
    /// The kebab-case name plans, events and step checksums use.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Ddl => "ddl",
            StepKind::Concurrent => "concurrent",
            StepKind::Validate => "validate",
            StepKind::Backfill => "backfill",
            StepKind::Swap => "swap",
            StepKind::Check => "check",
        }
    }
}

/// Whether a step runs inside a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxMode {
    InTransaction,
    /// Autocommit, one statement per protocol message (`CONCURRENTLY`).
    Outside,
}

/// A batched data change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backfill {
    pub table: QualifiedName,
    /// The key columns batches are ordered and cut by; empty when the history
    /// does not say, in which case `apply` and the psql script read it from the
    /// catalog at run time (see [`lower::key_columns_sql`]).
    pub key: Vec<crate::pg::Ident>,
    /// The statement each batch runs, before its key condition:
    /// `UPDATE t SET …` or `DELETE FROM t`, from the user's text or built here.
    pub head: String,
    /// A condition rows must meet to be changed (e.g. `c IS NULL`), as SQL.
    pub filter: Option<String>,
    /// Rows per batch to start with.
    pub batch_size: u32,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    /// The SQL to run (for a backfill, one batch's statement as a description;
    /// for a check, a query returning one boolean that must be true).
    pub sql: String,
    /// For [`StepKind::Backfill`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<Backfill>,
    pub tx: TxMode,
    /// The strongest lock the step takes.
    pub lock: Option<LockMode>,
    /// The table that lock is on.
    pub table: Option<QualifiedName>,
    /// Whether a try gets the short `lock_timeout` of a lock-taking step (see
    /// [`lower::timeouts`]; never for concurrent steps: a timeout cancels the
    /// build and leaves an INVALID index).
    pub lock_timeout: bool,
    /// Whether the `statement_timeout` applies (not to scans and builds; see
    /// [`lower::timeouts`]).
    pub statement_timeout: bool,
    /// A query returning one boolean: true when the step's effect is already
    /// in place, so a re-run skips it.
    pub guard: Option<String>,
    /// A query returning one boolean: the step runs only when it is true.
    pub only_if: Option<String>,
    /// The statement it came from.
    pub source: Span,
    /// The rule whose finding this step answers.
    pub rule: Option<&'static str>,
    /// One line for the reader.
    pub note: Option<String>,
    /// The size of the step's table, when the plan was made against a
    /// database's catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<crate::schema::TableSize>,
}

impl Step {
    fn new(kind: StepKind, sql: Sql, source: Span) -> Step {
        let (tx, lock_timeout, statement_timeout) = match kind {
            StepKind::Concurrent => (TxMode::Outside, false, false),
            StepKind::Validate => (TxMode::InTransaction, true, false),
            StepKind::Backfill => (TxMode::InTransaction, true, true),
            StepKind::Ddl | StepKind::Swap => (TxMode::InTransaction, true, true),
            StepKind::Check => (TxMode::InTransaction, false, true),
        };
        Step {
            kind,
            sql: sql.into_string(),
            backfill: None,
            tx,
            lock: None,
            table: None,
            lock_timeout,
            statement_timeout,
            guard: None,
            only_if: None,
            source,
            rule: None,
            note: None,
            size: None,
        }
    }

    /// A DDL step in a short transaction; ACCESS EXCLUSIVE unless lowered with [`Step::lock`].
    pub fn ddl(sql: Sql, source: Span) -> Step {
        Step {
            lock: Some(LockMode::AccessExclusive),
            ..Step::new(StepKind::Ddl, sql, source)
        }
    }

    /// A statement that must run outside a transaction.
    pub fn concurrent(sql: Sql, source: Span) -> Step {
        Step {
            lock: Some(LockMode::ShareUpdateExclusive),
            ..Step::new(StepKind::Concurrent, sql, source)
        }
    }

    /// A `VALIDATE CONSTRAINT` step.
    pub fn validate(sql: Sql, source: Span) -> Step {
        Step {
            lock: Some(LockMode::ShareUpdateExclusive),
            ..Step::new(StepKind::Validate, sql, source)
        }
    }

    /// A catalog assertion.
    pub fn check(query: Sql, source: Span, note: &str) -> Step {
        Step {
            note: Some(note.to_string()),
            ..Step::new(StepKind::Check, query, source)
        }
    }

    /// A batched data change.
    pub fn backfill(backfill: Backfill, source: Span) -> Step {
        let sql = render::backfill_batch_sql(&backfill);
        Step {
            lock: Some(LockMode::RowExclusive),
            table: Some(backfill.table.clone()),
            backfill: Some(backfill),
            ..Step::new(StepKind::Backfill, Sql::default(), source)
        }
        .with_sql(sql)
    }

    fn with_sql(mut self, sql: String) -> Step {
        self.sql = sql;
        self
    }

    /// Sets the lock and the table it is on.
    pub fn lock(mut self, lock: LockMode, table: &QualifiedName) -> Step {
        self.lock = Some(lock);
        self.table = Some(table.clone());
        self
    }

    /// Sets the guard query.
    pub fn guard(mut self, query: Sql) -> Step {
        self.guard = Some(query.into_string());
        self
    }

    /// Sets the condition query.
    pub fn only_if(mut self, query: Sql) -> Step {
        self.only_if = Some(query.into_string());
        self
    }

    /// Sets the note.
    pub fn note(mut self, note: impl Into<String>) -> Step {
        self.note = Some(note.into());
        self
    }
}

/// What became of one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// Passed through unchanged.
    Kept,
    /// Replaced by safe steps.
    Rewritten { rule: &'static str },
    /// Kept as written, but nothing makes it safe: `apply` will not run it
    /// unless an ignore directive with a reason accepts it.
    Refused { rule: &'static str, reason: String },
}

/// A statement and what the plan did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementPlan {
    pub span: Span,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The plan of one migration file.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationPlan {
    pub file: MigrationFile,
    #[serde(skip)]
    pub text: String,
    pub steps: Vec<Step>,
    pub statements: Vec<StatementPlan>,
    /// Already applied to the database the plan was made against: context
    /// only, not planned (its text is kept for drift checks).
    #[serde(skip)]
    pub applied: bool,
}

impl MigrationPlan {
    /// (kept, rewritten, refused) statement counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for s in &self.statements {
            match s.outcome {
                Outcome::Kept => counts.0 += 1,
                Outcome::Rewritten { .. } => counts.1 += 1,
                Outcome::Refused { .. } => counts.2 += 1,
            }
        }
        counts
    }
}

/// A whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub pg_version: PgVersion,
    pub migrations: Vec<MigrationPlan>,
}

impl Plan {
    /// Whether any statement was refused.
    pub fn has_refusals(&self) -> bool {
        self.migrations.iter().any(|m| m.counts().2 > 0)
    }
}

/// Why a rewrite cannot make a statement safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
}

impl Refusal {
    /// A refusal with this reason.
    pub fn new(reason: impl Into<String>) -> Refusal {
        Refusal {
            reason: reason.into(),
        }
    }
}

/// What a rewrite sees.
pub struct PlanContext<'a> {
    pub pg_version: PgVersion,
    /// The schema as earlier statements left it.
    pub schema: &'a Schema,
    /// The file's text (spans point into it).
    pub text: &'a str,
    /// The statement.
    pub stmt: &'a Stmt,
    /// The finding being answered.
    pub finding: &'a Finding,
    /// For `ALTER TABLE`: the subcommand's span in the file.
    pub action_span: Option<Span>,
    /// Rows per backfill batch.
    pub batch_size: u32,
}

impl<'a> PlanContext<'a> {
    /// A verbatim slice of the file.
    pub fn slice(&self, span: Span) -> SourceSlice<'a> {
        SourceSlice::new(self.text, span)
    }

    /// The statement's own text.
    pub fn stmt_text(&self) -> &'a str {
        self.stmt.span.slice(self.text)
    }

    /// The subcommand's text (the whole statement when there is none).
    pub fn action_text(&self) -> &'a str {
        self.action_span.unwrap_or(self.stmt.span).slice(self.text)
    }
}

/// Settings for planning.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub lint: LintSettings,
    /// Rows per backfill batch to start with.
    pub batch_size: u32,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            lint: LintSettings::default(),
            batch_size: 1000,
        }
    }
}

/// Plans every migration, in history order.
///
/// ```
/// use safe_migrate::plan::{plan, PlanSettings, StepKind};
/// use safe_migrate::source::{from_text, MigrationFile, NamingScheme};
/// let file = |n: &str| MigrationFile { path: n.into(), version: None, name: n.into(), scheme: NamingScheme::Explicit };
/// let sources = vec![
///     from_text(file("V1.sql"), "CREATE TABLE t (id int PRIMARY KEY, c int);".into()),
///     from_text(file("V2.sql"), "CREATE INDEX t_c ON t (c);".into()),
/// ];
/// let plan = plan(sources, &PlanSettings::default());
/// assert!(plan.migrations[1].steps.iter().any(|s| s.kind == StepKind::Concurrent));
/// ```
pub fn plan(sources: Vec<Source>, settings: &PlanSettings) -> Plan {
    let driver = lint::Driver::new(&settings.lint, Schema::default());
    plan_from(sources, |_| false, driver, settings)
}

/// Plans every migration, in history order, walking them with `driver`
/// (which says what schema the history starts from and which files are
/// deployed together). A source for which `applied` is true is already
/// applied to that schema: it is kept, unplanned, for drift checks.
pub fn plan_from(
    sources: Vec<Source>,
    applied: impl Fn(&Source) -> bool,
    mut driver: lint::Driver,
    settings: &PlanSettings,
) -> Plan {
    let mut migrations = Vec::new();
    for source in sources {
        if applied(&source) {
            migrations.push(MigrationPlan {
                file: source.file,
                text: source.text,
                steps: Vec::new(),
                statements: Vec::new(),
                applied: true,
            });
            continue;
        }
        let indexed = parse_source_indexed(&source);
        let mut builder = Builder::default();
        let mut group = 0usize;
        let walked = driver.walk(source, &indexed, |source, visit| {
            if !visit.tx.in_transaction() {
                group += 1;
            }
            plan_statement(&visit, &source.text, settings, group, &mut builder);
            if matches!(visit.stmt.kind, StmtKind::Commit | StmtKind::Rollback) {
                group += 1;
            }
            Ok::<(), std::convert::Infallible>(())
        });
        let file = match walked {
            Ok(file) => file,
            Err(never) => match never {},
        };
        builder.flush();
        // Sizes do not change as the file runs: the schema after it has them.
        for step in &mut builder.steps {
            let table = step.table.as_ref().or(step.backfill.as_ref().map(|b| &b.table));
            step.size = table
                .and_then(|t| driver.schema().table(t))
                .and_then(|t| t.size());
        }
        migrations.push(MigrationPlan {
            file: file.source.file,
            text: file.source.text,
            steps: builder.steps,
            statements: builder.statements,
            applied: false,
        });
    }
    Plan {
        pg_version: settings.lint.pg_version,
        migrations,
    }
}

/// Accumulates steps, merging consecutive pass-through DDL of one transaction.
#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
    statements: Vec<StatementPlan>,
    pending: Option<(usize, Step)>,
}

impl Builder {
    fn flush(&mut self) {
        if let Some((_, step)) = self.pending.take() {
            self.steps.push(step);
        }
    }

    /// Adds pass-through SQL of transaction group `group`.
    fn keep(&mut self, group: usize, step: Step) {
        if step.kind == StepKind::Ddl {
            if let Some((g, pending)) = &mut self.pending {
                if *g == group {
                    pending.sql.push_str(";\n");
                    pending.sql.push_str(&step.sql);
                    pending.lock = pending.lock.max(step.lock);
                    if pending.table != step.table {
                        pending.table = pending.table.clone().or(step.table);
                    }
                    return;
                }
            }
            self.flush();
            self.pending = Some((group, step));
        } else {
            self.flush();
            self.steps.push(step);
        }
    }

    fn push(&mut self, steps: Vec<Step>) {
        self.flush();
        self.steps.extend(steps);
    }
}

/// Whether a finding means the statement must not run as written.
fn blocks_apply(f: &Finding) -> bool {
    f.severity == Severity::Error
}

fn plan_statement(visit: &lint::Visit, text: &str, settings: &PlanSettings, group: usize, b: &mut Builder) {
    let (stmt, schema) = (visit.stmt, visit.schema);
    if matches!(stmt.kind, StmtKind::Begin | StmtKind::Commit | StmtKind::Rollback) {
        b.flush();
        return;
    }
    let pg = settings.lint.pg_version;
    // Findings within the statement (style findings point at a column
    // definition inside it).
    let findings: Vec<&Finding> = visit.findings.iter().collect();
    // Findings on the statements inside a `DO` block: no rewrite can reach
    // them, so an error among them refuses the whole block.
    if let Some(finding) = visit.inner.iter().find(|f| blocks_apply(f)) {
        b.statements.push(StatementPlan {
            span: stmt.span,
            outcome: Outcome::Refused {
                rule: finding.rule.id,
                reason: "DDL inside a DO block cannot be rewritten; move it out".to_string(),
            },
        });
        b.keep(group, passthrough(stmt, text, pg, schema));
        return;
    }
    let ctx = |finding: &Finding,
               action_span: Option<Span>,
               f: &dyn Fn(&PlanContext) -> Result<Vec<Step>, Refusal>| {
        let cx = PlanContext {
            pg_version: pg,
            schema,
            text,
            stmt,
            finding,
            action_span,
            batch_size: settings.batch_size,
        };
        f(&cx)
    };

    // Statement-level findings (not tied to one ALTER TABLE subcommand).
    let mut outcome = Outcome::Kept;
    let mut steps: Option<Vec<Step>> = None;

    if let StmtKind::AlterTable(alter) = &stmt.kind {
        if findings.iter().any(|f| f.action.is_some()) {
            let spans: Vec<Span> = crate::parse::slices::alter_actions(stmt.span.slice(text))
                .into_iter()
                .map(|s| s.shift(stmt.span.start))
                .collect();
            if spans.len() == alter.actions.len() {
                let mut out = Vec::new();
                let mut kept: Vec<Span> = Vec::new();
                for (index, _) in alter.actions.iter().enumerate() {
                    let action_findings: Vec<&&Finding> = findings
                        .iter()
                        .filter(|f| f.covers(index) && blocks_apply(f))
                        .collect();
                    let Some(finding) = action_findings.first() else {
                        kept.push(spans[index]);
                        continue;
                    };
                    match rewrites::for_rule(finding.rule) {
                        Some(rewrite) => {
                            match ctx(&finding.for_action(index), Some(spans[index]), &rewrite.build) {
                                Ok(new) => {
                                    flush_kept(&mut kept, alter, text, stmt.span, &mut out);
                                    out.extend(new.into_iter().map(|s| tag(s, finding.rule.id)));
                                    outcome = merge(
                                        outcome,
                                        Outcome::Rewritten {
                                            rule: finding.rule.id,
                                        },
                                    );
                                }
                                Err(refusal) => {
                                    kept.push(spans[index]);
                                    outcome = merge(outcome, refused(finding, Some(refusal)));
                                }
                            }
                        }
                        None => {
                            kept.push(spans[index]);
                            outcome = merge(outcome, refused(finding, None));
                        }
                    }
                }
                flush_kept(&mut kept, alter, text, stmt.span, &mut out);
                steps = Some(out);
            }
        }
    }
    if steps.is_none() {
        if let Some(finding) = findings.iter().find(|f| blocks_apply(f)) {
            match rewrites::for_rule(finding.rule) {
                Some(rewrite) => match ctx(finding, None, &rewrite.build) {
                    Ok(new) => {
                        steps = Some(new.into_iter().map(|s| tag(s, finding.rule.id)).collect());
                        outcome = Outcome::Rewritten {
                            rule: finding.rule.id,
                        };
                    }
                    Err(refusal) => outcome = refused(finding, Some(refusal)),
                },
                None => outcome = refused(finding, None),
            }
        }
    }
    b.statements.push(StatementPlan {
        span: stmt.span,
        outcome: outcome.clone(),
    });
    match steps {
        Some(steps) if !matches!(outcome, Outcome::Kept) || !steps.is_empty() => {
            if matches!(outcome, Outcome::Refused { .. }) && steps.iter().all(|s| s.kind == StepKind::Ddl) {
                for step in steps {
                    b.keep(group, step);
                }
            } else {
                b.push(steps);
            }
        }
        _ => b.keep(group, passthrough(stmt, text, pg, schema)),
    }
}

fn tag(mut step: Step, rule: &'static str) -> Step {
    step.rule = Some(rule);
    step
}

fn refused(finding: &Finding, refusal: Option<Refusal>) -> Outcome {
    let reason = match refusal {
        Some(r) => r.reason,
        None => format!("{}; no zero-downtime rewrite exists", finding.message),
    };
    Outcome::Refused {
        rule: finding.rule.id,
        reason,
    }
}

/// Refused wins over rewritten, which wins over kept.
fn merge(a: Outcome, b: Outcome) -> Outcome {
    match (&a, &b) {
        (Outcome::Refused { .. }, _) => a,
        (_, Outcome::Refused { .. }) => b,
        (Outcome::Rewritten { .. }, _) => a,
        _ => b,
    }
}

/// Emits the not-rewritten subcommands so far as one `ALTER TABLE`.
fn flush_kept(
    kept: &mut Vec<Span>,
    alter: &crate::parse::AlterTable,
    text: &str,
    source: Span,
    out: &mut Vec<Step>,
) {
    if kept.is_empty() {
        return;
    }
    let mut sql = Sql::kw("ALTER TABLE");
    if alter.if_exists {
        sql = sql.then("IF EXISTS");
    }
    if alter.only {
        sql = sql.then("ONLY");
    }
    sql = sql.name(&alter.table);
    for (i, span) in kept.drain(..).enumerate() {
        if i > 0 {
            sql = sql.glue(",");
        }
        sql = sql.slice(SourceSlice::new(text, span));
    }
    out.push(Step::ddl(sql, source).lock(LockMode::AccessExclusive, &alter.table));
}

/// A statement that needs no rewrite, as the step that runs it unchanged.
pub(crate) fn passthrough(stmt: &Stmt, text: &str, pg: PgVersion, schema: &Schema) -> Step {
    let sql = Sql::default().slice(SourceSlice::new(text, stmt.span));
    let locks = lint::statement_locks(stmt, pg, schema);
    // The first of the strongest: the statement's own table before the other side of a key.
    let strongest = locks.iter().rev().max_by_key(|(_, m)| *m).cloned();
    let outside = stmt.kind.needs_autocommit(pg);
    let validate = matches!(&stmt.kind, StmtKind::AlterTable(a)
        if !a.actions.is_empty() && a.actions.iter().all(|x| matches!(x, AlterAction::ValidateConstraint { .. })));
    let mut step = if outside {
        Step::concurrent(sql, stmt.span)
    } else if validate {
        Step::validate(sql, stmt.span)
    } else {
        Step {
            lock: None,
            ..Step::ddl(sql, stmt.span)
        }
    };
    if let Some((table, mode)) = strongest {
        step = step.lock(mode, &table);
    }
    step
}

#[cfg(test)]
mod tests {
    use super::rewrites::testing::plan_at;
    use super::Outcome;

    #[test]
    fn refuses_a_do_block_whose_statements_have_errors() {
        let sql = "DO $$\nBEGIN\n  CREATE INDEX users_age_idx ON users (age);\nEND\n$$;\n\
                   CREATE INDEX orders_total_idx ON orders (total);";
        let plan = plan_at(sql, 17);
        assert_eq!(plan.statements.len(), 2);
        assert_eq!(
            plan.statements[0].outcome,
            Outcome::Refused {
                rule: "create-index-non-concurrent",
                reason: "DDL inside a DO block cannot be rewritten; move it out".into(),
            }
        );
        // The block runs as written; the statement after it is still rewritten.
        assert!(plan.steps[0].sql.starts_with("DO $$"), "{:?}", plan.steps[0]);
        assert!(matches!(plan.statements[1].outcome, Outcome::Rewritten { .. }));
    }

    #[test]
    fn keeps_a_do_block_with_only_warnings() {
        // ddl-in-do-block is a warning; a new table's index is no error.
        let sql =
            "DO $$ BEGIN CREATE TABLE t (a int); END $$;\nDO $$ BEGIN CREATE INDEX t_a ON t (a); END $$;";
        let plan = plan_at(sql, 17);
        assert!(
            plan.statements.iter().all(|s| s.outcome == Outcome::Kept),
            "{:?}",
            plan.statements
        );
    }
}
