//! `drop-index-non-concurrent`: `DROP INDEX` without `CONCURRENTLY`.

use crate::lint::{and_list, Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::{LockMode, QualifiedName};

pub(crate) static RULE: Rule = Rule {
    id: "drop-index-non-concurrent",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "`DROP INDEX` takes ACCESS EXCLUSIVE on the table, blocking reads and writes",
    doc: "### What it does\n\
Flags `DROP INDEX` without `CONCURRENTLY`, unless the index belongs to a table created in this migration; \
one finding per statement. An index the history never created is reported as a warning only: its table is \
unknown, and the statement is a no-op or an `IF EXISTS` guard unless the index was made outside the history \
(lint against the real schema to know).\n\n\
### Why is this bad?\n\
A plain `DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table. The drop itself is quick, \
but while it waits for that lock behind any running transaction, every query on the table queues behind it.\n\n\
### Postgres versions\n\
All versions. `DROP INDEX CONCURRENTLY` (9.2+) takes SHARE UPDATE EXCLUSIVE, drops one index per \
statement and cannot run inside a transaction block.\n\n\
### Use instead\n\
```sql\nDROP INDEX CONCURRENTLY IF EXISTS users_email_idx;\n```\nOne statement per index.",
    bad: "DROP INDEX users_email_idx;",
    good: "DROP INDEX CONCURRENTLY users_email_idx;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::DropIndex(drop) = &stmt.kind else {
        return;
    };
    if drop.concurrently {
        return;
    }
    // (index, its table) for the indexes the history created, on tables
    // that hold data; the names of those it never created.
    let mut known: Vec<(String, QualifiedName)> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for name in &drop.names {
        match cx.schema.index(name).map(|i| i.table.clone()) {
            Some(table) if cx.is_new(&table) => {}
            Some(table) => known.push((name.to_string(), table)),
            None => unknown.push(name.to_string()),
        }
    }
    if let Some((_, first)) = known.first() {
        let names: Vec<String> = known.iter().map(|(n, _)| n.clone()).collect();
        let mut tables: Vec<String> = known.iter().map(|(_, t)| t.to_string()).collect();
        tables.dedup();
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "`DROP INDEX {}` takes ACCESS EXCLUSIVE on {}, blocking reads and writes",
                    names.join(", "),
                    and_list(&tables)
                ),
            )
            .table(first)
            .help("drop it with DROP INDEX CONCURRENTLY, outside a transaction"),
        );
    }
    if !unknown.is_empty() {
        let mut finding = Finding::new(
            &RULE,
            stmt.span,
            format!(
                "the history never created {} {}, so its table is unknown: the statement is a no-op{}, \
                 or, if the index exists, takes ACCESS EXCLUSIVE on that table",
                if unknown.len() == 1 { "index" } else { "indexes" },
                and_list(&unknown),
                if drop.if_exists { " (IF EXISTS)" } else { "" }
            ),
        )
        .help(
            "drop it with DROP INDEX CONCURRENTLY, outside a transaction; lint against the real schema \
             (`--database-url`, or `--schema` with a dump) to know",
        );
        finding.severity = Severity::Warning;
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings};

    #[test]
    fn flags_plain_drop_and_names_the_table() {
        let f = assert_flags(&RULE, "DROP INDEX users_email_idx;");
        assert_eq!(f.table.unwrap().to_string(), "users");
    }

    #[test]
    fn one_finding_names_every_index_of_a_list() {
        let f = assert_flags(&RULE, "DROP INDEX IF EXISTS users_email_idx, orders_status_idx;");
        assert!(
            f.message.contains("users_email_idx, orders_status_idx")
                && f.message.contains("users and orders"),
            "{}",
            f.message
        );
    }

    #[test]
    fn an_index_the_history_never_created_is_a_warning() {
        let f = assert_flags(&RULE, "DROP INDEX IF EXISTS nowhere_idx;");
        assert_eq!(f.severity, crate::lint::Severity::Warning);
        assert!(
            f.message.contains("never created index nowhere_idx"),
            "{}",
            f.message
        );
        assert!(f.table.is_none());
        // Known and unknown in one statement: an error and a warning.
        let found = findings(&RULE, "DROP INDEX users_email_idx, nowhere_idx;");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].severity, crate::lint::Severity::Error);
    }

    #[test]
    fn ignores_concurrent_drop() {
        assert_clean(&RULE, "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;");
    }

    #[test]
    fn ignores_index_of_new_table() {
        assert_clean(
            &RULE,
            "CREATE TABLE t (c int);\nCREATE INDEX t_c ON t (c);\nDROP INDEX t_c;",
        );
    }
}
