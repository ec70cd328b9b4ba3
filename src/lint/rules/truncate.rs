//! `truncate`: `TRUNCATE` deletes every row of an existing table under ACCESS EXCLUSIVE.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "truncate",
    category: Category::Lock,
    default_severity: Severity::Warning,
    lock: Some(LockMode::AccessExclusive),
    summary: "`TRUNCATE` deletes every row while blocking reads and writes",
    doc: "### What it does\n\
Flags `TRUNCATE` of a table that existed before this migration.\n\n\
### Why is this bad?\n\
`TRUNCATE` deletes all rows at once: it cannot be undone after commit, and a `CASCADE` also empties \
every table with a foreign key to it. It swaps in a new empty file under ACCESS EXCLUSIVE, so while \
it waits for the lock and until the transaction ends no one can read or write the table.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Make sure the data may really go. On a live table, delete in small batches, each in its own short \
transaction, so reads and writes keep flowing:\n\
```sql\nDELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY id LIMIT 1000);\n\
-- repeat until no rows are left\n```",
    bad: "TRUNCATE orders;",
    good: "DELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY id LIMIT 1000);",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::Truncate { tables } = &stmt.kind else {
        return;
    };
    for table in tables.iter().filter(|t| !cx.is_new(t)) {
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!("`TRUNCATE` deletes all rows of {table} under ACCESS EXCLUSIVE, blocking reads and writes"),
            )
            .table(table)
            .label("every row is gone at commit")
            .help("make sure the data may go; on a live table, delete in small batches instead"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings, findings_at};

    #[test]
    fn flags_truncate_of_existing_tables() {
        let f = assert_flags(&RULE, "TRUNCATE orders;");
        assert!(f.message.contains("deletes all rows of orders"));
        let f = assert_flags(&RULE, "truncate table only Public.\"Orders\" cascade;");
        assert_eq!(f.table.unwrap().to_string(), "public.\"Orders\"");
        assert_eq!(findings(&RULE, "TRUNCATE users, orders;").len(), 2);
    }

    #[test]
    fn ignores_tables_created_in_this_file() {
        assert_clean(&RULE, "CREATE TABLE t (c int);\nTRUNCATE t;");
        assert_eq!(
            findings(&RULE, "CREATE TABLE t (c int);\nTRUNCATE t, orders;").len(),
            1
        );
    }

    #[test]
    fn ignores_batched_delete() {
        assert_clean(&RULE, "DELETE FROM orders WHERE id < 100;");
    }

    #[test]
    fn fires_on_every_version() {
        assert_eq!(findings_at(&RULE, "TRUNCATE orders;", 10).len(), 1);
        assert_eq!(findings_at(&RULE, "TRUNCATE orders;", 18).len(), 1);
    }
}
