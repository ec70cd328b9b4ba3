//! Statements sqlparser rejects, recognised from its tokenizer's output.
//!
//! sqlparser parses most real migrations, but the statements it rejects are
//! often exactly the ones a lock linter must see (`DROP INDEX CONCURRENTLY`,
//! `REINDEX`, `DO`, `CLUSTER`, `VACUUM (…)`, `ALTER DOMAIN`, `ALTER TABLE …
//! SET SCHEMA`…). Each gets a small recogniser here over the token stream;
//! a statement no recogniser accepts stays unparsed and is reported.

use super::ast;
use super::{
    AlterAction, AlterDomain, AlterTable, CreateIndex, CreateTable, DoBlock, DomainAction, DropIndex,
    Reindex, ReindexTarget, SetVar, StmtKind,
};
use crate::pg::{Ident, LockMode, QualifiedName};
use crate::source::{PieceKind, Span};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Word};

/// A significant token with its byte range in the statement.
#[derive(Debug, PartialEq)]
pub(super) struct Tok {
    pub(super) token: Token,
    pub(super) span: Span,
}

/// A word token as an identifier, folded the way PostgreSQL folds it.
fn folded(w: &Word) -> Ident {
    if w.quote_style.is_some() {
        Ident::new(w.value.clone())
    } else {
        Ident::new(w.value.to_lowercase())
    }
}

/// A cursor over a statement's significant tokens.
struct Cursor<'a> {
    toks: &'a [Tok],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos).map(|t| &t.token)
    }

    fn peek_word(&self) -> Option<String> {
        match self.peek() {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// Consumes the keyword sequence `words` if it comes next.
    fn eat(&mut self, words: &[&str]) -> bool {
        let matches =
            words
                .iter()
                .enumerate()
                .all(|(i, w)| match self.toks.get(self.pos + i).map(|t| &t.token) {
                    Some(Token::Word(word)) => {
                        word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w)
                    }
                    _ => false,
                });
        if matches {
            self.pos += words.len();
        }
        matches
    }

    fn eat_token(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads a possibly qualified name (`a`, `s.a`, `"S"."A"`).
    fn name(&mut self) -> Option<QualifiedName> {
        let mut parts = vec![self.ident()?];
        while self.peek() == Some(&Token::Period) {
            self.pos += 1;
            parts.push(self.ident()?);
        }
        let name = parts.pop()?;
        Some(QualifiedName {
            schema: parts.pop(),
            name,
        })
    }

    fn ident(&mut self) -> Option<Ident> {
        match self.peek() {
            Some(Token::Word(w)) => {
                self.pos += 1;
                Some(folded(w))
            }
            _ => None,
        }
    }

    /// Skips a balanced parenthesised group if one comes next, returning the
    /// upper-cased words inside it.
    fn skip_parens(&mut self) -> Option<Vec<String>> {
        if self.peek() != Some(&Token::LParen) {
            return None;
        }
        let mut depth = 0usize;
        let mut words = Vec::new();
        while let Some(t) = self.peek() {
            self.pos += 1;
            match t {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                Token::Word(w) => words.push(w.value.to_ascii_uppercase()),
                _ => {}
            }
        }
        Some(words)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }
}

pub(super) fn tokenize(sql: &str) -> Option<Vec<Tok>> {
    if let Some(toks) = super::lexer::significant(sql) {
        return Some(toks);
    }
    // The fast path stopped: straight to sqlparser's tokenizer.
    let tokens = super::lexer::slow(sql).ok()?;
    Some(significant(sql, tokens))
}

/// The tokenizer's output for `sql` without whitespace and comments, each
/// token with its byte range.
pub(super) fn significant(sql: &str, tokens: Vec<TokenWithSpan>) -> Vec<Tok> {
    let mut locator = Locator::new(sql);
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        if matches!(t.token, Token::Whitespace(_) | Token::EOF) {
            continue;
        }
        let start = locator.offset(t.span.start.line, t.span.start.column);
        let end = locator.offset(t.span.end.line, t.span.end.column).max(start);
        out.push(Tok {
            span: Span::new(start, end),
            token: t.token,
        });
    }
    out
}

