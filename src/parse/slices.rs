//! Source slices of a statement's parts, found from its tokens.
//!
//! `migrate plan` builds SQL from the user's own text (never from
//! sqlparser's `Display`, which loses a level of quote escaping), so it needs
//! the exact bytes of an `ALTER TABLE` subcommand, a column default, a `USING`
//! clause or an `UPDATE`'s `SET` list. These functions find them; all spans
//! are relative to the statement text they are given.

use super::tokens::{comma_separated, tokenize, Tok};
use crate::source::Span;
use sqlparser::tokenizer::Token;

fn is_word(t: &Tok, word: &str) -> bool {
    matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Indexes of the tokens at parenthesis depth zero.
fn top_level(toks: &[Tok]) -> Vec<usize> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.token {
            Token::LParen => {
                if depth == 0 {
                    out.push(i);
                }
                depth += 1;
            }
            Token::RParen => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(i),
            _ => {}
        }
    }
    out
}

/// The spans of the comma-separated subcommands of an `ALTER TABLE`.
pub fn alter_actions(stmt: &str) -> Vec<Span> {
    let Some(toks) = tokenize(stmt) else {
        return Vec::new();
    };
    let mut i = 0;
    for words in [&["ALTER"][..], &["TABLE"], &["IF", "EXISTS"], &["ONLY"]] {
        if words
            .iter()
            .enumerate()
            .all(|(k, w)| toks.get(i + k).is_some_and(|t| is_word(t, w)))
        {
            i += words.len();
        }
    }
    // The table name: words and dots.
    while toks.get(i).is_some_and(|t| matches!(t.token, Token::Word(_))) {
        i += 1;
        if toks.get(i).is_some_and(|t| t.token == Token::Period) {
            i += 1;
        } else {
            break;
        }
    }
    if toks.get(i).is_some_and(|t| t.token == Token::Mul) {
        i += 1;
    }
    comma_separated(&toks[i.min(toks.len())..])
}

/// Keywords that end a column's `DEFAULT` expression.
const COLUMN_CONSTRAINT_WORDS: &[&str] = &[
    "NOT",
    "NULL",
    "CHECK",
    "UNIQUE",
    "PRIMARY",
    "REFERENCES",
    "CONSTRAINT",
    "GENERATED",
    "COLLATE",
    "DEFERRABLE",
];

/// In an `ADD [COLUMN] c T …` subcommand: the span of the `DEFAULT expr`
/// clause (keyword included) and of `expr` alone.
pub fn column_default(action: &str) -> Option<(Span, Span)> {
    let toks = tokenize(action)?;
    let top = top_level(&toks);
    let pos = top.iter().position(|&i| is_word(&toks[i], "DEFAULT"))?;
    let first = *top.get(pos + 1)?;
    let end_index = top[pos + 1..]
        .iter()
        .skip(1)
        .find(|&&i| COLUMN_CONSTRAINT_WORDS.iter().any(|w| is_word(&toks[i], w)))
        .copied();
    let last = match end_index {
        Some(e) => e.checked_sub(1)?,
        None => toks.len().checked_sub(1)?,
    };
    let expr_end = toks[last].span.end;
    let expr = Span::new(toks[first].span.start, expr_end);
    Some((Span::new(toks[top[pos]].span.start, expr_end), expr))
}

/// In an `ALTER [COLUMN] c [SET DATA] TYPE T [USING expr]` subcommand: the
/// span of `T` and of `expr`.
pub fn alter_type(action: &str) -> Option<(Span, Option<Span>)> {
    let toks = tokenize(action)?;
    let top = top_level(&toks);
    let ty_at = top.iter().position(|&i| is_word(&toks[i], "TYPE"))?;
    let using_at = top.iter().position(|&i| is_word(&toks[i], "USING"));
    let ty_first = *top.get(ty_at + 1)?;
    let ty_last = match using_at {
        Some(u) => top[u].checked_sub(1)?,
        None => toks.len() - 1,
    };
    let ty = Span::new(toks[ty_first].span.start, toks[ty_last].span.end);
    let using = using_at
        .and_then(|u| top.get(u + 1))
        .map(|&first| Span::new(toks[first].span.start, toks[toks.len() - 1].span.end));
    Some((ty, using))
}

