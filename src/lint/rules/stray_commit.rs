//! `stray-commit`: a `COMMIT` with no `BEGIN` before it in the file.

use crate::lint::{Category, Finding, LintContext, Rule, Severity, TxKind};
use crate::parse::{Stmt, StmtKind};

pub(crate) static RULE: Rule = Rule {
    id: "stray-commit",
    category: Category::Correctness,
    default_severity: Severity::Warning,
    lock: None,
    summary: "a `COMMIT` that no `BEGIN` in the file opened",
    doc: "### What it does\n\
Flags a `COMMIT` (or `END`) at the top level of a file when no `BEGIN` before it opened a \
transaction.\n\n\
### Why is this bad?\n\
In autocommit PostgreSQL only warns (`there is no transaction in progress`), so the statement is \
noise, or a sign the file was cut from a larger script. Under a runner that wraps the file in one \
transaction it commits the runner's transaction early: the statements after it run outside it, and \
a failure later in the file no longer rolls back the ones before.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Remove the `COMMIT`, or open the transaction it ends with `BEGIN`.",
    bad: "ALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;",
    good: "BEGIN;\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if stmt.kind != StmtKind::Commit {
        return;
    }
    let message = match cx.tx.kind {
        TxKind::Autocommit => "`COMMIT` with no transaction open: PostgreSQL only warns that there is none in progress",
        TxKind::Wrapped => {
            "`COMMIT` with no `BEGIN` in this file commits the transaction the runner wraps the file in, early: \
             the statements after it run outside it"
        }
        // A BEGIN opened it, or a procedure-style COMMIT inside a DO block.
        TxKind::Explicit | TxKind::Implicit => return,
    };
    out.push(
        Finding::new(&RULE, stmt.span, message).help("remove it, or open the transaction it ends with BEGIN"),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_commit_without_begin() {
        let f = assert_flags(&RULE, "ALTER TABLE users ADD COLUMN a int;\nCOMMIT;");
        assert!(f.message.contains("no transaction open"), "{}", f.message);
        let f = assert_flags(&RULE, "-- migrate:transaction\nSELECT 1;\nCOMMIT;\nSELECT 2;");
        assert!(f.message.contains("runner wraps"), "{}", f.message);
        assert_flags(&RULE, "BEGIN;\nCOMMIT;\nCOMMIT;");
    }

    #[test]
    fn ignores_commit_that_ends_a_begin() {
        assert_clean(&RULE, "BEGIN;\nALTER TABLE users ADD COLUMN a int;\nCOMMIT;");
        assert_clean(
            &RULE,
            "DO $$ BEGIN ALTER TABLE users ADD COLUMN a int; COMMIT; END $$;",
        );
    }
}
