//! Directives written in comments: ignores, up/down sections, transaction modes.
//!
//! Directives are read from the comment pieces the splitter found, so a marker
//! inside a string never counts. Keywords are matched without regard to case,
//! and extra spaces are tolerated (`--  +GOOSE   up`, `-- migrate: up`).
//!
//! - Ignores: `-- migrate:ignore rule-a, rule-b -- reason` silences the rules for
//!   the next statement; `-- migrate:ignore-file …` for the whole file. Both
//!   are also read from `/* … */` comments. An ignore written after a statement
//!   on the same line (`ALTER …; -- migrate:ignore x`) applies to the *next*
//!   statement, like any other: the rule is "the first statement that starts
//!   after the comment ends", nothing more.
//! - Sections (only the up section is linted): goose `-- +goose Up` /
//!   `-- +goose Down`, dbmate `-- migrate:up` / `-- migrate:down`.
//! - Transaction modes: goose `-- +goose NO TRANSACTION`, dbmate
//!   `-- migrate:up transaction:false`, sqlx `-- no-transaction` (before the
//!   first statement), and our own `-- migrate:no-transaction` and
//!   `-- migrate:transaction`. When a file says both, no-transaction wins.

use super::{FileTransaction, Ignore, IgnoreScope, IgnoredRule, Piece, PieceKind, Span, Statement};

/// The directives of one file.
#[derive(Debug, Clone, Default)]
pub struct Directives {
    /// How the file wants to be run.
    pub transaction: FileTransaction,
    /// The up sections; empty means the whole file.
    pub up: Vec<Span>,
    /// Ignore directives, not yet tied to statements (statement ignores carry
    /// [`IgnoreScope::Dangling`] until [`Directives::resolve_ignores`]).
    pub ignores: Vec<Ignore>,
}

/// A directive recognised in the text of a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Marker {
    /// `+goose Up`.
    GooseUp,
    /// `+goose Down`.
    GooseDown,
    /// `+goose StatementBegin`.
    GooseStatementBegin,
    /// `+goose StatementEnd`.
    GooseStatementEnd,
    /// `+goose NO TRANSACTION`.
    GooseNoTransaction,
    /// dbmate `migrate:up`, possibly with `transaction:false`.
    DbmateUp { no_transaction: bool },
    /// dbmate `migrate:down`.
    DbmateDown,
    /// sqlx `no-transaction`.
    SqlxNoTransaction,
    /// `migrate:no-transaction`.
    NoTransaction,
    /// `migrate:transaction`.
    Transaction,
    /// `migrate:ignore` (or `migrate:ignore-file` when `file`); the rule ids
    /// start `at` bytes into the comment's text.
    Ignore { file: bool, at: usize },
}

/// Reads the directive in `body`, the text of a comment after its `--` (or
/// between `/*` and `*/`).
pub(super) fn classify(body: &str) -> Option<Marker> {
    let trimmed = body.trim_start();
    let lead = body.len() - trimmed.len();
    let mut words = trimmed.split_whitespace();
    let first = words.next()?;
    if first.eq_ignore_ascii_case("+goose") {
        let rest: Vec<&str> = words.collect();
        let is = |expected: &[&str]| {
            rest.len() == expected.len() && rest.iter().zip(expected).all(|(a, b)| a.eq_ignore_ascii_case(b))
        };
        return if is(&["up"]) {
            Some(Marker::GooseUp)
        } else if is(&["down"]) {
            Some(Marker::GooseDown)
        } else if is(&["statementbegin"]) {
            Some(Marker::GooseStatementBegin)
        } else if is(&["statementend"]) {
            Some(Marker::GooseStatementEnd)
        } else if is(&["no", "transaction"]) {
            Some(Marker::GooseNoTransaction)
        } else {
            None
        };
    }
    if trimmed.trim_end().eq_ignore_ascii_case("no-transaction") {
        return Some(Marker::SqlxNoTransaction);
    }
    let prefix = trimmed.get(..8)?;
    if !prefix.eq_ignore_ascii_case("migrate:") {
        return None;
    }
    let after = &trimmed[8..];
    let keyword_text = after.trim_start();
    let keyword_at = lead + 8 + (after.len() - keyword_text.len());
    let keyword_len = keyword_text
        .find(|c: char| c.is_whitespace() || c == ',')
        .unwrap_or(keyword_text.len());
    let keyword = &keyword_text[..keyword_len];
    let options = &keyword_text[keyword_len..];
    let at = keyword_at + keyword_len;
    if keyword.eq_ignore_ascii_case("up") {
        let no_transaction = options
            .split_whitespace()
            .any(|o| o.eq_ignore_ascii_case("transaction:false"));
        Some(Marker::DbmateUp { no_transaction })
    } else if keyword.eq_ignore_ascii_case("down") {
        Some(Marker::DbmateDown)
    } else if keyword.eq_ignore_ascii_case("no-transaction") {
        Some(Marker::NoTransaction)
    } else if keyword.eq_ignore_ascii_case("transaction") {
        Some(Marker::Transaction)
    } else if keyword.eq_ignore_ascii_case("ignore") {
        Some(Marker::Ignore { file: false, at })
    } else if keyword.eq_ignore_ascii_case("ignore-file") {
        Some(Marker::Ignore { file: true, at })
    } else {
        None
    }
}

