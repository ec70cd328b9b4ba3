//! `missing-lock-timeout`: a statement queues for a strong lock with no `lock_timeout` set.

use crate::lint::{statement_locks, Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "missing-lock-timeout",
    category: Category::Lock,
    default_severity: Severity::Warning,
    lock: None,
    summary:
        "a statement waits for a strong lock with no `lock_timeout`, and every query behind it waits too",
    doc: "### What it does\n\
Flags a statement that takes SHARE UPDATE EXCLUSIVE or a stronger lock on an existing table when no \
`lock_timeout` was set earlier (`SET lock_timeout`, or `SET LOCAL lock_timeout` in the same \
transaction). `CONCURRENTLY` statements are never flagged.\n\n\
Off by default, because `migrate apply` always sets a `lock_timeout` itself. Turn it on when \
another tool runs the migrations, in `migrate.yaml`:\n\
```yaml\nrules:\n  missing-lock-timeout: warning\n```\n\n\
### Why is this bad?\n\
A statement waiting for a lock blocks every later request that conflicts with that lock. An \
`ALTER TABLE` stuck behind one long-running transaction therefore stalls all reads and writes of the \
table for as long as it waits, even if it would run in a millisecond once granted. With a \
`lock_timeout` it gives up instead, and can be retried.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
```sql\nBEGIN;\nSET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;\n```\n\
Retry on SQLSTATE `55P03` (lock_not_available). Use `SET LOCAL` inside the transaction (it also \
works behind PgBouncer in transaction mode); `SET lock_timeout` lasts for the session.\n\n\
**Never put a `lock_timeout` in front of a `CONCURRENTLY` statement** (`CREATE INDEX CONCURRENTLY`, \
`REINDEX CONCURRENTLY`, `DETACH PARTITION … CONCURRENTLY`): their waits are expected, and a timeout \
cancels the build half-way and leaves an INVALID index behind, which must be dropped by hand \
(`IF NOT EXISTS` will not repair it). Reset it first: `SET lock_timeout = 0;`.",
    bad: "ALTER TABLE users ADD COLUMN nickname text;",
    good: "BEGIN;\nSET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;",
    rewritable: false,
    enabled_by_default: false,
    check,
};

/// Whether `stmt` is a `CONCURRENTLY` form, which must run without a `lock_timeout`.
fn is_concurrent(stmt: &Stmt) -> bool {
    match &stmt.kind {
        StmtKind::CreateIndex(i) => i.concurrently,
        StmtKind::DropIndex(d) => d.concurrently,
        StmtKind::Reindex(r) => r.concurrently,
        StmtKind::RefreshMatView { concurrently, .. } => *concurrently,
        StmtKind::AlterTable(a) => a.actions.iter().any(|action| {
            matches!(
                action,
                AlterAction::DetachPartition {
                    concurrently: true,
                    ..
                }
            )
        }),
        _ => false,
    }
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if cx.tx.lock_timeout || is_concurrent(stmt) {
        return;
    }
    let strongest = statement_locks(stmt, cx.pg_version(), cx.schema)
        .into_iter()
        .filter(|(table, mode)| *mode >= LockMode::ShareUpdateExclusive && !cx.is_new(table))
        // The first of the strongest: the statement's own table before the other side of a key.
        .rev()
        .max_by_key(|(_, mode)| *mode);
    let Some((table, mode)) = strongest else {
        return;
    };
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "the wait for {mode} on {table} has no lock_timeout: while it waits, every conflicting query on {table} queues behind it"
            ),
        )
        .lock(Some(mode))
        .table(&table)
        .label("no lock_timeout set")
        .help("set `SET LOCAL lock_timeout = '2s'` in the transaction before this statement, and retry on timeout"),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings};
    use crate::pg::LockMode;

    #[test]
    fn flags_strong_locks_without_a_timeout() {
        let f = assert_flags(&RULE, RULE.bad);
        assert_eq!(f.lock, Some(LockMode::AccessExclusive));
        let f = assert_flags(&RULE, "CREATE INDEX i ON \"Orders\" (status);");
        assert_eq!(
            (f.lock, f.table.unwrap().to_string()),
            (Some(LockMode::Share), "\"Orders\"".to_string())
        );
        let f = assert_flags(&RULE, "ALTER TABLE app.users VALIDATE CONSTRAINT c;");
        assert_eq!(f.lock, Some(LockMode::ShareUpdateExclusive));
    }

    #[test]
    fn ignores_weak_locks_concurrent_statements_and_new_tables() {
        assert_clean(&RULE, "UPDATE users SET age = 1 WHERE id = 1;");
        assert_clean(&RULE, "CREATE INDEX CONCURRENTLY i ON users (age);");
        assert_clean(&RULE, "REINDEX INDEX CONCURRENTLY users_email_idx;");
        assert_clean(
            &RULE,
            "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;",
        );
        assert_clean(&RULE, "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;");
    }

    #[test]
    fn honours_session_and_transaction_timeouts() {
        assert_clean(&RULE, RULE.good);
        assert_clean(&RULE, "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b int;");
        assert_clean(
            &RULE,
            "SET SESSION lock_timeout TO 2000;\nALTER TABLE users ADD COLUMN a int;",
        );
        // SET LOCAL lasts until the end of its transaction only.
        assert_eq!(
            findings(&RULE, "BEGIN;\nSET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD COLUMN a int;\nCOMMIT;\nALTER TABLE orders ADD COLUMN b int;").len(),
            1
        );
        // Outside a transaction SET LOCAL does nothing.
        assert_flags(
            &RULE,
            "SET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD COLUMN a int;",
        );
    }

    #[test]
    fn zero_reset_and_default_turn_it_off() {
        for off in [
            "SET lock_timeout = 0;",
            "SET lock_timeout = '0s';",
            "SET lock_timeout TO DEFAULT;",
            "RESET lock_timeout;",
            "RESET ALL;",
        ] {
            assert_flags(
                &RULE,
                &format!("SET lock_timeout = '2s';\n{off}\nALTER TABLE users ADD COLUMN a int;"),
            );
        }
    }
}
