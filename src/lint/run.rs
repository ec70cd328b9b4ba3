//! The lint driver: walks files in history order, keeping the schema model
//! and transaction state, calls every enabled rule on every statement, then
//! applies ignore directives and reports the ones that matched nothing.

use super::rules::{self, misnamed_migration, parse_error, unused_ignore};
use super::tx::TxState;
use super::{Category, Finding, LintContext, LintSettings, Rule, Severity};
use crate::parse::{parse_source_indexed, Stmt, StmtKind};
use crate::pg::QualifiedName;
use crate::schema::Schema;
use crate::source::{self, IgnoreScope, MigrationFile, NamingScheme, Source};

/// Findings for one file, in span order.
#[derive(Debug, Clone)]
pub struct FileLint {
    pub source: Source,
    pub findings: Vec<Finding>,
    /// Statements linted (a goose statement block counts each statement in it).
    pub statements: usize,
}

/// Totals over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub statements: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Summary {
    /// Counts `file`, its statements and its findings.
    pub fn add(&mut self, file: &FileLint) {
        self.files += 1;
        self.statements += file.statements;
        for f in &file.findings {
            match f.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
                Severity::Info => self.infos += 1,
            }
        }
    }
}

/// Everything a lint run found.
#[derive(Debug, Clone, Default)]
pub struct LintOutcome {
    pub files: Vec<FileLint>,
    pub summary: Summary,
}

/// Lints sources in history order from an empty schema: each file sees the
/// schema every earlier file (and earlier statement of its own) left.
pub fn lint(sources: Vec<Source>, settings: &LintSettings) -> LintOutcome {
    let mut driver = Driver::new(settings, Schema::default());
    let files = sources
        .into_iter()
        .map(|source| {
            let stmts = parse_source_indexed(&source);
            driver.file(source, &stmts)
        })
        .collect();
    LintOutcome {
        files,
        summary: driver.summary(),
    }
}

/// One top-level statement as the history driver reaches it: what lint,
/// plan and trace each need to know about it.
pub struct Visit<'v> {
    /// Index of the file in the history.
    pub file_index: usize,
    /// Index of the split statement in [`Source::statements`].
    pub index: usize,
    pub stmt: &'v Stmt,
    /// The schema as every earlier statement left it (for a `DO` block: as
    /// its body left it).
    pub schema: &'v Schema,
    /// The transaction the statement runs in, before it runs.
    pub tx: &'v TxState,
    /// The statement's own findings, after ignore directives and the config.
    pub findings: &'v [Finding],
    /// For a `DO` block, the findings on the statements of its body.
    pub inner: &'v [Finding],
}

/// The history driver: walks files in history order from a starting schema
/// the caller gives (empty, the database's catalog, a schema dump), keeping
/// the schema model and the transaction state, runs every enabled rule on
/// every statement, and hands each statement with its findings to the
/// caller ([`Driver::walk`]). Lint, plan and trace all walk the history
/// through it, so they see the same schema, transactions and findings.
///
/// Callers that read and parse files themselves (in parallel, say) feed
/// them one at a time, in history order, so that a file's statements can be
/// dropped once it is walked.
pub struct Driver<'a> {
    settings: &'a LintSettings,
    schema: Schema,
    summary: Summary,
    /// Files from this index on are deployed together.
    deploy_from: usize,
}

impl<'a> Driver<'a> {
    /// A driver at the start of the history, with `start` as the schema
    /// before the first file.
    pub fn new(settings: &'a LintSettings, start: Schema) -> Driver<'a> {
        Driver {
            settings,
            schema: start,
            summary: Summary::default(),
            deploy_from: usize::MAX,
        }
    }

    /// Deploys the files from index `first` on together, as one release:
    /// a table any of them creates is new in all of them.
    pub fn deploy_from(mut self, first: usize) -> Driver<'a> {
        self.deploy_from = first;
        self
    }

    /// The schema as the files walked so far left it.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Lints the next file of the history; `stmts` is `parse_source_indexed(&source)`.
    pub fn file(&mut self, source: Source, stmts: &[(usize, Stmt)]) -> FileLint {
        match self.walk(source, stmts, |_, _| Ok::<(), std::convert::Infallible>(())) {
            Ok(file) => file,
            Err(never) => match never {},
        }
    }

