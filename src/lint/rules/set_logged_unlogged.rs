//! `set-logged-unlogged`: `ALTER TABLE … SET LOGGED|UNLOGGED` rewrites the table under ACCESS EXCLUSIVE.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "set-logged-unlogged",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "`SET LOGGED` and `SET UNLOGGED` rewrite the table while blocking reads and writes",
    doc: "### What it does\n\
Flags `ALTER TABLE … SET LOGGED` and `ALTER TABLE … SET UNLOGGED` on a table that existed before \
this migration.\n\n\
### Why is this bad?\n\
Both directions write a new copy of the table and rebuild its indexes under ACCESS EXCLUSIVE: no \
reads, no writes until it ends. `SET LOGGED` also writes the whole table to the WAL, which loads \
replicas and archiving. An unlogged table is emptied after a crash and is not replicated.\n\n\
### Postgres versions\n\
All versions (since 9.5). Partitioned tables cannot be switched; PostgreSQL 18 forbids unlogged \
partitioned tables altogether.\n\n\
### Use instead\n\
There is no in-place zero-downtime form. Switch the table in a maintenance window, or build the \
new table next to the old one, copy the rows in batches and swap names in one short transaction:\n\
```sql\nCREATE UNLOGGED TABLE users_new (LIKE users INCLUDING ALL);\n\
-- copy in batches, keep it in sync (trigger), then:\n\
BEGIN;\nSET LOCAL lock_timeout = '2s';\n\
ALTER TABLE users RENAME TO users_old;\nALTER TABLE users_new RENAME TO users;\nCOMMIT;\n```",
    bad: "ALTER TABLE users SET UNLOGGED;",
    good: "CREATE UNLOGGED TABLE users_import (id bigint, email text);",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    for action in &alter.actions {
        let (what, extra) = match action {
            AlterAction::SetLogged => ("SET LOGGED", " and writes all of it to the WAL"),
            AlterAction::SetUnlogged => ("SET UNLOGGED", ""),
            _ => continue,
        };
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "`{what}` rewrites {}{extra} under ACCESS EXCLUSIVE, blocking reads and writes",
                    alter.table
                ),
            )
            .table(&alter.table)
            .label("held until the table and its indexes are rewritten")
            .help("switch the table in a maintenance window, or copy it into a new table and swap the names"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    #[test]
    fn flags_both_directions() {
        let f = assert_flags(&RULE, "ALTER TABLE users SET UNLOGGED;");
        assert!(f.message.starts_with("`SET UNLOGGED` rewrites users"));
        let f = assert_flags(&RULE, "alter table Public.\"Users\" set logged;");
        assert_eq!(f.table.unwrap().to_string(), "public.\"Users\"");
        assert!(f.message.contains("WAL"));
    }

    #[test]
    fn ignores_other_actions_and_new_tables() {
        assert_clean(&RULE, "ALTER TABLE users SET (fillfactor = 90);");
        assert_clean(&RULE, "CREATE TABLE t (c int);\nALTER TABLE t SET UNLOGGED;");
        assert_clean(&RULE, "CREATE UNLOGGED TABLE t (c int);");
    }

    #[test]
    fn fires_on_every_version() {
        assert_eq!(findings_at(&RULE, "ALTER TABLE users SET LOGGED;", 10).len(), 1);
        assert_eq!(findings_at(&RULE, "ALTER TABLE users SET LOGGED;", 18).len(), 1);
    }
}
