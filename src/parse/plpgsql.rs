//! The SQL statements a PL/pgSQL `DO` block body runs, as far as they can be
//! seen without a PL/pgSQL parser.
//!
//! The body is split like a file ([`crate::source::split`]), so each piece
//! ends at a `;`. PL/pgSQL structure is then peeled off the front of each
//! piece: block labels (`<<name>>`), `BEGIN`, `DECLARE … BEGIN`, `ELSE`,
//! `LOOP`, `EXCEPTION`, and the heads `IF|ELSIF|WHEN|CASE … THEN` and
//! `FOR|FOREACH|WHILE … LOOP`. What is left is parsed as a statement, unless
//! it is a PL/pgSQL statement of its own (`END …`, `RAISE`, `PERFORM`,
//! `RETURN`, `NULL`, an assignment `x := …`, …) or dynamic SQL (`EXECUTE`).
//! An `EXECUTE` of constant text (a string, `format()` of constants, a `||`
//! of those) is read as the statements in the text; only text computed at
//! run time stays dynamic.
//! A piece that does not parse as SQL (a declaration, a PL/pgSQL form this
//! reader does not know) is dropped: PL/pgSQL is not SQL, so it is no parse
//! error.
//!
//! Conditions are not evaluated: a statement under `IF … THEN` counts as run.

use super::tokens::{tokenize, Tok};
use super::{parse_statement, DoBlock, Stmt, StmtKind};
use crate::source::{split, PieceKind, Span, Statement};
use sqlparser::tokenizer::Token;

/// What a `DO` block's body runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoBody {
    /// The statements that parse as SQL, in order, with spans in the
    /// coordinates of the text the body span points into.
    pub statements: Vec<Stmt>,
    /// `EXECUTE …` statements whose text is computed at run time: dynamic
    /// SQL, which cannot be analysed.
    pub dynamic: Vec<Span>,
}

/// PL/pgSQL statements that are not SQL statements: a piece starting with
/// one holds nothing to lint.
const PLPGSQL_STATEMENTS: &[&str] = &[
    "END", "RAISE", "PERFORM", "RETURN", "GET", "ASSERT", "CALL", "NULL", "CONTINUE", "EXIT", "OPEN",
    "FETCH", "MOVE", "CLOSE",
];

/// The statements `block` runs. `text` is what `block.body` points into.
/// Only `LANGUAGE plpgsql` bodies are read; others give nothing.
pub(super) fn do_body(text: &str, block: &DoBlock) -> DoBody {
    let mut out = DoBody::default();
    let Some(body) = block.body else {
        return out;
    };
    if block.language != "plpgsql" {
        return out;
    }
    let Some(body_text) = text.get(body.start..body.end) else {
        return out;
    };
    for piece in split(body_text) {
        if piece.kind != PieceKind::Sql {
            continue;
        }
        let span = piece.span.shift(body.start);
        match classify(span.slice(text)) {
            Piece::Sql(start) => {
                let stmt = parse_statement(
                    text,
                    &Statement {
                        span: Span::new(span.start + start, span.end),
                        kind: PieceKind::Sql,
                    },
                );
                if !matches!(stmt.kind, StmtKind::Unparsed { .. }) {
                    out.statements.push(stmt);
                }
            }
            Piece::Dynamic(start) => {
                let execute = Span::new(span.start + start, span.end);
                match constant_execute(text, execute) {
                    Some(stmts) => out.statements.extend(stmts),
                    None => out.dynamic.push(execute),
                }
            }
            Piece::Nothing => {}
        }
    }
    out
}

/// One operand of an `EXECUTE`'s text: its value, and where its value
/// stands verbatim in the file when it does (a string without escapes).
struct Constant {
    value: String,
    verbatim: Option<Span>,
}

/// The string literal `tok` (of `piece`, which starts at `at` in the file).
fn string_at(piece: &str, at: usize, tok: &Tok) -> Option<Constant> {
    let raw = tok.span.slice(piece);
    let (value, open) = match &tok.token {
        Token::SingleQuotedString(v) => (v.clone(), 1),
        Token::DollarQuotedString(d) => (d.value.clone(), d.tag.as_ref().map_or(0, String::len) + 2),
        _ => return None,
    };
    let inner = raw.get(open..open + value.len())?;
    let closed = raw.len() == open * 2 + value.len();
    let verbatim = (inner == value && closed).then(|| {
        let start = at + tok.span.start + open;
        Span::new(start, start + value.len())
    });
    Some(Constant { value, verbatim })
}