    /// Walks the next file of the history, calling `visit` on each top-level
    /// statement before the schema moves past it, and returns the file's
    /// findings. Stops at the first error `visit` returns.
    pub fn walk<E>(
        &mut self,
        source: Source,
        stmts: &[(usize, Stmt)],
        mut visit: impl FnMut(&Source, Visit) -> Result<(), E>,
    ) -> Result<FileLint, E> {
        let file_index = self.summary.files;
        let settings = self.settings;
        let mut walk = Walk {
            settings,
            source: &source,
            file_index,
            deploy_start: file_index.min(self.deploy_from),
            enabled: rules::ALL
                .iter()
                .copied()
                .filter(|r| settings.severity_of(r).is_some())
                .collect(),
            filter: Filter::new(&source, settings),
            findings: Vec::new(),
            routines: Vec::new(),
        };
        let mut tx = TxState::new(source.transaction, settings.assume_in_transaction);
        for (index, stmt) in stmts.iter().map(|(i, s)| (*i, s)) {
            let mut own = walk.check(index, stmt, &self.schema, &tx);
            let has_body = walk.has_body(stmt);
            let inner = if has_body {
                walk.advance(index, stmt, &mut self.schema, &mut tx);
                std::mem::take(&mut walk.findings)
            } else {
                Vec::new()
            };
            visit(
                &source,
                Visit {
                    file_index,
                    index,
                    stmt,
                    schema: &self.schema,
                    tx: &tx,
                    findings: &own,
                    inner: &inner,
                },
            )?;
            if !has_body {
                walk.advance(index, stmt, &mut self.schema, &mut tx);
            }
            walk.findings.append(&mut own);
            walk.findings.extend(inner);
        }
        let mut findings = walk.finish();
        findings.sort_by_key(|f| (f.span.start, f.span.end));
        let file = FileLint {
            source,
            findings,
            statements: stmts.len(),
        };
        self.summary.add(&file);
        Ok(file)
    }

    /// Totals over the files linted so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }
}

/// Ignore directives and the config's severities, applied to each finding
/// as it is made; remembers which directives silenced something.
struct Filter<'s> {
    source: &'s Source,
    settings: &'s LintSettings,
    /// Per directive, per rule id in it: whether it silenced a finding.
    used: Vec<Vec<bool>>,
}

impl<'s> Filter<'s> {
    fn new(source: &'s Source, settings: &'s LintSettings) -> Filter<'s> {
        Filter {
            source,
            settings,
            used: source
                .ignores
                .iter()
                .map(|i| vec![false; i.rules.len()])
                .collect(),
        }
    }

    /// Whether `finding` (of the split statement `index`, if any) is
    /// reported; sets its severity from the config.
    fn keep(&mut self, index: Option<usize>, finding: &mut Finding) -> bool {
        let mut silenced = false;
        for (i, ignore) in self.source.ignores.iter().enumerate() {
            let applies = match ignore.scope {
                IgnoreScope::File => true,
                IgnoreScope::Statement(s) => index == Some(s),
                IgnoreScope::Dangling => false,
            };
            if !applies {
                continue;
            }
            for (j, id) in ignore.rules.iter().enumerate() {
                if id.id == finding.rule.id {
                    self.used[i][j] = true;
                    silenced = true;
                }
            }
        }
        !silenced && severity(self.settings, finding)
    }
}

/// Applies the config's severity for the finding's rule, which replaces the
/// finding's own; without one, a finding keeps the severity its rule gave it
/// (usually the default, lower for a milder case). False when the rule is off.
fn severity(settings: &LintSettings, f: &mut Finding) -> bool {
    match settings.severity.get(f.rule.id) {
        Some(Some(severity)) => {
            f.severity = *severity;
            true
        }
        Some(None) => false,
        None => f.rule.enabled_by_default,
    }
}

/// Gives a finding on a table of the database that table's size, and
/// makes a lock finding on a small table (under `small_table`) info: a
/// lookup table's lock is over before anyone waits for it.
fn size_up(f: &mut Finding, cx: &LintContext) {
    let Some(size) = f.table.as_ref().and_then(|t| cx.table(t)).and_then(|t| t.size()) else {
        return;
    };
    f.size = Some(size);
    if f.rule.category == Category::Lock
        && f.severity > Severity::Info
        && cx.settings.small_table.is_some_and(|small| small.holds(size))
    {
        f.severity = Severity::Info;
        f.label = Some(format!("small table ({size}): the lock is brief"));
    }
}

