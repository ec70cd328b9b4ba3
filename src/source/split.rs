//! Splitting SQL text into statements, comments and psql meta-commands.

use super::Span;

/// What a piece of a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// One SQL statement, without its terminating `;`.
    Sql,
    /// A psql meta-command line such as `\set ON_ERROR_STOP on`.
    PsqlMeta,
    /// A `-- …` comment, to the end of its line (without the line break).
    LineComment,
    /// A `/* … */` comment (nested comments included).
    BlockComment,
}

/// One piece of a file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub span: Span,
    pub kind: PieceKind,
    /// Set when the piece runs to the end of the file unterminated.
    pub problem: Option<String>,
}

/// Splits `text` into pieces (stub: splits on every `;`).
pub fn split(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ';' {
            push(text, start, i, &mut out);
            start = i + 1;
        }
    }
    push(text, start, text.len(), &mut out);
    out
}

fn push(text: &str, start: usize, end: usize, out: &mut Vec<Piece>) {
    let s = &text[start..end];
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    if s.trim().is_empty() {
        return;
    }
    out.push(Piece {
        span: Span::new(start + lead, end - trail),
        kind: PieceKind::Sql,
        problem: None,
    });
}
