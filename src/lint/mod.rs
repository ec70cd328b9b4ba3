//! Linting: typed statements in, findings out.
//!
//! The linter walks the migration history in order. For each statement it
//! knows the schema as earlier statements left it ([`crate::schema`]), the
//! transaction the statement runs in ([`TxState`]) and the target PostgreSQL
//! version, and asks every [`Rule`] in [`rules::ALL`] for findings. Rules are
//! pure functions of that context; they never touch a database.

pub mod docs;
pub mod fixture;
mod locks;
mod parallel;
pub mod rules;
mod run;
mod style;
mod tx;

#[cfg(test)]
pub(crate) mod testing;

use crate::parse::{AlterTable, Stmt, StmtKind};
use crate::pg::{Blocks, LockMode, PgVersion, QualifiedName};
use crate::schema::{Schema, Table, TableSize};
use crate::source::{Source, Span};
use serde::Serialize;
use std::collections::HashMap;

pub use locks::{alter_action_lock, statement_locks};
pub use parallel::lint_files;
pub use run::{lint, lint_snippet, Driver, FileLint, LintOutcome, Summary, Visit};
pub use tx::{Held, TxKind, TxState};

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    /// The lower-case name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What kind of hazard a rule guards against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// A lock that blocks traffic, or a scan/rewrite under one.
    Lock,
    /// Running application code breaks (renames, drops).
    Compat,
    /// The migration fails or does something other than intended.
    Correctness,
    /// A schema choice to avoid.
    Style,
    /// The statement could not be understood.
    Parse,
}

impl Category {
    /// The lower-case name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Lock => "lock",
            Category::Compat => "compat",
            Category::Correctness => "correctness",
            Category::Style => "style",
            Category::Parse => "parse",
        }
    }
}

/// A lint rule: its metadata, its documentation and its check.
///
/// Each rule lives in its own file under `src/lint/rules/` and is listed once
/// in [`rules::ALL`]. Its `id` is written only there; everything else refers
/// to the `Rule` itself.
pub struct Rule {
    /// Stable kebab-case id, equal to the file stem with `-` for `_`.
    pub id: &'static str,
    pub category: Category,
    /// Severity unless the config says otherwise.
    pub default_severity: Severity,
    /// The lock the flagged statement takes on its table, when the rule is about one.
    pub lock: Option<LockMode>,
    /// One line for `migrate rules`.
    pub summary: &'static str,
    /// Markdown with the headings `### What it does`, `### Why is this bad?`,
    /// `### Postgres versions`, `### Use instead`.
    pub doc: &'static str,
    /// An example the rule flags, linted against [`fixture::SCHEMA`].
    pub bad: &'static str,
    /// The safe form of `bad`, which the rule leaves alone.
    pub good: &'static str,
    /// Whether `migrate plan` rewrites what this rule flags (a test keeps
    /// this equal to "a rewrite in `plan::rewrites` answers this rule").
    pub rewritable: bool,
    /// Whether the rule runs unless the config turns it on.
    pub enabled_by_default: bool,
    /// The check, called once per statement.
    pub check: fn(&LintContext, &Stmt, &mut Vec<Finding>),
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule").field("id", &self.id).finish()
    }
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// One problem found in one statement.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: &'static Rule,
    /// The rule's severity after the config is applied.
    pub severity: Severity,
    /// What to underline: usually the whole statement.
    pub span: Span,
    /// One lower-case line naming the lock, what it blocks and the table.
    pub message: String,
    /// What to do instead, as an imperative.
    pub help: Option<String>,
    /// The lock the statement takes, when that is the hazard.
    pub lock: Option<LockMode>,
    /// The table the lock is on.
    pub table: Option<QualifiedName>,
    /// A short label printed under the underline.
    pub label: Option<String>,
    /// For an `ALTER TABLE` finding, the index of the subcommand it is about
    /// (the first, when it is about several: see `more_actions`).
    pub action: Option<usize>,
    /// The size of `table`, when the schema came from a live database.
    pub size: Option<TableSize>,
    /// The other subcommands of the statement the same finding is about: a
    /// rule reports one finding per statement, naming every subcommand.
    pub more_actions: Vec<usize>,
    /// When `lock` was taken by an earlier statement of the same transaction
    /// (and lasts until it ends): that statement.
    pub held_since: Option<Span>,
}

impl Finding {
    /// A finding of `rule` on `span`, with the rule's default severity and lock.
    pub fn new(rule: &'static Rule, span: Span, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.default_severity,
            span,
            message: message.into(),
            help: None,
            lock: rule.lock,
            table: None,
            label: None,
            action: None,
            size: None,
            more_actions: Vec::new(),
            held_since: None,
        }
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into());
        self
    }

    /// Sets the table the lock is taken on.
    pub fn table(mut self, table: &QualifiedName) -> Finding {
        self.table = Some(table.clone());
        self
    }

    /// Overrides the lock (when it depends on the statement's form).
    pub fn lock(mut self, lock: Option<LockMode>) -> Finding {
        self.lock = lock;
        self
    }

    /// Names the `ALTER TABLE` subcommand (by index) the finding is about.
    pub fn action(mut self, index: usize) -> Finding {
        self.action = Some(index);
        self
    }

    /// Names the `ALTER TABLE` subcommands (by index) the finding is about,
    /// in order; none leaves the finding as it is.
    pub fn actions(mut self, indexes: &[usize]) -> Finding {
        if let Some((first, more)) = indexes.split_first() {
            self.action = Some(*first);
            self.more_actions = more.to_vec();
        }
        self
    }

    /// Whether the finding is about subcommand `index`.
    pub fn covers(&self, index: usize) -> bool {
        self.action == Some(index) || self.more_actions.contains(&index)
    }

    /// This finding as if it were about subcommand `index` alone (what a
    /// `migrate plan` rewrite of that subcommand answers).
    pub fn for_action(&self, index: usize) -> Finding {
        Finding {
            action: Some(index),
            more_actions: Vec::new(),
            ..self.clone()
        }
    }

    /// Sets the label under the underline.
    pub fn label(mut self, label: impl Into<String>) -> Finding {
        self.label = Some(label.into());
        self
    }

    /// What the finding's lock blocks.
    pub fn blocks(&self) -> Option<Blocks> {
        self.lock.map(LockMode::blocks)
    }
}

