//! `add-exclusion-constraint`: `ADD CONSTRAINT … EXCLUDE` builds an index and checks every row under ACCESS EXCLUSIVE.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "add-exclusion-constraint",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary:
        "adding an exclusion constraint builds its index and checks every row while blocking reads and writes",
    doc: "### What it does\n\
Flags `ALTER TABLE … ADD [CONSTRAINT …] EXCLUDE …` on a table that existed before this migration.\n\n\
### Why is this bad?\n\
PostgreSQL builds the constraint's index and checks every row against every other under the ACCESS \
EXCLUSIVE lock of `ALTER TABLE`: no reads, no writes for the whole build.\n\n\
### Postgres versions\n\
All versions. Unlike CHECK and foreign keys, exclusion constraints have no `NOT VALID` form, cannot \
be attached from an index built concurrently (`USING INDEX`), and their indexes cannot be rebuilt \
with `REINDEX CONCURRENTLY`.\n\n\
### Use instead\n\
There is no online way to add one to a populated table. If the constraint only uses `=`, a unique \
index says the same and can be built concurrently:\n\
```sql\nCREATE UNIQUE INDEX CONCURRENTLY users_email_lower_key ON users (lower(email));\n```\n\
Otherwise create a new table with the constraint, copy the rows into it in batches while a trigger \
keeps it in sync, and swap the names in one short transaction; or add the constraint in a \
maintenance window.",
    bad: "ALTER TABLE users ADD CONSTRAINT users_email_lower_excl EXCLUDE USING btree (lower(email) WITH =);",
    good: "CREATE UNIQUE INDEX CONCURRENTLY users_email_lower_key ON users (lower(email));",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    for action in &alter.actions {
        let AlterAction::AddConstraint { constraint, .. } = action else {
            continue;
        };
        if constraint.kind != ConstraintKind::Exclusion {
            continue;
        }
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "adding an exclusion constraint builds its index and checks every row under ACCESS \
                     EXCLUSIVE on {}, blocking reads and writes",
                    alter.table
                ),
            )
            .table(&alter.table)
            .label("held until every row is checked")
            .help("use a unique index built CONCURRENTLY if the constraint only compares with `=`; otherwise add it in a maintenance window"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    const BAD: &str = "ALTER TABLE users ADD CONSTRAINT e EXCLUDE USING btree (lower(email) WITH =);";

    #[test]
    fn flags_exclusion_on_existing_table() {
        let f = assert_flags(&RULE, BAD);
        assert_eq!(f.table.unwrap().to_string(), "users");
        let f = assert_flags(
            &RULE,
            "alter table Public.\"Bookings\" add exclude using gist (room with =, during with &&);",
        );
        assert_eq!(f.table.unwrap().to_string(), "public.\"Bookings\"");
    }

    #[test]
    fn ignores_other_constraints_and_new_tables() {
        assert_clean(&RULE, "ALTER TABLE users ADD CONSTRAINT u UNIQUE (email);");
        assert_clean(
            &RULE,
            "CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT e EXCLUDE USING btree (a WITH =);",
        );
        assert_clean(&RULE, "CREATE TABLE t (a int, EXCLUDE USING btree (a WITH =));");
    }

    #[test]
    fn fires_on_every_version() {
        assert_eq!(findings_at(&RULE, BAD, 10).len(), 1);
        assert_eq!(findings_at(&RULE, BAD, 18).len(), 1);
    }
}
