//! `DROP INDEX` → one `DROP INDEX CONCURRENTLY IF EXISTS` per index.

use super::Rewrite;
use crate::lint::rules::drop_index_non_concurrent;
use crate::parse::StmtKind;
use crate::pg::LockMode;
use crate::plan::sql::Sql;
use crate::plan::{catalog, PlanContext, Refusal, Step};

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "drop-index-concurrently",
    fixes: &[&drop_index_non_concurrent::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::DropIndex(drop) = &cx.stmt.kind else {
        return Err(Refusal::new("not a DROP INDEX statement"));
    };
    if cx.stmt_text().to_ascii_uppercase().contains("CASCADE") {
        return Err(Refusal::new(
            "DROP INDEX CONCURRENTLY cannot CASCADE: drop the dependent objects first",
        ));
    }
    Ok(drop
        .names
        .iter()
        .map(|name| {
            let mut step = Step::concurrent(
                Sql::kw("DROP INDEX CONCURRENTLY IF EXISTS").name(name),
                cx.stmt.span,
            )
            .guard(catalog::relation_absent(name))
            .note("drop the index without blocking reads or writes");
            if let Some(index) = cx.schema.index(name) {
                step = step.lock(LockMode::ShareUpdateExclusive, &index.table);
            }
            step
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn drops_each_index_concurrently() {
        insta::assert_snapshot!(script("DROP INDEX users_email_idx, public.\"Orders_Idx\";", 15));
    }
}
