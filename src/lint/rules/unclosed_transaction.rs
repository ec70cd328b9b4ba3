//! `unclosed-transaction`: a `BEGIN` with no `COMMIT` or `ROLLBACK` before the end of its file.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};

pub(crate) static RULE: Rule = Rule {
    id: "unclosed-transaction",
    category: Category::Correctness,
    default_severity: Severity::Error,
    lock: None,
    summary: "a `BEGIN` that no `COMMIT` or `ROLLBACK` ends before the end of the file",
    doc: "### What it does\n\
Flags a `BEGIN` (or `START TRANSACTION`) with no `COMMIT`, `END`, `ROLLBACK` or `ABORT` after it in \
the same file.\n\n\
### Why is this bad?\n\
What happens to the open transaction depends on how the file is run, not on the file: `psql` rolls \
it back when the session ends, so the changes silently never apply; a runner that wraps the file in \
its own transaction commits it with its own `COMMIT`; a runner that sends the file as one query \
leaves the session in a transaction and may fail the migration or run the next one inside it. The \
locks the transaction took are held until whichever of these happens.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
End the transaction in the file that opens it.",
    bad: "BEGIN;\nALTER TABLE users ADD COLUMN nickname text;",
    good: "BEGIN;\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// What a statement does to the transaction, from its first words (the
/// statements after a `BEGIN` are read as text: the rule looks ahead).
#[derive(Debug, PartialEq, Eq)]
enum Control {
    Opens,
    Closes,
    Neither,
}

fn control(sql: &str) -> Control {
    let mut words = sql
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase);
    match (words.next().as_deref(), words.next().as_deref()) {
        (Some("BEGIN"), None | Some("WORK" | "TRANSACTION" | "ISOLATION" | "READ")) => Control::Opens,
        (Some("START"), Some("TRANSACTION")) => Control::Opens,
        (Some("COMMIT" | "END" | "ABORT"), _) => Control::Closes,
        (Some("PREPARE"), Some("TRANSACTION")) => Control::Closes,
        // `ROLLBACK TO [SAVEPOINT] x` keeps the transaction open.
        (Some("ROLLBACK"), next) => match next {
            Some("TO") => Control::Neither,
            Some("WORK" | "TRANSACTION") if words.next().as_deref() == Some("TO") => Control::Neither,
            _ => Control::Closes,
        },
        _ => Control::Neither,
    }
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if stmt.kind != StmtKind::Begin {
        return;
    }
    let text = &cx.source.text;
    let closed = cx
        .source
        .statements
        .iter()
        .filter(|s| s.span.start >= stmt.span.end)
        .map(|s| control(s.span.slice(text)))
        .find(|c| *c != Control::Neither)
        == Some(Control::Closes);
    if closed {
        return;
    }
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            "this transaction is still open at the end of the file: whether its changes apply depends on the runner \
             (psql rolls them back when the session ends)",
        )
        .help("end it with COMMIT in this file")
        .label("no COMMIT or ROLLBACK follows"),
    );
}

#[cfg(test)]
mod tests {
    use super::{control, Control, RULE};
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_begin_without_commit() {
        let f = assert_flags(&RULE, "BEGIN;\nALTER TABLE users ADD COLUMN a int;");
        assert!(f.message.contains("still open"), "{}", f.message);
        // A second BEGIN is not an end.
        assert_flags(&RULE, "BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;");
        // ROLLBACK TO SAVEPOINT keeps it open.
        assert_flags(&RULE, "BEGIN;\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;");
    }

    #[test]
    fn ignores_closed_transactions() {
        for end in [
            "COMMIT",
            "commit work",
            "END",
            "ROLLBACK",
            "ABORT",
            "rollback transaction",
        ] {
            assert_clean(
                &RULE,
                &format!("BEGIN;\nALTER TABLE users ADD COLUMN a int;\n{end};"),
            );
        }
        assert_clean(&RULE, "ALTER TABLE users ADD COLUMN a int;");
    }

    #[test]
    fn reads_transaction_control() {
        assert_eq!(
            control("START TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            Control::Opens
        );
        assert_eq!(control("ROLLBACK WORK TO s"), Control::Neither);
        assert_eq!(control("ROLLBACK AND CHAIN"), Control::Closes);
        assert_eq!(control("BEGIN ATOMIC"), Control::Neither);
    }
}
