//! `set-not-null`: `ALTER COLUMN … SET NOT NULL` scans the table under ACCESS EXCLUSIVE.

use crate::lint::{and_list, Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, AlterTable, ConstraintKind, Stmt};
use crate::pg::{Ident, LockMode, PgVersion};
use crate::schema::Table;

pub(crate) static RULE: Rule = Rule {
    id: "set-not-null",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "`SET NOT NULL` scans the whole table while blocking reads and writes",
    doc: "### What it does\n\
Flags `ALTER TABLE … ALTER COLUMN … SET NOT NULL` on an existing table, unless (PostgreSQL 12+) a \
validated `CHECK (col IS NOT NULL)` already proves the column has no NULLs, or the history already \
made the column NOT NULL (then the statement does nothing). One finding per statement names every \
column it sets.\n\n\
### Why is this bad?\n\
PostgreSQL checks every row under an ACCESS EXCLUSIVE lock: no reads, no writes until the scan ends.\n\n\
### Postgres versions\n\
PG ≤ 11 always scans. PG 12+ skips the scan when a *validated* CHECK with `col IS NOT NULL` as a \
top-level conjunct exists — not a NOT VALID one, and not one dropped in the same `ALTER TABLE`. \
PG 18 adds `ADD CONSTRAINT … NOT NULL col NOT VALID` followed by `VALIDATE CONSTRAINT`.\n\n\
### Use instead\n\
```sql\nALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;\n\
ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;  -- SHARE UPDATE EXCLUSIVE: traffic continues\n\
ALTER TABLE users ALTER COLUMN email SET NOT NULL;            -- no scan\n\
ALTER TABLE users DROP CONSTRAINT users_email_not_null;\n```\n\
Each statement in its own transaction.",
    bad: "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
    good: "ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

/// Whether `SET NOT NULL` on `column`, as a subcommand of `alter`, scans the table.
///
/// PG 12+ uses a validated CHECK (col IS NOT NULL), unless the same
/// statement drops it (then the scan comes back).
pub(crate) fn scans(table: Option<Table>, alter: &AlterTable, column: &Ident, pg: PgVersion) -> bool {
    let proven = pg.at_least(12)
        && table.is_some_and(|t| {
            t.constraints().any(|c| {
                c.validated
                    && matches!(&c.kind, ConstraintKind::Check { not_null_columns } if not_null_columns.contains(column))
                    && !alter.actions.iter().any(|a| {
                        matches!(a, AlterAction::DropConstraint { name, .. } if Some(name) == c.name.as_ref())
                    })
            })
        });
    !proven
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    let table = cx.table(&alter.table);
    let (indexes, columns): (Vec<usize>, Vec<String>) = alter
        .actions
        .iter()
        .enumerate()
        .filter_map(|(index, action)| match action {
            // A column the history already made NOT NULL: a no-op.
            AlterAction::SetNotNull { column }
                if !table.and_then(|t| t.column(column)).is_some_and(|c| c.not_null)
                    && scans(table, alter, column, cx.pg_version()) =>
            {
                Some((index, format!("{}.{column}", alter.table)))
            }
            _ => None,
        })
        .unzip();
    if indexes.is_empty() {
        return;
    }
    let help = if cx.pg_version().at_least(18) {
        "add the constraint as `NOT NULL col NOT VALID`, then VALIDATE it"
    } else if cx.pg_version().at_least(12) {
        "add a CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL"
    } else {
        "before PostgreSQL 12 the scan cannot be avoided: run it in a quiet window, or keep a validated CHECK instead"
    };
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "`SET NOT NULL` on {} scans the table under ACCESS EXCLUSIVE, blocking reads and writes",
                and_list(&columns)
            ),
        )
        .table(&alter.table)
        .actions(&indexes)
        .label("held until every row is checked")
        .help(help),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    const VALIDATED: &str = "ALTER TABLE users ADD CONSTRAINT e_nn CHECK (email IS NOT NULL) NOT VALID;\n\
        ALTER TABLE users VALIDATE CONSTRAINT e_nn;\n";

    #[test]
    fn flags_set_not_null_on_existing_table() {
        let f = assert_flags(&RULE, "ALTER TABLE users ALTER COLUMN email SET NOT NULL;");
        assert!(f.message.contains("users.email"));
    }

    #[test]
    fn ignores_a_column_already_not_null() {
        assert_clean(&RULE, "ALTER TABLE accounts ALTER COLUMN name SET NOT NULL;");
        assert_clean(&RULE, "ALTER TABLE users ALTER COLUMN id SET NOT NULL;");
    }

    #[test]
    fn one_finding_names_every_column() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL, ALTER COLUMN name SET NOT NULL;",
        );
        assert!(f.message.contains("users.email and users.name"), "{}", f.message);
        assert!(f.covers(0) && f.covers(1));
    }

    #[test]
    fn flags_one_subcommand_among_several() {
        assert_flags(
            &RULE,
            "ALTER TABLE users ADD COLUMN x int, ALTER COLUMN email SET NOT NULL;",
        );
    }

    #[test]
    fn ignores_column_proven_by_validated_check_on_pg12() {
        assert_clean(
            &RULE,
            &format!("{VALIDATED}ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
        );
    }

    #[test]
    fn flags_when_check_is_dropped_in_the_same_statement() {
        assert_flags(
            &RULE,
            &format!("{VALIDATED}ALTER TABLE users ALTER COLUMN email SET NOT NULL, DROP CONSTRAINT e_nn;"),
        );
    }

    #[test]
    fn flags_not_valid_check_and_pg11_even_when_validated() {
        assert_flags(
            &RULE,
            "ALTER TABLE users ADD CONSTRAINT e_nn CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        );
        let sql = format!("{VALIDATED}ALTER TABLE users ALTER COLUMN email SET NOT NULL;");
        assert_eq!(findings_at(&RULE, &sql, 11).len(), 1);
        assert_eq!(findings_at(&RULE, &sql, 12).len(), 0);
    }

    #[test]
    fn help_follows_the_version() {
        let sql = "ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert!(findings_at(&RULE, sql, 18)[0]
            .help
            .as_deref()
            .unwrap()
            .contains("then VALIDATE it"));
        assert!(findings_at(&RULE, sql, 11)[0]
            .help
            .as_deref()
            .unwrap()
            .contains("before PostgreSQL 12"));
    }

    #[test]
    fn ignores_new_table() {
        assert_clean(
            &RULE,
            "CREATE TABLE t (c int);\nALTER TABLE t ALTER COLUMN c SET NOT NULL;",
        );
    }
}
