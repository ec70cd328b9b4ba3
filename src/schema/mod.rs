//! What the migrations so far have created: tables, columns, constraints and
//! indexes, built up statement by statement from [`Stmt`]s.
//!
//! Lint consults it to tell a table created in this file (no traffic, no
//! lock concern) from one that holds data, and to know a column's old type.

use crate::parse::{Stmt, TypeName};
use crate::pg::QualifiedName;
use std::collections::HashMap;

/// The schema model.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    tables: HashMap<(String, String), Table>,
}

/// A table the history created.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Index of the file that created it; `None` when it came from outside the history.
    pub created_in: Option<usize>,
    pub columns: Vec<Column>,
}

/// A column.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: TypeName,
    pub not_null: bool,
}

impl Schema {
    /// The table named `name`, if the history created it.
    pub fn table(&self, name: &QualifiedName) -> Option<&Table> {
        self.tables.get(&name.key())
    }

    /// Applies one statement of file `file_index` (stub).
    pub fn apply(&mut self, _stmt: &Stmt, _file_index: usize) {}
}
