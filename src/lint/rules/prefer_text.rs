//! `prefer-text`: `varchar(n)` columns, where `text` with a CHECK is easier to change.

use crate::lint::style::flag_column_types;
use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ColumnDef, Stmt, TypeName};
use crate::pg::QualifiedName;

pub(crate) static RULE: Rule = Rule {
    id: "prefer-text",
    category: Category::Style,
    default_severity: Severity::Warning,
    lock: None,
    summary: "a `varchar(n)` limit is hard to change; `text` with a CHECK constraint is not",
    doc: "### What it does\n\
Flags columns of type `varchar(n)` (`character varying(n)`) in `CREATE TABLE` and \
`ALTER TABLE … ADD COLUMN`. `varchar` without a length is left alone. Tables created in the same migration are flagged too: this is about the schema, not \
about locks. Turn it off with `rules: { prefer-text: off }` in `migrate.yaml`.\n\n\
### Why is this bad?\n\
PostgreSQL stores `varchar(n)` and `text` the same way; the length is only a constraint, and a \
poor one to change: raising it takes ACCESS EXCLUSIVE, and lowering it rewrites the table under that \
lock. A CHECK constraint on a `text` column can be replaced with `NOT VALID` and validated under \
SHARE UPDATE EXCLUSIVE, while traffic continues.\n\n\
### Postgres versions\n\
All versions. Raising a `varchar` limit needs no rewrite since 9.2.\n\n\
### Use instead\n\
```sql\nALTER TABLE users ADD COLUMN nickname text CONSTRAINT users_nickname_length CHECK (char_length(nickname) <= 50);\n```\n\
On an existing table add the CHECK `NOT VALID` and validate it separately (see `add-check-constraint`).",
    bad: "ALTER TABLE users ADD COLUMN nickname varchar(50);",
    good: "ALTER TABLE users ADD COLUMN nickname text;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// Whether a column of type `ty` is flagged: `varchar` with a length limit.
fn flagged(ty: &TypeName) -> bool {
    ty.base == "varchar" && !ty.modifiers.is_empty()
}

/// The finding's message for `column` of `table`.
fn message(table: &QualifiedName, column: &ColumnDef) -> String {
    format!(
        "{table}.{} is `{}`: changing the limit later takes ACCESS EXCLUSIVE, lowering it rewrites the table",
        column.name, column.ty
    )
}

/// What to use instead.
const HELP: &str = "use text with a CHECK (char_length(col) <= n) constraint";

fn check(_cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    flag_column_types(&RULE, stmt, out, flagged, message, HELP);
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_varchar_with_a_length() {
        assert_flags(
            &RULE,
            "ALTER TABLE users ADD COLUMN nickname CHARACTER VARYING(50);",
        );
        let f = assert_flags(&RULE, "CREATE TABLE app.\"T\" (\"Code\" varchar(3), name text);");
        assert!(
            f.message.contains("app.\"T\".\"Code\" is `varchar(3)`"),
            "{}",
            f.message
        );
    }

    #[test]
    fn ignores_text_and_unbounded_varchar() {
        assert_clean(&RULE, "CREATE TABLE t (a text, b varchar);");
    }
}
