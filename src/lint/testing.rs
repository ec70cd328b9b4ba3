//! Helpers for rule unit tests: lint a snippet after [`super::fixture::SCHEMA`]
//! with one rule switched on, at a chosen PostgreSQL version.

use super::{fixture, lint_snippet, Finding, LintSettings, Rule};
use crate::pg::PgVersion;

/// Findings of `rule` for `sql`, linted after the fixture schema on `pg`.
pub(crate) fn findings_at(rule: &'static Rule, sql: &str, pg: u32) -> Vec<Finding> {
    let mut settings = LintSettings {
        pg_version: PgVersion::new(pg).expect("supported version"),
        ..LintSettings::default()
    };
    // Switched on when it is off by default; otherwise left alone, so each
    // finding keeps the severity the rule gave it.
    if !rule.enabled_by_default {
        settings.severity.insert(rule.id, Some(rule.default_severity));
    }
    lint_snippet(fixture::SCHEMA, sql, &settings)
        .into_iter()
        .filter(|f| f.rule.id == rule.id)
        .collect()
}

/// Findings of `rule` for `sql` on the default version.
pub(crate) fn findings(rule: &'static Rule, sql: &str) -> Vec<Finding> {
    findings_at(rule, sql, PgVersion::DEFAULT.major())
}

/// Asserts `rule` flags `sql` exactly once and returns the finding.
#[track_caller]
pub(crate) fn assert_flags(rule: &'static Rule, sql: &str) -> Finding {
    let mut found = findings(rule, sql);
    assert_eq!(
        found.len(),
        1,
        "{} should flag exactly once: {sql}\n{found:#?}",
        rule.id
    );
    found.remove(0)
}

/// Asserts `rule` does not flag `sql`.
#[track_caller]
pub(crate) fn assert_clean(rule: &'static Rule, sql: &str) {
    let found = findings(rule, sql);
    assert!(found.is_empty(), "{} should not flag: {sql}\n{found:#?}", rule.id);
}
