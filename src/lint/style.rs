//! What the `style` rules share: each flags the columns a statement defines
//! (in `CREATE TABLE` or `ALTER TABLE … ADD COLUMN`) whose type it picks.

use super::{Finding, LintContext, Rule};
use crate::parse::{slices, ColumnDef, Stmt, TypeName};
use crate::pg::QualifiedName;

/// One finding of `rule` per column `stmt` defines whose type `flagged`
/// picks, on the column's definition: `message(table, column)`, the column
/// as its label, and `help`.
pub(crate) fn flag_column_types(
    rule: &'static Rule,
    cx: &LintContext,
    stmt: &Stmt,
    out: &mut Vec<Finding>,
    flagged: fn(&TypeName) -> bool,
    message: impl Fn(&QualifiedName, &ColumnDef) -> String,
    help: &str,
) {
    let mut definitions = None;
    for (table, column) in stmt.defined_columns() {
        if !flagged(&column.ty) {
            continue;
        }
        // Found only when a column is flagged: most statements have none.
        let definitions =
            definitions.get_or_insert_with(|| slices::column_definitions(stmt.span.slice(&cx.source.text)));
        let span = definitions
            .iter()
            .find(|(name, _)| *name == column.name)
            .map_or(stmt.span, |(_, span)| span.shift(stmt.span.start));
        out.push(
            Finding::new(rule, span, message(table, column))
                .label(format!("column {}", column.name))
                .help(help),
        );
    }
}
