//! `ALTER COLUMN … TYPE` that rewrites → the column swap: a new column kept
//! in sync by a trigger (using the original `USING` expression), a batched
//! backfill, concurrent copies of the column's indexes, NOT NULL through a
//! validated CHECK, a runtime check that nothing else depends on the old
//! column, one short swap transaction (renames; default, sequence ownership,
//! primary and unique keys moved; trigger dropped), then the contract step
//! that drops the old column.
//!
//! After the swap, clients holding prepared statements that read the column
//! can fail once with "cached plan must not change result type"; they succeed
//! when they prepare again (PgBouncer and most drivers re-prepare on error).

use super::Rewrite;
use crate::lint::rules::change_column_type;
use crate::parse::{slices, AlterAction, ConstraintKind, StmtKind};
use crate::pg::{Ident, LockMode, QualifiedName};
use crate::plan::sql::{dollar_tag, either, literal, regclass, SourceSlice, Sql};
use crate::plan::{catalog, Backfill, PlanContext, Refusal, Step, StepKind};
use crate::schema::Index;

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "column-swap",
    fixes: &[&change_column_type::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::AlterTable(alter) = &cx.stmt.kind else {
        return Err(Refusal::new("not an ALTER TABLE statement"));
    };
    let Some(AlterAction::AlterType { column, ty, .. }) =
        cx.finding.action.and_then(|i| alter.actions.get(i))
    else {
        return Err(Refusal::new("not an ALTER COLUMN … TYPE subcommand"));
    };
    let t = &alter.table;
    let Some(table) = cx.schema.table(t) else {
        return Err(Refusal::new(
            "the column swap needs the table's indexes and constraints, and neither the history nor the database's schema shows this table: plan the whole migration directory, or plan with --database-url or --schema (apply always reads the database)",
        ));
    };
    let Some(old_column) = table.column(column) else {
        return Err(Refusal::new(
            "the schema (history, or database) does not show this column",
        ));
    };
    let new = Ident::derived(&[column.as_str(), "new"]);
    let old = Ident::derived(&[column.as_str(), "old"]);
    if table.column(&new).is_some() || table.column(&old).is_some() {
        return Err(Refusal::new(format!(
            "the table already has a column named {new} or {old}"
        )));
    }
    let on_column = |cols: &[Ident]| cols.contains(column);
    if table
        .constraints()
        .any(|c| matches!(&c.kind, ConstraintKind::ForeignKey { columns, .. } if on_column(columns)))
    {
        return Err(Refusal::new("the column is part of a foreign key: convert both sides of the key (see the change-column-type docs)"));
    }
    let primary_key = table.primary_key().unwrap_or_default();
    let is_pk = primary_key.contains(column);
    if is_pk && primary_key.len() > 1 {
        return Err(Refusal::new(
            "the column is part of a composite primary key: not rewritten",
        ));
    }
    let mut indexes: Vec<(Ident, Index)> = Vec::new();
    for (name, index) in cx.schema.indexes_with_names(t) {
        if index.columns.contains(column) {
            if !index.simple {
                return Err(Refusal::new(format!(
                    "index {name} on the column is not a plain column index: copy it by hand, concurrently, before the swap"
                )));
            }
            indexes.push((name, index.clone()));
        }
    }
    if (is_pk || indexes.iter().any(|(_, i)| i.unique)) && cx.schema.referencing(t).next().is_some() {
        return Err(Refusal::new(
            "other tables' foreign keys reference this table's keys: convert the referencing columns too (see the change-column-type docs)",
        ));
    }
    let action = cx
        .action_span
        .ok_or_else(|| Refusal::new("cannot find the subcommand"))?;
    let (ty_span, using) =
        slices::alter_type(action.slice(cx.text)).ok_or_else(|| Refusal::new("cannot find the new type"))?;
    let ty_slice = cx.slice(ty_span.shift(action.start));
    let conversion = match using {
        Some(u) => Sql::default().slice(cx.slice(u.shift(action.start))),
        None => Sql::kw("CAST(")
            .ident(column)
            .then("AS")
            .slice(ty_slice)
            .glue(")"),
    };
    let source = cx.stmt.span;
    let schema = t.schema.clone();
    let function = QualifiedName {
        schema: schema.clone(),
        name: Ident::derived(&[t.name.as_str(), column.as_str(), "swap_sync"]),
    };
    let trigger = Ident::derived(&[t.name.as_str(), column.as_str(), "swap_sync"]);
    let not_null_check = Ident::derived(&[t.name.as_str(), new.as_str(), "not_null"]);
    let swapped = catalog::column_exists(t, &old);
    let mut steps = Vec::new();

    // 1. The new column.
    steps.push(
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(t)
                .then("ADD COLUMN")
                .ident(&new)
                .slice(ty_slice),
            source,
        )
        .lock(LockMode::AccessExclusive, t)
        .guard(either(&catalog::column_exists(t, &new), &swapped))
        .note(format!("add {new} as {ty}: catalog-only")),
    );

    // 2. Keep it in sync on every write of the old column.
    let body_value = Sql::kw("(SELECT")
        .sql(&conversion)
        .then("FROM (SELECT NEW.*) AS")
        .ident(&t.name)
        .glue(")")
        .into_string();
    let body = format!("BEGIN NEW.{new} := {body_value}; RETURN NEW; END");
    let tag = dollar_tag("swap", &body);
    let execute = if cx.pg_version.at_least(11) {
        "EXECUTE FUNCTION"
    } else {
        "EXECUTE PROCEDURE"
    };
    let sync = Sql::kw("CREATE OR REPLACE FUNCTION")
        .name(&function)
        .glue("() RETURNS trigger LANGUAGE plpgsql AS")
        .slice(SourceSlice::derived(&format!("{tag}{body}{tag}")))
        .glue(";\n")
        .then("CREATE TRIGGER")
        .ident(&trigger)
        .then("BEFORE INSERT OR UPDATE OF")
        .ident(column)
        .then("ON")
        .name(t)
        .then("FOR EACH ROW")
        .then(execute)
        .name(&function)
        .glue("()");
    let trigger_exists = Sql::kw("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid =")
        .sql(&regclass(t))
        .then("AND tgname =")
        .literal(trigger.as_str())
        .glue(")");
    steps.push(
        Step::ddl(sync, source)
            .lock(LockMode::ShareRowExclusive, t)
            .guard(either(&trigger_exists, &swapped))
            .note(format!(
                "a trigger keeps {new} equal to the converted {column} on every insert and update"
            )),
    );

    // 3. Backfill existing rows.
    let mut backfill = Step::backfill(
        Backfill {
            table: t.clone(),
            key: primary_key.clone(),
            head: Sql::kw("UPDATE")
                .name(t)
                .then("SET")
                .ident(&new)
                .then("=")
                .sql(&conversion)
                .into_string(),
            filter: None,
            batch_size: cx.batch_size,
        },
        source,
    )
    .note(format!("copy the converted values into {new} in short batches"));
    backfill.guard = Some(swapped.clone().into_string());
    steps.push(backfill);

    // 4. NOT NULL through a validated CHECK (the swap's SET NOT NULL then skips its scan).
    if old_column.not_null {
        steps.push(
            Step::ddl(
                Sql::kw("ALTER TABLE")
                    .name(t)
                    .then("ADD CONSTRAINT")
                    .ident(&not_null_check)
                    .then("CHECK (")
                    .ident(&new)
                    .then("IS NOT NULL) NOT VALID"),
                source,
            )
            .lock(LockMode::AccessExclusive, t)
            .guard(either(
                &catalog::constraint_exists(t, &not_null_check, false),
                &swapped,
            )),
        );
        steps.push(
            Step::validate(
                Sql::kw("ALTER TABLE")
                    .name(t)
                    .then("VALIDATE CONSTRAINT")
                    .ident(&not_null_check),
                source,
            )
            .lock(LockMode::ShareUpdateExclusive, t)
            .guard(either(
                &catalog::constraint_exists(t, &not_null_check, true),
                &swapped,
            ))
            .note("check existing rows while reads and writes continue"),
        );
    }

    // 5. Concurrent copies of the column's indexes.
    let mut copies = Vec::new();
    for (name, index) in &indexes {
        let copy = QualifiedName {
            schema: schema.clone(),
            name: Ident::derived(&[name.as_str(), "new"]),
        };
        let columns: Vec<Ident> = index
            .columns
            .iter()
            .map(|c| if c == column { new.clone() } else { c.clone() })
            .collect();
        let create = Sql::kw(if index.unique {
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS"
        } else {
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS"
        })
        .ident(&copy.name)
        .then("ON")
        .name(t)
        .then("(")
        .idents(&columns)
        .glue(")");
        steps.push(
            Step::concurrent(Sql::kw("DROP INDEX CONCURRENTLY IF EXISTS").name(&copy), source)
                .lock(LockMode::ShareUpdateExclusive, t)
                .only_if(catalog::index_invalid(&copy))
                .note("drop an INVALID index left by an earlier failed build"),
        );
        steps.push(
            Step::concurrent(create, source)
                .lock(LockMode::ShareUpdateExclusive, t)
                .guard(either(&catalog::index_valid(&copy), &swapped))
                .note(format!("copy {name} onto {new} without blocking writes")),
        );
        steps.push(Step::check(
            either(&catalog::index_valid(&copy), &swapped),
            source,
            "the index copy is valid",
        ));
        let constraint = table.constraints().find_map(|c| match &c.kind {
            ConstraintKind::PrimaryKey { .. }
                if index.unique && is_pk && c.name.as_ref().is_none_or(|n| n == name) =>
            {
                Some(("PRIMARY KEY", name.clone()))
            }
            ConstraintKind::Unique { .. } if c.name.as_ref().is_none_or(|n| n == name) && index.unique => {
                Some(("UNIQUE", name.clone()))
            }
            _ => None,
        });
        let constraint = constraint.or_else(|| {
            (is_pk && index.unique && index.columns == [column.clone()] && name.as_str().ends_with("pkey"))
                .then(|| ("PRIMARY KEY", name.clone()))
        });
        copies.push((name.clone(), copy, constraint));
    }

    // 6. Nothing else may depend on the old column: anything the history did
    // not show would be lost with it, so stop before the swap instead.
    let attnum = Sql::kw("(SELECT attnum FROM pg_catalog.pg_attribute WHERE attrelid =")
        .sql(&regclass(t))
        .then("AND attname =")
        .literal(column.as_str())
        .glue(")");
    let mut known_indexes = Sql::kw("ARRAY[0::oid");
    for (name, _, _) in &copies {
        let index = QualifiedName {
            schema: schema.clone(),
            name: name.clone(),
        };
        known_indexes = known_indexes
            .glue(", coalesce(")
            .sql(&regclass(&index))
            .glue("::oid, 0)");
    }
    known_indexes = known_indexes.glue("]");
    let dependents = Sql::kw("SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid =")
        .sql(&regclass(t))
        .then("AND d.refobjsubid =")
        .sql(&attnum)
        .then("AND NOT ((d.classid = 'pg_class'::regclass AND (d.objid = ANY (")
        .sql(&known_indexes)
        .then(") OR d.objid IN (SELECT oid FROM pg_catalog.pg_class WHERE relkind = 'S')))")
        .then("OR d.classid = 'pg_attrdef'::regclass")
        .then("OR (d.classid = 'pg_constraint'::regclass AND d.objid IN (SELECT oid FROM pg_catalog.pg_constraint WHERE contype = 'n' OR conindid = ANY (")
        .sql(&known_indexes)
        .glue(")))")
        .then("OR (d.classid = 'pg_trigger'::regclass AND d.objid IN (SELECT oid FROM pg_catalog.pg_trigger WHERE tgname =")
        .literal(trigger.as_str())
        .glue("))))")
        .then("AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid =")
        .sql(&regclass(t))
        .then("AND attname =")
        .literal(column.as_str())
        .then("AND (attidentity <> '' OR attgenerated <> ''))");
    let nothing_else = either(&dependents, &swapped);
    // Checked first as well, so that such a dependency stops the run before
    // anything changes (not after the backfill); and again before the swap,
    // for one created meanwhile.
    steps.insert(
        0,
        Step::check(
            nothing_else.clone(),
            source,
            "before anything changes: no view, constraint, identity or index the plan does not copy depends on the old column",
        ),
    );
    steps.push(Step::check(
        nothing_else,
        source,
        "no view, constraint, identity or index the plan does not copy depends on the old column",
    ));

    // 7. The swap: one short transaction.
    let t_text = literal(&t.to_string());
    let mut swap = Sql::kw("LOCK TABLE")
        .name(t)
        .then("IN ACCESS EXCLUSIVE MODE;\n")
        .then("ALTER TABLE")
        .name(t)
        .then("RENAME COLUMN")
        .ident(column)
        .then("TO")
        .ident(&old)
        .glue(";\n")
        .then("ALTER TABLE")
        .name(t)
        .then("RENAME COLUMN")
        .ident(&new)
        .then("TO")
        .ident(column)
        .glue(";\n")
        .then("DROP TRIGGER")
        .ident(&trigger)
        .then("ON")
        .name(t)
        .glue(";\n")
        .then("DROP FUNCTION")
        .name(&function)
        .glue("();\n");
    let widen_sequence = if ty.base == "bigint" {
        " EXECUTE format('ALTER SEQUENCE %s AS bigint', s);"
    } else {
        ""
    };
    let move_default = format!(
        "DECLARE d text; s text; BEGIN \
         SELECT pg_get_expr(adbin, adrelid) INTO d FROM pg_catalog.pg_attrdef WHERE adrelid = {t_text}::regclass \
         AND adnum = (SELECT attnum FROM pg_catalog.pg_attribute WHERE attrelid = {t_text}::regclass AND attname = {old_lit}); \
         IF d IS NOT NULL THEN \
         EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', {t_text}, {old_lit}); \
         EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s', {t_text}, {col_lit}, d); END IF; \
         s := pg_get_serial_sequence({t_text}, {old_lit}); \
         IF s IS NOT NULL THEN EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', s, {t_text}, {col_lit});{widen_sequence} END IF; END",
        old_lit = literal(old.as_str()),
        col_lit = literal(column.as_str()),
    );
    let tag = dollar_tag("swap", &move_default);
    swap = swap
        .then("DO")
        .slice(SourceSlice::derived(&format!("{tag} {move_default} {tag}")))
        .glue(";\n");
    if old_column.not_null {
        swap = swap
            .then("ALTER TABLE")
            .name(t)
            .then("ALTER COLUMN")
            .ident(column)
            .then("SET NOT NULL;\n")
            .then("ALTER TABLE")
            .name(t)
            .then("DROP CONSTRAINT")
            .ident(&not_null_check)
            .glue(";\n");
    }
    for (_, copy, constraint) in &copies {
        if let Some((kind, name)) = constraint {
            swap = swap
                .then("ALTER TABLE")
                .name(t)
                .then("DROP CONSTRAINT")
                .ident(name)
                .glue(";\n")
                .then("ALTER TABLE")
                .name(t)
                .then("ADD CONSTRAINT")
                .ident(name)
                .then(kind)
                .then("USING INDEX")
                .ident(&copy.name)
                .glue(";\n");
        }
    }
    let swap_sql = swap.into_string();
    let mut swap_step = Step::ddl(
        Sql::default().slice(SourceSlice::derived(swap_sql.trim_end().trim_end_matches(';'))),
        source,
    )
    .lock(LockMode::AccessExclusive, t)
    .guard(swapped.clone())
    .note(
        "swap the columns in one short transaction; prepared statements reading the column re-prepare once",
    );
    swap_step.kind = StepKind::Swap;
    steps.push(swap_step);

    // 8. Contract: the old column goes, the index copies take the old names.
    let mut contract = Sql::kw("ALTER TABLE")
        .name(t)
        .then("DROP COLUMN IF EXISTS")
        .ident(&old);
    for (name, copy, constraint) in &copies {
        if constraint.is_none() {
            contract = contract
                .glue(";\n")
                .then("ALTER INDEX")
                .name(copy)
                .then("RENAME TO")
                .ident(name);
        }
    }
    if old_column.not_null && cx.pg_version.at_least(18) {
        // PostgreSQL 18 names NOT NULL constraints. The swap's SET NOT NULL
        // ran while the old column still held `<table>_<column>_not_null`,
        // so the new one got another name: give it the usual one back.
        let wanted = Ident::derived(&[t.name.as_str(), column.as_str(), "not_null"]);
        let rename = format!(
            "DECLARE c text; BEGIN \
             SELECT conname INTO c FROM pg_catalog.pg_constraint WHERE conrelid = {t_text}::regclass \
             AND contype = 'n' AND conkey = ARRAY[(SELECT attnum FROM pg_catalog.pg_attribute \
             WHERE attrelid = {t_text}::regclass AND attname = {col_lit})]::int2[]; \
             IF c IS NOT NULL AND c <> {wanted_lit} AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint \
             WHERE conrelid = {t_text}::regclass AND conname = {wanted_lit}) THEN \
             EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', {t_text}, c, {wanted_lit}); END IF; END",
            col_lit = literal(column.as_str()),
            wanted_lit = literal(wanted.as_str()),
        );
        let tag = dollar_tag("rename", &rename);
        contract = contract
            .glue(";\n")
            .then("DO")
            .slice(SourceSlice::derived(&format!("{tag} {rename} {tag}")));
    }
    steps.push(
        Step::ddl(contract, source)
            .lock(LockMode::AccessExclusive, t)
            .guard(Sql::kw("SELECT NOT (").sql(&swapped).glue(")"))
            .note(format!(
                "contract: drop {old} (deploy code that no longer reads it first if it ever did)"
            )),
    );
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn names_the_not_null_constraint_as_postgres_18_would() {
        let plan = script("ALTER TABLE accounts ALTER COLUMN name TYPE varchar(200);", 18);
        assert!(
            plan.contains("RENAME CONSTRAINT %I TO %I', 'accounts', c, 'accounts_name_not_null')"),
            "{plan}"
        );
        let plan = script("ALTER TABLE accounts ALTER COLUMN name TYPE varchar(200);", 17);
        assert!(!plan.contains("RENAME CONSTRAINT"), "{plan}");
    }

    #[test]
    fn swaps_the_column() {
        insta::assert_snapshot!(script(
            "ALTER TABLE orders ALTER COLUMN status TYPE varchar(20) USING left(status, 20);",
            15
        ));
    }

    #[test]
    fn refuses_tables_outside_the_history() {
        assert!(script(
            "ALTER TABLE elsewhere ALTER COLUMN c TYPE bigint USING c::bigint;",
            15
        )
        .contains("refused"));
        // A change whose old type is unknown is a warning: kept as written.
        assert!(!script("ALTER TABLE elsewhere ALTER COLUMN c TYPE bigint;", 15).contains("refused"));
    }
}