/// In an `UPDATE t SET …` statement: the span of the assignment list (from
/// after `SET` to before `WHERE`, `FROM` or `RETURNING`).
pub fn update_set(stmt: &str) -> Option<Span> {
    let toks = tokenize(stmt)?;
    let top = top_level(&toks);
    let set = top.iter().position(|&i| is_word(&toks[i], "SET"))?;
    let first = *top.get(set + 1)?;
    let stop = top[set + 1..]
        .iter()
        .find(|&&i| {
            ["WHERE", "FROM", "RETURNING"]
                .iter()
                .any(|w| is_word(&toks[i], w))
        })
        .copied();
    let last = match stop {
        Some(s) => s.checked_sub(1)?,
        None => toks.len() - 1,
    };
    Some(Span::new(toks[first].span.start, toks[last].span.end))
}

/// In an `UPDATE` or `DELETE` statement: the span of the `WHERE` condition
/// (after the top-level `WHERE`, to before `RETURNING` or the end).
pub fn where_condition(stmt: &str) -> Option<Span> {
    let toks = tokenize(stmt)?;
    let top = top_level(&toks);
    let at = top.iter().position(|&i| is_word(&toks[i], "WHERE"))?;
    let first = *top.get(at + 1)?;
    let last = match top[at + 1..].iter().find(|&&i| is_word(&toks[i], "RETURNING")) {
        Some(&r) => r.checked_sub(1)?,
        None => toks.len() - 1,
    };
    Some(Span::new(toks[first].span.start, toks[last].span.end))
}

/// In a `CREATE [UNIQUE] INDEX … ON [ONLY] table …` statement: the byte
/// offset just after the table name (where `USING …` or the column list starts).
pub fn after_index_table(stmt: &str) -> Option<usize> {
    let toks = tokenize(stmt)?;
    let on = toks.iter().position(|t| is_word(t, "ON"))?;
    let mut i = on + 1;
    if toks.get(i).is_some_and(|t| is_word(t, "ONLY")) {
        i += 1;
    }
    let mut end = None;
    while let Some(t) = toks.get(i) {
        if !matches!(t.token, Token::Word(_)) {
            break;
        }
        end = Some(t.span.end);
        i += 1;
        if toks.get(i).is_some_and(|t| t.token == Token::Period) {
            i += 1;
        } else {
            break;
        }
    }
    end
}

/// In a `CREATE [UNIQUE] INDEX …` statement: the byte offset just after the
/// `INDEX` keyword, where `CONCURRENTLY` goes.
pub fn after_index_keyword(stmt: &str) -> Option<usize> {
    let toks = tokenize(stmt)?;
    toks.iter()
        .take(3)
        .find(|t| is_word(t, "INDEX"))
        .map(|t| t.span.end)
}

/// In an `ADD [COLUMN] …` subcommand: the spans of the parts a plan strips
/// before adding the column bare: the `DEFAULT` clause, `NOT NULL`, and a
/// `REFERENCES …` clause (with its `ON DELETE`/`MATCH`/`DEFERRABLE` tail).
/// Returns `None` when a part is named (`CONSTRAINT c …`) or unusual, so the
/// caller refuses rather than guess.
pub fn column_parts(action: &str) -> Option<ColumnParts> {
    let toks = tokenize(action)?;
    let top = top_level(&toks);
    let mut parts = ColumnParts::default();
    if top.iter().any(|&i| is_word(&toks[i], "CONSTRAINT")) {
        return None;
    }
    parts.default = column_default(action).map(|(clause, _)| clause);
    for (k, &i) in top.iter().enumerate() {
        if is_word(&toks[i], "NOT") && top.get(k + 1).is_some_and(|&j| is_word(&toks[j], "NULL")) {
            parts.not_null = Some(Span::new(toks[i].span.start, toks[top[k + 1]].span.end));
        }
        if is_word(&toks[i], "REFERENCES") {
            let tail = top[k + 1..].iter().find(|&&j| {
                [
                    "NOT",
                    "NULL",
                    "CHECK",
                    "UNIQUE",
                    "PRIMARY",
                    "DEFAULT",
                    "GENERATED",
                    "COLLATE",
                ]
                .iter()
                .any(|w| is_word(&toks[j], w))
                    && !(is_word(&toks[j], "NOT")
                        && top.iter().any(|&d| d > i && is_word(&toks[d], "DEFERRABLE")))
            });
            let last = match tail {
                Some(&j) => j.checked_sub(1)?,
                None => toks.len() - 1,
            };
            parts.references = Some(Span::new(toks[i].span.start, toks[last].span.end));
            parts.references_target = Some(Span::new(toks.get(i + 1)?.span.start, toks[last].span.end));
        }
    }
    Some(parts)
}

