//! The transaction a statement runs in.
//!
//! Explicit `BEGIN … COMMIT` blocks are transactions; other statements run
//! one by one in autocommit, unless the runner wraps the whole file
//! (`--assume-in-transaction`, config `assume_in_transaction`, or a file
//! directive).

use super::locks::statement_locks;
use crate::parse::{AlterAction, Stmt, StmtKind};
use crate::pg::{Ident, LockMode, PgVersion, QualifiedName};
use crate::source::FileTransaction;

/// How the statements of a file are grouped into transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// Each statement is its own transaction.
    Autocommit,
    /// Inside `BEGIN … COMMIT`.
    Explicit,
    /// Inside the transaction the runner wraps the file in.
    Wrapped,
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
    /// Existing tables this transaction already holds ACCESS EXCLUSIVE on.
    pub exclusive: Vec<QualifiedName>,
    /// Whether `lock_timeout` is set for this statement (session or transaction).
    pub lock_timeout: bool,
    session_lock_timeout: bool,
}

impl TxState {
    /// The state at the start of a file.
    pub fn new(file: FileTransaction, assume_in_transaction: bool) -> TxState {
        let base = match file {
            FileTransaction::NoTransaction => TxKind::Autocommit,
            FileTransaction::Wrapped => TxKind::Wrapped,
            FileTransaction::Default if assume_in_transaction => TxKind::Wrapped,
            FileTransaction::Default => TxKind::Autocommit,
        };
        TxState {
            kind: base,
            base,
            not_valid_added: Vec::new(),
            exclusive: Vec::new(),
            lock_timeout: false,
            session_lock_timeout: false,
        }
    }

    /// Whether the statement runs inside a transaction block.
    pub fn in_transaction(&self) -> bool {
        self.kind != TxKind::Autocommit
    }

    fn end_transaction(&mut self) {
        self.kind = self.base;
        self.not_valid_added.clear();
        self.exclusive.clear();
        self.lock_timeout = self.session_lock_timeout;
    }

    /// Moves the state past `stmt`. `is_new` tells whether a table was
    /// created in this file (its locks block nobody).
    pub fn advance(&mut self, stmt: &Stmt, pg: PgVersion, is_new: impl Fn(&QualifiedName) -> bool) {
        match &stmt.kind {
            StmtKind::Begin => {
                self.kind = TxKind::Explicit;
                return;
            }
            StmtKind::Commit | StmtKind::Rollback => {
                self.end_transaction();
                return;
            }
            StmtKind::Set(set) if set.name == "lock_timeout" => {
                let on = !matches!(set.value.trim(), "0" | "" | "default" | "DEFAULT");
                if set.local {
                    self.lock_timeout = on && self.in_transaction();
                } else {
                    self.session_lock_timeout = on;
                    self.lock_timeout = on;
                }
                return;
            }
            StmtKind::Reset { name } if name.as_deref().is_none_or(|n| n == "lock_timeout") => {
                self.session_lock_timeout = false;
                self.lock_timeout = false;
                return;
            }
            _ => {}
        }
        if !self.in_transaction() {
            return;
        }
        if let StmtKind::AlterTable(a) = &stmt.kind {
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
        for (table, mode) in statement_locks(stmt, pg) {
            if mode == LockMode::AccessExclusive
                && !is_new(&table)
                && !self.exclusive.iter().any(|t| t.key() == table.key())
            {
                self.exclusive.push(table);
            }
        }
    }
}
