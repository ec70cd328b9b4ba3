//! The lint driver: walks files in order, keeps schema and transaction state.

use super::{Finding, LintSettings};
use crate::source::Source;

/// Findings for one file.
#[derive(Debug, Clone)]
pub struct FileLint {
    pub source: Source,
    pub findings: Vec<Finding>,
}

/// Totals over a run.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub statements: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

/// Everything a lint run found.
#[derive(Debug, Clone, Default)]
pub struct LintOutcome {
    pub files: Vec<FileLint>,
    pub summary: Summary,
}

/// Lints sources in history order (stub).
pub fn lint(sources: Vec<Source>, _settings: &LintSettings) -> LintOutcome {
    let files = sources
        .into_iter()
        .map(|source| FileLint {
            source,
            findings: Vec::new(),
        })
        .collect();
    LintOutcome {
        files,
        summary: Summary::default(),
    }
}

/// Lints `sql` as one migration file run after `history` (stub).
pub fn lint_snippet(_history: &str, _sql: &str, _settings: &LintSettings) -> Vec<Finding> {
    Vec::new()
}
