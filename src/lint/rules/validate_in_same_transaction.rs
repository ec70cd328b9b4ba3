//! `validate-in-same-transaction`: `VALIDATE CONSTRAINT` in the transaction that added it `NOT VALID`.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "validate-in-same-transaction",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "validating a constraint in the transaction that added it keeps the ADD's lock for the whole scan",
    doc: "### What it does\n\
Flags `ALTER TABLE … VALIDATE CONSTRAINT c` when `c` was added `NOT VALID` earlier in the same transaction.\n\n\
### Why is this bad?\n\
`ADD CONSTRAINT … NOT VALID` takes a strong lock (ACCESS EXCLUSIVE for CHECK, SHARE ROW EXCLUSIVE \
for foreign keys). Locks are held until the transaction ends, so the VALIDATE scan runs under that \
lock: the NOT VALID split gains nothing.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Commit between the two statements:\n\
```sql\nALTER TABLE users ADD CONSTRAINT users_age_positive CHECK (age >= 0) NOT VALID;\nCOMMIT;\n\
ALTER TABLE users VALIDATE CONSTRAINT users_age_positive;\n```",
    bad: "BEGIN;\nALTER TABLE users ADD CONSTRAINT users_age_positive CHECK (age >= 0) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT users_age_positive;\nCOMMIT;",
    good: "ALTER TABLE users ADD CONSTRAINT users_age_positive CHECK (age >= 0) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT users_age_positive;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    for (index, action) in alter.actions.iter().enumerate() {
        let AlterAction::ValidateConstraint { name } = action else {
            continue;
        };
        let added_here = cx
            .tx
            .not_valid_added
            .iter()
            .any(|(table, n)| *table == alter.table.key() && n == name);
        if !added_here {
            continue;
        }
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "validating {name} in the transaction that added it scans {} while the ADD's lock is still held",
                    alter.table
                ),
            )
            .table(&alter.table)
                .action(index)
            .help("commit after ADD CONSTRAINT … NOT VALID and validate in a new transaction"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_validate_after_add_in_one_transaction() {
        assert_flags(&RULE, RULE.bad);
    }

    #[test]
    fn ignores_separate_transactions() {
        assert_clean(&RULE, RULE.good);
        assert_clean(
            &RULE,
            "BEGIN;\nALTER TABLE users ADD CONSTRAINT c CHECK (age > 0) NOT VALID;\nCOMMIT;\nBEGIN;\nALTER TABLE users VALIDATE CONSTRAINT c;\nCOMMIT;",
        );
    }
}
