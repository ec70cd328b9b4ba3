//! The transaction a statement runs in.
//!
//! Explicit `BEGIN … COMMIT` blocks are transactions; other statements run
//! one by one in autocommit, unless the runner wraps the whole file
//! (`--assume-in-transaction`, config `assume_in_transaction`, or a file
//! directive).

use super::locks::statement_locks;
use super::rules::add_column_not_null_without_default::fails_on_rows;
use super::{Category, Finding, Severity};
use crate::parse::{AlterAction, Stmt, StmtKind};
use crate::pg::{Ident, LockMode, PgVersion, QualifiedName};
use crate::schema::Schema;
use crate::source::{FileTransaction, Span};

/// Whether a `lock_timeout` value turns the timeout on: `0` (with or
/// without a unit, `'0s'`, `'0ms'`) and `DEFAULT` (0 unless the server is
/// configured otherwise) turn it off.
fn timeout_is_set(value: &str) -> bool {
    let value = value.trim().trim_matches('\'').trim().to_ascii_lowercase();
    if value.is_empty() || value == "default" {
        return false;
    }
    let number: String = value
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    !matches!(number.parse::<f64>(), Ok(n) if n == 0.0)
}

/// Whether a `TimeZone` value is UTC (the case where `timestamp` ↔
/// `timestamptz` changes skip the table rewrite, PostgreSQL 12+).
fn timezone_is_utc(value: &str) -> bool {
    let value = value.trim().trim_matches('\'').trim().to_ascii_uppercase();
    matches!(
        value.as_str(),
        "UTC" | "ETC/UTC" | "UCT" | "ZULU" | "GMT" | "ETC/GMT" | "Z"
    )
}

/// A boolean view of one run-time parameter, with PostgreSQL's scoping:
/// `SET` lasts for the session (undone by a `ROLLBACK` of the transaction
/// it was made in), `SET LOCAL` until the transaction ends, `RESET` clears.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Setting {
    /// In force for the next statement.
    current: bool,
    /// The session value.
    session: bool,
    /// The session value when the explicit transaction began.
    at_begin: bool,
}

impl Setting {
    fn set(&mut self, on: bool, local: bool, in_transaction: bool) {
        if local {
            // Outside a transaction block SET LOCAL has no effect.
            if in_transaction {
                self.current = on;
            }
        } else {
            self.session = on;
            self.current = on;
        }
    }

    fn reset(&mut self) {
        self.session = false;
        self.current = false;
    }

    fn begin(&mut self) {
        self.at_begin = self.session;
    }

    fn end(&mut self, rolled_back: bool) {
        if rolled_back {
            self.session = self.at_begin;
        }
        self.current = self.session;
    }
}

/// How the statements of a file are grouped into transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// Each statement is its own transaction.
    Autocommit,
    /// Inside `BEGIN … COMMIT`.
    Explicit,
    /// Inside the transaction the runner wraps the file in.
    Wrapped,
    /// Inside the implicit transaction of a `DO` block run in autocommit.
    Implicit,
}

/// A lock a transaction holds on an existing table until it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub table: QualifiedName,
    /// The strongest mode taken so far.
    pub mode: LockMode,
    /// The statement that took it in that mode.
    pub since: Span,
}

/// Transaction state at a statement: what the transaction it runs in has
/// already done.
#[derive(Debug, Clone)]
pub struct TxState {
    /// The current grouping.
    pub kind: TxKind,
    base: TxKind,
    /// Constraints added `NOT VALID` earlier in this transaction: (table key, name).
    pub not_valid_added: Vec<((String, String), Ident)>,
    /// The locks this transaction already holds on existing tables.
    pub held: Vec<Held>,
    /// Existing tables this transaction proved empty: it truncated them, or
    /// an `ADD COLUMN … NOT NULL` without a default on them succeeded, which
    /// it does only on an empty table; the lock keeps rows out until the
    /// transaction ends.
    pub empty: Vec<QualifiedName>,
    /// Enum labels added by `ALTER TYPE … ADD VALUE` earlier in this
    /// transaction: (type, label). PostgreSQL 12+ refuses to use them until commit.
    pub enum_values_added: Vec<(QualifiedName, String)>,
    /// Types created earlier in this transaction (keys): before PostgreSQL 12,
    /// `ADD VALUE` inside a transaction block is allowed only for these.
    pub types_created: Vec<(String, String)>,
    /// Whether `lock_timeout` is set for this statement (session or transaction).
    pub lock_timeout: bool,
    lock_timeout_setting: Setting,
    /// Whether `TimeZone` is known to be UTC for this statement.
    pub timezone_utc: bool,
    timezone_setting: Setting,
}

