//! `ADD FOREIGN KEY` → `… NOT VALID`, then `VALIDATE CONSTRAINT` in its own
//! transaction. `ADD COLUMN … REFERENCES` → the column, then the key NOT VALID,
//! then VALIDATE.

use super::Rewrite;
use crate::lint::rules::add_foreign_key;
use crate::parse::{slices, AlterAction, ConstraintKind, StmtKind};
use crate::pg::{Ident, LockMode, QualifiedName};
use crate::plan::sql::{SourceSlice, Sql};
use crate::plan::{catalog, PlanContext, Refusal, Step};
use crate::source::Span;

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "foreign-key-not-valid",
    fixes: &[&add_foreign_key::RULE],
    build,
};

/// `ADD [CONSTRAINT n] <definition>` → the definition's span (after `ADD` and
/// any `CONSTRAINT n`), relative to the file.
pub(crate) fn definition_after_add(cx: &PlanContext, named: bool) -> Option<Span> {
    let span = cx.action_span?;
    let text = span.slice(cx.text);
    let rest = text.get(3..)?.trim_start();
    let mut offset = text.len() - rest.len();
    if named {
        let upper = rest.to_ascii_uppercase();
        let after_kw = upper.strip_prefix("CONSTRAINT")?;
        let name_start = rest.len() - after_kw.len();
        let after = rest[name_start..].trim_start();
        // Skip the constraint name (quoted or bare).
        let name_len = if let Some(q) = after.strip_prefix('"') {
            let mut i = 0;
            let bytes = q.as_bytes();
            loop {
                if i >= bytes.len() {
                    return None;
                }
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i + 2
        } else {
            after.find(char::is_whitespace)?
        };
        let def = after[name_len..].trim_start();
        offset = text.len() - def.len();
    }
    Some(Span::new(span.start + offset, span.end))
}

/// NOT VALID + VALIDATE for a constraint definition (shared with CHECK).
pub(crate) fn not_valid_then_validate(
    table: &QualifiedName,
    name: &Ident,
    definition: &Sql,
    lock: LockMode,
    source: Span,
) -> Vec<Step> {
    vec![
        Step::ddl(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("ADD CONSTRAINT")
                .ident(name)
                .sql(definition)
                .then("NOT VALID"),
            source,
        )
        .lock(lock, table)
        .guard(catalog::constraint_exists(table, name, false))
        .note("new and updated rows are checked; existing rows are not yet"),
        Step::validate(
            Sql::kw("ALTER TABLE")
                .name(table)
                .then("VALIDATE CONSTRAINT")
                .ident(name),
            source,
        )
        .lock(LockMode::ShareUpdateExclusive, table)
        .guard(catalog::constraint_exists(table, name, true))
        .note("check existing rows while reads and writes continue"),
    ]
}

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::AlterTable(alter) = &cx.stmt.kind else {
        return Err(Refusal::new("not an ALTER TABLE statement"));
    };
    let source = cx.stmt.span;
    match cx.finding.action.and_then(|i| alter.actions.get(i)) {
        Some(AlterAction::AddConstraint { constraint, .. }) => {
            let ConstraintKind::ForeignKey { columns, .. } = &constraint.kind else {
                return Err(Refusal::new("not a foreign key"));
            };
            let name = constraint.name.clone().unwrap_or_else(|| {
                let mut parts = vec![alter.table.name.as_str()];
                parts.extend(columns.iter().map(Ident::as_str));
                parts.push("fkey");
                Ident::derived(&parts)
            });
            let def = definition_after_add(cx, constraint.name.is_some())
                .ok_or_else(|| Refusal::new("cannot find the constraint definition in the source"))?;
            let def = Sql::default().slice(cx.slice(def));
            Ok(not_valid_then_validate(
                &alter.table,
                &name,
                &def,
                LockMode::ShareRowExclusive,
                source,
            ))
        }
        Some(AlterAction::AddColumn { column, .. }) => {
            let action = cx
                .action_span
                .ok_or_else(|| Refusal::new("cannot find the subcommand"))?;
            let text = action.slice(cx.text);
            let parts = slices::column_parts(text).ok_or_else(|| {
                Refusal::new(
                    "a named column constraint: add the foreign key as its own ADD CONSTRAINT … NOT VALID",
                )
            })?;
            let (Some(refs), Some(target)) = (parts.references, parts.references_target) else {
                return Err(Refusal::new("cannot find the REFERENCES clause"));
            };
            let bare = slices::without(text, &[refs]);
            let name = Ident::derived(&[alter.table.name.as_str(), column.name.as_str(), "fkey"]);
            let mut steps = vec![Step::ddl(
                Sql::kw("ALTER TABLE")
                    .name(&alter.table)
                    .slice(SourceSlice::derived(&bare)),
                source,
            )
            .lock(LockMode::AccessExclusive, &alter.table)
            .guard(catalog::column_exists(&alter.table, &column.name))
            .note("add the column without its foreign key")];
            let def = Sql::kw("FOREIGN KEY (")
                .ident(&column.name)
                .glue(") REFERENCES")
                .slice(cx.slice(target.shift(action.start)));
            steps.extend(not_valid_then_validate(
                &alter.table,
                &name,
                &def,
                LockMode::ShareRowExclusive,
                source,
            ));
            Ok(steps)
        }
        _ => Err(Refusal::new("not a foreign key subcommand")),
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn adds_not_valid_then_validates() {
        insta::assert_snapshot!(script(
            "ALTER TABLE orders ADD CONSTRAINT \"Orders_User\" FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;",
            15
        ));
    }

    #[test]
    fn names_unnamed_keys_like_postgres() {
        let s = script(
            "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id);",
            15,
        );
        assert!(
            s.contains(
                "ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID"
            ),
            "{s}"
        );
    }

    #[test]
    fn splits_add_column_references() {
        // With a default every row is checked: the finding is an error, and this splits it.
        insta::assert_snapshot!(script(
            "ALTER TABLE orders ADD COLUMN account_id bigint DEFAULT 0 REFERENCES accounts (id);",
            15
        ));
        // Without one nothing is checked: a warning, kept as written.
        let s = script(
            "ALTER TABLE orders ADD COLUMN account_id bigint REFERENCES accounts (id);",
            15,
        );
        assert!(!s.contains("NOT VALID"), "{s}");
    }
}
