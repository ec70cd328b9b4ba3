//! `ADD CHECK` → `… NOT VALID`, then `VALIDATE CONSTRAINT` in its own transaction.

use super::add_foreign_key::{definition_after_add, not_valid_then_validate};
use super::Rewrite;
use crate::lint::rules::add_check_constraint;
use crate::parse::{AlterAction, ConstraintKind, StmtKind};
use crate::pg::{Ident, LockMode};
use crate::plan::sql::Sql;
use crate::plan::{PlanContext, Refusal, Step};

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "check-not-valid",
    fixes: &[&add_check_constraint::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::AlterTable(alter) = &cx.stmt.kind else {
        return Err(Refusal::new("not an ALTER TABLE statement"));
    };
    match cx.finding.action.and_then(|i| alter.actions.get(i)) {
        Some(AlterAction::AddConstraint { constraint, .. }) if matches!(constraint.kind, ConstraintKind::Check { .. }) => {
            let name = constraint.name.clone().unwrap_or_else(|| Ident::derived(&[alter.table.name.as_str(), "check"]));
            let def = definition_after_add(cx, constraint.name.is_some())
                .ok_or_else(|| Refusal::new("cannot find the constraint definition in the source"))?;
            let def = Sql::default().slice(cx.slice(def));
            Ok(not_valid_then_validate(&alter.table, &name, &def, LockMode::AccessExclusive, cx.stmt.span))
        }
        Some(AlterAction::AddColumn { .. }) => Err(Refusal::new(
            "a CHECK written on the new column is verified under ACCESS EXCLUSIVE: add the column, then the CHECK as its own ADD CONSTRAINT … NOT VALID and VALIDATE",
        )),
        _ => Err(Refusal::new("not a CHECK subcommand")),
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn adds_not_valid_then_validates() {
        insta::assert_snapshot!(script(
            "ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age >= 0 AND name <> 'it''s');",
            15
        ));
    }
}
