//! What the `style` rules share: each flags the columns a statement defines
//! (in `CREATE TABLE` or `ALTER TABLE … ADD COLUMN`) whose type it picks.

use super::{Finding, Rule};
use crate::parse::{ColumnDef, Stmt, TypeName};
use crate::pg::QualifiedName;

/// One finding of `rule` per column `stmt` defines whose type `flagged`
/// picks: `message(table, column)`, the column as its label, and `help`.
pub(crate) fn flag_column_types(
    rule: &'static Rule,
    stmt: &Stmt,
    out: &mut Vec<Finding>,
    flagged: fn(&TypeName) -> bool,
    message: impl Fn(&QualifiedName, &ColumnDef) -> String,
    help: &str,
) {
    for (table, column) in stmt.defined_columns() {
        if flagged(&column.ty) {
            out.push(
                Finding::new(rule, stmt.span, message(table, column))
                    .label(format!("column {}", column.name))
                    .help(help),
            );
        }
    }
}
