//! `whole-table-dml`: `UPDATE` or `DELETE` without `WHERE` on an existing table.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ConstraintKind, DmlVerb, Stmt, StmtKind};
use crate::pg::{Ident, LockMode, QualifiedName};
use crate::schema::Table;

pub(crate) static RULE: Rule = Rule {
    id: "whole-table-dml",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::RowExclusive),
    summary: "an `UPDATE` or `DELETE` of every row locks all rows in one long transaction",
    doc: "### What it does\n\
Flags `UPDATE` and `DELETE` on a table that existed before this migration, without a `WHERE` clause \
or with one that does not bound the rows by a key: an equality, `= ANY`, `IN` list, `BETWEEN` or a \
lower and an upper bound, in its top-level `AND`s, on every column of the primary key or of a unique \
constraint or index the history declared. A `WHERE` on a table whose keys the history does not \
show is left alone.\n\n\
### Why is this bad?\n\
One statement may touch every row (or most of them: `WHERE created_at < now() - interval '1 year'`) \
in one transaction: it holds a row lock on each until it commits, \
so concurrent updates of any row wait; it writes the whole table to WAL at once (replicas fall \
behind), and leaves as many dead tuples for VACUUM.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Batches over the primary key, each its own short transaction:\n\
```sql\nUPDATE users SET active = true WHERE id >= $1 AND id < $2;\n```\n\
Keep each batch short (around a thousand rows or 200 ms) and pause between batches so replicas keep up.",
    bad: "UPDATE users SET age = 0;",
    good: "UPDATE users SET age = 0 WHERE id = 1;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

/// The keys of `table` as the history declared them: its primary key,
/// unique constraints and unique indexes.
fn keys(cx: &LintContext, name: &QualifiedName, table: Table) -> Vec<Vec<Ident>> {
    let mut keys: Vec<Vec<Ident>> = table.primary_key().into_iter().collect();
    keys.extend(table.constraints().filter_map(|c| match c.kind {
        ConstraintKind::Unique { columns, .. } | ConstraintKind::PrimaryKey { columns, .. } => Some(columns),
        _ => None,
    }));
    keys.extend(cx.schema.indexes_on(name).filter(|i| i.unique).map(|i| i.columns));
    keys.retain(|k| !k.is_empty());
    keys
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::Dml(dml) = &stmt.kind else { return };
    if cx.is_new(&dml.table) {
        return;
    }
    let verb = match dml.verb {
        DmlVerb::Update => "UPDATE",
        DmlVerb::Delete => "DELETE",
    };
    let message = if !dml.has_where {
        format!(
            "`{verb}` without WHERE locks every row of {} in one long transaction",
            dml.table
        )
    } else {
        // A WHERE: broad unless it bounds every column of some key. Only a
        // table the history created has keys the linter knows.
        let Some(table) = cx.table(&dml.table) else {
            return;
        };
        let keys = keys(cx, &dml.table, table);
        // No key known: whether the WHERE picks a few rows cannot be told.
        if keys.is_empty() || keys.iter().any(|key| key.iter().all(|c| dml.bounded.contains(c))) {
            return;
        }
        format!(
            "`{verb}` of {} with a WHERE that bounds no key (equality, IN list or range on the primary key or a \
             unique key) may change most rows, in one long transaction",
            dml.table
        )
    };
    out.push(
        Finding::new(&RULE, stmt.span, message)
            .table(&dml.table)
            .label(if dml.has_where {
                "rows not bounded by a key, one transaction"
            } else {
                "every row, one transaction"
            })
            .help("change the rows in batches by primary key, each its own transaction"),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_update_and_delete_without_where() {
        assert_flags(&RULE, "UPDATE users SET age = 0;");
        assert_flags(&RULE, "DELETE FROM orders;");
    }

    #[test]
    fn flags_a_where_no_key_bounds() {
        let f = assert_flags(
            &RULE,
            "UPDATE orders SET status = 'archived' WHERE status = 'done';",
        );
        assert!(f.message.contains("bounds no key"), "{}", f.message);
        assert_flags(&RULE, "UPDATE users SET age = 0 WHERE age IS NULL;");
        // A one-sided range, or an OR, bounds nothing.
        assert_flags(&RULE, "DELETE FROM orders WHERE id > 100;");
        assert_flags(&RULE, "DELETE FROM orders WHERE id = 1 OR status = 'x';");
    }

    #[test]
    fn ignores_a_where_bounded_by_a_key() {
        for cond in [
            "id = 1",
            "o.id = 1 AND status = 'x'",
            "id IN (1, 2, 3)",
            "id = ANY('{1,2}')",
            "id BETWEEN 1 AND 1000",
            "id >= 1 AND 1000 > id",
            "(id = 1)",
            "id = o.id",
        ] {
            assert_clean(&RULE, &format!("UPDATE orders o SET status = 'x' WHERE {cond};"));
        }
        // A unique index is a key too.
        assert_clean(
            &RULE,
            "CREATE UNIQUE INDEX orders_status_key ON orders (status);\nDELETE FROM orders WHERE status = 'x';",
        );
    }

    #[test]
    fn ignores_new_tables_and_a_where_on_unknown_tables() {
        assert_clean(&RULE, "CREATE TABLE t (a int);\nUPDATE t SET a = 1;");
        assert_clean(&RULE, "UPDATE elsewhere SET a = 1 WHERE b = 2;");
        // A table without a declared key.
        assert_clean(&RULE, "UPDATE events_2025 SET id = 1 WHERE created_at < now();");
        assert_flags(&RULE, "UPDATE elsewhere SET a = 1;");
    }
}