/// Statements read from their tokens instead of the parser: those whose
/// facts are all in a few leading tokens, and those sqlparser always
/// rejects. `Err` hands the tokens back for the parser.
///
/// - `DO`, `REINDEX`, `DROP INDEX CONCURRENTLY`: sqlparser rejects them; their
///   recognisers ([`recognise`]) read them (`Ok(None)`: not a form the
///   recogniser knows, let the parser say what is wrong);
/// - `COMMENT ON`, `GRANT`, `REVOKE`, `CREATE [OR REPLACE] FUNCTION|PROCEDURE`:
///   no facts beyond their tag ([`StmtKind::Other`]), whatever follows;
/// - `INSERT INTO name …`: its table;
/// - `BEGIN`, `COMMIT` (with an optional `WORK` or `TRANSACTION`) and
///   `SET [LOCAL|SESSION] name {=|TO} value` with a single-token value.
///
/// `tests::token_reads_match_the_parser` checks these against the parser's
/// facts on every statement of the real-migration corpus and the examples.
pub(super) fn read_first(
    sql: &str,
    tokens: Vec<TokenWithSpan>,
) -> Result<Option<StmtKind>, Vec<TokenWithSpan>> {
    if several_statements(&tokens) {
        return Err(tokens);
    }
    let sig: Vec<&Token> = tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .collect();
    let is = |i: usize, keyword: &str| matches!(sig.get(i), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword));
    let other = || StmtKind::Other {
        tag: ast::tag_of(sql),
    };
    let read = if is(0, "DO") || is(0, "REINDEX") || is(0, "DROP") && is(1, "INDEX") && is(2, "CONCURRENTLY")
    {
        return Ok(recognise_tokens(sql, tokens));
    } else if is(0, "COMMENT") || is(0, "GRANT") || is(0, "REVOKE") {
        Some(other())
    } else if is(0, "CREATE") {
        let kind = if is(1, "OR") && is(2, "REPLACE") { 3 } else { 1 };
        (is(kind, "FUNCTION") || is(kind, "PROCEDURE")).then(other)
    } else if is(0, "INSERT") && is(1, "INTO") {
        insert_table(&sig[2..]).map(|table| StmtKind::Insert { table })
    } else if (is(0, "BEGIN") || is(0, "COMMIT"))
        && (sig.len() == 1 || sig.len() == 2 && (is(1, "WORK") || is(1, "TRANSACTION")))
    {
        Some(if is(0, "BEGIN") {
            StmtKind::Begin
        } else {
            StmtKind::Commit
        })
    } else if is(0, "SET") {
        simple_set(&sig[1..])
    } else {
        None
    };
    match read {
        Some(kind) => Ok(Some(kind)),
        None => Err(tokens),
    }
}

/// The table of `INSERT INTO` from the tokens after `INTO`: `name` or
/// `schema.name`, followed by `(`, a keyword (`VALUES`, `SELECT`, `DEFAULT`,
/// `OVERRIDING`, `AS`…) or nothing the parser would take as part of the name.
fn insert_table(toks: &[&Token]) -> Option<QualifiedName> {
    let part = |t: Option<&&Token>| match t {
        Some(Token::Word(w)) => Some(folded(w)),
        _ => None,
    };
    let first = part(toks.first())?;
    let (name, rest) = if toks.get(1) == Some(&&Token::Period) {
        (
            QualifiedName {
                schema: Some(first),
                name: part(toks.get(2))?,
            },
            &toks[3..],
        )
    } else {
        (QualifiedName::bare(first), &toks[1..])
    };
    match rest.first() {
        Some(Token::LParen) => Some(name),
        Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword != Keyword::NoKeyword => Some(name),
        _ => None,
    }
}

/// `[LOCAL|SESSION] name {=|TO} value` with an unquoted one-word name and a
/// value that is one string, number or non-keyword word.
fn simple_set(toks: &[&Token]) -> Option<StmtKind> {
    fn word<'a>(t: Option<&&'a Token>) -> Option<&'a Word> {
        match t {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w),
            _ => None,
        }
    }
    let scope = word(toks.first()).map(|w| w.value.to_ascii_uppercase());
    let (local, toks) = match scope.as_deref() {
        Some("LOCAL") => (true, &toks[1..]),
        Some("SESSION") => (false, &toks[1..]),
        _ => (false, toks),
    };
    let [name, assign, value] = toks else {
        return None;
    };
    let name = word(Some(name)).filter(|w| w.keyword == Keyword::NoKeyword)?;
    let assigns =
        matches!(assign, Token::Eq) || word(Some(assign)).is_some_and(|w| w.value.eq_ignore_ascii_case("TO"));
    let value = match value {
        Token::SingleQuotedString(s) => s.clone(),
        Token::Number(n, false) => n.clone(),
        Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::NoKeyword => w.value.clone(),
        _ => return None,
    };
    assigns.then(|| {
        StmtKind::Set(SetVar {
            name: name.value.to_lowercase(),
            value,
            local,
        })
    })
}

/// Whether anything but whitespace follows a `;` (a goose statement block
/// holding several statements).
fn several_statements(tokens: &[TokenWithSpan]) -> bool {
    let mut after_semicolon = false;
    for t in tokens {
        match &t.token {
            Token::SemiColon => after_semicolon = true,
            Token::Whitespace(_) | Token::EOF => {}
            _ if after_semicolon => return true,
            _ => {}
        }
    }
    false
}

/// [`recognise`] over tokens the caller already has (see [`read_first`]).
fn recognise_tokens(sql: &str, tokens: Vec<TokenWithSpan>) -> Option<StmtKind> {
    recognise_significant(sql, &significant(sql, tokens))
}

/// Turns the tokenizer's 1-based (line, character column) positions into
/// byte offsets. Positions arrive in order, so it walks forward from the
/// last one: linear in the text, even for one very long line.
struct Locator<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    /// The last position resolved: (line, column, byte offset).
    last: (u64, u64, usize),
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Locator<'a> {
        let mut line_starts = vec![0usize];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Locator {
            text,
            line_starts,
            last: (1, 1, 0),
        }
    }

    fn offset(&mut self, line: u64, column: u64) -> usize {
        let (line, column) = (line.max(1), column.max(1));
        let (mut at, mut col) = if line == self.last.0 && column >= self.last.1 {
            (self.last.2, self.last.1)
        } else {
            let start = self
                .line_starts
                .get((line - 1) as usize)
                .copied()
                .unwrap_or(self.text.len());
            (start, 1)
        };
        let mut chars = self.text[at..].chars();
        while col < column {
            match chars.next() {
                Some(c) => {
                    at += c.len_utf8();
                    col += 1;
                }
                None => break,
            }
        }
        self.last = (line, col, at);
        at
    }
}

