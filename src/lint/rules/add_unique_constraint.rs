//! `add-unique-constraint`: a UNIQUE constraint that builds its index under ACCESS EXCLUSIVE.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "add-unique-constraint",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "adding a UNIQUE constraint builds an index while blocking reads and writes",
    doc: "### What it does\n\
Flags `ADD [CONSTRAINT …] UNIQUE (…)` and `ADD COLUMN … UNIQUE` on an existing table, unless the \
constraint uses an existing index (`UNIQUE USING INDEX`).\n\n\
### Why is this bad?\n\
The unique index is built under the ACCESS EXCLUSIVE lock of `ALTER TABLE`: no reads, no writes for \
the whole build.\n\n\
### Postgres versions\n\
All versions (`USING INDEX` since 9.1).\n\n\
### Use instead\n\
```sql\nCREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);  -- outside a transaction\n\
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;  -- instant\n```\n\
Check that the index is valid (`pg_index.indisvalid`) between the two steps.",
    bad: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
    good: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    for (index, action) in alter.actions.iter().enumerate() {
        let flagged = match action {
            AlterAction::AddConstraint { constraint, .. } => {
                matches!(
                    constraint.kind,
                    ConstraintKind::Unique {
                        using_index: None,
                        ..
                    }
                )
            }
            AlterAction::AddColumn { column, .. } => column.unique && !column.primary_key,
            _ => false,
        };
        if flagged {
            out.push(
                Finding::new(
                    &RULE,
                    stmt.span,
                    format!(
                        "adding a UNIQUE constraint builds its index under ACCESS EXCLUSIVE on {}, blocking reads and writes",
                        alter.table
                    ),
                )
                .table(&alter.table)
                .action(index)
                .help("build a unique index CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_unique_constraint() {
        assert_flags(&RULE, "ALTER TABLE users ADD UNIQUE (email);");
        assert_flags(&RULE, "ALTER TABLE users ADD COLUMN handle text UNIQUE;");
    }

    #[test]
    fn ignores_using_index_and_new_tables() {
        assert_clean(
            &RULE,
            "ALTER TABLE users ADD CONSTRAINT k UNIQUE USING INDEX users_email_idx;",
        );
        assert_clean(&RULE, "CREATE TABLE t (a int);\nALTER TABLE t ADD UNIQUE (a);");
    }
}