/// One file's walk through its statements.
struct Walk<'a> {
    settings: &'a LintSettings,
    source: &'a Source,
    file_index: usize,
    deploy_start: usize,
    enabled: Vec<&'static Rule>,
    filter: Filter<'a>,
    /// The file's findings so far.
    findings: Vec<Finding>,
    /// Routines this file created whose bodies `EXECUTE` constant text: a
    /// call runs those statements.
    routines: Vec<(QualifiedName, Vec<Stmt>)>,
}

impl Walk<'_> {
    /// Checks `stmt` (of split statement `index`) with every enabled rule.
    fn check(&mut self, index: usize, stmt: &Stmt, schema: &Schema, tx: &TxState) -> Vec<Finding> {
        let cx = LintContext {
            settings: self.settings,
            schema,
            tx,
            source: self.source,
            file_index: self.file_index,
            deploy_start: self.deploy_start,
            target: LintContext::target_of(schema, stmt),
        };
        let mut out = Vec::new();
        for rule in &self.enabled {
            (rule.check)(&cx, stmt, &mut out);
        }
        out.retain_mut(|f| self.filter.keep(Some(index), f));
        for f in &mut out {
            tx.settle(f);
            size_up(f, &cx);
        }
        out
    }

    /// Whether `stmt` runs statements of its own after it is checked: a
    /// `DO` block's body, or the constant `EXECUTE`s of a routine it calls.
    fn has_body(&self, stmt: &Stmt) -> bool {
        matches!(stmt.kind, StmtKind::Do(_)) || self.called_routine(stmt).is_some()
    }

    /// Moves the transaction and schema past `stmt`. The statements of a
    /// `DO` block's body (or of a routine the statement calls) follow the
    /// statement itself, checked the same way inside its transaction, their
    /// findings on their own spans and under the statement's `index` (so an
    /// ignore directive before it covers them), kept in `self.findings`.
    fn advance(&mut self, index: usize, stmt: &Stmt, schema: &mut Schema, tx: &mut TxState) {
        tx.advance(stmt, self.settings.pg_version, schema, Some(self.deploy_start));
        schema.apply(stmt, self.file_index);
        match &stmt.kind {
            StmtKind::Do(block) => self.body(index, &block.inner.statements, schema, tx),
            StmtKind::CreateRoutine { name, block } => {
                self.routines.push((name.clone(), block.inner.statements.clone()));
            }
            _ => {
                if let Some(body) = self.called_routine(stmt) {
                    self.body(index, &body, schema, tx);
                }
            }
        }
    }

    /// Checks the statements of a `DO` block's body, or of a routine's a
    /// call runs, in the block's transaction.
    fn body(&mut self, index: usize, stmts: &[Stmt], schema: &mut Schema, tx: &mut TxState) {
        let mut inner = tx.enter_do();
        for stmt in stmts {
            let mut found = self.check(index, stmt, schema, &inner);
            self.findings.append(&mut found);
            self.advance(index, stmt, schema, &mut inner);
        }
        tx.leave_do(inner);
    }

    /// The statements a `SELECT`/`CALL` of a routine this file created runs
    /// through its constant `EXECUTE`s (see [`Walk::routines`]).
    fn called_routine(&self, stmt: &Stmt) -> Option<Vec<Stmt>> {
        if self.routines.is_empty()
            || !matches!(&stmt.kind, StmtKind::Other { tag } if tag == "SELECT" || tag == "CALL")
        {
            return None;
        }
        let text = stmt.span.slice(&self.source.text).to_lowercase();
        let calls = |name: &str| {
            text.match_indices(name).any(|(at, _)| {
                let before = text[..at].chars().next_back();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"')
                    && text[at + name.len()..].trim_start().starts_with('(')
            })
        };
        self.routines
            .iter()
            .rev()
            .find(|(name, _)| calls(&name.name.as_str().to_lowercase()))
            .map(|(_, body)| body.clone())
    }

    /// The findings of the whole file: the statements', then those of the
    /// file itself (unreadable pieces, a misnamed file), then ignore
    /// directives that silenced nothing.
    fn finish(mut self) -> Vec<Finding> {
        let mut extra: Vec<Finding> = self
            .source
            .problems
            .iter()
            .map(|problem| Finding::new(&parse_error::RULE, problem.span, problem.message.clone()))
            .collect();
        if self.source.file.scheme == NamingScheme::Unrecognized {
            extra.push(misnamed_migration::finding(&self.source.file));
        }
        extra.retain_mut(|f| self.filter.keep(None, f));
        self.findings.extend(extra);
        if self.settings.severity_of(&unused_ignore::RULE).is_some() {
            for (i, ignore) in self.source.ignores.iter().enumerate() {
                for (j, id) in ignore.rules.iter().enumerate() {
                    let mut finding = unused_ignore::finding(id, ignore);
                    if !self.filter.used[i][j] && severity(self.settings, &mut finding) {
                        self.findings.push(finding);
                    }
                }
            }
        }
        self.findings
    }
}

