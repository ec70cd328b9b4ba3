//! `drop-not-null`: `ALTER COLUMN … DROP NOT NULL` lets NULLs in that running code may not expect.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "drop-not-null",
    category: Category::Compat,
    default_severity: Severity::Info,
    lock: Some(LockMode::AccessExclusive),
    summary: "dropping NOT NULL lets NULLs in that running code may not expect",
    doc: "### What it does\n\
Flags `ALTER TABLE … ALTER COLUMN … DROP NOT NULL` on a table that existed before this migration, \
unless the history shows the column nullable already (then the statement does nothing).\n\n\
### Why is this bad?\n\
The change is instant (a brief ACCESS EXCLUSIVE lock), but once new code writes NULLs, readers \
that assumed the column is always set (including the previous version of the application, after a \
rollback) may crash or misbehave.\n\n\
### Postgres versions\n\
All versions. On PostgreSQL 18 it also drops the column's NOT NULL constraint row.\n\n\
### Use instead\n\
Deploy code that handles NULL in the column first, then drop the constraint. Silence the finding \
once every reader is ready: `-- migrate:ignore drop-not-null -- readers handle NULL since v42`.",
    bad: "ALTER TABLE accounts ALTER COLUMN name DROP NOT NULL;",
    good: "ALTER TABLE accounts ALTER COLUMN name SET DEFAULT '';",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    let table = cx.table(&alter.table);
    for action in &alter.actions {
        let AlterAction::DropNotNull { column } = action else {
            continue;
        };
        // A column the history knows to be nullable: a no-op.
        if table.and_then(|t| t.column(column)).is_some_and(|c| !c.not_null) {
            continue;
        }
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "dropping NOT NULL on {}.{column} lets NULLs in that running code may not expect",
                    alter.table
                ),
            )
            .table(&alter.table)
            .help("deploy code that handles NULL in this column before dropping the constraint"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_drop_not_null() {
        let f = assert_flags(&RULE, "ALTER TABLE accounts ALTER COLUMN name DROP NOT NULL;");
        assert!(f.message.contains("accounts.name"), "{}", f.message);
    }

    #[test]
    fn flags_quoted_and_schema_qualified_names() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE app.\"Accounts\" ALTER \"Name\" DROP NOT NULL;",
        );
        assert_eq!(f.table.unwrap().to_string(), "app.\"Accounts\"");
    }

    #[test]
    fn ignores_a_column_already_nullable() {
        assert_clean(&RULE, "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;");
    }

    #[test]
    fn ignores_set_not_null_and_new_tables() {
        assert_clean(&RULE, "ALTER TABLE accounts ALTER COLUMN name SET NOT NULL;");
        assert_clean(
            &RULE,
            "CREATE TABLE t (a int NOT NULL);\nALTER TABLE t ALTER COLUMN a DROP NOT NULL;",
        );
    }
}
