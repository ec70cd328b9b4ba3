//! `REFRESH MATERIALIZED VIEW` → `… CONCURRENTLY` when the view has a unique index.

use super::Rewrite;
use crate::lint::rules::refresh_matview_non_concurrent;
use crate::parse::StmtKind;
use crate::pg::LockMode;
use crate::plan::sql::Sql;
use crate::plan::{PlanContext, Refusal, Step};

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "refresh-concurrently",
    fixes: &[&refresh_matview_non_concurrent::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::RefreshMatView { name, .. } = &cx.stmt.kind else {
        return Err(Refusal::new("not a REFRESH MATERIALIZED VIEW statement"));
    };
    if cx.stmt_text().to_ascii_uppercase().contains("NO DATA") {
        return Err(Refusal::new("REFRESH … WITH NO DATA cannot run CONCURRENTLY"));
    }
    if !cx.schema.indexes_on(name).any(|i| i.unique) {
        return Err(Refusal::new(
            "REFRESH … CONCURRENTLY needs a unique index on the view, and none is known: create one (CONCURRENTLY) first",
        ));
    }
    Ok(vec![Step::ddl(
        Sql::kw("REFRESH MATERIALIZED VIEW CONCURRENTLY").name(name),
        cx.stmt.span,
    )
    .lock(LockMode::Exclusive, name)
    .note("readers keep reading the old contents during the refresh")])
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn refreshes_concurrently_with_a_unique_index() {
        assert!(script("REFRESH MATERIALIZED VIEW order_totals;", 15)
            .contains("REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals"));
    }
}
