//! `SET NOT NULL` → `CHECK (c IS NOT NULL) NOT VALID`, `VALIDATE`, `SET NOT NULL`
//! (no scan on PG 12+ thanks to the validated check), `DROP CONSTRAINT` —
//! each its own step, because dropping the check in the same `ALTER` as
//! `SET NOT NULL` brings the scan back. PG 18: `NOT NULL c NOT VALID` + `VALIDATE`.

use super::Rewrite;
use crate::lint::rules::set_not_null;
use crate::parse::{AlterAction, StmtKind};
use crate::pg::{Ident, LockMode, PgVersion, QualifiedName};
use crate::plan::sql::{either, Sql};
use crate::plan::{catalog, PlanContext, Refusal, Step};
use crate::source::Span;

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "set-not-null-via-check",
    fixes: &[&set_not_null::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::AlterTable(alter) = &cx.stmt.kind else {
        return Err(Refusal::new("not an ALTER TABLE statement"));
    };
    let Some(AlterAction::SetNotNull { column }) = cx.finding.action.and_then(|i| alter.actions.get(i))
    else {
        return Err(Refusal::new("not a SET NOT NULL subcommand"));
    };
    steps(&alter.table, column, cx.pg_version, cx.stmt.span)
}

/// The steps that make `table.column` NOT NULL without a long ACCESS
/// EXCLUSIVE scan (shared with the rewrites that need NOT NULL first).
pub(crate) fn steps(
    table: &QualifiedName,
    column: &Ident,
    pg: PgVersion,
    source: Span,
) -> Result<Vec<Step>, Refusal> {
    if !pg.at_least(12) {
        return Err(Refusal::new(
            "before PostgreSQL 12, SET NOT NULL always scans the table under ACCESS EXCLUSIVE; \
             run it in a quiet window or keep a validated CHECK (col IS NOT NULL) instead",
        ));
    }
    let name = Ident::derived(&[table.name.as_str(), column.as_str(), "not_null"]);
    let is_not_null = catalog::column_not_null(table, column);
    if pg.at_least(18) {
        return Ok(vec![
            Step::ddl(
                Sql::kw("ALTER TABLE")
                    .name(table)
                    .then("ADD CONSTRAINT")
                    .ident(&name)
                    .then("NOT NULL")
                    .ident(column)
                    .then("NOT VALID"),
                source,
            )
            .lock(LockMode::AccessExclusive, table)
            .guard(is_not_null.clone())
            .note("new rows must not be NULL; existing rows are not checked yet"),
            Step::validate(
                Sql::kw("ALTER TABLE")
                    .name(table)
                    .then("VALIDATE CONSTRAINT")
                    .ident(&name),
                source,
            )
            .lock(LockMode::ShareUpdateExclusive, table)
            .guard(catalog::constraint_exists(table, &name, true))
            .note("check existing rows while reads and writes continue"),
        ]);
    }
    Ok(vec![
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("ADD CONSTRAINT")
                .ident(&name)
                .then("CHECK (")
                .ident(column)
                .then("IS NOT NULL) NOT VALID"),
            source,
        )
        .lock(LockMode::AccessExclusive, table)
        .guard(either(
            &catalog::constraint_exists(table, &name, false),
            &is_not_null,
        ))
        .note("new rows must not be NULL; existing rows are not checked yet"),
        Step::validate(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("VALIDATE CONSTRAINT")
                .ident(&name),
            source,
        )
        .lock(LockMode::ShareUpdateExclusive, table)
        .guard(either(
            &catalog::constraint_exists(table, &name, true),
            &is_not_null,
        ))
        .note("check existing rows while reads and writes continue"),
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("ALTER COLUMN")
                .ident(column)
                .then("SET NOT NULL"),
            source,
        )
        .lock(LockMode::AccessExclusive, table)
        .guard(is_not_null)
        .note("no scan: the validated check proves there are no NULLs"),
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("DROP CONSTRAINT IF EXISTS")
                .ident(&name),
            source,
        )
        .lock(LockMode::AccessExclusive, table)
        .guard(
            Sql::kw("SELECT NOT (")
                .sql(&catalog::constraint_exists(table, &name, false))
                .glue(")"),
        )
        .note("the check is redundant now"),
    ])
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn adds_validates_sets_and_drops_in_four_steps() {
        insta::assert_snapshot!(script("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", 15));
    }

    #[test]
    fn uses_not_null_not_valid_on_pg18() {
        insta::assert_snapshot!(script(
            "ALTER TABLE \"users\" ALTER COLUMN email SET NOT NULL;",
            18
        ));
    }

    #[test]
    fn refuses_before_pg12() {
        assert!(script("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", 11).contains("refused"));
    }

    #[test]
    fn keeps_other_subcommands_in_order() {
        let s = script(
            "ALTER TABLE users ADD COLUMN x int, ALTER COLUMN email SET NOT NULL, ADD COLUMN y int;",
            15,
        );
        let x = s.find("ADD COLUMN x int").unwrap();
        let check = s.find("CHECK (email IS NOT NULL)").unwrap();
        let y = s.find("ADD COLUMN y int").unwrap();
        assert!(x < check && check < y, "{s}");
    }
}