/// The text of a comment piece without its delimiters, and where that text starts.
fn comment_body<'a>(text: &'a str, piece: &Piece) -> Option<(usize, &'a str)> {
    let whole = text.get(piece.span.start..piece.span.end)?;
    match piece.kind {
        PieceKind::LineComment => Some((piece.span.start + 2, whole.strip_prefix("--")?)),
        PieceKind::BlockComment => {
            let inner = whole.strip_prefix("/*")?;
            let inner = inner.strip_suffix("*/").unwrap_or(inner);
            Some((piece.span.start + 2, inner))
        }
        PieceKind::Sql | PieceKind::PsqlMeta => None,
    }
}

/// Parses the rule ids and reason of an ignore directive from `rest`, which
/// starts at byte `offset` of the file.
fn parse_ignore(span: Span, scope: IgnoreScope, offset: usize, rest: &str) -> Ignore {
    let (ids, reason) = match rest.find("--") {
        Some(n) => {
            let reason = rest[n + 2..].trim();
            (&rest[..n], (!reason.is_empty()).then(|| reason.to_string()))
        }
        None => (rest, None),
    };
    let mut rules = Vec::new();
    let mut start = None;
    for (i, c) in ids.char_indices().chain(std::iter::once((ids.len(), ' '))) {
        let separator = c == ',' || c.is_whitespace();
        match (start, separator) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                rules.push(IgnoredRule {
                    id: ids[s..i].to_string(),
                    span: Span::new(offset + s, offset + i),
                });
                start = None;
            }
            _ => {}
        }
    }
    Ignore {
        span,
        scope,
        rules,
        reason,
    }
}

/// Reads the directives from a file's comment pieces.
pub fn scan_directives(text: &str, pieces: &[Piece]) -> Directives {
    let mut directives = Directives::default();
    let mut seen_statement = false;
    let mut no_transaction = false;
    let mut wrapped = false;
    // (marker span, is up)
    let mut sections: Vec<(Span, bool)> = Vec::new();
    for piece in pieces {
        if matches!(piece.kind, PieceKind::Sql | PieceKind::PsqlMeta) {
            seen_statement = true;
            continue;
        }
        let Some((offset, body)) = comment_body(text, piece) else {
            continue;
        };
        let Some(marker) = classify(body) else {
            continue;
        };
        if let Marker::Ignore { file, at } = marker {
            let scope = if file {
                IgnoreScope::File
            } else {
                IgnoreScope::Dangling
            };
            let rest = body.get(at..).unwrap_or("");
            directives
                .ignores
                .push(parse_ignore(piece.span, scope, offset + at, rest));
            continue;
        }
        if piece.kind != PieceKind::LineComment {
            continue;
        }
        match marker {
            Marker::GooseUp => sections.push((piece.span, true)),
            Marker::DbmateUp { no_transaction: off } => {
                sections.push((piece.span, true));
                no_transaction |= off;
            }
            Marker::GooseDown | Marker::DbmateDown => sections.push((piece.span, false)),
            Marker::GooseNoTransaction | Marker::NoTransaction => no_transaction = true,
            Marker::SqlxNoTransaction => no_transaction |= !seen_statement,
            Marker::Transaction => wrapped = true,
            Marker::GooseStatementBegin | Marker::GooseStatementEnd | Marker::Ignore { .. } => {}
        }
    }
    directives.transaction = if no_transaction {
        FileTransaction::NoTransaction
    } else if wrapped {
        FileTransaction::Wrapped
    } else {
        FileTransaction::Default
    };
    directives.up = up_sections(&sections, text.len());
    directives
}

