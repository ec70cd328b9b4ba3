//! `rename-table`: `ALTER TABLE … RENAME TO` or `SET SCHEMA` breaks running code that uses the old name.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "rename-table",
    category: Category::Compat,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "renaming a table or moving it to another schema breaks running code that uses the old name",
    doc: "### What it does\n\
Flags `ALTER TABLE … RENAME TO` and `ALTER TABLE … SET SCHEMA` on a table that existed before this \
migration.\n\n\
### Why is this bad?\n\
The rename is instant (a brief ACCESS EXCLUSIVE lock), but the application version running now \
still queries the old name and fails with `relation … does not exist` as soon as the migration \
commits. During a rolling deploy, and after a rollback, old code runs against the new schema.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
- **View trick.** Rename the table and, in the same transaction, leave an updatable view under the \
old name; drop the view once no running code uses it:\n\
```sql\nBEGIN;\nALTER TABLE users RENAME TO people;\nCREATE VIEW users AS SELECT * FROM people;\nCOMMIT;\n\
-- after the deploy that uses people:\nDROP VIEW users;\n```\n\
A simple `SELECT *` view over one table is updatable, so old code keeps reading and writing. \
Applications that cache the schema (Rails, GitLab's `TABLES_TO_BE_RENAMED`) need to be told first.\n\
- **Shadow table.** Create the new table, keep it in sync with triggers, backfill, switch the code, \
then drop the old table.\n\
- Or keep the database name and rename only in the application's model.",
    bad: "ALTER TABLE orders RENAME TO purchases;",
    good: "CREATE TABLE purchases (id bigint PRIMARY KEY);\nALTER TABLE purchases RENAME TO purchase_orders;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    for action in &alter.actions {
        let message = match action {
            AlterAction::RenameTable { to } => format!(
                "renaming {} to {to} breaks running code that still queries {}",
                alter.table, alter.table
            ),
            AlterAction::SetSchema { schema } => format!(
                "moving {} to schema {schema} breaks running code that still queries it by its old name",
                alter.table
            ),
            _ => continue,
        };
        out.push(
            Finding::new(&RULE, stmt.span, message)
                .table(&alter.table)
                .label("old code fails as soon as this commits")
                .help("leave an updatable view under the old name in the same transaction, and drop it after the deploy"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_rename_and_set_schema() {
        let f = assert_flags(&RULE, "ALTER TABLE orders RENAME TO purchases;");
        assert!(f.message.contains("orders to purchases"), "{}", f.message);
        let f = assert_flags(&RULE, "ALTER TABLE orders SET SCHEMA archive;");
        assert!(f.message.contains("schema archive"), "{}", f.message);
    }

    #[test]
    fn flags_quoted_and_schema_qualified_names() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE IF EXISTS app.\"Orders\" RENAME TO \"Purchases\";",
        );
        assert_eq!(f.table.unwrap().to_string(), "app.\"Orders\"");
        assert!(f.message.contains("\"Purchases\""), "{}", f.message);
    }

    #[test]
    fn ignores_column_renames_and_new_tables() {
        assert_clean(&RULE, "ALTER TABLE orders RENAME COLUMN status TO state;");
        assert_clean(&RULE, RULE.good);
        assert_clean(&RULE, "CREATE TABLE t (a int);\nALTER TABLE t SET SCHEMA s;");
    }
}
