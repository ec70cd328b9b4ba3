//! `refresh-matview-non-concurrent`: `REFRESH MATERIALIZED VIEW` without `CONCURRENTLY` blocks reads of the view.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "refresh-matview-non-concurrent",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary:
        "`REFRESH MATERIALIZED VIEW` without `CONCURRENTLY` blocks reads of the view until it is recomputed",
    doc: "### What it does\n\
Flags `REFRESH MATERIALIZED VIEW` without `CONCURRENTLY`, unless the view was created in this \
migration.\n\n\
### Why is this bad?\n\
A plain refresh holds an ACCESS EXCLUSIVE lock on the view while it runs the whole query again: \
every `SELECT` from the view waits until the refresh ends.\n\n\
### Postgres versions\n\
All supported versions. `REFRESH MATERIALIZED VIEW CONCURRENTLY` takes an EXCLUSIVE lock instead, \
which lets reads continue. It needs a UNIQUE index on the view that uses only plain columns (no \
expressions, no `WHERE`) and covers all rows, and it fails on a view that was never populated \
(`WITH NO DATA`). Only one refresh of a view runs at a time.\n\n\
### Use instead\n\
```sql\n\
-- once, outside a transaction, if the view has no suitable unique index yet:\n\
CREATE UNIQUE INDEX CONCURRENTLY order_totals_user_idx ON order_totals (user_id);\n\
REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;\n```",
    bad: "REFRESH MATERIALIZED VIEW order_totals;",
    good: "REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::RefreshMatView {
        name,
        concurrently: false,
    } = &stmt.kind
    else {
        return;
    };
    if cx.in_this_deploy(cx.schema.matview_created_in(name)) {
        return;
    }
    let help = if cx.schema.indexes_on(name).any(|i| i.unique) {
        "refresh it CONCURRENTLY, which uses the view's unique index and lets reads continue"
    } else {
        "create a unique index on plain columns of the view (CONCURRENTLY), then refresh it CONCURRENTLY"
    };
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "`REFRESH MATERIALIZED VIEW` holds ACCESS EXCLUSIVE on {name} while it recomputes, blocking \
                 every read of the view"
            ),
        )
        .table(name)
        .label("reads of the view wait until the refresh ends")
        .help(help),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    #[test]
    fn flags_plain_refresh_and_sees_the_unique_index() {
        let f = assert_flags(&RULE, "REFRESH MATERIALIZED VIEW order_totals;");
        assert_eq!(f.table.unwrap().to_string(), "order_totals");
        assert!(f.help.unwrap().contains("uses the view's unique index"));
    }

    #[test]
    fn asks_for_a_unique_index_when_none_is_known() {
        let f = assert_flags(&RULE, "refresh materialized view Reports.\"Daily\";");
        assert_eq!(f.table.unwrap().to_string(), "reports.\"Daily\"");
        assert!(f.help.unwrap().starts_with("create a unique index"));
    }

    #[test]
    fn ignores_concurrent_refresh() {
        assert_clean(&RULE, "REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;");
    }

    #[test]
    fn ignores_view_created_in_this_file() {
        assert_clean(
            &RULE,
            "CREATE MATERIALIZED VIEW s.\"Mv\" AS SELECT 1 AS x WITH NO DATA;\nREFRESH MATERIALIZED VIEW s.\"Mv\";",
        );
        // Only the same view: a different one is still flagged.
        assert_flags(
            &RULE,
            "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;\nREFRESH MATERIALIZED VIEW s.mv;",
        );
    }

    #[test]
    fn fires_on_every_version() {
        let sql = "REFRESH MATERIALIZED VIEW order_totals;";
        assert_eq!(findings_at(&RULE, sql, 10).len(), 1);
        assert_eq!(findings_at(&RULE, sql, 18).len(), 1);
    }
}
