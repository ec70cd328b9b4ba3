//! The lint driver: walks files in history order, keeping the schema model
//! and transaction state, calls every enabled rule on every statement, then
//! applies ignore directives and reports the ones that matched nothing.

use super::rules::{self, misnamed_migration, parse_error, unused_ignore};
use super::tx::TxState;
use super::{Finding, LintContext, LintSettings, Rule, Severity};
use crate::parse::{parse_source_indexed, Stmt, StmtKind};
use crate::pg::QualifiedName;
use crate::schema::Schema;
use crate::source::{self, IgnoreScope, MigrationFile, NamingScheme, Source};

/// Findings for one file, in span order.
#[derive(Debug, Clone)]
pub struct FileLint {
    pub source: Source,
    pub findings: Vec<Finding>,
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

/// Everything a lint run found.
#[derive(Debug, Clone, Default)]
pub struct LintOutcome {
    pub files: Vec<FileLint>,
    pub summary: Summary,
}

impl LintOutcome {
    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.files
            .iter()
            .flat_map(|f| &f.findings)
            .map(|f| f.severity)
            .max()
    }
}

/// Lints sources in history order: each file sees the schema every earlier
/// file (and earlier statement of its own) left.
pub fn lint(sources: Vec<Source>, settings: &LintSettings) -> LintOutcome {
    let mut linter = Linter::new(settings);
    let files = sources
        .into_iter()
        .map(|source| {
            let stmts = parse_source_indexed(&source);
            linter.file(source, &stmts)
        })
        .collect();
    LintOutcome {
        files,
        summary: linter.summary(),
    }
}

/// The linter's state between files, for callers that read and parse files
/// themselves (in parallel, say) and feed them in history order, one at a
/// time, so that a file's statements can be dropped once it is linted.
/// [`lint`] is this with [`parse_source_indexed`] on every file.
pub struct Linter<'a> {
    settings: &'a LintSettings,
    schema: Schema,
    summary: Summary,
}

impl<'a> Linter<'a> {
    /// A linter at the start of the history.
    pub fn new(settings: &'a LintSettings) -> Linter<'a> {
        Linter {
            settings,
            schema: Schema::default(),
            summary: Summary::default(),
        }
    }

    /// Lints the next file of the history; `stmts` is `parse_source_indexed(&source)`.
    pub fn file(&mut self, source: Source, stmts: &[(usize, Stmt)]) -> FileLint {
        let file_index = self.summary.files;
        self.summary.files += 1;
        self.summary.statements += stmts.len();
        let findings = lint_file(&source, stmts, file_index, &mut self.schema, self.settings);
        for f in &findings {
            match f.severity {
                Severity::Error => self.summary.errors += 1,
                Severity::Warning => self.summary.warnings += 1,
                Severity::Info => self.summary.infos += 1,
            }
        }
        FileLint { source, findings }
    }

    /// Totals over the files linted so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }
}

fn lint_file(
    source: &Source,
    stmts: &[(usize, Stmt)],
    file_index: usize,
    schema: &mut Schema,
    settings: &LintSettings,
) -> Vec<Finding> {
    let mut walk = Walk {
        settings,
        source,
        file_index,
        enabled: rules::ALL
            .iter()
            .copied()
            .filter(|r| settings.severity_of(r).is_some())
            .collect(),
        raw: Vec::new(),
        routines: Vec::new(),
    };
    let mut tx = TxState::new(source.transaction, settings.assume_in_transaction);
    // `index` is the split statement's, so an ignore directive before a goose
    // statement block covers every statement inside it.
    for (index, stmt) in stmts.iter().map(|(i, s)| (*i, s)) {
        walk.statement(index, stmt, schema, &mut tx);
    }
    // (statement index, finding) so ignores can be matched per statement.
    let mut raw = walk.raw;
    for problem in &source.problems {
        raw.push((
            None,
            Finding::new(&parse_error::RULE, problem.span, problem.message.clone()),
        ));
    }
    if source.file.scheme == NamingScheme::Unrecognized {
        raw.push((None, misnamed_migration::finding(&source.file)));
    }

    // Ignore directives: drop what they silence, then report what they did not.
    let mut used = vec![vec![false; 0]; source.ignores.len()];
    for (i, ignore) in source.ignores.iter().enumerate() {
        used[i] = vec![false; ignore.rules.len()];
    }
    raw.retain(|(index, finding)| {
        let mut silenced = false;
        for (i, ignore) in source.ignores.iter().enumerate() {
            let applies = match ignore.scope {
                IgnoreScope::File => true,
                IgnoreScope::Statement(s) => *index == Some(s),
                IgnoreScope::Dangling => false,
            };
            if !applies {
                continue;
            }
            for (j, id) in ignore.rules.iter().enumerate() {
                if id.id == finding.rule.id {
                    used[i][j] = true;
                    silenced = true;
                }
            }
        }
        !silenced
    });
    let mut findings: Vec<Finding> = raw.into_iter().map(|(_, f)| f).collect();
    if settings.severity_of(&unused_ignore::RULE).is_some() {
        for (i, ignore) in source.ignores.iter().enumerate() {
            for (j, id) in ignore.rules.iter().enumerate() {
                if !used[i][j] {
                    findings.push(unused_ignore::finding(id, ignore));
                }
            }
        }
    }
    // The config's severity for a rule replaces its findings' own; without
    // one, a finding keeps the severity its rule gave it (usually the
    // default, lower for a milder case).
    findings.retain_mut(|f| match settings.severity.get(f.rule.id) {
        Some(Some(severity)) => {
            f.severity = *severity;
            true
        }
        Some(None) => false,
        None => f.rule.enabled_by_default,
    });
    findings.sort_by_key(|f| (f.span.start, f.span.end));
    findings
}

/// One file's walk through its statements.
struct Walk<'a> {
    settings: &'a LintSettings,
    source: &'a Source,
    file_index: usize,
    enabled: Vec<&'static Rule>,
    /// (split statement index, finding).
    raw: Vec<(Option<usize>, Finding)>,
    /// Routines this file created whose bodies `EXECUTE` constant text: a
    /// call runs those statements.
    routines: Vec<(QualifiedName, Vec<Stmt>)>,
}

impl Walk<'_> {
    /// Checks `stmt` with every enabled rule and moves the transaction and
    /// schema past it. The statements of a `DO` block's body follow the block
    /// itself, checked the same way inside the block's transaction, their
    /// findings on their own spans and under the block's `index` (so an ignore
    /// directive before the block covers them).
    fn statement(&mut self, index: usize, stmt: &Stmt, schema: &mut Schema, tx: &mut TxState) {
        let file_index = self.file_index;
        let cx = LintContext {
            settings: self.settings,
            schema,
            tx,
            source: self.source,
            file_index,
            target: LintContext::target_of(schema, stmt),
        };
        let mut out = Vec::new();
        for rule in &self.enabled {
            (rule.check)(&cx, stmt, &mut out);
        }
        out.iter_mut().for_each(|f| tx.settle(f));
        self.raw.extend(out.into_iter().map(|f| (Some(index), f)));
        tx.advance(stmt, self.settings.pg_version, schema, Some(file_index));
        schema.apply(stmt, file_index);
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
            self.statement(index, stmt, schema, &mut inner);
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
