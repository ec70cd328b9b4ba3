//! `DETACH PARTITION` → `DETACH PARTITION … CONCURRENTLY` (PostgreSQL 14+), outside a transaction.

use super::Rewrite;
use crate::lint::rules::detach_partition_non_concurrent;
use crate::parse::{AlterAction, StmtKind};
use crate::pg::LockMode;
use crate::plan::sql::Sql;
use crate::plan::{PlanContext, Refusal, Step};

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "detach-concurrently",
    fixes: &[&detach_partition_non_concurrent::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::AlterTable(alter) = &cx.stmt.kind else {
        return Err(Refusal::new("not an ALTER TABLE statement"));
    };
    let partition = alter.actions.iter().find_map(|a| match a {
        AlterAction::DetachPartition {
            partition,
            concurrently: false,
            ..
        } => Some(partition),
        _ => None,
    });
    let Some(partition) = partition else {
        return Err(Refusal::new("not a DETACH PARTITION subcommand"));
    };
    if alter.actions.len() != 1 {
        return Err(Refusal::new(
            "DETACH PARTITION CONCURRENTLY must be the only subcommand of its ALTER TABLE",
        ));
    }
    if !cx.pg_version.at_least(14) {
        return Err(Refusal::new("DETACH PARTITION CONCURRENTLY needs PostgreSQL 14"));
    }
    Ok(vec![Step::concurrent(
        Sql::kw("ALTER TABLE")
            .name(&alter.table)
            .then("DETACH PARTITION")
            .name(partition)
            .then("CONCURRENTLY"),
        cx.stmt.span,
    )
    .lock(LockMode::ShareUpdateExclusive, &alter.table)
    .note(
        "detach without blocking queries on the parent; not possible while a default partition exists",
    )])
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn detaches_concurrently_on_pg14() {
        let s = script("ALTER TABLE events DETACH PARTITION events_2024;", 14);
        assert!(
            s.contains("ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;"),
            "{s}"
        );
        assert!(script("ALTER TABLE events DETACH PARTITION events_2024;", 13).contains("refused"));
    }
}