fn snippet_file(name: &str) -> MigrationFile {
    MigrationFile {
        path: name.into(),
        version: None,
        name: name.into(),
        scheme: NamingScheme::Explicit,
    }
}

/// Lints `sql` as one migration file run after a file holding `history`
/// (for rule examples, tests and docs).
pub fn lint_snippet(history: &str, sql: &str, settings: &LintSettings) -> Vec<Finding> {
    let sources = vec![
        source::from_text(snippet_file("history.sql"), history.to_string()),
        source::from_text(snippet_file("migration.sql"), sql.to_string()),
    ];
    lint(sources, settings)
        .files
        .pop()
        .map(|f| f.findings)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::lint_snippet;
    use crate::lint::{fixture, Finding, LintSettings};

    fn lint(sql: &str) -> Vec<Finding> {
        lint_snippet(fixture::SCHEMA, sql, &LintSettings::default())
    }

    /// (rule id, flagged text) of every finding.
    fn flagged(sql: &str) -> Vec<(&'static str, &str)> {
        lint(sql).iter().map(|f| (f.rule.id, f.span.slice(sql))).collect()
    }

    #[test]
    fn checks_do_block_statements_at_their_own_span() {
        let sql = "SELECT 1;\nDO $$\nBEGIN\n  CREATE INDEX users_age_idx ON users (age);\nEND\n$$;";
        let found = flagged(sql);
        assert!(
            found.contains(&(
                "create-index-non-concurrent",
                "CREATE INDEX users_age_idx ON users (age)"
            )),
            "{found:?}"
        );
        assert!(found.iter().any(|(id, _)| *id == "ddl-in-do-block"), "{found:?}");
    }

    #[test]
    fn do_block_statements_run_in_one_transaction() {
        let found = flagged(
            "DO $$ BEGIN\n  CREATE INDEX CONCURRENTLY i ON users (age);\n  \
             ALTER TABLE users ADD COLUMN a int;\n  ALTER TABLE orders ADD COLUMN b int;\nEND $$;",
        );
        assert!(
            found.contains(&(
                "concurrently-in-transaction",
                "CREATE INDEX CONCURRENTLY i ON users (age)"
            )),
            "{found:?}"
        );
        assert!(
            found.contains(&(
                "multiple-exclusive-locks-in-transaction",
                "ALTER TABLE orders ADD COLUMN b int"
            )),
            "{found:?}"
        );
        // The block's transaction ends with it.
        let found = flagged(
            "DO $$ BEGIN ALTER TABLE users ADD COLUMN a int; END $$;\nALTER TABLE orders ADD COLUMN b int;",
        );
        assert!(
            !found
                .iter()
                .any(|(id, _)| *id == "multiple-exclusive-locks-in-transaction"),
            "{found:?}"
        );
    }

    #[test]
    fn tables_created_in_a_do_block_exist_after_it() {
        let found = flagged(
            "DO $$ BEGIN CREATE TABLE t (a int); END $$;\nCREATE INDEX t_a ON t (a);\nALTER TABLE t ADD COLUMN b int;",
        );
        assert!(
            !found.iter().any(|(id, _)| *id == "create-index-non-concurrent"),
            "{found:?}"
        );
    }

    #[test]
    fn plpgsql_that_is_not_sql_is_no_parse_error() {
        let found = flagged(
            "DO $$ DECLARE r record; BEGIN FOR r IN SELECT 1 LOOP r.x = 1; END LOOP; \
             SELEKT nonsense; END $$;",
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn an_ignore_before_the_block_covers_its_statements() {
        let sql = "-- migrate:ignore create-index-non-concurrent -- built while the table is empty\n\
                   DO $$ BEGIN CREATE INDEX i ON users (age); END $$;";
        let found = flagged(sql);
        assert!(
            !found
                .iter()
                .any(|(id, _)| *id == "create-index-non-concurrent" || *id == "unused-ignore"),
            "{found:?}"
        );
    }
}
