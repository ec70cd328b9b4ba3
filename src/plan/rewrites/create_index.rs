//! `CREATE INDEX` → drop a leftover INVALID index, `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, check it is valid.

use super::Rewrite;
use crate::lint::rules::create_index_non_concurrent;
use crate::parse::{slices, StmtKind};
use crate::pg::{LockMode, QualifiedName};
use crate::plan::sql::{SourceSlice, Sql};
use crate::plan::{catalog, PlanContext, Refusal, Step};
use crate::source::Span;

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "create-index-concurrently",
    fixes: &[&create_index_non_concurrent::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::CreateIndex(index) = &cx.stmt.kind else {
        return Err(Refusal::new("not a CREATE INDEX statement"));
    };
    let Some(name) = &index.name else {
        return Err(Refusal::new(
            "an unnamed index cannot be checked or cleaned up after a failed concurrent build: give it a name",
        ));
    };
    if cx.schema.table(&index.table).is_some_and(|t| t.partitioned) {
        return Err(Refusal::new(
            "CREATE INDEX CONCURRENTLY is not supported on a partitioned table: create the index ON ONLY the parent, \
             concurrently on each partition, then ALTER INDEX … ATTACH PARTITION each one",
        ));
    }
    let index_name = QualifiedName {
        schema: name.schema.clone().or_else(|| index.table.schema.clone()),
        name: name.name.clone(),
    };
    let text = cx.stmt_text();
    let at =
        slices::after_index_keyword(text).ok_or_else(|| Refusal::new("cannot find the INDEX keyword"))?;
    let start = cx.stmt.span.start;
    let mut create = Sql::default()
        .slice(SourceSlice::new(cx.text, Span::new(start, start + at)))
        .then("CONCURRENTLY");
    if !index.if_not_exists {
        create = create.then("IF NOT EXISTS");
    }
    create = create.slice(SourceSlice::new(cx.text, Span::new(start + at, cx.stmt.span.end)).trimmed());
    let source = cx.stmt.span;
    Ok(vec![
        Step::concurrent(
            Sql::kw("DROP INDEX CONCURRENTLY IF EXISTS").name(&index_name),
            source,
        )
        .lock(LockMode::ShareUpdateExclusive, &index.table)
        .only_if(catalog::index_invalid(&index_name))
        .note("drop an INVALID index left by an earlier failed build"),
        Step::concurrent(create, source)
            .lock(LockMode::ShareUpdateExclusive, &index.table)
            .guard(catalog::index_valid(&index_name))
            .note("build the index without blocking writes"),
        Step::check(catalog::index_valid(&index_name), source, "the index is valid"),
    ])
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn builds_concurrently_and_checks_validity() {
        insta::assert_snapshot!(script("CREATE UNIQUE INDEX \"Users_Email\" ON public.users USING btree (lower(email)) WHERE email <> 'it''s';", 15));
    }

    #[test]
    fn refuses_unnamed_indexes() {
        let s = script("CREATE INDEX ON users (email);", 15);
        assert!(s.contains("refused"), "{s}");
    }
}