/// `a`, `a and b`, `a, b and c`: the items a finding about several
/// subcommands names.
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Resolved settings for a lint run (from flags and config).
#[derive(Debug, Clone, Default)]
pub struct LintSettings {
    /// Target PostgreSQL major version.
    pub pg_version: PgVersion,
    /// Whether a file with no transaction directive runs inside one
    /// transaction: `Some` when the flag or the config says, `None` to follow
    /// the runner the file's layout names ([`crate::source::Runner`]).
    pub assume_in_transaction: Option<bool>,
    /// Per-rule severity overrides; `None` turns the rule off.
    pub severity: HashMap<&'static str, Option<Severity>>,
    /// Below this size a table's locks are brief: lock findings on it are
    /// info. `None` for plans, which take the safe path whatever the size.
    pub small_table: Option<SmallTable>,
}

/// The size under which a table counts as small (config `small_table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmallTable {
    /// Rows (the catalog's estimate).
    pub rows: u64,
    /// Total bytes on disk, indexes and TOAST included.
    pub bytes: u64,
}

impl Default for SmallTable {
    fn default() -> SmallTable {
        SmallTable {
            rows: 10_000,
            bytes: 10 * 1024 * 1024,
        }
    }
}

impl SmallTable {
    /// Whether a table of `size` is small: under both limits (a table never
    /// analyzed is judged by its bytes alone).
    pub fn holds(self, size: TableSize) -> bool {
        size.bytes < self.bytes && size.rows.is_none_or(|rows| rows < self.rows)
    }
}

impl LintSettings {
    /// The severity a rule reports at, or `None` when it is off.
    pub fn severity_of(&self, rule: &Rule) -> Option<Severity> {
        match self.severity.get(rule.id) {
            Some(overridden) => *overridden,
            None => rule.enabled_by_default.then_some(rule.default_severity),
        }
    }
}

/// What a rule sees when it checks a statement.
pub struct LintContext<'a> {
    pub settings: &'a LintSettings,
    /// The schema as every earlier statement left it.
    pub schema: &'a Schema,
    /// The transaction this statement runs in.
    pub tx: &'a TxState,
    /// The file being linted.
    pub source: &'a Source,
    /// Index of the current file in the history.
    pub file_index: usize,
    /// Index of the first file of the deploy the current file belongs to:
    /// what any file from there on created is new (empty, unused by running
    /// code) when this file runs. The file itself unless several files are
    /// deployed together (every pending migration of `apply`).
    pub deploy_start: usize,
    /// The statement's own table (the one `ALTER TABLE`, `CREATE INDEX`,
    /// `UPDATE`… name) and what the schema knows of it, looked up once for
    /// every rule: see [`LintContext::table`].
    pub target: Option<(&'a QualifiedName, Option<Table<'a>>)>,
}

impl<'a> LintContext<'a> {
    /// `stmt`'s own table, if it names one, with the schema's entry for it.
    pub fn target_of(schema: &'a Schema, stmt: &'a Stmt) -> Option<(&'a QualifiedName, Option<Table<'a>>)> {
        let table = match &stmt.kind {
            StmtKind::AlterTable(a) => &a.table,
            StmtKind::CreateIndex(i) => &i.table,
            StmtKind::Dml(d) => &d.table,
            _ => return None,
        };
        Some((table, schema.table(table)))
    }

    /// The table named `name`, if the history created or altered it
    /// ([`Schema::table`], answered without a lookup for the statement's own table).
    pub fn table(&self, name: &QualifiedName) -> Option<Table<'a>> {
        match self.target {
            Some((target, found)) if target == name => found,
            _ => self.schema.table(name),
        }
    }

    /// The target version.
    pub fn pg_version(&self) -> PgVersion {
        self.settings.pg_version
    }

    /// Whether `table` was created in this deploy (by this migration file,
    /// or an earlier one deployed with it), so it holds no rows that
    /// traffic depends on and its locks block nobody.
    pub fn is_new(&self, table: &QualifiedName) -> bool {
        self.in_this_deploy(self.table(table).and_then(|t| t.created_in()))
    }

    /// Whether an object created by the file `created_in` (a column's
    /// `added_in`, a domain's or a view's) is new in this deploy.
    pub fn in_this_deploy(&self, created_in: Option<usize>) -> bool {
        created_in.is_some_and(|i| i >= self.deploy_start)
    }

    /// `stmt` as an `ALTER TABLE` of a table that holds data: not one this
    /// file created ([`LintContext::is_new`]). Most `ALTER TABLE` rules
    /// look at nothing else.
    pub fn alter_of_existing<'s>(&self, stmt: &'s Stmt) -> Option<&'s AlterTable> {
        match &stmt.kind {
            StmtKind::AlterTable(alter) if !self.is_new(&alter.table) => Some(alter),
            _ => None,
        }
    }
}
