//! `add-column-not-null-without-default`: adding a NOT NULL column with no default fails on a populated table.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, Stmt};

pub(crate) static RULE: Rule = Rule {
    id: "add-column-not-null-without-default",
    category: Category::Correctness,
    default_severity: Severity::Error,
    // The statement fails rather than blocks, so the finding claims no lock.
    lock: None,
    summary: "`ADD COLUMN … NOT NULL` without a default fails on a table that has rows",
    doc: "### What it does\n\
Flags `ALTER TABLE … ADD COLUMN c T NOT NULL` with no `DEFAULT` on an existing table.\n\n\
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

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    for (index, action) in alter.actions.iter().enumerate() {
        let AlterAction::AddColumn { column, .. } = action else {
            continue;
        };
        let filled = column.default.is_some() || column.generated.is_some() || column.ty.is_serial();
        if !column.not_null || filled {
            continue;
        }
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "adding NOT NULL column {} without a default fails on {} once it has rows",
                    column.name, alter.table
                ),
            )
            .table(&alter.table)
            .action(index)
            .help("give the column a constant DEFAULT, or add it nullable, backfill, then set NOT NULL"),
        );
    }
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
