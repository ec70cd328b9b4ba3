//! `add-primary-key`: a PRIMARY KEY that builds its index under ACCESS EXCLUSIVE.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "add-primary-key",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "adding a PRIMARY KEY builds an index (and may scan for NULLs) while blocking reads and writes",
    doc: "### What it does\n\
Flags `ADD [CONSTRAINT …] PRIMARY KEY (…)` and `ADD COLUMN … PRIMARY KEY` on an existing table, unless \
the key uses an existing index (`PRIMARY KEY USING INDEX`).\n\n\
### Why is this bad?\n\
The unique index is built under ACCESS EXCLUSIVE, and columns that are not yet NOT NULL are scanned \
and set NOT NULL in the same lock: no reads, no writes until both finish.\n\n\
### Postgres versions\n\
All versions. The NOT NULL scan is avoided on PG 12+ when a validated `CHECK (col IS NOT NULL)` exists.\n\n\
### Use instead\n\
```sql\n-- the set-not-null plan for each key column first, then:\n\
CREATE UNIQUE INDEX CONCURRENTLY users_pkey_idx ON users (id);  -- outside a transaction\n\
ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_pkey_idx;\n```",
    bad: "ALTER TABLE events_2025 ADD PRIMARY KEY (id);",
    good:
        "ALTER TABLE events_2025 ADD CONSTRAINT events_2025_pkey PRIMARY KEY USING INDEX events_2025_id_idx;",
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
                    ConstraintKind::PrimaryKey {
                        using_index: None,
                        ..
                    }
                )
            }
            AlterAction::AddColumn { column, .. } => column.primary_key,
            _ => false,
        };
        if flagged {
            out.push(
                Finding::new(
                    &RULE,
                    stmt.span,
                    format!(
                        "adding a PRIMARY KEY builds its index under ACCESS EXCLUSIVE on {}, blocking reads and writes",
                        alter.table
                    ),
                )
                .table(&alter.table)
                .action(index)
                .help("build a unique index CONCURRENTLY, then ADD CONSTRAINT … PRIMARY KEY USING INDEX"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_primary_key() {
        assert_flags(
            &RULE,
            "ALTER TABLE events_2025 ADD CONSTRAINT pk PRIMARY KEY (id);",
        );
    }

    #[test]
    fn ignores_using_index_and_new_tables() {
        assert_clean(
            &RULE,
            "ALTER TABLE events_2025 ADD CONSTRAINT pk PRIMARY KEY USING INDEX i;",
        );
        assert_clean(
            &RULE,
            "CREATE TABLE t (a int);\nALTER TABLE t ADD PRIMARY KEY (a);",
        );
    }
}
