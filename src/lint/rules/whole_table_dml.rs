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
constraint or index the history declared. A `WHERE` that picks rows by value on other columns \
(`status = 'done'`, `type IN ('a', 'b')`) is a warning: a fix-up of a few rows as often as a pass \
over most; one that does not (`c IS NULL`, `created_at < …`, a subquery) is an error. A `WHERE` \
on a table whose keys the history does not show is left alone.\n\n\
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

/// Whether `bounded` covers every column of a key of `table` (its primary
/// key, unique constraints and unique indexes, as the history declared
/// them); `None` when the history declares no key. The keys are read one by
/// one, unique indexes last (finding them scans the schema's indexes), and
/// no further than the answer needs.
fn bounded_by_key(cx: &LintContext, name: &QualifiedName, table: Table, bounded: &[Ident]) -> Option<bool> {
    let constraints = table.constraints().filter_map(|c| match c.kind {
        ConstraintKind::Unique { columns, .. } | ConstraintKind::PrimaryKey { columns, .. } => Some(columns),
        _ => None,
    });
    let indexes = cx.schema.indexes_on(name).filter(|i| i.unique).map(|i| i.columns);
    let keys = table
        .primary_key()
        .into_iter()
        .chain(constraints)
        .chain(indexes)
        .filter(|k| !k.is_empty());
    let mut known = false;
    for key in keys {
        known = true;
        if key.iter().all(|c| bounded.contains(c)) {
            return Some(true);
        }
        // Nothing bounded: no key can be, and one key known is enough.
        if bounded.is_empty() {
            break;
        }
    }
    known.then_some(false)
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
    let mut severity = RULE.default_severity;
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
        // No key known: whether the WHERE picks a few rows cannot be told.
        if bounded_by_key(cx, &dml.table, table, &dml.bounded) != Some(false) {
            return;
        }
        if dml.matched.is_empty() {
            format!(
                "`{verb}` of {} with a WHERE that bounds no key (equality, IN list or range on the primary key or a \
                 unique key) may change most rows, in one long transaction",
                dml.table
            )
        } else {
            // Rows picked by value (`status = 'x'`): a fix-up of a few rows as
            // often as a pass over most of them.
            severity = Severity::Warning;
            let columns: Vec<String> = dml.matched.iter().map(ToString::to_string).collect();
            format!(
                "`{verb}` of {} picks rows by {}, which is no key: if many rows match, it changes them all in one \
                 long transaction",
                dml.table,
                columns.join(", ")
            )
        }
    };
    let mut finding = Finding::new(&RULE, stmt.span, message);
    finding.severity = severity;
    out.push(
        finding
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
            "UPDATE orders SET status = 'archived' WHERE created_at < now() - interval '1 year';",
        );
        assert!(f.message.contains("bounds no key"), "{}", f.message);
        assert_eq!(f.severity, crate::lint::Severity::Error);
        // Rows picked by value on another column: a warning.
        let f = assert_flags(
            &RULE,
            "UPDATE orders SET status = 'archived' WHERE status IN ('done', 'void');",
        );
        assert_eq!(f.severity, crate::lint::Severity::Warning);
        assert!(f.message.contains("picks rows by status"), "{}", f.message);
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
