//! `REINDEX` → `REINDEX … CONCURRENTLY` (PostgreSQL 12+), outside a transaction.

use super::Rewrite;
use crate::lint::rules::reindex_non_concurrent;
use crate::parse::{ReindexTarget, StmtKind};
use crate::pg::LockMode;
use crate::plan::sql::Sql;
use crate::plan::{PlanContext, Refusal, Step};

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "reindex-concurrently",
    fixes: &[&reindex_non_concurrent::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::Reindex(reindex) = &cx.stmt.kind else {
        return Err(Refusal::new("not a REINDEX statement"));
    };
    if !cx.pg_version.at_least(12) {
        return Err(Refusal::new(
            "REINDEX CONCURRENTLY needs PostgreSQL 12: build a replacement with CREATE INDEX CONCURRENTLY, drop the old index concurrently, then rename",
        ));
    }
    let (target, name) = match (reindex.target, &reindex.name) {
        (ReindexTarget::Index, Some(name)) => ("REINDEX INDEX CONCURRENTLY", name),
        (ReindexTarget::Table, Some(name)) => ("REINDEX TABLE CONCURRENTLY", name),
        _ => {
            return Err(Refusal::new(
                "only REINDEX INDEX and REINDEX TABLE are rewritten: reindex each table concurrently",
            ))
        }
    };
    let mut step = Step::concurrent(Sql::kw(target).name(name), cx.stmt.span).note(
        "rebuild while reads and writes continue; a failed run leaves an INVALID *_ccnew index to drop",
    );
    let table = match reindex.target {
        ReindexTarget::Index => cx.schema.index(name).map(|i| i.table.clone()),
        _ => Some(name.clone()),
    };
    if let Some(table) = table {
        step = step.lock(LockMode::ShareUpdateExclusive, &table);
    }
    Ok(vec![step])
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn reindexes_concurrently_on_pg12() {
        let s = script("REINDEX INDEX users_email_idx;", 12);
        assert!(s.contains("REINDEX INDEX CONCURRENTLY users_email_idx;"), "{s}");
        assert!(script("REINDEX TABLE users;", 11).contains("refused"));
    }
}
