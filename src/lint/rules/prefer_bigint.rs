//! `prefer-bigint`: `integer`, `smallint` and `serial` columns, which overflow.

use crate::lint::style::flag_column_types;
use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ColumnDef, Stmt, TypeName};
use crate::pg::QualifiedName;

pub(crate) static RULE: Rule = Rule {
    id: "prefer-bigint",
    category: Category::Style,
    default_severity: Severity::Warning,
    lock: None,
    summary: "an `integer` or `smallint` column overflows, and widening it later rewrites the table",
    doc: "### What it does\n\
Flags columns of type `integer` (`int`, `int4`), `smallint` (`int2`), `serial` and `smallserial` in \
`CREATE TABLE` and `ALTER TABLE … ADD COLUMN`, most importantly keys and the columns that reference them. Tables created in the same migration are flagged too: this is about the schema, not \
about locks. Turn it off with `rules: { prefer-bigint: off }` in `migrate.yaml`.\n\n\
### Why is this bad?\n\
`integer` stops at 2 147 483 647 and `smallint` at 32 767. Once a key runs out, inserts fail; changing \
the type to `bigint` then rewrites the table and every index under ACCESS EXCLUSIVE (and a `serial` \
sequence stays `AS integer` even after the column is widened). `bigint` costs four more bytes per row.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
```sql\nCREATE TABLE invoices (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    account_id bigint NOT NULL\n);\n```\n\
Turn the rule off (`rules: { prefer-bigint: off }`) if small integer columns are a deliberate choice.",
    bad: "ALTER TABLE orders ADD COLUMN quantity integer;",
    good: "ALTER TABLE orders ADD COLUMN quantity bigint;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// The largest value a column of `base` holds.
fn limit(base: &str) -> &'static str {
    match base {
        "smallint" | "smallserial" => "32767",
        _ => "2147483647",
    }
}

/// Whether a column of type `ty` is flagged: a 2- or 4-byte integer (arrays are left alone).
fn flagged(ty: &TypeName) -> bool {
    !ty.array
        && matches!(
            ty.base.as_str(),
            "integer" | "smallint" | "serial" | "smallserial"
        )
}

/// The finding's message for `column` of `table`.
fn message(table: &QualifiedName, column: &ColumnDef) -> String {
    format!(
        "{table}.{} is `{}`, which overflows at {}; widening it later rewrites the table",
        column.name,
        column.ty.base,
        limit(&column.ty.base)
    )
}

/// What to use instead.
const HELP: &str = "use bigint (bigint GENERATED ALWAYS AS IDENTITY for keys)";

fn check(_cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    flag_column_types(&RULE, stmt, out, flagged, message, HELP);
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_integer_spellings_and_serials() {
        for ty in [
            "int",
            "INTEGER",
            "int4",
            "smallint",
            "int2",
            "serial",
            "serial4",
            "smallserial",
        ] {
            assert_flags(&RULE, &format!("ALTER TABLE orders ADD COLUMN n {ty};"));
        }
        let f = assert_flags(&RULE, "CREATE TABLE app.\"T\" (id int PRIMARY KEY, ok bigint);");
        assert!(f.message.contains("app.\"T\".id"), "{}", f.message);
    }

    #[test]
    fn ignores_bigint_and_arrays() {
        assert_clean(&RULE, "CREATE TABLE t (a bigint, b bigserial, c int8, d int[]);");
    }
}