/// Recognises a statement sqlparser rejected. `None` when no recogniser
/// knows it, so it is reported as unparsed.
pub(super) fn recognise(sql: &str) -> Option<StmtKind> {
    // Several statements in one piece (a goose `StatementBegin` block): no
    // recogniser may stand for all of them, since reading the first one's
    // leading keywords would hide the rest.
    let statements = crate::source::split(sql)
        .iter()
        .filter(|p| matches!(p.kind, PieceKind::Sql | PieceKind::PsqlMeta))
        .count();
    if statements > 1 {
        return None;
    }
    recognise_significant(sql, &tokenize(sql)?)
}

fn recognise_significant(sql: &str, toks: &[Tok]) -> Option<StmtKind> {
    let mut c = Cursor { toks, pos: 0 };
    let first = c.peek_word()?;
    match first.as_str() {
        "DROP" if c.eat(&["DROP", "INDEX"]) => drop_index(&mut c),
        "DROP" if c.eat(&["DROP", "EVENT", "TRIGGER"]) => drop_event_trigger(&mut c),
        "DROP" if c.eat(&["DROP", "AGGREGATE"]) => drop_aggregate(&mut c),
        "REINDEX" => reindex(&mut c),
        "DO" => do_block(&mut c, sql),
        "CLUSTER" => {
            c.eat(&["CLUSTER"]);
            c.eat(&["VERBOSE"]);
            Some(StmtKind::Cluster { table: c.name() })
        }
        "VACUUM" => vacuum(&mut c),
        "ALTER" => alter(&mut c, sql),
        "CREATE" => create(&mut c),
        "SELECT" | "GRANT" | "REVOKE" | "COMMENT" | "SECURITY" | "ANALYZE" | "NOTIFY" | "DISCARD"
        | "CALL" | "INSERT" | "WITH" => Some(StmtKind::Other {
            tag: ast::tag_of(sql),
        }),
        _ => None,
    }
}

fn drop_index(c: &mut Cursor) -> Option<StmtKind> {
    let concurrently = c.eat(&["CONCURRENTLY"]);
    let if_exists = c.eat(&["IF", "EXISTS"]);
    let mut names = vec![c.name()?];
    while c.eat_token(&Token::Comma) {
        names.push(c.name()?);
    }
    c.eat(&["CASCADE"]);
    c.eat(&["RESTRICT"]);
    c.at_end().then_some(StmtKind::DropIndex(DropIndex {
        names,
        concurrently,
        if_exists,
    }))
}

/// `DROP EVENT TRIGGER [IF EXISTS] name [CASCADE | RESTRICT]`: no table lock.
fn drop_event_trigger(c: &mut Cursor) -> Option<StmtKind> {
    c.eat(&["IF", "EXISTS"]);
    c.ident()?;
    if !c.eat(&["CASCADE"]) {
        c.eat(&["RESTRICT"]);
    }
    c.at_end().then(|| StmtKind::Other {
        tag: "DROP EVENT TRIGGER".into(),
    })
}

/// `DROP AGGREGATE [IF EXISTS] name ( [argtypes | *] ) [, …] [CASCADE | RESTRICT]`:
/// no table lock.
fn drop_aggregate(c: &mut Cursor) -> Option<StmtKind> {
    c.eat(&["IF", "EXISTS"]);
    loop {
        c.name()?;
        c.skip_parens()?;
        if !c.eat_token(&Token::Comma) {
            break;
        }
    }
    if !c.eat(&["CASCADE"]) {
        c.eat(&["RESTRICT"]);
    }
    c.at_end().then(|| StmtKind::Other {
        tag: "DROP AGGREGATE".into(),
    })
}

fn reindex(c: &mut Cursor) -> Option<StmtKind> {
    c.eat(&["REINDEX"]);
    let options = c.skip_parens().unwrap_or_default();
    c.eat(&["VERBOSE"]);
    let target = match c.peek_word()?.as_str() {
        "INDEX" => ReindexTarget::Index,
        "TABLE" => ReindexTarget::Table,
        "SCHEMA" => ReindexTarget::Schema,
        "DATABASE" => ReindexTarget::Database,
        "SYSTEM" => ReindexTarget::System,
        _ => return None,
    };
    c.pos += 1;
    let concurrently = c.eat(&["CONCURRENTLY"]) || options.iter().any(|w| w == "CONCURRENTLY");
    let name = c.name();
    c.at_end().then_some(StmtKind::Reindex(Reindex {
        target,
        name,
        concurrently,
    }))
}

/// `DO [LANGUAGE l] $$ … $$`. The body span is relative to `sql`, the
/// statement's own text; [`super::parse_statement`] moves it into file coordinates.
fn do_block(c: &mut Cursor, sql: &str) -> Option<StmtKind> {
    c.eat(&["DO"]);
    let mut language = "plpgsql".to_string();
    let mut body = None;
    while !c.at_end() {
        if c.eat(&["LANGUAGE"]) {
            // `LANGUAGE plpgsql`, or the older string form `LANGUAGE 'plpgsql'`.
            language = match c.peek() {
                Some(Token::SingleQuotedString(name)) => {
                    c.pos += 1;
                    name.to_lowercase()
                }
                _ => c.ident()?.as_str().to_string(),
            };
            continue;
        }
        let tok = &c.toks[c.pos];
        c.pos += 1;
        body = match &tok.token {
            Token::DollarQuotedString(d) => {
                let delimiter = d.tag.as_ref().map_or(2, |t| t.len() + 2);
                let inner = Span::new(tok.span.start + delimiter, tok.span.end.saturating_sub(delimiter));
                (inner.start <= inner.end && inner.end <= sql.len()).then_some(inner)
            }
            Token::SingleQuotedString(_) | Token::EscapedStringLiteral(_) => None,
            _ => return None,
        };
    }
    Some(StmtKind::Do(DoBlock {
        body,
        language,
        inner: Default::default(),
    }))
}

