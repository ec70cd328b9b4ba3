//! `add-check-constraint`: a CHECK constraint added without `NOT VALID` on an existing table.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "add-check-constraint",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "adding a CHECK constraint scans the table while blocking reads and writes",
    doc: "### What it does\n\
Flags `ADD [CONSTRAINT …] CHECK (…)` without `NOT VALID`, and `ADD COLUMN … CHECK (…)`, on an existing table.\n\n\
### Why is this bad?\n\
PostgreSQL verifies every row under ACCESS EXCLUSIVE: no reads or writes until the scan ends.\n\n\
### Postgres versions\n\
All versions (`NOT VALID` CHECK constraints since 9.2).\n\n\
### Use instead\n\
```sql\nALTER TABLE users ADD CONSTRAINT users_age_positive CHECK (age >= 0) NOT VALID;\n\
ALTER TABLE users VALIDATE CONSTRAINT users_age_positive;  -- SHARE UPDATE EXCLUSIVE: traffic continues\n```\n\
Each statement in its own transaction.",
    bad: "ALTER TABLE users ADD CONSTRAINT users_age_positive CHECK (age >= 0);",
    good: "ALTER TABLE users ADD CONSTRAINT users_age_positive CHECK (age >= 0) NOT VALID;",
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
            AlterAction::AddConstraint {
                constraint,
                not_valid: false,
            } => {
                matches!(constraint.kind, ConstraintKind::Check { .. })
            }
            AlterAction::AddColumn { column, .. } => column.check,
            _ => false,
        };
        if flagged {
            out.push(
                Finding::new(
                    &RULE,
                    stmt.span,
                    format!(
                        "adding a CHECK constraint scans {} under ACCESS EXCLUSIVE, blocking reads and writes",
                        alter.table
                    ),
                )
                .table(&alter.table)
                .action(index)
                .label("held until every row is checked")
                .help("add the constraint NOT VALID, then VALIDATE CONSTRAINT in its own transaction"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_validated_check() {
        assert_flags(&RULE, "ALTER TABLE users ADD CHECK (age > 0);");
        assert_flags(
            &RULE,
            "ALTER TABLE users ADD COLUMN score int DEFAULT 0 CHECK (score >= 0);",
        );
    }

    #[test]
    fn ignores_not_valid_and_new_tables() {
        assert_clean(
            &RULE,
            "ALTER TABLE users ADD CONSTRAINT c CHECK (age > 0) NOT VALID;",
        );
        assert_clean(&RULE, "CREATE TABLE t (a int);\nALTER TABLE t ADD CHECK (a > 0);");
    }
}
