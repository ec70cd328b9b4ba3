//! `rename-column`: `ALTER TABLE … RENAME COLUMN` breaks running code that uses the old name.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{parse_statement, AlterAction, Stmt, StmtKind};
use crate::pg::{LockMode, QualifiedName};

pub(crate) static RULE: Rule = Rule {
    id: "rename-column",
    category: Category::Compat,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "renaming a column breaks running code that still uses the old name",
    doc: "### What it does\n\
Flags `ALTER TABLE … RENAME COLUMN a TO b` on a table that existed before this migration, unless an \
earlier statement of the same file renamed the table (`rename-table` reports that breakage once), or the \
same file added the column (no running code uses it yet).\n\n\
### Why is this bad?\n\
The rename itself is instant (a brief ACCESS EXCLUSIVE lock), but every query of the application \
version that is running now still names `a`, and fails with `column \"a\" does not exist` the moment \
the migration commits. During a rolling deploy, and after a rollback, old code runs against the new \
schema.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Expand, deploy, contract:\n\n\
- **Sync trigger + ignore column.** Add `b`, keep it in sync with a trigger, backfill it, deploy code \
that reads and writes `b` (and tells the ORM to ignore `a`), then drop the trigger and `a`:\n\
```sql\nALTER TABLE users ADD COLUMN full_name varchar(50);\n\
CREATE FUNCTION users_full_name_sync() RETURNS trigger LANGUAGE plpgsql AS $$\n\
BEGIN NEW.full_name := NEW.name; RETURN NEW; END $$;\n\
CREATE TRIGGER users_full_name_sync BEFORE INSERT OR UPDATE ON users\n\
    FOR EACH ROW EXECUTE FUNCTION users_full_name_sync();\n\
UPDATE users SET full_name = name WHERE id >= $1 AND id < $2;  -- in batches\n\
-- deploy code that uses full_name and ignores name, then:\n\
DROP TRIGGER users_full_name_sync ON users;\n\
ALTER TABLE users DROP COLUMN name;\n```\n\
- **View trick.** In one transaction rename the column, rename the table, and create an updatable \
view under the old table name that exposes both names (`SELECT *, full_name AS name FROM …`); drop \
the view once no running code uses the old name.\n\
- Or keep the database name and rename only in the application's model.",
    bad: "ALTER TABLE users RENAME COLUMN name TO full_name;",
    good: "ALTER TABLE users ADD COLUMN full_name varchar(50);",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// Whether an earlier statement of this file renamed a table to `table`:
/// running code already broke there (`rename-table` said so), and the
/// renames of its columns that follow break nothing more.
fn renamed_earlier_in_file(cx: &LintContext, stmt: &Stmt, table: &QualifiedName) -> bool {
    let text = &cx.source.text;
    cx.source
        .statements
        .iter()
        .take_while(|s| s.span.end <= stmt.span.start)
        .filter(|s| s.span.slice(text).to_ascii_uppercase().contains("RENAME"))
        .any(|s| match parse_statement(text, s).kind {
            StmtKind::AlterTable(earlier) => earlier.actions.iter().any(|a| {
                matches!(a, AlterAction::RenameTable { to }
                    if *to == table.name && earlier.table.schema == table.schema)
            }),
            _ => false,
        })
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    if !alter
        .actions
        .iter()
        .any(|a| matches!(a, AlterAction::RenameColumn { .. }))
        || renamed_earlier_in_file(cx, stmt, &alter.table)
    {
        return;
    }
    let table = cx.table(&alter.table);
    for action in &alter.actions {
        let AlterAction::RenameColumn { from, to } = action else {
            continue;
        };
        // A column this deploy added: no running code uses it yet.
        if table
            .and_then(|t| t.column(from))
            .is_some_and(|c| cx.in_this_deploy(c.added_in))
        {
            continue;
        }
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "renaming {}.{from} to {to} breaks running code that still uses {from}",
                    alter.table
                ),
            )
            .table(&alter.table)
            .label("old code fails as soon as this commits")
            .help(
                "add the new column, keep it in sync with a trigger, and drop the old one after the deploy",
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn ignores_a_column_added_in_the_same_file() {
        assert_clean(
            &RULE,
            "ALTER TABLE users ADD COLUMN role_temp text;\nALTER TABLE users RENAME COLUMN role_temp TO role;",
        );
    }

    #[test]
    fn a_table_renamed_earlier_in_the_file_is_reported_once() {
        assert_clean(
            &RULE,
            "ALTER TABLE users RENAME TO people;\nALTER TABLE people RENAME COLUMN name TO full_name;",
        );
        // Another table's rename does not count.
        assert_flags(
            &RULE,
            "ALTER TABLE orders RENAME TO purchases;\nALTER TABLE users RENAME COLUMN name TO full_name;",
        );
    }

    #[test]
    fn flags_rename_on_existing_table() {
        let f = assert_flags(&RULE, "ALTER TABLE users RENAME COLUMN name TO full_name;");
        assert!(f.message.contains("users.name to full_name"), "{}", f.message);
    }

    #[test]
    fn flags_quoted_and_schema_qualified_names() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE public.\"Users\" RENAME COLUMN \"Name\" TO \"FullName\";",
        );
        assert_eq!(f.table.unwrap().to_string(), "public.\"Users\"");
        assert!(f.message.contains("\"Name\""), "{}", f.message);
        let f = assert_flags(&RULE, "ALTER TABLE Users RENAME name TO full_name;");
        assert_eq!(f.table.unwrap().to_string(), "users");
    }

    #[test]
    fn ignores_other_renames_and_new_tables() {
        assert_clean(&RULE, "ALTER TABLE users RENAME TO people;");
        assert_clean(
            &RULE,
            "CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;",
        );
    }
}
