//! `parse-error`: a statement that could not be understood.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};

pub(crate) static RULE: Rule = Rule {
    id: "parse-error",
    category: Category::Parse,
    default_severity: Severity::Error,
    lock: None,
    summary: "the statement could not be parsed, so it was not checked",
    doc: "### What it does\n\
Reports a statement that neither the SQL parser nor the recognisers for statements it lacks could \
read, and text problems such as an unterminated quote, dollar quote or comment.\n\n\
### Why is this bad?\n\
A statement the linter cannot read is a statement it cannot check: it may take any lock. Linting \
continues with the next statement.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Fix the syntax, or, if PostgreSQL accepts the statement, silence this finding with \
`-- migrate:ignore parse-error -- <why it is safe>` on the line before it.",
    bad: "ALTER TABEL users ADD COLUMN x int;",
    good: "ALTER TABLE users ADD COLUMN x int;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(_cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if let StmtKind::Unparsed { message } = &stmt.kind {
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!("cannot parse this statement: {message}"),
            )
            .help(
                "fix the syntax, or add `-- migrate:ignore parse-error -- reason` if PostgreSQL accepts it",
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, findings};

    #[test]
    fn flags_unparseable_statement_and_continues() {
        let found = findings(&RULE, "SELECT 1;\nALTER TABEL users ADD x int;\nSELECT 2;");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].span.start, "SELECT 1;\n".len());
    }

    #[test]
    fn ignores_valid_sql() {
        assert_clean(&RULE, "SELECT 1;");
    }
}
