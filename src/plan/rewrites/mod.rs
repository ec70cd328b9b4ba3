//! Every rewrite, one file each: a rewrite turns the statement a rule flags
//! into the steps that reach the same end state without blocking traffic.

use super::{PlanContext, Refusal, Step};
use crate::lint::Rule;

pub(crate) mod add_check_constraint;
pub(crate) mod add_column_rewrite;
pub(crate) mod add_foreign_key;
pub(crate) mod add_unique_or_primary_key;
pub(crate) mod change_column_type;
pub(crate) mod create_index;
pub(crate) mod detach_concurrently;
pub(crate) mod drop_index;
pub(crate) mod refresh_concurrently;
pub(crate) mod reindex_concurrently;
pub(crate) mod set_not_null;
pub(crate) mod split_transaction;
pub(crate) mod whole_table_dml;

/// A rewrite: which rule it answers and how it builds the steps.
pub struct Rewrite {
    /// Stable id, shown in plans.
    pub id: &'static str,
    /// The rules whose findings it answers.
    pub fixes: &'static [&'static Rule],
    /// Builds the steps, or says why it cannot.
    pub build: fn(&PlanContext) -> Result<Vec<Step>, Refusal>,
}

/// Every rewrite.
pub static ALL: &[&Rewrite] = &[
    &create_index::REWRITE,
    &drop_index::REWRITE,
    &set_not_null::REWRITE,
    &add_foreign_key::REWRITE,
    &add_check_constraint::REWRITE,
    &add_unique_or_primary_key::REWRITE,
    &add_column_rewrite::REWRITE,
    &whole_table_dml::REWRITE,
    &split_transaction::REWRITE,
    &reindex_concurrently::REWRITE,
    &refresh_concurrently::REWRITE,
    &detach_concurrently::REWRITE,
    &change_column_type::REWRITE,
];

/// The rewrite that answers findings of `rule`.
pub fn for_rule(rule: &Rule) -> Option<&'static Rewrite> {
    ALL.iter()
        .copied()
        .find(|r| r.fixes.iter().any(|f| f.id == rule.id))
}

#[cfg(test)]
mod tests {
    use super::for_rule;
    use crate::lint::rules;

    #[test]
    fn a_rule_is_rewritable_exactly_when_a_rewrite_answers_it() {
        for rule in rules::ALL {
            assert_eq!(rule.rewritable, for_rule(rule).is_some(), "{}", rule.id);
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Plans a snippet after the lint fixture schema, for rewrite tests.
    use crate::lint::fixture;
    use crate::pg::PgVersion;
    use crate::plan::{plan, MigrationPlan, PlanSettings};
    use crate::source::{from_text, MigrationFile, NamingScheme};

    pub(crate) fn plan_at(sql: &str, pg: u32) -> MigrationPlan {
        let file = |n: &str| MigrationFile {
            path: n.into(),
            version: None,
            name: n.into(),
            scheme: NamingScheme::Explicit,
        };
        let mut settings = PlanSettings::default();
        settings.lint.pg_version = PgVersion::new(pg).unwrap();
        let sources = vec![
            from_text(file("history.sql"), fixture::SCHEMA.into()),
            from_text(file("migration.sql"), sql.into()),
        ];
        plan(sources, &settings).migrations.pop().unwrap()
    }

    /// The plan rendered as the psql script.
    pub(crate) fn script(sql: &str, pg: u32) -> String {
        crate::plan::render::sql_script(&plan_at(sql, pg))
    }
}