impl TxState {
    /// The state at the start of a file. A directive decides; without one,
    /// `assume_in_transaction` (flag or config) when set, else the runner's
    /// default ([`FileTransaction::Runner`]), else autocommit.
    pub fn new(file: FileTransaction, assume_in_transaction: Option<bool>) -> TxState {
        let wrapped = match file {
            FileTransaction::NoTransaction => false,
            FileTransaction::Wrapped => true,
            FileTransaction::Runner => assume_in_transaction.unwrap_or(true),
            FileTransaction::Default => assume_in_transaction.unwrap_or(false),
        };
        let base = if wrapped {
            TxKind::Wrapped
        } else {
            TxKind::Autocommit
        };
        TxState {
            kind: base,
            base,
            not_valid_added: Vec::new(),
            held: Vec::new(),
            empty: Vec::new(),
            enum_values_added: Vec::new(),
            types_created: Vec::new(),
            lock_timeout: false,
            lock_timeout_setting: Setting::default(),
            timezone_utc: false,
            timezone_setting: Setting::default(),
        }
    }

    /// Whether the statement runs inside a transaction block.
    pub fn in_transaction(&self) -> bool {
        self.kind != TxKind::Autocommit
    }

    /// The state the statements inside a `DO` block run in: one transaction,
    /// the DO's own or the one the block runs in. A `COMMIT` in the body
    /// starts a new transaction, still inside the block.
    pub fn enter_do(&self) -> TxState {
        let mut inner = self.clone();
        if !inner.in_transaction() {
            inner.kind = TxKind::Implicit;
        }
        inner.base = inner.kind;
        inner
    }

    /// Moves the state past a `DO` block whose statements left `inner`. In a
    /// transaction block, what the body did stays part of it; in autocommit the
    /// block's own transaction has committed, and only a session-level
    /// `lock_timeout` lasts.
    pub fn leave_do(&mut self, inner: TxState) {
        if self.in_transaction() {
            let (kind, base) = (self.kind, self.base);
            *self = TxState { kind, base, ..inner };
        } else {
            self.lock_timeout_setting = inner.lock_timeout_setting;
            self.lock_timeout_setting.end(false);
            self.timezone_setting = inner.timezone_setting;
            self.timezone_setting.end(false);
            self.sync_settings();
        }
    }

    fn sync_settings(&mut self) {
        self.lock_timeout = self.lock_timeout_setting.current;
        self.timezone_utc = self.timezone_setting.current;
    }

    fn end_transaction(&mut self) {
        self.kind = self.base;
        self.not_valid_added.clear();
        self.held.clear();
        self.empty.clear();
        self.enum_values_added.clear();
        self.types_created.clear();
    }

