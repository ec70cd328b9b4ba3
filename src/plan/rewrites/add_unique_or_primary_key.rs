//! `ADD UNIQUE` / `ADD PRIMARY KEY` → a unique index built concurrently, a
//! validity check, then `ADD CONSTRAINT … USING INDEX` (instant). A primary
//! key on columns not yet NOT NULL gets the NOT NULL plan first, so the
//! `USING INDEX` step does not scan.

use super::{set_not_null, Rewrite};
use crate::lint::rules::{add_primary_key, add_unique_constraint};
use crate::parse::{AlterAction, ConstraintKind, StmtKind};
use crate::pg::{Ident, LockMode, QualifiedName};
use crate::plan::sql::Sql;
use crate::plan::{catalog, PlanContext, Refusal, Step};

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "unique-via-concurrent-index",
    fixes: &[&add_unique_constraint::RULE, &add_primary_key::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::AlterTable(alter) = &cx.stmt.kind else {
        return Err(Refusal::new("not an ALTER TABLE statement"));
    };
    let Some(AlterAction::AddConstraint { constraint, .. }) =
        cx.finding.action.and_then(|i| alter.actions.get(i))
    else {
        return Err(Refusal::new(
            "a UNIQUE or PRIMARY KEY written on a new column builds its index under ACCESS EXCLUSIVE: \
             add the column, then the constraint as its own ADD CONSTRAINT",
        ));
    };
    let (columns, primary) = match &constraint.kind {
        ConstraintKind::Unique { columns, .. } => (columns, false),
        ConstraintKind::PrimaryKey { columns, .. } => (columns, true),
        _ => return Err(Refusal::new("not a UNIQUE or PRIMARY KEY constraint")),
    };
    let action = cx.action_text().to_ascii_uppercase();
    if columns.is_empty()
        || [
            "INCLUDE",
            "DEFERRABLE",
            "NULLS",
            " WITH ",
            "USING INDEX TABLESPACE",
        ]
        .iter()
        .any(|w| action.contains(w))
    {
        return Err(Refusal::new(
            "only plain column lists are rewritten: build the unique index CONCURRENTLY yourself, then ADD CONSTRAINT … USING INDEX",
        ));
    }
    let table = &alter.table;
    let name = constraint.name.clone().unwrap_or_else(|| {
        if primary {
            Ident::derived(&[table.name.as_str(), "pkey"])
        } else {
            let mut parts = vec![table.name.as_str()];
            parts.extend(columns.iter().map(Ident::as_str));
            parts.push("key");
            Ident::derived(&parts)
        }
    });
    let index = QualifiedName {
        schema: table.schema.clone(),
        name: name.clone(),
    };
    let source = cx.stmt.span;
    let mut steps = Vec::new();
    if primary {
        let known = cx.schema.table(table);
        for column in columns {
            let not_null = known.and_then(|t| t.column(column)).is_some_and(|c| c.not_null);
            if !not_null {
                steps.extend(set_not_null::steps(table, column, cx.pg_version, source)?);
            }
        }
    }
    let kind = if primary { "PRIMARY KEY" } else { "UNIQUE" };
    steps.extend([
        Step::concurrent(Sql::kw("DROP INDEX CONCURRENTLY IF EXISTS").name(&index), source)
            .lock(LockMode::ShareUpdateExclusive, table)
            .only_if(catalog::index_invalid(&index))
            .note("drop an INVALID index left by an earlier failed build"),
        Step::concurrent(
            Sql::kw("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS")
                .ident(&name)
                .then("ON")
                .name(table)
                .then("(")
                .idents(columns)
                .glue(")"),
            source,
        )
        .lock(LockMode::ShareUpdateExclusive, table)
        .guard(
            Sql::kw("SELECT (")
                .sql(&catalog::index_valid(&index))
                .glue(") OR (")
                .sql(&catalog::constraint_exists(table, &name, false))
                .glue(")"),
        )
        .note("build the unique index without blocking writes"),
        Step::check(
            Sql::kw("SELECT (")
                .sql(&catalog::index_valid(&index))
                .glue(") OR (")
                .sql(&catalog::constraint_exists(table, &name, false))
                .glue(")"),
            source,
            "the index is valid",
        ),
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("ADD CONSTRAINT")
                .ident(&name)
                .then(kind)
                .then("USING INDEX")
                .ident(&name),
            source,
        )
        .lock(LockMode::AccessExclusive, table)
        .guard(catalog::constraint_exists(table, &name, false))
        .note("attach the index as the constraint: catalog-only"),
    ]);
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn unique_via_concurrent_index() {
        insta::assert_snapshot!(script(
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
            15
        ));
    }

    #[test]
    fn primary_key_sets_not_null_first() {
        let s = script("ALTER TABLE events_2025 ADD PRIMARY KEY (id);", 15);
        // events_2025.id is already NOT NULL in the fixture: no NOT NULL plan.
        assert!(!s.contains("IS NOT NULL) NOT VALID"), "{s}");
        let s = script("ALTER TABLE users ADD COLUMN k bigint;\nALTER TABLE users ADD CONSTRAINT users_k_pk PRIMARY KEY (k);", 15);
        assert!(s.contains("CHECK (k IS NOT NULL) NOT VALID"), "{s}");
        assert!(s.contains("PRIMARY KEY USING INDEX users_k_pk"), "{s}");
    }
}
