//! `detach-partition-non-concurrent`: `DETACH PARTITION` without `CONCURRENTLY` locks the partitioned table.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, Stmt};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "detach-partition-non-concurrent",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary:
        "`DETACH PARTITION` without `CONCURRENTLY` blocks reads and writes on the whole partitioned table",
    doc: "### What it does\n\
Flags `ALTER TABLE parent DETACH PARTITION child` without `CONCURRENTLY`, unless the partitioned \
table was created in this migration.\n\n\
### Why is this bad?\n\
A plain detach takes ACCESS EXCLUSIVE on the partitioned table and on the partition: no reads, no \
writes on any partition until the transaction ends (and, like every ACCESS EXCLUSIVE request, while \
it waits behind running queries). Tables with a foreign key to the partitioned table are locked \
SHARE as well.\n\n\
### Postgres versions\n\
`DETACH PARTITION … CONCURRENTLY` exists since PostgreSQL 14. It takes only SHARE UPDATE EXCLUSIVE \
on both tables, in two transactions, waiting for older transactions in between; it cannot run inside \
a transaction block and cannot be used when the table has a DEFAULT partition. If it is interrupted, \
`DETACH PARTITION … FINALIZE` completes it. Before 14 there is no concurrent form.\n\n\
### Use instead\n\
PostgreSQL 14 and later, outside a transaction:\n\
```sql\nALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;\n\
-- if it was interrupted:\n\
ALTER TABLE events DETACH PARTITION events_2024 FINALIZE;\n```\n\
Before 14, run the plain form in its own short transaction with a `lock_timeout`:\n\
```sql\nSET lock_timeout = '2s';\nALTER TABLE events DETACH PARTITION events_2024;\n```",
    bad: "ALTER TABLE events DETACH PARTITION events_2024;",
    good: "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    for action in &alter.actions {
        let AlterAction::DetachPartition {
            partition,
            concurrently: false,
            finalize: false,
        } = action
        else {
            continue;
        };
        let help = if cx.pg_version().at_least(14) {
            "detach it CONCURRENTLY, outside a transaction (not possible while the table has a DEFAULT partition)"
        } else {
            "before PostgreSQL 14 there is no concurrent detach: set lock_timeout and run it in its own short \
             transaction"
        };
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "`DETACH PARTITION` holds ACCESS EXCLUSIVE on {} and {partition}, blocking reads and writes",
                    alter.table
                ),
            )
            .table(&alter.table)
            .label("every partition is unreadable until the transaction ends")
            .help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    #[test]
    fn flags_plain_detach_on_the_parent() {
        let f = assert_flags(&RULE, "ALTER TABLE events DETACH PARTITION events_2024;");
        assert_eq!(f.table.unwrap().to_string(), "events");
        assert!(f.message.contains("events_2024"));
    }

    #[test]
    fn flags_qualified_and_quoted_names() {
        let f = assert_flags(
            &RULE,
            "alter table Public.\"Events\" detach partition public.events_2024;",
        );
        assert_eq!(f.table.unwrap().to_string(), "public.\"Events\"");
    }

    #[test]
    fn ignores_concurrent_and_finalize() {
        assert_clean(
            &RULE,
            "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;",
        );
        assert_clean(&RULE, "ALTER TABLE events DETACH PARTITION events_2024 FINALIZE;");
    }

    #[test]
    fn ignores_parent_created_in_this_file() {
        assert_clean(
            &RULE,
            "CREATE TABLE p (k int) PARTITION BY RANGE (k);\n\
             CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (1) TO (10);\n\
             ALTER TABLE p DETACH PARTITION p1;",
        );
    }

    #[test]
    fn help_suggests_concurrently_only_from_pg14() {
        let sql = "ALTER TABLE events DETACH PARTITION events_2024;";
        let help = |pg| findings_at(&RULE, sql, pg)[0].help.clone().unwrap();
        assert!(help(14).contains("CONCURRENTLY"));
        assert!(help(13).starts_with("before PostgreSQL 14"));
        assert!(!help(13).contains("CONCURRENTLY"));
    }
}
