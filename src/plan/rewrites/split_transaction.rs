//! `CONCURRENTLY` inside a transaction, or `VALIDATE` in the transaction that
//! added the constraint → the statement becomes its own step, so the
//! transaction around it is split.

use super::Rewrite;
use crate::lint::rules::{concurrently_in_transaction, validate_in_same_transaction};
use crate::plan::{passthrough, PlanContext, Refusal, Step};

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "split-transaction",
    fixes: &[
        &concurrently_in_transaction::RULE,
        &validate_in_same_transaction::RULE,
    ],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    Ok(vec![passthrough(cx.stmt, cx.text, cx.pg_version, cx.schema)
        .note("its own step: the transaction around it is split")])
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::plan_at;
    use crate::plan::{StepKind, TxMode};

    #[test]
    fn concurrent_statement_leaves_the_transaction() {
        let p = plan_at("BEGIN;\nALTER TABLE users ADD COLUMN x int;\nCREATE INDEX CONCURRENTLY i ON users (email);\nALTER TABLE users ADD COLUMN y int;\nCOMMIT;", 15);
        let kinds: Vec<(StepKind, TxMode)> = p.steps.iter().map(|s| (s.kind, s.tx)).collect();
        assert_eq!(
            kinds,
            vec![
                (StepKind::Ddl, TxMode::InTransaction),
                (StepKind::Concurrent, TxMode::Outside),
                (StepKind::Ddl, TxMode::InTransaction)
            ]
        );
    }

    #[test]
    fn validate_gets_its_own_transaction() {
        let p = plan_at(
            "BEGIN;\nALTER TABLE users ADD CONSTRAINT c CHECK (age > 0) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT c;\nCOMMIT;",
            15,
        );
        assert_eq!(
            p.steps.iter().map(|s| s.kind).collect::<Vec<_>>(),
            vec![StepKind::Ddl, StepKind::Validate]
        );
    }
}
