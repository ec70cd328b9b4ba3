//! `enum-add-value-in-transaction`: `ALTER TYPE … ADD VALUE` in a transaction that cannot run, or whose value is used before commit.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};

pub(crate) static RULE: Rule = Rule {
    id: "enum-add-value-in-transaction",
    category: Category::Correctness,
    default_severity: Severity::Error,
    lock: None,
    summary: "an enum value added inside a transaction cannot be used before commit (and before PostgreSQL 12 cannot be added there at all)",
    doc: "### What it does\n\
Inside a transaction block (`BEGIN … COMMIT`, or a file the runner wraps in one):\n\n\
- before PostgreSQL 12, flags `ALTER TYPE … ADD VALUE`, unless the type was created earlier in the \
same transaction;\n\
- on PostgreSQL 12 and later, flags a later statement of the same transaction that uses a value \
added there.\n\n\
A statement counts as using the value when its text contains the value as a quoted literal \
(`'shipped'`). This is a heuristic: it can flag a comment or an unrelated string that happens to \
match, and it misses a value built at run time. `ALTER TYPE … ADD VALUE … BEFORE|AFTER` naming a \
value added in the same transaction is allowed and not flagged.\n\n\
### Why is this bad?\n\
Before PostgreSQL 12, `ALTER TYPE … ADD VALUE` fails with `cannot run inside a transaction block`. \
From 12 on it runs, but until the transaction commits any use of the new value fails with `unsafe \
use of new value`: the migration fails either way.\n\n\
### Postgres versions\n\
PostgreSQL ≤ 11: `ADD VALUE` must run outside a transaction block (it is allowed in one only for a \
type created in that same transaction). PostgreSQL 12+: allowed in a transaction block, the new \
value usable only after commit — even for a type created in the same transaction.\n\n\
### Use instead\n\
Add the value in its own transaction (outside any transaction block before PostgreSQL 12), and use \
it in a later one:\n\
```sql\nALTER TYPE order_status ADD VALUE IF NOT EXISTS 'shipped' AFTER 'paid';\n\
-- a new transaction:\n\
CREATE TABLE shipments (id bigint PRIMARY KEY, status order_status NOT NULL DEFAULT 'shipped');\n```",
    bad: "BEGIN;\n\
ALTER TYPE order_status ADD VALUE 'shipped' AFTER 'paid';\n\
CREATE TABLE shipments (id bigint PRIMARY KEY, status order_status NOT NULL DEFAULT 'shipped');\n\
COMMIT;",
    good: "ALTER TYPE order_status ADD VALUE 'shipped' AFTER 'paid';\n\
CREATE TABLE shipments (id bigint PRIMARY KEY, status order_status NOT NULL DEFAULT 'shipped');",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !cx.tx.in_transaction() {
        return;
    }
    if let StmtKind::AlterTypeAddValue { name, value } = &stmt.kind {
        if !cx.pg_version().at_least(12) && !cx.tx.types_created.contains(&name.key()) {
            out.push(
                Finding::new(
                    &RULE,
                    stmt.span,
                    format!(
                        "`ALTER TYPE … ADD VALUE` cannot run inside a transaction block before PostgreSQL 12: \
                         adding {} to {name} fails",
                        literal(value)
                    ),
                )
                .help("run it on its own, outside a transaction"),
            );
        }
        // Naming a value added in this transaction in BEFORE/AFTER is allowed.
        return;
    }
    if !cx.pg_version().at_least(12) {
        return;
    }
    let text = stmt.span.slice(&cx.source.text);
    for (ty, value) in &cx.tx.enum_values_added {
        let literal = literal(value);
        if text.contains(&literal) {
            out.push(
                Finding::new(
                    &RULE,
                    stmt.span,
                    format!(
                        "enum value {literal} was added to {ty} in this transaction and cannot be used before \
                         it commits: this statement fails"
                    ),
                )
                .label("unsafe use of new value")
                .help("commit after `ALTER TYPE … ADD VALUE` and use the value in a later transaction"),
            );
        }
    }
}

/// `value` as an SQL string literal, the way a statement using it would write it.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    const ADD: &str = "ALTER TYPE order_status ADD VALUE 'shipped';\n";
    const USE: &str = "UPDATE orders SET status = 'shipped' WHERE id = 1;\n";

    #[test]
    fn flags_use_of_the_new_value_in_the_same_transaction() {
        let f = assert_flags(&RULE, &format!("BEGIN;\n{ADD}{USE}COMMIT;"));
        assert!(f
            .message
            .starts_with("enum value 'shipped' was added to order_status"));
    }

    #[test]
    fn flags_in_files_the_runner_wraps() {
        let sql = format!("-- migrate:transaction\n{ADD}{USE}");
        assert_flags(&RULE, &sql);
    }

    #[test]
    fn ignores_use_after_commit_and_autocommit() {
        assert_clean(&RULE, &format!("BEGIN;\n{ADD}COMMIT;\n{USE}"));
        assert_clean(&RULE, &format!("{ADD}{USE}"));
    }

    #[test]
    fn ignores_other_literals_and_neighbours_in_add_value() {
        assert_clean(
            &RULE,
            &format!("BEGIN;\n{ADD}ALTER TYPE order_status ADD VALUE 'returned' AFTER 'shipped';\nSELECT 'shipped_at';\nCOMMIT;"),
        );
    }

    #[test]
    fn matches_quoted_and_qualified_values_exactly() {
        let sql = "BEGIN;\nALTER TYPE Public.\"Status\" ADD VALUE 'it''s';\nSELECT 'it''s'::public.\"Status\";\nCOMMIT;";
        let f = assert_flags(&RULE, sql);
        assert!(
            f.message.contains("'it''s' was added to public.\"Status\""),
            "{}",
            f.message
        );
        // Labels are case-sensitive.
        assert_clean(&RULE, &format!("BEGIN;\n{ADD}SELECT 'Shipped';\nCOMMIT;"));
    }

    #[test]
    fn before_pg12_flags_the_add_itself() {
        let sql = format!("BEGIN;\n{ADD}{USE}COMMIT;");
        let f = findings_at(&RULE, &sql, 11);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("before PostgreSQL 12"));
        assert!(findings_at(&RULE, &sql, 12)[0].message.starts_with("enum value"));
        assert!(findings_at(&RULE, ADD, 11).is_empty(), "autocommit is fine on 11");
    }

    #[test]
    fn before_pg12_allows_adding_to_a_type_created_in_the_transaction() {
        let sql = "BEGIN;\nCREATE TYPE mood AS ENUM ('ok');\nALTER TYPE mood ADD VALUE 'sad';\nCOMMIT;";
        assert!(findings_at(&RULE, sql, 11).is_empty());
        let sql = "CREATE TYPE mood AS ENUM ('ok');\nBEGIN;\nALTER TYPE mood ADD VALUE 'sad';\nCOMMIT;";
        assert_eq!(findings_at(&RULE, sql, 11).len(), 1);
    }
}
