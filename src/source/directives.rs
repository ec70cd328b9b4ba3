//! Directives written in comments: ignores, up/down sections, transaction modes.

use super::{FileTransaction, Ignore, Piece, Span, Statement};

/// The directives of one file.
#[derive(Debug, Clone, Default)]
pub struct Directives {
    /// How the file wants to be run.
    pub transaction: FileTransaction,
    /// The up sections; empty means the whole file.
    pub up: Vec<Span>,
    /// Ignore directives, not yet tied to statements.
    pub ignores: Vec<Ignore>,
}

/// Reads the directives from a file's comment pieces (stub: none).
pub fn scan_directives(_text: &str, _pieces: &[Piece]) -> Directives {
    Directives::default()
}

impl Directives {
    /// Whether a statement at `span` belongs to the up section.
    pub fn is_up(&self, span: Span) -> bool {
        self.up.is_empty() || self.up.iter().any(|u| u.start <= span.start && span.end <= u.end)
    }

    /// Ties each `migrate:ignore` to the statement that follows it.
    pub fn resolve_ignores(&self, _statements: &[Statement]) -> Vec<Ignore> {
        self.ignores.clone()
    }
}