    /// Moves the state past `stmt`, with the schema model as it stood before
    /// it. A table created in this deploy (by a file at index `deploy_start`
    /// or later, when there is one) has no traffic, so its ACCESS EXCLUSIVE
    /// lock is not counted.
    pub fn advance(&mut self, stmt: &Stmt, pg: PgVersion, schema: &Schema, deploy_start: Option<usize>) {
        let is_new = |t: &QualifiedName| {
            deploy_start.is_some_and(|start| {
                schema
                    .table(t)
                    .and_then(|t| t.created_in())
                    .is_some_and(|created| created >= start)
            })
        };
        match &stmt.kind {
            StmtKind::Begin => {
                self.kind = TxKind::Explicit;
                self.lock_timeout_setting.begin();
                self.timezone_setting.begin();
                return;
            }
            StmtKind::Commit | StmtKind::Rollback => {
                let rolled_back = stmt.kind == StmtKind::Rollback && self.kind == TxKind::Explicit;
                self.lock_timeout_setting.end(rolled_back);
                self.timezone_setting.end(rolled_back);
                self.sync_settings();
                self.end_transaction();
                return;
            }
            StmtKind::Set(set) if set.name == "lock_timeout" => {
                let in_tx = self.in_transaction();
                self.lock_timeout_setting
                    .set(timeout_is_set(&set.value), set.local, in_tx);
                self.sync_settings();
                return;
            }
            StmtKind::Set(set) if set.name == "timezone" || set.name == "time zone" => {
                let in_tx = self.in_transaction();
                self.timezone_setting
                    .set(timezone_is_utc(&set.value), set.local, in_tx);
                self.sync_settings();
                return;
            }
            StmtKind::Reset { name } => {
                let all = name.is_none();
                if all || name.as_deref() == Some("lock_timeout") {
                    self.lock_timeout_setting.reset();
                }
                if all || name.as_deref() == Some("timezone") {
                    self.timezone_setting.reset();
                }
                self.sync_settings();
                return;
            }
            _ => {}
        }
        if !self.in_transaction() {
            return;
        }
        match &stmt.kind {
            StmtKind::AlterTypeAddValue { name, value } => {
                self.enum_values_added.push((name.clone(), value.clone()));
            }
            // Empty until the transaction ends: its ACCESS EXCLUSIVE keeps rows out.
            StmtKind::Truncate { tables } => {
                for table in tables {
                    self.proved_empty(table, is_new(table));
                }
            }
            StmtKind::CreateType { name, .. } => self.types_created.push(name.key()),
            _ => {}
        }
        if let StmtKind::AlterTable(a) = &stmt.kind {
            let proves_empty = a.actions.iter().any(
                |action| matches!(action, AlterAction::AddColumn { column, .. } if fails_on_rows(column)),
            );
            if proves_empty {
                self.proved_empty(&a.table, is_new(&a.table));
            }
            for action in &a.actions {
                if let AlterAction::AddConstraint {
                    constraint,
                    not_valid: true,
                } = action
                {
                    if let Some(name) = &constraint.name {
                        self.not_valid_added.push((a.table.key(), name.clone()));
                    }
                }
            }
        }
        for (table, mode) in statement_locks(stmt, pg, schema) {
            if is_new(&table) {
                continue;
            }
            match self.held.iter_mut().find(|h| h.table.same(&table)) {
                Some(held) if held.mode >= mode => {}
                Some(held) => {
                    held.mode = mode;
                    held.since = stmt.span;
                }
                None => self.held.push(Held {
                    table,
                    mode,
                    since: stmt.span,
                }),
            }
        }
    }

    fn proved_empty(&mut self, table: &QualifiedName, new: bool) {
        if !new && !self.empty.iter().any(|t| t.same(table)) {
            self.empty.push(table.clone());
        }
    }

    /// The existing tables this transaction holds ACCESS EXCLUSIVE on, in the
    /// order it took them.
    pub fn exclusive(&self) -> impl Iterator<Item = &QualifiedName> {
        self.held
            .iter()
            .filter(|h| h.mode == LockMode::AccessExclusive)
            .map(|h| &h.table)
    }

    /// The lock this transaction already holds on `table`, if any.
    pub fn held_on(&self, table: &QualifiedName) -> Option<&Held> {
        self.held.iter().find(|h| h.table.same(table))
    }

