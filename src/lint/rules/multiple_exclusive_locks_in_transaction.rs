//! `multiple-exclusive-locks-in-transaction`: one transaction takes ACCESS EXCLUSIVE on two or more existing tables.

use crate::lint::{statement_locks, Category, Finding, LintContext, Rule, Severity};
use crate::parse::Stmt;
use crate::pg::{LockMode, QualifiedName};

pub(crate) static RULE: Rule = Rule {
    id: "multiple-exclusive-locks-in-transaction",
    category: Category::Lock,
    default_severity: Severity::Warning,
    lock: Some(LockMode::AccessExclusive),
    summary: "one transaction holds ACCESS EXCLUSIVE on several tables, blocking them all until it commits",
    doc: "### What it does\n\
Flags the statement that takes ACCESS EXCLUSIVE on a second existing table inside one transaction \
(an explicit `BEGIN … COMMIT`, or a file the runner wraps in a transaction). Tables created in the \
same file do not count.\n\n\
### Why is this bad?\n\
Locks are held until the transaction ends. The first table stays blocked for reads and writes while \
the transaction queues for the second lock, and then both stay blocked until the commit. Two such \
migrations, or a migration and application code, that lock the same tables in different orders \
deadlock.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Give each table its own short transaction, with a `lock_timeout`:\n\
```sql\nBEGIN;\nSET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;\n\
BEGIN;\nSET LOCAL lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;\nCOMMIT;\n```\n\
When the changes must be atomic (a swap), keep the transaction free of anything slow and lock the \
tables up front, in one fixed order (parent before child): \
`LOCK TABLE accounts, users IN ACCESS EXCLUSIVE MODE;`",
    bad: "BEGIN;\nALTER TABLE users ADD COLUMN nickname text;\nALTER TABLE orders ADD COLUMN note text;\nCOMMIT;",
    good: "BEGIN;\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;\nBEGIN;\nALTER TABLE orders ADD COLUMN note text;\nCOMMIT;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !cx.tx.in_transaction() {
        return;
    }
    let mut held: Vec<QualifiedName> = cx.tx.exclusive().cloned().collect();
    for (table, mode) in statement_locks(stmt, cx.pg_version(), cx.schema) {
        if mode != LockMode::AccessExclusive || cx.is_new(&table) || held.iter().any(|t| t.same(&table)) {
            continue;
        }
        if !held.is_empty() {
            let earlier: Vec<String> = held.iter().map(QualifiedName::to_string).collect();
            out.push(
                Finding::new(
                    &RULE,
                    stmt.span,
                    format!(
                        "this transaction already holds ACCESS EXCLUSIVE on {} and now takes it on {table}, \
                         blocking reads and writes to all of them until it commits",
                        earlier.join(", ")
                    ),
                )
                .table(&table)
                .label("another table locked in the same transaction")
                .help("take each ACCESS EXCLUSIVE lock in its own short transaction"),
            );
        }
        held.push(table);
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings};

    #[test]
    fn flags_the_second_table() {
        let f = assert_flags(&RULE, RULE.bad);
        assert_eq!(f.table.unwrap().to_string(), "orders");
        assert!(
            f.message.contains("holds ACCESS EXCLUSIVE on users"),
            "{}",
            f.message
        );
    }

    #[test]
    fn flags_each_further_table_once() {
        let sql = "BEGIN;\nALTER TABLE users ADD COLUMN a int;\nALTER TABLE users ADD COLUMN b int;\n\
                   ALTER TABLE orders ADD COLUMN c int;\nALTER TABLE orders ADD COLUMN d int;\n\
                   DROP TABLE accounts, \"Other\";\nCOMMIT;";
        let found = findings(&RULE, sql);
        let tables: Vec<String> = found
            .iter()
            .map(|f| f.table.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(tables, ["orders", "accounts", "\"Other\""]);
    }

    #[test]
    fn counts_the_table_on_the_other_side_of_a_dropped_foreign_key() {
        // Dropping the constraint also takes ACCESS EXCLUSIVE on `users`,
        // which the statement does not name: the schema model knows the key.
        let sql = "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n\
                   BEGIN;\nALTER TABLE orders DROP CONSTRAINT orders_user_fk;\nCOMMIT;";
        let f = assert_flags(&RULE, sql);
        assert_eq!(f.table.unwrap().to_string(), "users");
        assert!(
            f.message.contains("holds ACCESS EXCLUSIVE on orders"),
            "{}",
            f.message
        );
    }

    #[test]
    fn flags_schema_qualified_tables_in_a_wrapped_file() {
        let sql =
            "-- migrate:transaction\nALTER TABLE app.users ADD COLUMN a int;\nLOCK TABLE app.\"Orders\";";
        let f = assert_flags(&RULE, sql);
        assert_eq!(f.table.unwrap().to_string(), "app.\"Orders\"");
    }

    #[test]
    fn ignores_separate_transactions_weaker_locks_and_new_tables() {
        assert_clean(&RULE, RULE.good);
        assert_clean(
            &RULE,
            "ALTER TABLE users ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b int;",
        );
        assert_clean(
            &RULE,
            "BEGIN;\nALTER TABLE users ADD COLUMN a int;\nCREATE INDEX orders_total_idx ON orders (total);\nCOMMIT;",
        );
        assert_clean(
            &RULE,
            "BEGIN;\nCREATE TABLE t (a int);\nALTER TABLE users ADD COLUMN a int;\nALTER TABLE t ADD COLUMN b int;\nCOMMIT;",
        );
    }
}
