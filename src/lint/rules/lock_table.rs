//! `lock-table`: an explicit `LOCK TABLE` in a mode that blocks writes or reads.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::{Blocks, LockMode};

pub(crate) static RULE: Rule = Rule {
    id: "lock-table",
    category: Category::Lock,
    default_severity: Severity::Warning,
    lock: Some(LockMode::AccessExclusive),
    summary: "`LOCK TABLE` in SHARE mode or stronger blocks writes (or reads) until the transaction ends",
    doc: "### What it does\n\
Flags `LOCK TABLE` in SHARE, SHARE ROW EXCLUSIVE, EXCLUSIVE or ACCESS EXCLUSIVE mode on a table that \
existed before this migration. `LOCK TABLE t` without a mode is ACCESS EXCLUSIVE.\n\n\
### Why is this bad?\n\
The lock is held until the transaction ends: SHARE and SHARE ROW EXCLUSIVE block writes, EXCLUSIVE \
blocks writes and `SELECT … FOR UPDATE`, ACCESS EXCLUSIVE blocks reads too. While the statement waits \
for the lock, every later query on the table queues behind it. Sometimes this is intended (the \
swap step of a rename or column swap), hence a warning.\n\n\
### Postgres versions\n\
All versions. `LOCK TABLE` only works inside a transaction block.\n\n\
### Use instead\n\
Name the weakest mode that is enough, set a `lock_timeout` so a queued lock gives up instead of \
stalling traffic, and keep the transaction short:\n\
```sql\nBEGIN;\nSET LOCAL lock_timeout = '2s';\nLOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE;\n\
-- … quick statements only …\nCOMMIT;\n```\n\
Lock several tables in a fixed order (parent before child) to avoid deadlocks.",
    bad: "BEGIN;\nLOCK TABLE users;\nCOMMIT;",
    good: "BEGIN;\nSET LOCAL lock_timeout = '2s';\nLOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE;\nCOMMIT;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::LockTable { tables, mode } = &stmt.kind else {
        return;
    };
    let blocks = mode.blocks();
    if !matches!(blocks, Blocks::ReadsAndWrites | Blocks::Writes) {
        return;
    }
    let help = if cx.tx.lock_timeout {
        "keep the transaction short: the lock is held until it ends"
    } else {
        "set lock_timeout first and keep the transaction short: the lock is held until it ends"
    };
    for table in tables.iter().filter(|t| !cx.is_new(t)) {
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "`LOCK TABLE` takes {mode} on {table}, which {} until the transaction ends",
                    blocks.describe()
                ),
            )
            .table(table)
            .lock(Some(*mode))
            .help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings, findings_at};
    use crate::pg::LockMode;

    #[test]
    fn flags_default_mode_as_access_exclusive() {
        let f = assert_flags(&RULE, "BEGIN;\nLOCK TABLE users;\nCOMMIT;");
        assert_eq!(f.lock, Some(LockMode::AccessExclusive));
        assert!(f.message.contains("blocks reads and writes"), "{}", f.message);
    }

    #[test]
    fn flags_write_blocking_modes_with_their_mode() {
        let f = assert_flags(&RULE, "BEGIN;\nLOCK public.\"Users\" IN SHARE MODE;\nCOMMIT;");
        assert_eq!(f.lock, Some(LockMode::Share));
        assert_eq!(f.table.unwrap().to_string(), "public.\"Users\"");
        assert!(f
            .message
            .contains("takes SHARE on public.\"Users\", which blocks writes"));
        assert_eq!(
            findings(&RULE, "LOCK TABLE users, orders IN EXCLUSIVE MODE;").len(),
            2
        );
    }

    #[test]
    fn ignores_modes_that_let_reads_and_writes_through() {
        for mode in [
            "ACCESS SHARE",
            "ROW SHARE",
            "ROW EXCLUSIVE",
            "SHARE UPDATE EXCLUSIVE",
        ] {
            assert_clean(&RULE, &format!("LOCK TABLE users IN {mode} MODE;"));
        }
    }

    #[test]
    fn ignores_tables_created_in_this_file() {
        assert_clean(&RULE, "BEGIN;\nCREATE TABLE t (c int);\nLOCK TABLE t;\nCOMMIT;");
    }

    #[test]
    fn help_drops_lock_timeout_once_it_is_set() {
        let f = assert_flags(
            &RULE,
            "BEGIN;\nSET LOCAL lock_timeout = '2s';\nLOCK TABLE users;\nCOMMIT;",
        );
        assert!(f.help.unwrap().starts_with("keep the transaction short"));
        let f = &findings_at(&RULE, "LOCK TABLE users;", 10)[0];
        assert!(f.help.as_deref().unwrap().starts_with("set lock_timeout"));
    }
}