/// `format(fmt, args…)` with `%s`, `%I`, `%L` and `%%`, as PostgreSQL
/// expands it; `None` for anything else (positions, widths).
fn format(fmt: &str, args: &[String]) -> Option<String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            's' => out.push_str(args.next()?),
            'I' => out.push_str(&crate::pg::Ident::new(args.next()?.clone()).to_string()),
            'L' => out.push_str(&format!("'{}'", args.next()?.replace('\'', "''"))),
            _ => return None,
        }
    }
    Some(out)
}

/// The statements an `EXECUTE` runs when its text is a constant: a string,
/// `format()` of constants, or a `||` concatenation of those (`USING` and
/// `INTO` after it change nothing). A single string without escapes keeps
/// the statements' own spans inside it; other constants give each
/// statement the span of the whole expression. `None` for text computed
/// at run time, or text that does not parse.
fn constant_execute(text: &str, execute: Span) -> Option<Vec<Stmt>> {
    let piece = execute.slice(text);
    let toks = tokenize(piece)?;
    let mut i = 1; // past EXECUTE
    let mut parts: Vec<Constant> = Vec::new();
    let start = toks.get(i)?.span.start;
    let end;
    loop {
        let tok = toks.get(i)?;
        if is_word(Some(tok), "format") && toks.get(i + 1).is_some_and(|t| t.token == Token::LParen) {
            let mut args: Vec<String> = Vec::new();
            i += 2;
            loop {
                let tok = toks.get(i)?;
                args.push(match &tok.token {
                    Token::Number(n, _) => n.clone(),
                    _ => string_at(piece, execute.start, tok)?.value,
                });
                i += 1;
                match toks.get(i).map(|t| &t.token) {
                    Some(Token::Comma) => i += 1,
                    Some(Token::RParen) => break,
                    _ => return None,
                }
            }
            let (fmt, rest) = args.split_first()?;
            parts.push(Constant {
                value: format(fmt, rest)?,
                verbatim: None,
            });
        } else {
            parts.push(string_at(piece, execute.start, tok)?);
        }
        let last = toks[i].span.end;
        i += 1;
        match toks.get(i) {
            Some(t) if t.token == Token::StringConcat => i += 1,
            Some(t) if !(is_word(Some(t), "USING") || is_word(Some(t), "INTO")) => return None,
            _ => {
                end = last;
                break;
            }
        }
    }
    let (sql, verbatim) = match parts.as_slice() {
        [one] => (one.value.clone(), one.verbatim),
        _ => (parts.iter().map(|p| p.value.as_str()).collect(), None),
    };
    let stmts: Vec<Stmt> = match verbatim {
        Some(inner) => split(&sql)
            .into_iter()
            .filter(|p| p.kind == PieceKind::Sql)
            .map(|p| {
                parse_statement(
                    text,
                    &Statement {
                        span: p.span.shift(inner.start),
                        kind: PieceKind::Sql,
                    },
                )
            })
            .collect(),
        None => {
            let whole = Span::new(execute.start + start, execute.start + end);
            super::parse_sql(&sql)
                .into_iter()
                .map(|stmt| Stmt { span: whole, ..stmt })
                .collect()
        }
    };
    let understood = !stmts.is_empty() && stmts.iter().all(|s| !matches!(s.kind, StmtKind::Unparsed { .. }));
    understood.then_some(stmts)
}

/// What a routine's body `EXECUTE`s as constant text: the statements a call
/// runs that a linter can see (its static statements are the routine's
/// business, not the migration's).
pub(super) fn executed(text: &str, block: &DoBlock) -> DoBody {
    let mut body = DoBody::default();
    let (Some(span), "plpgsql") = (block.body, block.language.as_str()) else {
        return body;
    };
    let Some(body_text) = text.get(span.start..span.end) else {
        return body;
    };
    for piece in split(body_text).into_iter().filter(|p| p.kind == PieceKind::Sql) {
        let piece = piece.span.shift(span.start);
        if let Piece::Dynamic(start) = classify(piece.slice(text)) {
            if let Some(stmts) = constant_execute(text, Span::new(piece.start + start, piece.end)) {
                body.statements.extend(stmts);
            }
        }
    }
    body
}

