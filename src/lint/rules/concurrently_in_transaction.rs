//! `concurrently-in-transaction`: a CONCURRENTLY statement inside a transaction block.

use crate::lint::{Category, Finding, LintContext, Rule, Severity, TxKind};
use crate::parse::{AlterAction, Stmt, StmtKind};
use crate::source::{FileTransaction, Source};

pub(crate) static RULE: Rule = Rule {
    id: "concurrently-in-transaction",
    category: Category::Correctness,
    default_severity: Severity::Error,
    lock: None,
    summary: "`CONCURRENTLY` statements fail inside a transaction block",
    doc: "### What it does\n\
Flags `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX … CONCURRENTLY` and \
`DETACH PARTITION … CONCURRENTLY` inside `BEGIN … COMMIT`, or in a file its runner runs in one \
transaction: refinery, Flyway, diesel, sqlx, dbmate and goose wrap each file in one unless a directive \
says otherwise; golang-migrate and Prisma send the file as one query, which PostgreSQL runs as one \
implicit transaction when it holds more than one statement (`--assume-in-transaction` or the config's \
`assume_in_transaction` decide instead when given).\n\n\
### Why is this bad?\n\
PostgreSQL refuses them with `cannot run inside a transaction block`: the migration fails. A \
multi-statement simple query (`psql -c \"…; …\"`) is one implicit transaction too.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Run the statement on its own, outside any transaction: end the transaction before it, or mark the \
file as non-transactional for your runner (`-- migrate:no-transaction`, goose `-- +goose NO TRANSACTION`, \
dbmate `transaction:false`, sqlx `-- no-transaction`).",
    bad: "BEGIN;\nCREATE INDEX CONCURRENTLY users_name_idx ON users (name);\nCOMMIT;",
    good: "CREATE INDEX CONCURRENTLY users_name_idx ON users (name);",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !cx.tx.in_transaction() {
        return;
    }
    let what = match &stmt.kind {
        StmtKind::CreateIndex(i) if i.concurrently => "CREATE INDEX CONCURRENTLY",
        StmtKind::DropIndex(d) if d.concurrently => "DROP INDEX CONCURRENTLY",
        StmtKind::Reindex(r) if r.concurrently => "REINDEX CONCURRENTLY",
        StmtKind::AlterTable(a)
            if a.actions.iter().any(|x| {
                matches!(
                    x,
                    AlterAction::DetachPartition {
                        concurrently: true,
                        ..
                    }
                )
            }) =>
        {
            "DETACH PARTITION CONCURRENTLY"
        }
        _ => return,
    };
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!("`{what}` cannot run inside a transaction block: the migration fails"),
        )
        .help("run it outside the transaction, on its own"),
    );
    if cx.tx.kind == TxKind::Wrapped {
        if let Some(f) = out.last_mut() {
            f.message = format!(
                "`{what}` cannot run inside a transaction block, and {}: the migration fails",
                wrapped_by(cx.source)
            );
            f.help = Some(
                "mark the file as non-transactional for its runner (goose `-- +goose NO TRANSACTION`, dbmate \
                 `transaction:false`, sqlx `-- no-transaction`, diesel `run_in_transaction = false` in \
                 metadata.toml, or `-- migrate:no-transaction`), or give the statement a file of its own"
                    .to_string(),
            );
        }
    }
}

/// Why a file without `BEGIN` runs in a transaction.
fn wrapped_by(source: &Source) -> &'static str {
    match (source.transaction, source.runner) {
        (FileTransaction::Runner, runner) => runner.describe(),
        (FileTransaction::Wrapped, _) => {
            "the file's `-- migrate:transaction` directive wraps it in one transaction"
        }
        _ => "the file runs in one transaction (`assume_in_transaction`)",
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_concurrent_index_in_explicit_transaction() {
        assert_flags(
            &RULE,
            "BEGIN;\nCREATE INDEX CONCURRENTLY i ON users (email);\nCOMMIT;",
        );
        assert_flags(&RULE, "BEGIN;\nDROP INDEX CONCURRENTLY users_email_idx;\nCOMMIT;");
    }

    #[test]
    fn ignores_autocommit_and_after_commit() {
        assert_clean(&RULE, "CREATE INDEX CONCURRENTLY i ON users (email);");
        assert_clean(
            &RULE,
            "BEGIN;\nSELECT 1;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON users (email);",
        );
    }

    #[test]
    fn a_wrapped_file_names_what_wraps_it() {
        let f = assert_flags(
            &RULE,
            "-- migrate:transaction\nCREATE INDEX CONCURRENTLY i ON users (email);",
        );
        assert!(
            f.message.contains("`-- migrate:transaction` directive"),
            "{}",
            f.message
        );
        assert!(f.help.unwrap().contains("NO TRANSACTION"));
    }
}
