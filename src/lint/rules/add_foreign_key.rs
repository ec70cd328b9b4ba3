//! `add-foreign-key`: a foreign key added without `NOT VALID` on an existing table.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "add-foreign-key",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::ShareRowExclusive),
    summary: "adding a foreign key validates every row while blocking writes on both tables",
    doc: "### What it does\n\
Flags `ADD [CONSTRAINT …] FOREIGN KEY … REFERENCES` without `NOT VALID` on an existing table, and \
`ADD COLUMN … REFERENCES` on an existing table.\n\n\
### Why is this bad?\n\
PostgreSQL takes SHARE ROW EXCLUSIVE on the table *and* on the referenced table, then checks every \
row: writes to both tables wait for the whole scan. `ADD COLUMN … REFERENCES` needs no scan (the new \
column is all NULL), but takes ACCESS EXCLUSIVE on the table and SHARE ROW EXCLUSIVE on the \
referenced one in the same statement.\n\n\
### Postgres versions\n\
All versions (`NOT VALID` foreign keys since 9.1).\n\n\
### Use instead\n\
```sql\nALTER TABLE orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;\n\
ALTER TABLE orders VALIDATE CONSTRAINT orders_account_fk;  -- SHARE UPDATE EXCLUSIVE: traffic continues\n```\n\
Each statement in its own transaction.",
    bad: "ALTER TABLE users ADD CONSTRAINT users_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id);",
    good: "ALTER TABLE users ADD CONSTRAINT users_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    for (index, action) in alter.actions.iter().enumerate() {
        let message = match action {
            AlterAction::AddConstraint { constraint, not_valid: false } => match &constraint.kind {
                ConstraintKind::ForeignKey { references, .. } => format!(
                    "adding a foreign key validates every row of {} under SHARE ROW EXCLUSIVE, blocking writes to it and to {references}",
                    alter.table
                ),
                _ => continue,
            },
            AlterAction::AddColumn { column, .. } => match &column.references {
                Some(references) => format!(
                    "`ADD COLUMN {} … REFERENCES {references}` locks {} and {references} in one statement, blocking writes to both",
                    column.name, alter.table
                ),
                None => continue,
            },
            _ => continue,
        };
        out.push(
            Finding::new(&RULE, stmt.span, message)
                .table(&alter.table)
                .action(index)
                .help("add the foreign key NOT VALID, then VALIDATE CONSTRAINT in its own transaction"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_validated_foreign_key() {
        assert_flags(
            &RULE,
            "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id);",
        );
    }

    #[test]
    fn flags_add_column_references() {
        assert_flags(
            &RULE,
            "ALTER TABLE orders ADD COLUMN account_id bigint REFERENCES accounts (id);",
        );
    }

    #[test]
    fn ignores_not_valid_and_new_tables() {
        assert_clean(
            &RULE,
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
        );
        assert_clean(
            &RULE,
            "CREATE TABLE t (u bigint);\nALTER TABLE t ADD FOREIGN KEY (u) REFERENCES users (id);",
        );
    }
}