/// Parts of a column definition (spans relative to the subcommand).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnParts {
    /// `DEFAULT expr`.
    pub default: Option<Span>,
    /// `NOT NULL`.
    pub not_null: Option<Span>,
    /// `REFERENCES t (c) [ON DELETE …]`.
    pub references: Option<Span>,
    /// The same without the `REFERENCES` keyword.
    pub references_target: Option<Span>,
}

/// `text` with the `cut` spans (relative to it, non-overlapping) removed,
/// each together with the whitespace just before it. Nothing else changes,
/// so string literals in what remains keep their exact bytes.
pub fn without(text: &str, cut: &[Span]) -> String {
    let mut cut = cut.to_vec();
    cut.sort();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in cut {
        if span.start >= at {
            out.push_str(text[at..span.start].trim_end());
            at = span.end;
        }
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_alter_table_subcommands() {
        let sql = "ALTER TABLE ONLY \"S\".t ADD COLUMN a int DEFAULT f(1, 2), ALTER COLUMN b SET NOT NULL";
        let spans: Vec<&str> = alter_actions(sql).into_iter().map(|s| s.slice(sql)).collect();
        assert_eq!(
            spans,
            vec!["ADD COLUMN a int DEFAULT f(1, 2)", "ALTER COLUMN b SET NOT NULL"]
        );
    }

    #[test]
    fn finds_defaults_up_to_the_next_constraint() {
        let a = "ADD COLUMN token text DEFAULT 'it''s' || gen_random_uuid()::text NOT NULL";
        let (clause, expr) = column_default(a).unwrap();
        assert_eq!(expr.slice(a), "'it''s' || gen_random_uuid()::text");
        assert_eq!(clause.slice(a), "DEFAULT 'it''s' || gen_random_uuid()::text");
        assert!(column_default("ADD COLUMN c int NOT NULL").is_none());
    }

    #[test]
    fn finds_type_and_using() {
        let a = "ALTER COLUMN c TYPE numeric(10, 2) USING c::numeric(10,2)";
        let (ty, using) = alter_type(a).unwrap();
        assert_eq!(ty.slice(a), "numeric(10, 2)");
        assert_eq!(using.unwrap().slice(a), "c::numeric(10,2)");
    }

    #[test]
    fn finds_update_assignments() {
        let sql = "UPDATE t SET a = 'x;y', b = (SELECT 1 WHERE true) WHERE id > 3";
        assert_eq!(
            update_set(sql).unwrap().slice(sql),
            "a = 'x;y', b = (SELECT 1 WHERE true)"
        );
        assert_eq!(
            update_set("UPDATE t SET a = 1")
                .unwrap()
                .slice("UPDATE t SET a = 1"),
            "a = 1"
        );
    }

    #[test]
    fn finds_column_parts_to_strip() {
        let a = "ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid() REFERENCES t (id) ON DELETE CASCADE";
        let p = column_parts(a).unwrap();
        let cut: Vec<Span> = [p.default, p.not_null, p.references]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(without(a, &cut), "ADD COLUMN c uuid");
        assert_eq!(p.references_target.unwrap().slice(a), "t (id) ON DELETE CASCADE");
        assert!(column_parts("ADD COLUMN c int CONSTRAINT k CHECK (c > 0)").is_none());
    }

    #[test]
    fn finds_index_keyword() {
        let sql = "CREATE UNIQUE INDEX i ON t (a)";
        assert_eq!(&sql[..after_index_keyword(sql).unwrap()], "CREATE UNIQUE INDEX");
    }
}
