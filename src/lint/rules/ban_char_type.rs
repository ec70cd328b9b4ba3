//! `ban-char-type`: `char(n)` columns.

use crate::lint::style::flag_column_types;
use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ColumnDef, Stmt, TypeName};
use crate::pg::QualifiedName;

pub(crate) static RULE: Rule = Rule {
    id: "ban-char-type",
    category: Category::Style,
    default_severity: Severity::Warning,
    lock: None,
    summary: "a `char(n)` column pads values with spaces and is no faster than `text`",
    doc: "### What it does\n\
Flags columns of type `char(n)`, `character(n)` and `bpchar` in `CREATE TABLE` and \
`ALTER TABLE … ADD COLUMN`. Tables created in the same migration are flagged too: this is about the schema, not \
about locks. Turn it off with `rules: { ban-char-type: off }` in `migrate.yaml`.\n\n\
### Why is this bad?\n\
`char(n)` pads every value with spaces to `n` characters, and the padding is ignored in some \
comparisons but not in others (`LIKE`, regular expressions, concatenation), which surprises \
application code. It is stored like `text`, so it saves nothing, and its length is as hard to change \
as a `varchar(n)` limit.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
```sql\nALTER TABLE accounts ADD COLUMN country_code text CONSTRAINT accounts_country_code_length CHECK (char_length(country_code) = 2);\n```",
    bad: "ALTER TABLE accounts ADD COLUMN country_code char(2);",
    good: "ALTER TABLE accounts ADD COLUMN country_code text;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// Whether a column of type `ty` is flagged: blank-padded `char(n)`.
fn flagged(ty: &TypeName) -> bool {
    ty.base == "char"
}

/// The finding's message for `column` of `table`.
fn message(table: &QualifiedName, column: &ColumnDef) -> String {
    format!(
        "{table}.{} is `{}`, which pads values with spaces",
        column.name, column.ty
    )
}

/// What to use instead.
const HELP: &str = "use text (with a CHECK constraint for the length)";

fn check(_cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    flag_column_types(&RULE, stmt, out, flagged, message, HELP);
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_char_spellings() {
        for ty in ["char(2)", "CHARACTER(2)", "char", "bpchar"] {
            assert_flags(&RULE, &format!("ALTER TABLE accounts ADD COLUMN c {ty};"));
        }
        let f = assert_flags(&RULE, "CREATE TABLE app.\"T\" (\"Code\" char(3));");
        assert!(f.message.contains("app.\"T\".\"Code\""), "{}", f.message);
    }

    #[test]
    fn ignores_varchar_and_text() {
        assert_clean(
            &RULE,
            "CREATE TABLE t (a varchar(3), b text, c character varying);",
        );
    }
}
