//! `slow-statement-after-exclusive-lock`: a scan or rewrite in a transaction that already holds ACCESS EXCLUSIVE.

use super::{add_column_rewrite, change_column_type, set_not_null};
use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt, StmtKind};
use crate::pg::{LockMode, QualifiedName};

pub(crate) static RULE: Rule = Rule {
    id: "slow-statement-after-exclusive-lock",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "a statement that scans or rewrites a table runs while the transaction holds ACCESS EXCLUSIVE",
    doc: "### What it does\n\
Flags, inside one transaction, a statement that scans or rewrites an existing table after an \
earlier statement of the same transaction took ACCESS EXCLUSIVE on an existing table. Slow \
statements are: `ADD CONSTRAINT` CHECK or FOREIGN KEY without `NOT VALID`, UNIQUE or PRIMARY KEY \
without `USING INDEX`, `SET NOT NULL` that no validated CHECK proves, `ADD COLUMN` that rewrites, \
`ALTER COLUMN … TYPE` that rewrites, `SET LOGGED`/`UNLOGGED`, `VALIDATE CONSTRAINT`, `CREATE INDEX` \
without `CONCURRENTLY`, `UPDATE`/`DELETE` without `WHERE`, `REFRESH MATERIALIZED VIEW`, \
`VACUUM FULL` and `CLUSTER`.\n\n\
### Why is this bad?\n\
Locks are held until the transaction ends. A brief ACCESS EXCLUSIVE (an `ADD COLUMN`, a rename) \
becomes a long one: the table stays blocked for reads and writes for the whole scan that follows, \
even when the scan itself takes a weaker lock (a `VALIDATE CONSTRAINT` under SHARE UPDATE EXCLUSIVE, \
an index build under SHARE).\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Commit right after the statement that takes ACCESS EXCLUSIVE, and run the slow statement in its \
own transaction:\n\
```sql\nBEGIN;\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;\n\
CREATE INDEX CONCURRENTLY orders_user_id_idx ON orders (user_id);\n```",
    bad: "BEGIN;\nALTER TABLE users ADD COLUMN nickname text;\nCREATE INDEX orders_user_id_idx ON orders (user_id);\nCOMMIT;",
    good: "BEGIN;\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;\nBEGIN;\nCREATE INDEX orders_user_id_idx ON orders (user_id);\nCOMMIT;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// What slow work `stmt` does on an existing table, if any: the table and
/// a short description (`validates a CHECK constraint`).
fn slow_work<'s>(cx: &LintContext, stmt: &'s Stmt) -> Option<(&'s QualifiedName, &'static str)> {
    let work = match &stmt.kind {
        StmtKind::AlterTable(alter) => {
            let table = cx.table(&alter.table);
            let pg = cx.pg_version();
            let slow = alter.actions.iter().find_map(|action| match action {
                AlterAction::AddConstraint {
                    constraint,
                    not_valid,
                } => match &constraint.kind {
                    ConstraintKind::Check { .. } if !not_valid => Some("validates a CHECK constraint"),
                    ConstraintKind::ForeignKey { .. } if !not_valid => Some("validates a foreign key"),
                    ConstraintKind::Unique {
                        using_index: None, ..
                    }
                    | ConstraintKind::PrimaryKey {
                        using_index: None, ..
                    }
                    | ConstraintKind::Exclusion => Some("builds an index"),
                    _ => None,
                },
                AlterAction::AddColumn { column, .. } => {
                    let domain = cx.schema.is_constrained_domain(&column.ty.base);
                    if add_column_rewrite::rewrite_reason(column, pg, domain).is_some() {
                        Some("rewrites the table")
                    } else if column.check {
                        Some("validates a CHECK constraint")
                    } else if column.unique || column.primary_key {
                        Some("builds an index")
                    } else {
                        None
                    }
                }
                AlterAction::SetNotNull { column } => {
                    set_not_null::scans(table, alter, column, pg).then_some("scans for NULLs")
                }
                AlterAction::AlterType { column, ty, using } => {
                    let old = table.and_then(|t| t.column(column)).map(|c| c.ty);
                    let free =
                        using.is_none() && old.is_some_and(|old| change_column_type::rewrite_free(&old, ty));
                    (!free).then_some("rewrites the table")
                }
                AlterAction::SetLogged | AlterAction::SetUnlogged => Some("rewrites the table"),
                // A constraint added NOT VALID earlier in this transaction is
                // `validate-in-same-transaction`'s finding.
                AlterAction::ValidateConstraint { name } => (!cx
                    .tx
                    .not_valid_added
                    .iter()
                    .any(|(t, n)| *t == alter.table.key() && n == name))
                .then_some("scans the table to validate a constraint"),
                _ => None,
            });
            slow.map(|what| (&alter.table, what))
        }
        StmtKind::CreateIndex(i) if !i.concurrently && !i.only => Some((&i.table, "builds an index")),
        StmtKind::Dml(d) if !d.has_where => Some((&d.table, "changes every row")),
        StmtKind::Cluster { table: Some(t) } => Some((t, "rewrites the table")),
        StmtKind::Vacuum { full: true, tables } => tables.first().map(|t| (t, "rewrites the table")),
        StmtKind::RefreshMatView { name, .. } => Some((name, "recomputes the materialized view")),
        _ => None,
    };
    work.filter(|(table, _)| !cx.is_new(table))
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !cx.tx.in_transaction() {
        return;
    }
    let Some(held) = cx.tx.exclusive().next() else {
        return;
    };
    let Some((table, what)) = slow_work(cx, stmt) else {
        return;
    };
    let also = match cx.tx.exclusive().count() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "this statement {what} of {table} while the transaction holds ACCESS EXCLUSIVE on {held}{also}, \
                 blocking reads and writes to it for the whole time"
            ),
        )
        .table(held)
        .label("runs under an ACCESS EXCLUSIVE lock taken earlier")
        .help("commit after the statement that takes ACCESS EXCLUSIVE, and run this one in its own transaction"),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    fn in_tx(first: &str, then: &str) -> String {
        format!("BEGIN;\n{first}\n{then}\nCOMMIT;")
    }

    const ADD: &str = "ALTER TABLE users ADD COLUMN nickname text;";

    #[test]
    fn flags_each_kind_of_slow_statement() {
        for slow in [
            "ALTER TABLE orders ADD CONSTRAINT c CHECK (total > 0);",
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);",
            "ALTER TABLE orders ADD UNIQUE (status);",
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();",
            "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,3);",
            "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check;",
            "CREATE INDEX orders_user_idx ON orders (user_id);",
            "UPDATE orders SET status = 'x';",
            "DELETE FROM orders;",
            "CLUSTER orders USING orders_pkey;",
            "REFRESH MATERIALIZED VIEW order_totals;",
        ] {
            let f = assert_flags(&RULE, &in_tx(ADD, slow));
            assert_eq!(f.table.unwrap().to_string(), "users", "{slow}");
        }
    }

    #[test]
    fn flags_quoted_schema_qualified_lock_holder() {
        let f = assert_flags(
            &RULE,
            &in_tx("LOCK TABLE app.\"Users\";", "UPDATE app.\"Users\" SET age = 1;"),
        );
        assert_eq!(f.table.unwrap().to_string(), "app.\"Users\"");
    }

    #[test]
    fn ignores_fast_statements_after_the_lock() {
        for fast in [
            "ALTER TABLE orders ADD CONSTRAINT c CHECK (total > 0) NOT VALID;",
            "ALTER TABLE orders ADD COLUMN note text DEFAULT 'x';",
            "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);",
            "CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);",
            "UPDATE orders SET status = 'x' WHERE id = 1;",
        ] {
            assert_clean(&RULE, &in_tx(ADD, fast));
        }
    }

    #[test]
    fn ignores_slow_statements_without_a_prior_exclusive_lock() {
        assert_clean(&RULE, RULE.good);
        assert_clean(
            &RULE,
            "ALTER TABLE users ADD COLUMN a int;\nCREATE INDEX i ON orders (user_id);",
        );
        assert_clean(
            &RULE,
            &in_tx(
                "CREATE INDEX i ON orders (user_id);",
                "UPDATE orders SET status = 'x';",
            ),
        );
    }

    #[test]
    fn ignores_new_tables() {
        assert_clean(
            &RULE,
            &in_tx(
                "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;",
                "CREATE INDEX i ON orders (user_id);",
            ),
        );
        assert_clean(
            &RULE,
            &in_tx(ADD, "CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);"),
        );
    }

    #[test]
    fn leaves_validate_after_not_valid_to_its_own_rule() {
        assert_clean(
            &RULE,
            "BEGIN;\nALTER TABLE users ADD CONSTRAINT c CHECK (age > 0) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT c;\nCOMMIT;",
        );
    }

    #[test]
    fn set_not_null_proven_by_a_check_is_fast_from_pg12() {
        let sql = "ALTER TABLE users ADD CONSTRAINT e_nn CHECK (email IS NOT NULL) NOT VALID;\n\
                   ALTER TABLE users VALIDATE CONSTRAINT e_nn;\n\
                   BEGIN;\nALTER TABLE users ADD COLUMN a int;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\nCOMMIT;";
        assert_eq!(findings_at(&RULE, sql, 12).len(), 0);
        assert_eq!(findings_at(&RULE, sql, 11).len(), 1);
    }
}
