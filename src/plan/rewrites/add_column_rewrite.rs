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
    if column.generated == Some(Generated::Stored) || column.generated == Some(Generated::Virtual) {
        return Err(Refusal::new(
            "a stored generated column is not rewritten: add a plain column, a trigger that computes it, and backfill it in batches",
        ));
    }
    if column.ty.is_serial() || column.generated == Some(Generated::Identity) {
        return sequence_backed(cx, alter, column);
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

/// `serial` and identity columns: a sequence first, the column bare, the
/// sequence as its default, a batched backfill from the sequence, the NOT
/// NULL plan, then `OWNED BY` (serial) or the identity (which restarts after
/// the highest value used).
fn sequence_backed(
    cx: &PlanContext,
    alter: &crate::parse::AlterTable,
    column: &crate::parse::ColumnDef,
) -> Result<Vec<Step>, Refusal> {
    if column.unique || column.primary_key || column.check || column.references.is_some() {
        return Err(Refusal::new(
            "move the column's constraints to their own ADD CONSTRAINT statements first",
        ));
    }
    let table = &alter.table;
    let source = cx.stmt.span;
    let storage = column.ty.storage();
    let int_type = match storage.base.as_str() {
        "smallint" => "smallint",
        "integer" => "integer",
        "bigint" => "bigint",
        _ => {
            return Err(Refusal::new(
                "an identity column must be smallint, integer or bigint",
            ))
        }
    };
    let identity = column.generated == Some(Generated::Identity);
    // An identity makes its own `t_c_seq`; the backfill's sequence must not take that name.
    let suffix = if identity { "backfill_seq" } else { "seq" };
    let seq = crate::pg::QualifiedName {
        schema: table.schema.clone(),
        name: crate::pg::Ident::derived(&[table.name.as_str(), column.name.as_str(), suffix]),
    };
    let nextval = Sql::kw("nextval(").literal(&seq.to_string()).glue("::regclass)");
    let key = cx
        .schema
        .table(table)
        .and_then(|t| t.primary_key())
        .unwrap_or_default();
    let column_type = Sql::kw(match int_type {
        "smallint" => "smallint",
        "integer" => "integer",
        _ => "bigint",
    });
    let is_identity = Sql::kw("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid =")
        .sql(&crate::plan::sql::regclass(table))
        .then("AND attname =")
        .literal(column.name.as_str())
        .then("AND attidentity <> '')");
    let mut steps = vec![
        Step {
            lock: None,
            ..Step::ddl(
                Sql::kw("CREATE SEQUENCE IF NOT EXISTS")
                    .name(&seq)
                    .then("AS")
                    .sql(&column_type),
                source,
            )
        }
        .note("the sequence the column's values come from: locks nothing existing"),
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("ADD COLUMN")
                .ident(&column.name)
                .sql(&column_type),
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
                .sql(&nextval),
            source,
        )
        .lock(LockMode::AccessExclusive, table)
        .note("new rows take the next value"),
        Step::backfill(
            Backfill {
                table: table.clone(),
                key,
                head: Sql::kw("UPDATE")
                    .name(table)
                    .then("SET")
                    .ident(&column.name)
                    .then("=")
                    .sql(&nextval)
                    .into_string(),
                filter: Some(Sql::default().ident(&column.name).then("IS NULL").into_string()),
                batch_size: cx.batch_size,
            },
            source,
        )
        .note("number existing rows in short batches"),
    ];
    if identity {
        // Once the identity exists, the sequence, default and backfill steps are done.
        for step in &mut steps {
            step.guard = Some(match &step.guard {
                Some(g) => Sql::kw("SELECT (")
                    .sql(&is_identity)
                    .glue(") OR (")
                    .slice(SourceSlice::derived(g))
                    .glue(")")
                    .into_string(),
                None => is_identity.as_str().to_string(),
            });
        }
    }
    steps.extend(set_not_null::steps(table, &column.name, cx.pg_version, source)?);
    if identity {
        let always = if cx.action_text().to_ascii_uppercase().contains("BY DEFAULT") {
            "BY DEFAULT"
        } else {
            "ALWAYS"
        };
        let body = format!(
            "DECLARE next bigint; BEGIN \
             EXECUTE format('SELECT coalesce(max(%I), 0) + 1 FROM %s', {col}, {tbl}) INTO next; \
             EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', {tbl}, {col}); \
             EXECUTE format('ALTER TABLE %s ALTER COLUMN %I ADD GENERATED {always} AS IDENTITY (START WITH %s)', {tbl}, {col}, next); \
             EXECUTE format('DROP SEQUENCE %s', {seq}); END",
            col = crate::plan::sql::literal(column.name.as_str()),
            tbl = crate::plan::sql::literal(&table.to_string()),
            seq = crate::plan::sql::literal(&seq.to_string()),
        );
        steps.push(
            Step::ddl(Sql::kw("DO $identity$").slice(SourceSlice::derived(&body)).then("$identity$"), source)
                .lock(LockMode::AccessExclusive, table)
                .guard(is_identity.clone())
                .note("turn the filled column into an identity that continues after the highest value: catalog-only"),
        );
    } else {
        steps.push(
            Step {
                lock: None,
                ..Step::ddl(
                    Sql::kw("ALTER SEQUENCE")
                        .name(&seq)
                        .then("OWNED BY")
                        .name(table)
                        .glue(".")
                        .ident(&column.name),
                    source,
                )
            }
            .note("the sequence belongs to the column, as serial makes it"),
        );
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
    fn serial_columns_get_a_sequence_and_a_backfill() {
        let s = script("ALTER TABLE users ADD COLUMN n bigserial;", 15);
        assert!(
            s.contains("CREATE SEQUENCE IF NOT EXISTS users_n_seq AS bigint"),
            "{s}"
        );
        assert!(s.contains("ALTER SEQUENCE users_n_seq OWNED BY users.n"), "{s}");
    }

    #[test]
    fn refuses_stored_generated_columns_with_the_reason() {
        assert!(script(
            "ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS (age * 2) STORED;",
            15
        )
        .contains("refused"));
    }
}
