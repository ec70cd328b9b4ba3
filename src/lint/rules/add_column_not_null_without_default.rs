//! `add-column-not-null-without-default`: adding a NOT NULL column with no default fails on a populated table.

use crate::lint::{and_list, Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ColumnDef, Stmt};

pub(crate) static RULE: Rule = Rule {
    id: "add-column-not-null-without-default",
    category: Category::Correctness,
    default_severity: Severity::Error,
    // The statement fails rather than blocks, so the finding claims no lock.
    lock: None,
    summary: "`ADD COLUMN … NOT NULL` without a default fails on a table that has rows",
    doc: "### What it does\n\
Flags `ALTER TABLE … ADD COLUMN c T NOT NULL` (or `PRIMARY KEY`) with no `DEFAULT` on an existing \
table, once per statement. Inside a transaction, such an `ADD COLUMN` that succeeds proves the table \
empty: later lock findings on that table in the same transaction are reported as info, with that \
reason.\n\n\
### Why is this bad?\n\
Every existing row would get NULL, so PostgreSQL scans the table under ACCESS EXCLUSIVE and then \
fails with `column \"c\" contains null values`. Application code that does not know the column yet \
also fails on insert.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Give the column a non-volatile default (instant on PG 11+):\n\
```sql\nALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;\n```\n\
or add it nullable, backfill it, and add NOT NULL with the `set-not-null` pattern. No tool can \
choose the value for existing rows for you.",
    bad: "ALTER TABLE users ADD COLUMN active boolean NOT NULL;",
    good: "ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// Whether adding `column` fails on a table that has rows: NOT NULL (or a
/// primary key) with nothing to fill existing rows. A transaction where such
/// an `ADD COLUMN` succeeded proves the table empty.
pub(crate) fn fails_on_rows(column: &ColumnDef) -> bool {
    let filled = column.default.is_some() || column.generated.is_some() || column.ty.is_serial();
    (column.not_null || column.primary_key) && !filled
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    let (indexes, columns): (Vec<usize>, Vec<String>) = alter
        .actions
        .iter()
        .enumerate()
        .filter_map(|(index, action)| match action {
            AlterAction::AddColumn { column, .. } if fails_on_rows(column) => {
                Some((index, column.name.to_string()))
            }
            _ => None,
        })
        .unzip();
    if indexes.is_empty() {
        return;
    }
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "adding NOT NULL {} {} without a default fails on {} once it has rows",
                if columns.len() == 1 { "column" } else { "columns" },
                and_list(&columns),
                alter.table
            ),
        )
        .table(&alter.table)
        .actions(&indexes)
        .help("give the column a constant DEFAULT, or add it nullable, backfill, then set NOT NULL"),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_not_null_without_default() {
        assert_flags(&RULE, "ALTER TABLE users ADD COLUMN \"Active\" boolean NOT NULL;");
    }

    #[test]
    fn ignores_columns_with_a_default_or_nullable() {
        assert_clean(
            &RULE,
            "ALTER TABLE users ADD COLUMN a boolean NOT NULL DEFAULT false;",
        );
        assert_clean(&RULE, "ALTER TABLE users ADD COLUMN a boolean;");
        assert_clean(&RULE, "ALTER TABLE users ADD COLUMN a bigserial NOT NULL;");
    }

    #[test]
    fn ignores_new_table() {
        assert_clean(
            &RULE,
            "CREATE TABLE t (c int);\nALTER TABLE t ADD COLUMN d int NOT NULL;",
        );
    }
}
