//! `add-column-json`: a `json` column, where `jsonb` is almost always wanted.

use crate::lint::style::flag_column_types;
use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ColumnDef, Stmt, TypeName};
use crate::pg::QualifiedName;

pub(crate) static RULE: Rule = Rule {
    id: "add-column-json",
    category: Category::Style,
    default_severity: Severity::Warning,
    lock: None,
    summary: "a `json` column has no equality operator, so `DISTINCT`, `GROUP BY` and `UNION` on it fail",
    doc: "### What it does\n\
Flags columns of type `json` (and `json[]`) in `CREATE TABLE` and `ALTER TABLE … ADD COLUMN`. Tables created in the same migration are flagged too: this is about the schema, not \
about locks. Turn it off with `rules: { add-column-json: off }` in `migrate.yaml`.\n\n\
### Why is this bad?\n\
`json` stores the text as written and has no equality operator: `SELECT DISTINCT`, `GROUP BY`, \
`UNION` and comparisons over the column fail with `could not identify an equality operator for type json`, \
which breaks ORMs that run such queries. It cannot be indexed with GIN, and every access re-parses the text.\n\n\
### Postgres versions\n\
All versions (`jsonb` since 9.4).\n\n\
### Use instead\n\
```sql\nALTER TABLE users ADD COLUMN settings jsonb;\n```\n\
Keep `json` only when the exact text (key order, duplicate keys, whitespace) must be preserved.",
    bad: "ALTER TABLE users ADD COLUMN settings json;",
    good: "ALTER TABLE users ADD COLUMN settings jsonb;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// Whether a column of type `ty` is flagged: `json` or `json[]`.
fn flagged(ty: &TypeName) -> bool {
    ty.base == "json"
}

/// The finding's message for `column` of `table`.
fn message(table: &QualifiedName, column: &ColumnDef) -> String {
    format!(
        "{table}.{} is `json`, which has no equality operator: DISTINCT, GROUP BY and UNION on it fail",
        column.name
    )
}

/// What to use instead.
const HELP: &str = "use jsonb";

fn check(_cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    flag_column_types(&RULE, stmt, out, flagged, message, HELP);
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_json_in_add_column_and_create_table() {
        assert_flags(&RULE, "ALTER TABLE users ADD COLUMN settings JSON;");
        let f = assert_flags(&RULE, "CREATE TABLE app.\"Prefs\" (id bigint, \"Data\" json[]);");
        assert!(f.message.contains("app.\"Prefs\".\"Data\""), "{}", f.message);
    }

    #[test]
    fn ignores_jsonb() {
        assert_clean(&RULE, "CREATE TABLE t (a jsonb, b text);");
    }
}
