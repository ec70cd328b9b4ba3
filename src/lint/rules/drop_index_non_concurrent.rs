//! `drop-index-non-concurrent`: `DROP INDEX` without `CONCURRENTLY`.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "drop-index-non-concurrent",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "`DROP INDEX` takes ACCESS EXCLUSIVE on the table, blocking reads and writes",
    doc: "### What it does\n\
Flags `DROP INDEX` without `CONCURRENTLY`, unless the index belongs to a table created in this migration.\n\n\
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
    for name in &drop.names {
        let table = cx.schema.index(name).map(|i| i.table.clone());
        if table.as_ref().is_some_and(|t| cx.is_new(t)) {
            continue;
        }
        let on = table
            .as_ref()
            .map_or_else(|| "its table".to_string(), |t| t.to_string());
        let mut finding = Finding::new(
            &RULE,
            stmt.span,
            format!("`DROP INDEX {name}` takes ACCESS EXCLUSIVE on {on}, blocking reads and writes"),
        )
        .help("drop it with DROP INDEX CONCURRENTLY, outside a transaction");
        if let Some(t) = &table {
            finding = finding.table(t);
        }
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
    fn flags_each_index_of_a_list() {
        assert_eq!(
            findings(&RULE, "DROP INDEX IF EXISTS users_email_idx, orders_status_idx;").len(),
            2
        );
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