/// The up sections of a file from its section markers, in order.
fn up_sections(sections: &[(Span, bool)], len: usize) -> Vec<Span> {
    let mut up = Vec::new();
    if sections.is_empty() {
        return up;
    }
    let has_up = sections.iter().any(|(_, is_up)| *is_up);
    let mut open: Option<usize> = None;
    for &(span, is_up) in sections {
        if is_up {
            open.get_or_insert(span.end);
        } else if let Some(start) = open.take() {
            up.push(Span::new(start, span.start.max(start)));
        } else if !has_up && up.is_empty() {
            up.push(Span::new(0, span.start));
        }
    }
    if let Some(start) = open {
        up.push(Span::new(start, len.max(start)));
    }
    up
}

impl Directives {
    /// Whether a statement at `span` belongs to the up section.
    pub fn is_up(&self, span: Span) -> bool {
        self.up.is_empty() || self.up.iter().any(|u| u.start <= span.start && span.end <= u.end)
    }

    /// Ties each `migrate:ignore` to the first statement (by index into
    /// `statements`, which are in file order) that starts at or after the end of
    /// its comment; [`IgnoreScope::Dangling`] when there is none. File-wide
    /// ignores are returned unchanged.
    pub fn resolve_ignores(&self, statements: &[Statement]) -> Vec<Ignore> {
        self.ignores
            .iter()
            .map(|ignore| {
                let mut ignore = ignore.clone();
                if ignore.scope != IgnoreScope::File {
                    let i = statements.partition_point(|s| s.span.start < ignore.span.end);
                    ignore.scope = if i < statements.len() {
                        IgnoreScope::Statement(i)
                    } else {
                        IgnoreScope::Dangling
                    };
                }
                ignore
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::split;
    use super::*;

    fn scan(text: &str) -> Directives {
        scan_directives(text, &split(text))
    }

    fn statements(text: &str) -> Vec<Statement> {
        split(text)
            .into_iter()
            .filter(|p| matches!(p.kind, PieceKind::Sql | PieceKind::PsqlMeta))
            .map(|p| Statement {
                span: p.span,
                kind: p.kind,
            })
            .collect()
    }

    fn up_text(text: &str) -> Vec<&str> {
        let d = scan(text);
        statements(text)
            .into_iter()
            .filter(|s| d.is_up(s.span))
            .map(|s| s.span.slice(text))
            .collect()
    }

    #[test]
    fn ignores_next_statement() {
        let text =
            "SELECT 0;\n-- migrate:ignore rule-a, rule-b  rule-c -- it is fine\nALTER TABLE t ADD a int;";
        let d = scan(text);
        assert_eq!(d.ignores.len(), 1);
        let ignore = &d.ignores[0];
        assert_eq!(
            ignore.span.slice(text),
            "-- migrate:ignore rule-a, rule-b  rule-c -- it is fine"
        );
        assert_eq!(ignore.scope, IgnoreScope::Dangling);
        assert_eq!(ignore.reason.as_deref(), Some("it is fine"));
        let ids: Vec<&str> = ignore.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["rule-a", "rule-b", "rule-c"]);
        for rule in &ignore.rules {
            assert_eq!(rule.span.slice(text), rule.id);
        }
        let resolved = d.resolve_ignores(&statements(text));
        assert_eq!(resolved[0].scope, IgnoreScope::Statement(1));
    }

    #[test]
    fn ignores_without_reason() {
        let d = scan("-- MIGRATE:IGNORE  rule-a --   \nSELECT 1");
        assert_eq!(d.ignores[0].reason, None);
        assert_eq!(d.ignores[0].rules.len(), 1);
        let d = scan("--migrate: ignore rule-a\nSELECT 1");
        assert_eq!(d.ignores[0].rules[0].id, "rule-a");
    }

    #[test]
    fn ignores_whole_file() {
        let text = "-- migrate:ignore-file rule-a -- legacy\nSELECT 1;";
        let d = scan(text);
        let resolved = d.resolve_ignores(&statements(text));
        assert_eq!(resolved[0].scope, IgnoreScope::File);
        assert_eq!(resolved[0].rules[0].span.slice(text), "rule-a");
        assert_eq!(resolved[0].reason.as_deref(), Some("legacy"));
    }

    #[test]
    fn ignores_in_block_comments() {
        let text = "/* migrate:ignore rule-a -- why */ SELECT 1;";
        let d = scan(text);
        assert_eq!(d.ignores[0].rules[0].span.slice(text), "rule-a");
        assert_eq!(d.ignores[0].reason.as_deref(), Some("why"));
        assert_eq!(
            d.resolve_ignores(&statements(text))[0].scope,
            IgnoreScope::Statement(0)
        );
    }

    #[test]
    fn ignores_trailing_comment_for_next_statement() {
        let text = "SELECT 1; -- migrate:ignore rule-a\nSELECT 2;";
        let d = scan(text);
        assert_eq!(
            d.resolve_ignores(&statements(text))[0].scope,
            IgnoreScope::Statement(1)
        );
    }

    #[test]
    fn flags_dangling_ignore() {
        let text = "SELECT 1;\n-- migrate:ignore rule-a";
        let d = scan(text);
        assert_eq!(
            d.resolve_ignores(&statements(text))[0].scope,
            IgnoreScope::Dangling
        );
    }

    #[test]
    fn ignores_nothing_in_strings() {
        assert!(scan("SELECT '-- migrate:ignore x';").ignores.is_empty());
        assert!(scan("-- not migrate:ignore x\nSELECT 1").ignores.is_empty());
    }

    #[test]
    fn splits_goose_sections() {
        let text = "-- +goose Up\nCREATE TABLE a (x int);\n-- +goose Down\nDROP TABLE a;";
        assert_eq!(up_text(text), ["CREATE TABLE a (x int)"]);
        let text = "--  +GOOSE   up\nSELECT 1;\n-- +goose down\nSELECT 2;\n-- +goose Up\nSELECT 3;";
        assert_eq!(up_text(text), ["SELECT 1", "SELECT 3"]);
    }

    #[test]
    fn splits_dbmate_sections() {
        let text = "-- migrate:up\nCREATE TABLE a (x int);\n\n-- migrate:down\nDROP TABLE a;\n";
        assert_eq!(up_text(text), ["CREATE TABLE a (x int)"]);
    }

    #[test]
    fn splits_down_only_files() {
        let text = "SELECT 1;\n-- migrate:down\nSELECT 2;";
        assert_eq!(up_text(text), ["SELECT 1"]);
        let text = "-- +goose Down\nSELECT 2;";
        assert!(up_text(text).is_empty());
    }

    #[test]
    fn splits_nothing_without_markers() {
        let d = scan("SELECT 1; SELECT 2;");
        assert!(d.up.is_empty());
        assert_eq!(up_text("SELECT 1; SELECT 2;"), ["SELECT 1", "SELECT 2"]);
    }

    #[test]
    fn flags_transaction_modes() {
        let mode = |text: &str| scan(text).transaction;
        assert_eq!(mode("SELECT 1"), FileTransaction::Default);
        assert_eq!(
            mode("-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1"),
            FileTransaction::NoTransaction
        );
        assert_eq!(
            mode("-- +goose no   transaction\nSELECT 1"),
            FileTransaction::NoTransaction
        );
        assert_eq!(
            mode("-- migrate:up transaction:false\nSELECT 1"),
            FileTransaction::NoTransaction
        );
        assert_eq!(mode("-- migrate:up\nSELECT 1"), FileTransaction::Default);
        assert_eq!(
            mode("-- no-transaction\nSELECT 1"),
            FileTransaction::NoTransaction
        );
        assert_eq!(mode("SELECT 1;\n-- no-transaction\n"), FileTransaction::Default);
        assert_eq!(
            mode("-- migrate:no-transaction\nSELECT 1"),
            FileTransaction::NoTransaction
        );
        assert_eq!(mode("-- Migrate:Transaction\nSELECT 1"), FileTransaction::Wrapped);
        assert_eq!(
            mode("-- migrate:transaction\n-- migrate:no-transaction\nSELECT 1"),
            FileTransaction::NoTransaction
        );
    }

    #[test]
    fn ignores_unknown_markers() {
        assert_eq!(classify(" +goose envsub on"), None);
        assert_eq!(classify(" migrate:frobnicate"), None);
        assert_eq!(classify(""), None);
        assert_eq!(classify(" migrate"), None);
        assert_eq!(classify(" migrat"), None);
        assert_eq!(classify(" migrateé"), None);
    }

    #[test]
    fn ignores_bad_piece_spans() {
        let pieces = [Piece {
            span: Span::new(3, 100),
            kind: PieceKind::LineComment,
            problem: None,
        }];
        assert!(scan_directives("-- migrate:ignore x", &pieces).ignores.is_empty());
    }
}