/// `CREATE [OR REPLACE] FUNCTION|PROCEDURE name … AS $$ … $$ … [LANGUAGE l]`:
/// the routine's name, and its body as a [`DoBlock`] (span relative to
/// `sql`, body not read yet).
pub(super) fn routine(sql: &str) -> Option<(QualifiedName, DoBlock)> {
    let toks = tokenize(sql)?;
    let mut c = Cursor { toks: &toks, pos: 0 };
    c.eat(&["CREATE"]);
    c.eat(&["OR", "REPLACE"]);
    if !(c.eat(&["FUNCTION"]) || c.eat(&["PROCEDURE"])) {
        return None;
    }
    let name = c.name()?;
    let mut language = "sql".to_string();
    let mut body = None;
    while !c.at_end() {
        if c.eat(&["LANGUAGE"]) {
            language = match c.peek() {
                Some(Token::SingleQuotedString(l)) => {
                    c.pos += 1;
                    l.to_lowercase()
                }
                _ => c.ident()?.as_str().to_string(),
            };
            continue;
        }
        let tok = &c.toks[c.pos];
        c.pos += 1;
        if let Token::DollarQuotedString(d) = &tok.token {
            let delimiter = d.tag.as_ref().map_or(2, |t| t.len() + 2);
            let inner = Span::new(tok.span.start + delimiter, tok.span.end.saturating_sub(delimiter));
            if inner.start <= inner.end && inner.end <= sql.len() {
                body.get_or_insert(inner);
            }
        }
    }
    Some((
        name,
        DoBlock {
            body,
            language,
            inner: Default::default(),
        },
    ))
}

fn vacuum(c: &mut Cursor) -> Option<StmtKind> {
    c.eat(&["VACUUM"]);
    let mut full = false;
    if let Some(words) = c.skip_parens() {
        for (i, w) in words.iter().enumerate() {
            if w == "FULL" {
                full = !matches!(words.get(i + 1).map(String::as_str), Some("FALSE" | "OFF"));
            }
        }
    } else {
        full = c.eat(&["FULL"]);
        c.eat(&["FREEZE"]);
        c.eat(&["VERBOSE"]);
        c.eat(&["ANALYZE"]);
    }
    let mut tables = Vec::new();
    while let Some(name) = c.name() {
        tables.push(name);
        c.skip_parens();
        if !c.eat_token(&Token::Comma) {
            break;
        }
    }
    c.at_end().then_some(StmtKind::Vacuum { full, tables })
}

fn alter(c: &mut Cursor, sql: &str) -> Option<StmtKind> {
    c.eat(&["ALTER"]);
    match c.peek_word()?.as_str() {
        "SEQUENCE" => {
            c.pos += 1;
            c.eat(&["IF", "EXISTS"]);
            Some(StmtKind::Sequence {
                name: c.name()?,
                create: false,
            })
        }
        "DOMAIN" => {
            c.pos += 1;
            let name = c.name()?;
            let action = if c.eat(&["ADD"]) {
                let rest: Vec<String> = c.toks[c.pos..]
                    .iter()
                    .filter_map(|t| match &t.token {
                        Token::Word(w) => Some(w.value.to_ascii_uppercase()),
                        _ => None,
                    })
                    .collect();
                let not_valid = rest
                    .windows(2)
                    .last()
                    .is_some_and(|w| w[0] == "NOT" && w[1] == "VALID");
                DomainAction::AddConstraint { not_valid }
            } else if c.eat(&["VALIDATE", "CONSTRAINT"]) {
                DomainAction::ValidateConstraint
            } else {
                DomainAction::Other
            };
            Some(StmtKind::AlterDomain(AlterDomain { name, action }))
        }
        "TABLE" => {
            c.pos += 1;
            let if_exists = c.eat(&["IF", "EXISTS"]);
            let only = c.eat(&["ONLY"]);
            let table = c.name()?;
            c.eat_token(&Token::Mul);
            let actions = split_actions(c)
                .into_iter()
                .map(|span| alter_action(span.slice(sql)))
                .collect::<Option<Vec<_>>>()?;
            Some(StmtKind::AlterTable(AlterTable {
                table,
                if_exists,
                only,
                actions,
            }))
        }
        "INDEX" | "FUNCTION" | "PROCEDURE" | "POLICY" | "SCHEMA" | "EXTENSION" | "ROLE" | "USER"
        | "DEFAULT" | "PUBLICATION" | "SUBSCRIPTION" | "VIEW" | "MATERIALIZED" | "AGGREGATE" | "OPERATOR"
        | "TYPE" | "DATABASE" | "TRIGGER" | "EVENT" | "COLLATION" | "TEXT" | "STATISTICS" | "SYSTEM" => {
            Some(StmtKind::Other {
                tag: ast::tag_of(sql),
            })
        }
        _ => None,
    }
}

