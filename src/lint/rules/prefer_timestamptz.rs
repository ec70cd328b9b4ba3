//! `prefer-timestamptz`: `timestamp without time zone` columns.

use crate::lint::style::flag_column_types;
use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ColumnDef, Stmt, TypeName};
use crate::pg::QualifiedName;

pub(crate) static RULE: Rule = Rule {
    id: "prefer-timestamptz",
    category: Category::Style,
    default_severity: Severity::Warning,
    lock: None,
    summary: "a `timestamp` column without time zone stores wall-clock times whose zone is lost",
    doc: "### What it does\n\
Flags columns of type `timestamp` (`timestamp without time zone`) in `CREATE TABLE` and \
`ALTER TABLE … ADD COLUMN`. Tables created in the same migration are flagged too: this is about the schema, not \
about locks. Turn it off with `rules: { prefer-timestamptz: off }` in `migrate.yaml`.\n\n\
### Why is this bad?\n\
`timestamp` stores a wall-clock reading with no zone: the same instant is stored differently by \
clients in different time zones, and comparisons with `now()` depend on the session's `TimeZone`. \
`timestamptz` stores an absolute instant (in the same 8 bytes) and converts on the way in and out. \
Converting later rewrites the table unless the session time zone is UTC, and rebuilds the column's \
indexes either way.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
```sql\nALTER TABLE users ADD COLUMN last_seen_at timestamptz;\n```",
    bad: "ALTER TABLE users ADD COLUMN last_seen_at timestamp;",
    good: "ALTER TABLE users ADD COLUMN last_seen_at timestamptz;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// Whether a column of type `ty` is flagged: `timestamp` without time zone.
fn flagged(ty: &TypeName) -> bool {
    ty.base == "timestamp"
}

/// The finding's message for `column` of `table`.
fn message(table: &QualifiedName, column: &ColumnDef) -> String {
    format!("{table}.{} is `timestamp` without time zone, so the instant it means depends on each client's time zone", column.name)
}

/// What to use instead.
const HELP: &str = "use timestamptz";

fn check(_cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    flag_column_types(&RULE, stmt, out, flagged, message, HELP);
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_timestamp_spellings() {
        assert_flags(
            &RULE,
            "ALTER TABLE users ADD COLUMN seen TIMESTAMP(3) WITHOUT TIME ZONE;",
        );
        let f = assert_flags(&RULE, "CREATE TABLE app.\"T\" (\"At\" timestamp, b timestamptz);");
        assert!(f.message.contains("app.\"T\".\"At\""), "{}", f.message);
    }

    #[test]
    fn ignores_timestamptz() {
        assert_clean(
            &RULE,
            "CREATE TABLE t (a timestamptz, b timestamp with time zone, c date);",
        );
    }
}
