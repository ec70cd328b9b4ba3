//! `whole-table-dml`: `UPDATE` or `DELETE` without `WHERE` on an existing table.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "whole-table-dml",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::RowExclusive),
    summary: "an `UPDATE` or `DELETE` of every row locks all rows in one long transaction",
    doc: "### What it does\n\
Flags `UPDATE` and `DELETE` without a `WHERE` clause on a table that existed before this migration.\n\n\
### Why is this bad?\n\
One statement touches every row in one transaction: it holds a row lock on each until it commits, \
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

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::Dml(dml) = &stmt.kind else { return };
    if dml.has_where || cx.is_new(&dml.table) {
        return;
    }
    let verb = match dml.verb {
        crate::parse::DmlVerb::Update => "UPDATE",
        crate::parse::DmlVerb::Delete => "DELETE",
    };
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "`{verb}` without WHERE locks every row of {} in one long transaction",
                dml.table
            ),
        )
        .table(&dml.table)
        .label("every row, one transaction")
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
    fn ignores_filtered_dml_and_new_tables() {
        assert_clean(&RULE, "UPDATE users SET age = 0 WHERE age IS NULL;");
        assert_clean(&RULE, "CREATE TABLE t (a int);\nUPDATE t SET a = 1;");
    }
}
