//! `CREATE INDEX` → drop a leftover INVALID index, `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, check it is valid.

use super::Rewrite;
use crate::lint::rules::create_index_non_concurrent;
use crate::parse::{slices, StmtKind};
use crate::pg::{Ident, LockMode, QualifiedName};
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
    let index_name = QualifiedName {
        schema: name.schema.clone().or_else(|| index.table.schema.clone()),
        name: name.name.clone(),
    };
    if cx.schema.table(&index.table).is_some_and(|t| t.partitioned()) {
        return partitioned(cx, index, &index_name);
    }
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

/// A partitioned table cannot build an index CONCURRENTLY: create it `ON ONLY`
/// the parent (an empty, invalid index), build one concurrently on each
/// partition, attach each, and check that the parent's index became valid.
fn partitioned(
    cx: &PlanContext,
    index: &crate::parse::CreateIndex,
    name: &QualifiedName,
) -> Result<Vec<Step>, Refusal> {
    let refuse = || {
        Refusal::new(
            "on a partitioned table, create the index ON ONLY the parent, concurrently on each partition, \
             then ALTER INDEX … ATTACH PARTITION each one; this index is not a plain column index, so the plan cannot",
        )
    };
    if index.columns.is_empty() {
        return Err(refuse());
    }
    let text = cx.stmt_text();
    let start = cx.stmt.span.start;
    let at = slices::after_index_keyword(text).ok_or_else(refuse)?;
    let after_table = slices::after_index_table(text).ok_or_else(refuse)?;
    let head = SourceSlice::new(cx.text, Span::new(start, start + at));
    let tail = SourceSlice::new(cx.text, Span::new(start + after_table, cx.stmt.span.end)).trimmed();
    let partitions = cx.schema.partitions_of(&index.table);
    if partitions
        .iter()
        .any(|p| cx.schema.table(p).is_some_and(|t| t.partitioned()))
    {
        return Err(Refusal::new(
            "a partition is itself partitioned: build its indexes level by level by hand",
        ));
    }
    let source = cx.stmt.span;
    let mut steps = vec![Step::ddl(
        Sql::default()
            .slice(head)
            .then("IF NOT EXISTS")
            .ident(&name.name)
            .then("ON ONLY")
            .name(&index.table)
            .slice(tail),
        source,
    )
    .lock(LockMode::Share, &index.table)
    .guard(
        Sql::kw("SELECT")
            .sql(&crate::plan::sql::regclass(name))
            .then("IS NOT NULL"),
    )
    .note(
        "an index on the parent only: no rows, built instantly, INVALID until every partition is attached",
    )];
    for partition in &partitions {
        // PostgreSQL names a partition's index `<partition>_<columns>_idx`.
        let mut parts = vec![partition.name.as_str()];
        parts.extend(index.columns.iter().map(Ident::as_str));
        parts.push("idx");
        let child = QualifiedName {
            schema: partition.schema.clone(),
            name: Ident::derived(&parts),
        };
        steps.push(
            Step::concurrent(Sql::kw("DROP INDEX CONCURRENTLY IF EXISTS").name(&child), source)
                .lock(LockMode::ShareUpdateExclusive, partition)
                .only_if(catalog::index_invalid(&child))
                .note("drop an INVALID index left by an earlier failed build"),
        );
        steps.push(
            Step::concurrent(
                Sql::default()
                    .slice(head)
                    .then("CONCURRENTLY IF NOT EXISTS")
                    .ident(&child.name)
                    .then("ON")
                    .name(partition)
                    .slice(tail),
                source,
            )
            .lock(LockMode::ShareUpdateExclusive, partition)
            .guard(catalog::index_valid(&child))
            .note(format!(
                "build the index on partition {partition} without blocking writes"
            )),
        );
        steps.push(Step::check(
            catalog::index_valid(&child),
            source,
            "the partition's index is valid",
        ));
        steps.push(
            Step::ddl(
                Sql::kw("ALTER INDEX")
                    .name(name)
                    .then("ATTACH PARTITION")
                    .name(&child),
                source,
            )
            .lock(LockMode::ShareUpdateExclusive, &index.table)
            .guard(
                Sql::kw("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits WHERE inhrelid =")
                    .sql(&crate::plan::sql::regclass(&child))
                    .then("AND inhparent =")
                    .sql(&crate::plan::sql::regclass(name))
                    .glue(")"),
            )
            .note("attach the partition's index: catalog-only"),
        );
    }
    steps.push(Step::check(
        catalog::index_valid(name),
        source,
        "the parent's index is valid: every partition has its index attached",
    ));
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn builds_concurrently_and_checks_validity() {
        insta::assert_snapshot!(script("CREATE UNIQUE INDEX \"Users_Email\" ON public.users USING btree (lower(email)) WHERE email <> 'it''s';", 15));
    }

    #[test]
    fn partitioned_tables_get_an_index_per_partition() {
        let s = script("CREATE INDEX events_created_idx ON events (created_at);", 15);
        assert!(
            s.contains("CREATE INDEX IF NOT EXISTS events_created_idx ON ONLY events (created_at)"),
            "{s}"
        );
        assert!(s.contains("CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2024_created_at_idx ON events_2024 (created_at)"), "{s}");
        assert!(
            s.contains("ALTER INDEX events_created_idx ATTACH PARTITION events_2024_created_at_idx"),
            "{s}"
        );
    }

    #[test]
    fn refuses_unnamed_indexes() {
        let s = script("CREATE INDEX ON users (email);", 15);
        assert!(s.contains("refused"), "{s}");
    }
}