    /// Settles `finding` against what the transaction did before its
    /// statement. Its lock becomes the one the statement really runs under:
    /// when an earlier statement took a lock on the finding's table at least
    /// as strong, that lock (which lasts until the transaction ends) and the
    /// statement that took it. And a lock finding on a table the transaction
    /// proved empty drops to info, saying why.
    pub fn settle(&self, finding: &mut Finding) {
        let (Some(mode), Some(table)) = (finding.lock, &finding.table) else {
            return;
        };
        if finding.rule.category == Category::Lock && self.empty.iter().any(|t| t.same(table)) {
            finding.severity = finding.severity.min(Severity::Info);
            finding.message = format!(
                "{}; but {table} is empty here: this transaction truncated it, or added a NOT NULL column \
                 without a default to it, which succeeds only on an empty table",
                finding.message
            );
        }
        if let Some(held) = self.held_on(table).filter(|h| h.mode >= mode) {
            if held.mode > mode {
                finding.message = format!(
                    "{}; and the transaction already holds {} on {table} from an earlier statement, \
                     which {} until it ends",
                    finding.message,
                    held.mode,
                    held.mode.blocks().describe()
                );
            }
            finding.lock = Some(held.mode);
            finding.held_since = Some(held.since);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_sql;

    /// `lock_timeout` before each statement of `sql` (after the statements before it).
    fn timeouts(sql: &str) -> Vec<bool> {
        let mut tx = TxState::new(FileTransaction::Default, None);
        parse_sql(sql)
            .iter()
            .map(|stmt| {
                let before = tx.lock_timeout;
                tx.advance(stmt, PgVersion::DEFAULT, &Schema::default(), None);
                before
            })
            .collect()
    }

    /// The state after each statement of `sql`, linted in autocommit.
    fn states(sql: &str) -> Vec<TxState> {
        let mut tx = TxState::new(FileTransaction::Default, None);
        parse_sql(sql)
            .iter()
            .map(|stmt| {
                tx.advance(stmt, PgVersion::DEFAULT, &Schema::default(), None);
                tx.clone()
            })
            .collect()
    }

    #[test]
    fn do_block_statements_run_in_one_transaction() {
        let stmts =
            parse_sql("ALTER TABLE a ADD COLUMN x int; SET lock_timeout = '1s'; COMMIT; DROP TABLE b");
        let outer = TxState::new(FileTransaction::Default, None);
        let mut inner = outer.enter_do();
        assert_eq!(inner.kind, TxKind::Implicit);
        inner.advance(&stmts[0], PgVersion::DEFAULT, &Schema::default(), None);
        assert_eq!(inner.exclusive().count(), 1);
        inner.advance(&stmts[1], PgVersion::DEFAULT, &Schema::default(), None);
        // COMMIT inside the body starts the next transaction of the block.
        inner.advance(&stmts[2], PgVersion::DEFAULT, &Schema::default(), None);
        assert!(inner.in_transaction() && inner.held.is_empty());
        inner.advance(&stmts[3], PgVersion::DEFAULT, &Schema::default(), None);

        // Autocommit: the block committed; its session SET lasts.
        let mut after = outer.clone();
        after.leave_do(inner.clone());
        assert!(!after.in_transaction() && after.held.is_empty() && after.lock_timeout);

        // In a transaction block, the body's locks stay held.
        let mut explicit = TxState::new(FileTransaction::Wrapped, None);
        let mut inner = explicit.enter_do();
        assert_eq!(inner.kind, TxKind::Wrapped);
        inner.advance(&stmts[0], PgVersion::DEFAULT, &Schema::default(), None);
        explicit.leave_do(inner);
        assert_eq!(
            (explicit.kind, explicit.exclusive().count()),
            (TxKind::Wrapped, 1)
        );
    }

    #[test]
    fn a_finding_states_the_lock_an_earlier_statement_took() {
        use crate::lint::{fixture, lint_snippet, LintSettings};
        let sql = "BEGIN;\nALTER TABLE users ADD COLUMN a int;\nCREATE INDEX i ON users (email);\nCOMMIT;\n\
                   CREATE INDEX j ON users (email);";
        let found = lint_snippet(fixture::SCHEMA, sql, &LintSettings::default());
        let index: Vec<_> = found
            .iter()
            .filter(|f| f.rule.id == "create-index-non-concurrent")
            .collect();
        assert_eq!(index.len(), 2, "{found:#?}");
        assert_eq!(index[0].lock, Some(LockMode::AccessExclusive));
        assert_eq!(
            index[0].held_since.map(|s| s.slice(sql)),
            Some("ALTER TABLE users ADD COLUMN a int")
        );
        assert!(
            index[0]
                .message
                .contains("already holds ACCESS EXCLUSIVE on users"),
            "{}",
            index[0].message
        );
        // After COMMIT the lock is gone.
        assert_eq!(
            (index[1].lock, index[1].held_since),
            (Some(LockMode::Share), None)
        );
    }

    #[test]
    fn a_successful_not_null_column_proves_the_table_empty() {
        use crate::lint::{fixture, lint_snippet, LintSettings, Severity};
        let sql = "BEGIN;\nALTER TABLE users ADD COLUMN a int NOT NULL;\nCREATE INDEX i ON users (email);\nCOMMIT;\n\
                   CREATE INDEX j ON users (email);";
        let found = lint_snippet(fixture::SCHEMA, sql, &LintSettings::default());
        let index: Vec<_> = found
            .iter()
            .filter(|f| f.rule.id == "create-index-non-concurrent")
            .collect();
        assert_eq!(index.len(), 2, "{found:#?}");
        assert_eq!(index[0].severity, Severity::Info);
        assert!(
            index[0].message.contains("users is empty here"),
            "{}",
            index[0].message
        );
        let truncate = "BEGIN;\nTRUNCATE users;\nCREATE INDEX i ON users (email);\nCOMMIT;";
        let after_truncate = lint_snippet(fixture::SCHEMA, truncate, &LintSettings::default());
        let truncated = after_truncate
            .iter()
            .find(|f| f.rule.id == "create-index-non-concurrent")
            .unwrap();
        assert_eq!(truncated.severity, Severity::Info);
        // The proof ends with the transaction; the ADD COLUMN itself stays an error.
        assert_eq!(index[1].severity, Severity::Error);
        assert!(found
            .iter()
            .any(|f| f.rule.id == "add-column-not-null-without-default" && f.severity == Severity::Error));
    }

    #[test]
    fn settings_override_the_runner() {
        let tx = |file, assume| TxState::new(file, assume).kind;
        assert_eq!(tx(FileTransaction::Runner, None), TxKind::Wrapped);
        assert_eq!(tx(FileTransaction::Runner, Some(false)), TxKind::Autocommit);
        assert_eq!(tx(FileTransaction::Default, None), TxKind::Autocommit);
        assert_eq!(tx(FileTransaction::Default, Some(true)), TxKind::Wrapped);
        // A directive wins over both.
        assert_eq!(tx(FileTransaction::NoTransaction, Some(true)), TxKind::Autocommit);
        assert_eq!(tx(FileTransaction::Wrapped, Some(false)), TxKind::Wrapped);
    }

    #[test]
    fn reads_timeout_values() {
        for on in ["2s", "'2s'", "2000", "100ms", "0.5s", "1min"] {
            assert!(timeout_is_set(on), "{on}");
        }
        for off in ["0", "'0'", "0s", "0ms", "DEFAULT", "default", ""] {
            assert!(!timeout_is_set(off), "{off}");
        }
    }

    #[test]
    fn session_set_lasts_until_reset() {
        let sql = "SET lock_timeout = '2s'; SELECT 1; BEGIN; SELECT 1; COMMIT; SELECT 1; RESET lock_timeout; SELECT 1";
        assert_eq!(timeouts(sql), [false, true, true, true, true, true, true, false]);
        assert_eq!(
            timeouts("SET lock_timeout = '2s'; RESET ALL; SELECT 1"),
            [false, true, false]
        );
        assert_eq!(
            timeouts("SET lock_timeout = '2s'; SET lock_timeout = 0; SELECT 1"),
            [false, true, false]
        );
        assert_eq!(timeouts("SET lock_timeout TO DEFAULT; SELECT 1"), [false, false]);
    }

    #[test]
    fn set_local_lasts_until_the_transaction_ends() {
        let sql = "BEGIN; SET LOCAL lock_timeout = '2s'; SELECT 1; COMMIT; SELECT 1";
        assert_eq!(timeouts(sql), [false, false, true, true, false]);
        // Outside a transaction block SET LOCAL has no effect.
        assert_eq!(
            timeouts("SET LOCAL lock_timeout = '2s'; SELECT 1"),
            [false, false]
        );
        // A local 0 overrides the session value, until the end of the transaction.
        let sql = "SET lock_timeout = '2s'; BEGIN; SET LOCAL lock_timeout = 0; SELECT 1; ROLLBACK; SELECT 1";
        assert_eq!(timeouts(sql), [false, true, true, false, false, true]);
    }

    #[test]
    fn rollback_undoes_a_session_set_made_in_the_transaction() {
        let sql = "BEGIN; SET lock_timeout = '2s'; SELECT 1; ROLLBACK; SELECT 1";
        assert_eq!(timeouts(sql), [false, false, true, true, false]);
        let sql = "BEGIN; SET lock_timeout = '2s'; COMMIT; SELECT 1";
        assert_eq!(timeouts(sql), [false, false, true, true]);
    }

    #[test]
    fn remembers_enum_values_and_types_until_the_transaction_ends() {
        let s = states(
            "ALTER TYPE a ADD VALUE 'x';\nBEGIN;\nCREATE TYPE t AS ENUM ('p');\n\
             ALTER TYPE s.e ADD VALUE 'it''s';\nCOMMIT;",
        );
        assert!(s[0].enum_values_added.is_empty(), "autocommit remembers nothing");
        assert_eq!(s[2].types_created, [("public".to_string(), "t".to_string())]);
        let (ty, value) = &s[3].enum_values_added[0];
        assert_eq!((ty.to_string().as_str(), value.as_str()), ("s.e", "it's"));
        assert!(s[4].enum_values_added.is_empty() && s[4].types_created.is_empty());
    }
}
