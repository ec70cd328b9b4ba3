//! `drop-column`: `ALTER TABLE … DROP COLUMN` breaks code that still reads the column, and deletes its data.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "drop-column",
    category: Category::Compat,
    default_severity: Severity::Warning,
    lock: Some(LockMode::AccessExclusive),
    summary: "dropping a column breaks running code that still reads it, and its data is gone",
    doc: "### What it does\n\
Flags `ALTER TABLE … DROP COLUMN` on a table that existed before this migration.\n\n\
### Why is this bad?\n\
The drop is instant (a brief ACCESS EXCLUSIVE lock on the table, and on the referenced table too \
when the column carries a foreign key), but it is destructive: the data cannot be recovered without \
a backup, and the application version running now may still select or insert the column. ORMs \
that cache the column list (Rails caches even unused columns) fail until they restart.\n\n\
### Postgres versions\n\
All versions. The space is reclaimed only as rows are rewritten.\n\n\
### Use instead\n\
1. Deploy code that no longer reads or writes the column, and tell the ORM to ignore it \
(Rails `ignored_columns`, GitLab `ignore_column`).\n\
2. Drop its indexes with `DROP INDEX CONCURRENTLY`, and its foreign keys in their own short transactions.\n\
3. Then drop it: `ALTER TABLE users DROP COLUMN IF EXISTS age;`\n\
4. Remove the ignore rule in a later release.",
    bad: "ALTER TABLE users DROP COLUMN age;",
    good: "ALTER TABLE users ADD COLUMN nickname text;\nALTER TABLE users DROP COLUMN nickname;",
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
        let AlterAction::DropColumn { columns, .. } = action else {
            continue;
        };
        for column in columns {
            // A column this file added to an existing table holds no data yet
            // and no running code knows it.
            let added_here = table
                .and_then(|t| t.column(column))
                .is_some_and(|c| cx.in_this_deploy(c.added_in));
            if added_here {
                continue;
            }
            let mut message = format!(
                "dropping {}.{column} breaks running code that still reads it, and its data is gone",
                alter.table
            );
            let referenced: Vec<String> = table
                .into_iter()
                .flat_map(|t| t.constraints())
                .filter_map(|c| match &c.kind {
                    ConstraintKind::ForeignKey { columns, references } if columns.contains(column) => {
                        Some(references.to_string())
                    }
                    _ => None,
                })
                .collect();
            if !referenced.is_empty() {
                message.push_str(&format!(
                    "; its foreign key also takes ACCESS EXCLUSIVE on {}",
                    referenced.join(", ")
                ));
            }
            out.push(
                Finding::new(&RULE, stmt.span, message)
                    .table(&alter.table)
                    .label("destructive")
                    .help("deploy code that ignores the column first, then drop it in a later migration"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings};

    #[test]
    fn flags_drop_column_on_existing_table() {
        let f = assert_flags(&RULE, "ALTER TABLE users DROP COLUMN IF EXISTS age;");
        assert!(f.message.contains("users.age"), "{}", f.message);
        assert_eq!(
            findings(&RULE, "ALTER TABLE users DROP COLUMN age, DROP COLUMN name;").len(),
            2
        );
    }

    #[test]
    fn flags_quoted_and_schema_qualified_names() {
        let f = assert_flags(&RULE, "ALTER TABLE app.\"Users\" DROP COLUMN \"Age\";");
        assert_eq!(f.table.unwrap().to_string(), "app.\"Users\"");
        assert!(f.message.contains("\"Age\""), "{}", f.message);
    }

    #[test]
    fn names_the_table_a_foreign_key_column_points_to() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE users ADD CONSTRAINT users_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;\n\
             ALTER TABLE users DROP COLUMN account_id;",
        );
        assert!(
            f.message.contains("ACCESS EXCLUSIVE on accounts"),
            "{}",
            f.message
        );
    }

    #[test]
    fn ignores_new_tables_and_columns_added_in_this_file() {
        assert_clean(
            &RULE,
            "CREATE TABLE t (a int, b int);\nALTER TABLE t DROP COLUMN b;",
        );
        assert_clean(&RULE, RULE.good);
    }
}
