//! `ADD COLUMN … DEFAULT <volatile>` → add the column bare, `SET DEFAULT`
//! (new rows), backfill existing rows in batches (`… WHERE c IS NULL`), then
//! the NOT NULL plan if the column must be NOT NULL.

use super::{set_not_null, Rewrite};
use crate::lint::rules::add_column_rewrite;
use crate::parse::{slices, AlterAction, Generated, StmtKind};
use crate::pg::LockMode;
use crate::plan::sql::{SourceSlice, Sql};
use crate::plan::{catalog, Backfill, PlanContext, Refusal, Step};

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "add-column-then-backfill",
    fixes: &[&add_column_rewrite::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::AlterTable(alter) = &cx.stmt.kind else {
        return Err(Refusal::new("not an ALTER TABLE statement"));
    };
    let Some(AlterAction::AddColumn { column, .. }) = cx.finding.action.and_then(|i| alter.actions.get(i))
    else {
        return Err(Refusal::new("not an ADD COLUMN subcommand"));
    };
    if column.ty.is_serial() || column.generated.is_some() {
        let what = match column.generated {
            Some(Generated::Stored | Generated::Virtual) => "a stored generated column",
            _ => "a serial or identity column",
        };
        return Err(Refusal::new(format!(
            "{what} is not rewritten yet: add a plain column, a default from a sequence or a trigger, and backfill it in batches"
        )));
    }
    if column.unique || column.primary_key || column.check || column.references.is_some() {
        return Err(Refusal::new(
            "move the column's constraints to their own ADD CONSTRAINT statements first",
        ));
    }
    let action = cx
        .action_span
        .ok_or_else(|| Refusal::new("cannot find the subcommand"))?;
    let text = action.slice(cx.text);
    let parts = slices::column_parts(text)
        .ok_or_else(|| Refusal::new("a named column constraint: add it as its own ADD CONSTRAINT"))?;
    let Some((_, expr)) = slices::column_default(text) else {
        return Err(Refusal::new(
            "the column's type is a domain with constraints: add it as the base type, backfill, then add a CHECK … NOT VALID",
        ));
    };
    let bare = slices::without(
        text,
        &[parts.default, parts.not_null]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    );
    let table = &alter.table;
    let source = cx.stmt.span;
    let default = cx.slice(expr.shift(action.start));
    let key = cx
        .schema
        .table(table)
        .and_then(|t| t.primary_key())
        .unwrap_or_default();
    let mut steps = vec![
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(table)
                .slice(SourceSlice::derived(&bare)),
            source,
        )
        .lock(LockMode::AccessExclusive, table)
        .guard(catalog::column_exists(table, &column.name))
        .note("add the column with no default: catalog-only"),
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("ALTER COLUMN")
                .ident(&column.name)
                .then("SET DEFAULT")
                .slice(default),
            source,
        )
        .lock(LockMode::AccessExclusive, table)
        .note("new rows get the default; existing rows are not rewritten"),
        Step::backfill(
            Backfill {
                table: table.clone(),
                key,
                head: Sql::kw("UPDATE")
                    .name(table)
                    .then("SET")
                    .ident(&column.name)
                    .then("=")
                    .slice(default)
                    .into_string(),
                filter: Some(Sql::default().ident(&column.name).then("IS NULL").into_string()),
                batch_size: cx.batch_size,
            },
            source,
        )
        .note("fill existing rows in short batches"),
    ];
    if column.not_null {
        steps.extend(set_not_null::steps(table, &column.name, cx.pg_version, source)?);
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn adds_sets_default_and_backfills() {
        insta::assert_snapshot!(script(
            "ALTER TABLE users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();",
            15
        ));
    }

    #[test]
    fn refuses_serial_columns_with_the_reason() {
        assert!(script("ALTER TABLE users ADD COLUMN n bigserial;", 15).contains("not rewritten yet"));
    }
}