/// What one piece of a body holds.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    /// A statement to parse, starting this many bytes into the piece.
    Sql(usize),
    /// `EXECUTE …`, starting this many bytes into the piece.
    Dynamic(usize),
    /// PL/pgSQL only.
    Nothing,
}

fn is_word(tok: Option<&Tok>, word: &str) -> bool {
    matches!(tok.map(|t| &t.token), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// The index just past the first top-level `word` from `from` on (outside
/// parentheses and `CASE … END`), if any.
fn past(toks: &[Tok], from: usize, word: &str) -> Option<usize> {
    let mut parens = 0usize;
    let mut cases = 0usize;
    for (i, tok) in toks.iter().enumerate().skip(from) {
        match &tok.token {
            Token::LParen => parens += 1,
            Token::RParen => parens = parens.saturating_sub(1),
            _ if parens > 0 => {}
            _ if is_word(Some(tok), "CASE") => cases += 1,
            _ if is_word(Some(tok), "END") && cases > 0 => cases -= 1,
            _ if cases == 0 && is_word(Some(tok), word) => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn classify(piece: &str) -> Piece {
    let Some(toks) = tokenize(piece) else {
        return Piece::Nothing;
    };
    let mut i = 0;
    loop {
        let Some(tok) = toks.get(i) else {
            return Piece::Nothing;
        };
        let word = match &tok.token {
            // `<<label>>` before a block or a loop.
            Token::ShiftLeft => match toks[i..].iter().position(|t| t.token == Token::ShiftRight) {
                Some(n) => {
                    i += n + 1;
                    continue;
                }
                None => return Piece::Nothing,
            },
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            _ => return Piece::Sql(tok.span.start),
        };
        // An assignment: `x := …`, `r.f := …`.
        let assigns = |at: usize| toks.get(at).is_some_and(|t| t.token == Token::Assignment);
        if assigns(i + 1) || toks.get(i + 1).is_some_and(|t| t.token == Token::Period) && assigns(i + 3) {
            return Piece::Nothing;
        }
        let next = match word.as_str() {
            "BEGIN" | "ELSE" | "LOOP" | "EXCEPTION" => Some(i + 1),
            "DECLARE" => past(&toks, i + 1, "BEGIN"),
            "IF" | "ELSIF" | "ELSEIF" | "WHEN" | "CASE" => past(&toks, i + 1, "THEN"),
            "FOR" | "FOREACH" | "WHILE" => past(&toks, i + 1, "LOOP"),
            "EXECUTE" => return Piece::Dynamic(tok.span.start),
            w if PLPGSQL_STATEMENTS.contains(&w) => return Piece::Nothing,
            _ => return Piece::Sql(tok.span.start),
        };
        match next {
            Some(n) => i = n,
            None => return Piece::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_sql;

    /// The inner statements' texts and the dynamic statements' texts of the DO block in `sql`.
    fn body(sql: &str) -> (Vec<&str>, Vec<&str>) {
        let stmts = parse_sql(sql);
        let StmtKind::Do(block) = &stmts.last().unwrap().kind else {
            panic!("{sql}")
        };
        let b = &block.inner;
        (
            b.statements.iter().map(|s| s.span.slice(sql)).collect(),
            b.dynamic.iter().map(|s| s.slice(sql)).collect(),
        )
    }

    #[test]
    fn peels_blocks_conditions_and_loops() {
        let sql = "SELECT 1;\nDO $$\nDECLARE\n  n int := 0;\n  r record;\nBEGIN\n  \
                   ALTER TABLE users ADD COLUMN a int;\n  \
                   IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN\n    \
                   CREATE TYPE mood AS ENUM ('sad');\n  ELSIF (CASE WHEN n > 0 THEN true END) THEN DROP TABLE x;\n  \
                   ELSE\n    CREATE INDEX i ON users (a);\n  END IF;\n  \
                   <<outer>> FOR r IN SELECT * FROM orders LOOP UPDATE orders SET total = 0; END LOOP outer;\n  \
                   n := n + 1;\n  RAISE NOTICE 'done %', n;\n  PERFORM pg_sleep(0);\n\
                   EXCEPTION WHEN duplicate_object THEN NULL;\nEND\n$$";
        let (stmts, dynamic) = body(sql);
        assert_eq!(
            stmts,
            [
                "ALTER TABLE users ADD COLUMN a int",
                "CREATE TYPE mood AS ENUM ('sad')",
                "DROP TABLE x",
                "CREATE INDEX i ON users (a)",
                "UPDATE orders SET total = 0",
            ]
        );
        assert!(dynamic.is_empty());
    }

    #[test]
    fn finds_dynamic_sql() {
        let sql = "DO $do$ DECLARE t text := 'x'; BEGIN EXECUTE format('ALTER TABLE %I ADD c int', t); \
                   EXECUTE 'DROP TABLE ' || t; EXECUTE 'DROP TABLE' || ' y' || ' WHERE' || f(); \
                   EXECUTE 'SELEKT nonsense'; END $do$";
        let (stmts, dynamic) = body(sql);
        assert!(stmts.is_empty(), "{stmts:?}");
        assert_eq!(
            dynamic,
            [
                "EXECUTE format('ALTER TABLE %I ADD c int', t)",
                "EXECUTE 'DROP TABLE ' || t",
                "EXECUTE 'DROP TABLE' || ' y' || ' WHERE' || f()",
                "EXECUTE 'SELEKT nonsense'"
            ]
        );
    }

    #[test]
    fn reads_execute_of_constant_text() {
        // A plain string: the statement's span is inside it.
        let sql = "DO $do$ BEGIN EXECUTE 'CREATE INDEX i ON users (email)'; \
                   EXECUTE $q$DROP TABLE y; DROP TABLE z$q$ USING 1; END $do$";
        let (stmts, dynamic) = body(sql);
        assert!(dynamic.is_empty(), "{dynamic:?}");
        assert_eq!(
            stmts,
            ["CREATE INDEX i ON users (email)", "DROP TABLE y", "DROP TABLE z"]
        );
        // format() of constants and concatenations: the whole expression.
        let sql = "DO $do$ BEGIN EXECUTE format('ALTER TABLE %I ADD COLUMN %I int DEFAULT %L', 'Users', 'c', 'it''s'); \
                   EXECUTE 'CREATE INDEX j ' || 'ON orders (status)'; END $do$";
        let stmts = parse_sql(sql);
        let StmtKind::Do(block) = &stmts[0].kind else {
            panic!("{stmts:?}")
        };
        let inner = &block.inner.statements;
        assert_eq!(inner.len(), 2, "{inner:?}");
        let StmtKind::AlterTable(alter) = &inner[0].kind else {
            panic!("{inner:?}")
        };
        assert_eq!(alter.table.to_string(), "\"Users\"");
        assert_eq!(
            inner[0].span.slice(sql),
            "format('ALTER TABLE %I ADD COLUMN %I int DEFAULT %L', 'Users', 'c', 'it''s')"
        );
        assert!(matches!(&inner[1].kind, StmtKind::CreateIndex(i) if i.table.to_string() == "orders"));
        assert_eq!(
            inner[1].span.slice(sql),
            "'CREATE INDEX j ' || 'ON orders (status)'"
        );
        // An escaped quote: the value differs from the text, so the whole string is the span.
        let sql = "DO $do$ BEGIN EXECUTE 'ALTER TABLE users ADD c text DEFAULT ''x'''; END $do$";
        assert_eq!(body(sql).0, ["'ALTER TABLE users ADD c text DEFAULT ''x'''"]);
    }

    #[test]
    fn drops_what_is_not_sql() {
        // Declarations, PL/pgSQL-only statements and a quoted or non-PL/pgSQL body.
        let (stmts, _) =
            body("DO $$ DECLARE a int; b text := 'x'; BEGIN GET DIAGNOSTICS a = ROW_COUNT; END $$");
        assert!(stmts.is_empty(), "{stmts:?}");
        assert_eq!(body("DO 'BEGIN DROP TABLE t; END'").0, Vec::<&str>::new());
        assert_eq!(
            body("DO LANGUAGE plperl $$ DROP TABLE t; $$").0,
            Vec::<&str>::new()
        );
    }
}