/// The byte spans of the comma-separated subcommands from the cursor on.
fn split_actions(c: &mut Cursor) -> Vec<Span> {
    let spans = comma_separated(&c.toks[c.pos..]);
    c.pos = c.toks.len();
    spans
}

/// The byte spans of the parts of `toks` between commas outside parentheses.
pub(super) fn comma_separated(toks: &[Tok]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut depth = 0usize;
    let mut start: Option<usize> = None;
    let mut end = 0;
    for tok in toks {
        match tok.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => {
                if let Some(s) = start.take() {
                    spans.push(Span::new(s, end));
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(tok.span.start);
        end = tok.span.end;
    }
    if let Some(s) = start {
        spans.push(Span::new(s, end));
    }
    spans
}

/// The keywords an `ALTER TABLE` subcommand can start with (PostgreSQL 18).
const ALTER_TABLE_SUBCOMMANDS: &[&str] = &[
    "ADD", "ALTER", "ATTACH", "CLUSTER", "DETACH", "DISABLE", "DROP", "ENABLE", "FORCE", "INHERIT", "MERGE",
    "NO", "NOT", "OF", "OPTIONS", "OWNER", "RENAME", "REPLICA", "RESET", "SET", "SPLIT", "VALIDATE",
];

/// One `ALTER TABLE` subcommand: sqlparser first (on `ALTER TABLE t <action>`),
/// then the forms it lacks. `None` when the text does not start like a
/// subcommand at all (`ALTER TABLE t DROP a, b` is a syntax error in PostgreSQL).
fn alter_action(text: &str) -> Option<AlterAction> {
    if let Ok(StmtKind::AlterTable(mut parsed)) = ast::parse(&format!("ALTER TABLE t {text}")) {
        if parsed.actions.len() == 1 {
            if let Some(action) = parsed.actions.pop() {
                return Some(action);
            }
        }
    }
    let toks = tokenize(text)?;
    let leading = Cursor { toks: &toks, pos: 0 }.peek_word()?;
    ALTER_TABLE_SUBCOMMANDS
        .contains(&leading.as_str())
        .then(|| alter_action_fallback(text))
}

/// The subcommands sqlparser rejects; anything unknown takes ACCESS EXCLUSIVE.
fn alter_action_fallback(text: &str) -> AlterAction {
    // PG 18 virtual generated columns: `GENERATED ALWAYS AS (expr)` with no
    // STORED, which sqlparser only accepts with the keyword.
    if let Ok(StmtKind::AlterTable(mut parsed)) = ast::parse(&format!("ALTER TABLE t {text} STORED")) {
        if let [AlterAction::AddColumn { column, .. }] = parsed.actions.as_mut_slice() {
            if column.generated == Some(super::Generated::Stored) {
                column.generated = Some(super::Generated::Virtual);
                if let Some(action) = parsed.actions.pop() {
                    return action;
                }
            }
        }
    }
    let Some(toks) = tokenize(text) else {
        return AlterAction::Other {
            what: "unknown".into(),
            lock: LockMode::AccessExclusive,
        };
    };
    let mut c = Cursor { toks: &toks, pos: 0 };
    if c.eat(&["SET", "SCHEMA"]) {
        if let Some(schema) = c.ident() {
            return AlterAction::SetSchema { schema };
        }
    }
    if c.eat(&["ALTER"]) {
        c.eat(&["COLUMN"]);
        if let Some(column) = c.ident() {
            if c.eat(&["SET", "STATISTICS"])
                || c.eat(&["SET"]) && c.peek() == Some(&Token::LParen)
                || c.eat(&["RESET"])
            {
                return AlterAction::SetColumnStatistics { column };
            }
            if c.eat(&["SET", "STORAGE"]) || c.eat(&["SET", "COMPRESSION"]) {
                return AlterAction::SetColumnStorage { column };
            }
            if c.eat(&["DROP", "IDENTITY"]) || c.eat(&["DROP", "EXPRESSION"]) {
                return AlterAction::Other {
                    what: "alter column".into(),
                    lock: LockMode::AccessExclusive,
                };
            }
        }
    }
    // CLUSTER ON and SET WITHOUT CLUSTER take SHARE UPDATE EXCLUSIVE; the
    // rest (SET TABLESPACE, SET ACCESS METHOD, INHERIT, OF, …) ACCESS EXCLUSIVE.
    let mut c = Cursor { toks: &toks, pos: 0 };
    if c.eat(&["CLUSTER", "ON"]) || c.eat(&["SET", "WITHOUT", "CLUSTER"]) {
        return AlterAction::Other {
            what: "cluster on".into(),
            lock: LockMode::ShareUpdateExclusive,
        };
    }
    AlterAction::Other {
        what: ast::tag_of(text).to_lowercase(),
        lock: LockMode::AccessExclusive,
    }
}

fn create(c: &mut Cursor) -> Option<StmtKind> {
    c.eat(&["CREATE"]);
    c.eat(&["OR", "REPLACE"]);
    let unique = c.eat(&["UNIQUE"]);
    if c.eat(&["INDEX"]) {
        let concurrently = c.eat(&["CONCURRENTLY"]);
        let if_not_exists = c.eat(&["IF", "NOT", "EXISTS"]);
        let name = if c.peek_word().as_deref() == Some("ON") {
            None
        } else {
            c.name()
        };
        if !c.eat(&["ON"]) {
            return None;
        }
        let only = c.eat(&["ONLY"]);
        let table = c.name()?;
        if c.eat(&["USING"]) {
            c.ident();
        }
        let mut columns = Vec::new();
        if c.peek() == Some(&Token::LParen) {
            let start = c.pos + 1;
            c.skip_parens();
            // Plain column references: a lone word between commas.
            let inner = &c.toks[start..c.pos.saturating_sub(1)];
            for item in inner.split(|t| t.token == Token::Comma) {
                if let [Tok {
                    token: Token::Word(w),
                    ..
                }, ..] = item
                {
                    if item.len() == 1 || matches!(item.get(1).map(|t| &t.token), Some(Token::Word(_))) {
                        columns.push(if w.quote_style.is_some() {
                            Ident::new(w.value.clone())
                        } else {
                            Ident::new(w.value.to_lowercase())
                        });
                    }
                }
            }
        }
        return Some(StmtKind::CreateIndex(CreateIndex {
            name,
            table,
            unique,
            concurrently,
            if_not_exists,
            only,
            columns,
            simple: false,
        }));
    }
    if unique {
        return None;
    }
    for prefix in [
        &["TEMPORARY"][..],
        &["TEMP"],
        &["UNLOGGED"],
        &["GLOBAL", "TEMPORARY"],
        &["LOCAL", "TEMPORARY"],
    ] {
        c.eat(prefix);
    }
    if c.eat(&["TABLE"]) {
        let if_not_exists = c.eat(&["IF", "NOT", "EXISTS"]);
        let name = c.name()?;
        let partition_of = if c.eat(&["PARTITION", "OF"]) {
            c.name()
        } else {
            None
        };
        return Some(StmtKind::CreateTable(CreateTable {
            name,
            if_not_exists,
            columns: Vec::new(),
            constraints: Vec::new(),
            partition_of,
            partitioned: false,
            as_query: false,
        }));
    }
    if c.eat(&["MATERIALIZED", "VIEW"]) {
        c.eat(&["IF", "NOT", "EXISTS"]);
        return Some(StmtKind::CreateMatView { name: c.name()? });
    }
    if c.eat(&["TRIGGER"]) || c.eat(&["CONSTRAINT", "TRIGGER"]) {
        while !c.at_end() {
            if c.eat(&["ON"]) {
                return Some(StmtKind::CreateTrigger { table: c.name()? });
            }
            c.pos += 1;
        }
        return None;
    }
    let kind = c.peek_word()?;
    matches!(
        kind.as_str(),
        "FUNCTION"
            | "PROCEDURE"
            | "POLICY"
            | "EXTENSION"
            | "SCHEMA"
            | "VIEW"
            | "MATERIALIZED"
            | "ROLE"
            | "USER"
            | "AGGREGATE"
            | "OPERATOR"
            | "PUBLICATION"
            | "SUBSCRIPTION"
            | "EVENT"
            | "TYPE"
            | "DOMAIN"
            | "CAST"
            | "COLLATION"
            | "TEXT"
            | "STATISTICS"
            | "RULE"
            | "SEQUENCE"
            | "LANGUAGE"
            | "SERVER"
            | "FOREIGN"
            | "ACCESS"
            | "TRANSFORM"
            | "CONVERSION"
            | "RECURSIVE"
    )
    .then(|| StmtKind::Other {
        tag: format!("CREATE {kind}"),
    })
}

#[cfg(test)]
mod tests {
    use crate::parse::{
        parse_source, parse_source_indexed, parse_sql, parse_statement, AlterAction, DomainAction,
        ReindexTarget, StmtKind,
    };
    use crate::pg::LockMode;
    use crate::source::{from_text, MigrationFile, NamingScheme, PieceKind, Span, Statement};
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::tokenizer::Tokenizer;

    /// Every statement of `extra`, the real-migration corpus and the examples.
    fn statements(extra: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        out.extend(crate::parse::corpus::statements());
        out
    }

    #[test]
    fn token_reads_match_the_parser() {
        // Whenever `read_first` reads a statement the parser also parses,
        // both give the same facts.
        let extra = [
            "SET lock_timeout = '2s'",
            "SET LOCAL statement_timeout TO 5000",
            "SET SESSION search_path = app",
            "set Lock_Timeout = '1s'",
            "SET TIME ZONE 'UTC'",
            "SET x = -1",
            "SET \"lock_timeout\" = '1s'",
            "BEGIN",
            "begin transaction",
            "BEGIN ISOLATION LEVEL SERIALIZABLE",
            "COMMIT WORK",
            "COMMIT AND CHAIN",
            "INSERT INTO t (a) VALUES (1)",
            "INSERT INTO app.\"Users\" SELECT * FROM x",
            "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING",
            "INSERT INTO t DEFAULT VALUES",
            "INSERT INTO t AS x (a) VALUES (1)",
            "INSERT INTO db.s.t VALUES (1)",
            "COMMENT ON TABLE t IS 'it''s'",
            "GRANT SELECT ON t TO app",
            "REVOKE ALL ON t FROM app",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
            "CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$",
        ];
        let (mut read, mut compared) = (0, 0);
        for sql in statements(&extra) {
            let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, &sql).tokenize_with_location() else {
                continue;
            };
            let Ok(Some(kind)) = super::read_first(&sql, tokens) else {
                continue;
            };
            read += 1;
            if let Ok(parsed) = super::ast::parse_with_parser(&sql) {
                compared += 1;
                assert_eq!(kind, parsed, "{sql}");
            }
        }
        assert!(read > 300 && compared > 200, "read {read}, compared {compared}");
    }

    #[test]
    fn token_reads_leave_other_forms_to_the_parser() {
        for sql in [
            "SET TIME ZONE 'UTC'",
            "SET x = -1",
            "SET x = DEFAULT",
            "SET ROLE admin",
            "SET search_path = a, b",
            "BEGIN ISOLATION LEVEL SERIALIZABLE",
            "COMMIT AND CHAIN",
            "INSERT INTO db.s.t VALUES (1)",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "CREATE TABLE f (a int)",
            "SELECT 1; SELECT 2",
        ] {
            let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
                .tokenize_with_location()
                .unwrap();
            assert!(super::read_first(sql, tokens).is_err(), "{sql}");
        }
        assert_eq!(
            one("INSERT INTO app.t VALUES (1)"),
            StmtKind::Insert {
                table: crate::pg::QualifiedName {
                    schema: Some(crate::pg::Ident::new("app")),
                    name: crate::pg::Ident::new("t"),
                }
            }
        );
    }

    fn one(sql: &str) -> StmtKind {
        parse_sql(sql).remove(0).kind
    }

    #[test]
    fn recognises_drop_index_concurrently() {
        let StmtKind::DropIndex(d) = one("DROP INDEX CONCURRENTLY IF EXISTS public.\"Idx\", b") else {
            panic!()
        };
        assert!(d.concurrently && d.if_exists);
        assert_eq!(d.names.len(), 2);
        assert_eq!(d.names[0].to_string(), "public.\"Idx\"");
    }

    #[test]
    fn recognises_reindex_forms() {
        let StmtKind::Reindex(r) = one("REINDEX (VERBOSE) TABLE CONCURRENTLY users") else {
            panic!()
        };
        assert_eq!((r.target, r.concurrently), (ReindexTarget::Table, true));
        let StmtKind::Reindex(r) = one("REINDEX INDEX users_pkey") else {
            panic!()
        };
        assert!(!r.concurrently);
    }

    #[test]
    fn recognises_do_block_body() {
        let sql = "DO $x$ BEGIN ALTER TABLE t ADD COLUMN c int; END $x$";
        let StmtKind::Do(d) = one(sql) else { panic!() };
        assert_eq!(
            d.body.map(|b| b.slice(sql)),
            Some(" BEGIN ALTER TABLE t ADD COLUMN c int; END ")
        );
    }

    #[test]
    fn do_block_body_is_in_file_coordinates() {
        let sql = "SELECT 1;\n\nDO $x$ BEGIN DROP TABLE t; END $x$;";
        let stmts = parse_sql(sql);
        let StmtKind::Do(d) = &stmts[1].kind else { panic!() };
        assert_eq!(d.body.map(|b| b.slice(sql)), Some(" BEGIN DROP TABLE t; END "));

        // From a file, including a DO inside a goose statement block.
        let text = "-- +goose Up\nSELECT 0;\nDO $$BEGIN PERFORM 1; END$$;\n-- +goose StatementBegin\n\
                    SELECT 2;\nDO $b$ BEGIN PERFORM 2; END $b$;\n-- +goose StatementEnd\n";
        let file = MigrationFile {
            path: "1_x.sql".into(),
            version: None,
            name: "x".into(),
            scheme: NamingScheme::Explicit,
        };
        let src = from_text(file, text.into());
        let bodies: Vec<&str> = parse_source(&src)
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Do(d) => d.body.map(|b| b.slice(&src.text)),
                _ => None,
            })
            .collect();
        assert_eq!(bodies, ["BEGIN PERFORM 1; END", " BEGIN PERFORM 2; END "]);
    }

    #[test]
    fn recognises_vacuum_full_in_parens() {
        assert!(matches!(
            one("VACUUM (FULL, ANALYZE) users"),
            StmtKind::Vacuum { full: true, .. }
        ));
        assert!(matches!(
            one("VACUUM (FULL false) users"),
            StmtKind::Vacuum { full: false, .. }
        ));
    }

    #[test]
    fn recognises_alter_domain_not_valid() {
        let sql = "ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0) NOT VALID";
        assert!(
            matches!(one(sql), StmtKind::AlterDomain(d) if d.action == DomainAction::AddConstraint { not_valid: true })
        );
    }

    #[test]
    fn recognises_alter_table_forms_sqlparser_lacks() {
        let StmtKind::AlterTable(a) = one(
            "ALTER TABLE ONLY \"Users\" ALTER COLUMN c SET STATISTICS 100, ADD COLUMN d int, SET SCHEMA s",
        ) else {
            panic!()
        };
        assert_eq!(a.table.name.as_str(), "Users");
        assert!(a.only);
        assert!(matches!(a.actions[0], AlterAction::SetColumnStatistics { .. }));
        assert!(matches!(a.actions[1], AlterAction::AddColumn { .. }));
        assert!(matches!(a.actions[2], AlterAction::SetSchema { .. }));
    }

    #[test]
    fn recognises_create_index_on_only() {
        let StmtKind::CreateIndex(i) =
            one("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY t USING btree (a, lower(b))")
        else {
            panic!()
        };
        assert!(i.only && i.concurrently && i.if_not_exists);
        assert_eq!(i.columns.len(), 1);
    }

    #[test]
    fn recognises_drop_event_trigger() {
        assert!(matches!(
            one("drop event trigger if exists api_restart"),
            StmtKind::Other { tag } if tag == "DROP EVENT TRIGGER"
        ));
        assert!(matches!(
            one("DROP EVENT TRIGGER pgrst_ddl_watch CASCADE"),
            StmtKind::Other { .. }
        ));
        assert!(matches!(
            one("DROP EVENT TRIGGER a, b"),
            StmtKind::Unparsed { .. }
        ));
    }

    #[test]
    fn recognises_drop_aggregate_with_signatures() {
        assert!(matches!(
            one("drop aggregate if exists arg_min_int4(int4_and_value), public.cnt(*) restrict"),
            StmtKind::Other { tag } if tag == "DROP AGGREGATE"
        ));
        // PostgreSQL requires the signature.
        assert!(matches!(
            one("drop aggregate public.last"),
            StmtKind::Unparsed { .. }
        ));
    }

    #[test]
    fn recognises_do_with_quoted_language() {
        let sql = "DO LANGUAGE 'PLPGSQL' $$ BEGIN PERFORM 1; END $$";
        let StmtKind::Do(d) = one(sql) else { panic!() };
        assert_eq!(d.language, "plpgsql");
        assert_eq!(d.body.map(|b| b.slice(sql)), Some(" BEGIN PERFORM 1; END "));
    }

    #[test]
    fn refuses_several_statements_in_one_piece() {
        // What a goose StatementBegin block looks like to parse_statement: the
        // leading ALTER TABLE must not stand for the statements after it.
        for sql in [
            "ALTER TABLE a ADD COLUMN x jsonb; CREATE INDEX i ON b (c)",
            "DO $$ BEGIN END $$; ALTER TABLE t ADD COLUMN c int",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$; DROP TABLE t",
        ] {
            let stmt = parse_statement(
                sql,
                &Statement {
                    span: Span::new(0, sql.len()),
                    kind: PieceKind::Sql,
                },
            );
            assert!(
                matches!(stmt.kind, StmtKind::Unparsed { .. }),
                "{sql}: {:?}",
                stmt.kind
            );
        }
    }

    #[test]
    fn expands_goose_statement_blocks() {
        let text = "-- +goose Up\nSELECT 0;\n-- +goose StatementBegin\n\
                    ALTER TABLE a ADD COLUMN x jsonb;\nDO $$ BEGIN END $$;\n\
                    CREATE INDEX i ON b (c);\n-- +goose StatementEnd\n";
        let file = MigrationFile {
            path: "1_x.sql".into(),
            version: None,
            name: "x".into(),
            scheme: NamingScheme::Explicit,
        };
        let src = from_text(file, text.into());
        assert_eq!(src.statements.len(), 2);
        let stmts = parse_source_indexed(&src);
        let origins: Vec<usize> = stmts.iter().map(|(i, _)| *i).collect();
        assert_eq!(origins, [0, 1, 1, 1]);
        assert!(matches!(stmts[1].1.kind, StmtKind::AlterTable(_)));
        assert!(matches!(stmts[2].1.kind, StmtKind::Do(_)));
        assert!(matches!(stmts[3].1.kind, StmtKind::CreateIndex(_)));
        assert_eq!(stmts[3].1.span.slice(&src.text), "CREATE INDEX i ON b (c)");
        assert_eq!(parse_source(&src).len(), 4);
    }

    #[test]
    fn alter_table_subcommands_must_start_with_a_keyword() {
        // `DROP a, b` is a PostgreSQL syntax error: `b` is no subcommand.
        assert!(matches!(
            one("ALTER TABLE nodes DROP listen_grpc_addr, listen_grpc_port"),
            StmtKind::Unparsed { .. }
        ));
        // A known subcommand sqlparser lacks stays an ACCESS EXCLUSIVE `Other`.
        let StmtKind::AlterTable(a) = one("ALTER TABLE ONLY t INHERIT parent, SET SCHEMA s") else {
            panic!()
        };
        assert!(matches!(
            &a.actions[0],
            AlterAction::Other {
                lock: LockMode::AccessExclusive,
                ..
            }
        ));
    }

    #[test]
    fn tags_create_or_replace_by_object_kind() {
        assert!(matches!(
            one("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'"),
            StmtKind::Other { tag } if tag == "CREATE FUNCTION"
        ));
    }

    #[test]
    fn recognises_materialized_views_either_way() {
        for sql in [
            "CREATE MATERIALIZED VIEW s.\"Mv\" AS SELECT 1 AS x",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS s.\"Mv\" AS SELECT 1 AS x WITH NO DATA",
        ] {
            let StmtKind::CreateMatView { name } = one(sql) else {
                panic!("{sql}")
            };
            assert_eq!(name.to_string(), "s.\"Mv\"");
        }
        assert!(matches!(one("CREATE VIEW v AS SELECT 1"), StmtKind::Other { .. }));
    }

    #[test]
    fn leaves_gibberish_unparsed() {
        assert!(matches!(one("SELEKT 1"), StmtKind::Unparsed { .. }));
        assert!(matches!(one("REINDEX EVERYTHING now"), StmtKind::Unparsed { .. }));
    }
}
