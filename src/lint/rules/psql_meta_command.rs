//! `psql-meta-command`: a psql backslash command in a migration.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};

pub(crate) static RULE: Rule = Rule {
    id: "psql-meta-command",
    category: Category::Correctness,
    default_severity: Severity::Warning,
    lock: None,
    summary: "psql meta-commands only work when the file is run by psql",
    doc: "### What it does\n\
Reports psql meta-commands such as `\\set`, `\\i` or `\\connect`.\n\n\
### Why is this bad?\n\
They are instructions to psql, not SQL: the server rejects them, so the migration fails under any \
other runner (including `migrate apply`), and the linter cannot see what an included file does.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Write the SQL itself. For `\\set ON_ERROR_STOP`, rely on the runner; for `\\i`, inline the file.",
    bad: "\\set ON_ERROR_STOP on",
    good: "SELECT 1;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(_cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if stmt.kind == StmtKind::PsqlMeta {
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                "psql meta-command: the server rejects it under any runner but psql",
            )
            .help("replace it with plain SQL, or run this file with psql only"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, findings};

    #[test]
    fn flags_meta_commands() {
        assert_eq!(
            findings(&RULE, "\\set ON_ERROR_STOP on\nSELECT 1;\n\\i other.sql\n").len(),
            2
        );
    }

    #[test]
    fn ignores_backslashes_inside_strings() {
        assert_clean(&RULE, "SELECT E'\\\\set';");
    }
}
