//! Splitting SQL text into statements, comments and psql meta-commands.
//!
//! The splitter is a single forward pass over the bytes of the text, so it runs
//! in linear time and never backtracks. It knows just enough of PostgreSQL's
//! lexical rules to find where statements end:
//!
//! - `'…'` strings with `''` escapes, `E'…'` strings with backslash escapes,
//!   `"…"` identifiers with `""` escapes, `$$…$$` and `$tag$…$tag$` dollar
//!   quotes (`$1` is a parameter, and `$` inside an identifier such as `a$b`
//!   starts nothing);
//! - `--` line comments (ended by `\n` or `\r`) and nesting `/* … */` comments;
//! - SQL-standard function bodies, `BEGIN ATOMIC … END`, whose semicolons do not
//!   end the statement (a `CASE … END` inside such a body is tracked so that its
//!   `END` does not close the body);
//! - psql meta-commands: a `\` outside any statement starts a meta-command that
//!   runs to the end of its line; inside a statement only `\g`, `\gx`, `\gset`,
//!   `\gexec` and `\gdesc` are recognised (they end the statement), any other
//!   backslash stays part of the SQL text;
//! - goose's `-- +goose StatementBegin` … `-- +goose StatementEnd`, whose
//!   contents form one statement whatever semicolons they hold.
//!
//! Section markers (`-- +goose Up`, `-- +goose Down`, `-- migrate:up`,
//! `-- migrate:down`) also end a statement that lacks its `;`, so that a
//! statement never straddles the up and down sections.
//!
//! All the bytes the splitter looks for are ASCII and every non-ASCII byte is
//! read as part of a word, so every span starts and ends on a char boundary.

use super::directives::{classify, Marker};
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
    /// Where the piece stands in the text. For a statement: from the first byte
    /// of its first token to the last byte of its last token, without the `;`.
    pub span: Span,
    /// What the piece is.
    pub kind: PieceKind,
    /// Set when the piece runs to the end of the file unterminated.
    pub problem: Option<String>,
}

/// Splits `text` into statements, comments and psql meta-commands, sorted by
/// where they start. Comments inside a statement are pieces of their own,
/// listed after the statement that holds them. Empty statements (`;;`) give
/// nothing. Never panics; runs in time linear in the length of `text`.
pub fn split(text: &str) -> Vec<Piece> {
    let mut splitter = Splitter {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        out: Vec::new(),
        stmt: None,
        goose_block: None,
    };
    splitter.run();
    let mut out = splitter.out;
    // Comments met inside a statement were pushed before the statement itself;
    // a stable sort by start puts every piece back in file order.
    out.sort_by_key(|p| p.span.start);
    out
}

/// The statement being read.
struct Stmt {
    start: usize,
    /// End of the last token that is not a `;`.
    end: usize,
    /// Inside a `BEGIN ATOMIC` body.
    atomic: bool,
    /// Open `CASE`s inside the atomic body.
    case_depth: usize,
    /// The previous token was the word `BEGIN`.
    after_begin: bool,
    problem: Option<String>,
}

struct Splitter<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Vec<Piece>,
    stmt: Option<Stmt>,
    /// Index in `out` of the `-- +goose StatementBegin` comment of the open block.
    goose_block: Option<usize>,
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_tag_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn is_line_break(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

impl Splitter<'_> {
    fn at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    fn run(&mut self) {
        while let Some(b) = self.at(self.pos) {
            let next = self.at(self.pos + 1);
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => self.pos += 1,
                b'-' if next == Some(b'-') => self.line_comment(),
                b'/' if next == Some(b'*') => self.block_comment(),
                b';' => self.semicolon(),
                b'\\' if self.goose_block.is_none() => self.backslash(),
                b'\'' => self.string(self.pos, self.pos + 1, false),
                b'"' => self.quoted_identifier(),
                b'$' => self.dollar(),
                b'0'..=b'9' => {
                    let start = self.pos;
                    let mut i = start + 1;
                    while self
                        .at(i)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                    {
                        i += 1;
                    }
                    self.token(start, i);
                    self.pos = i;
                }
                _ if is_word_start(b) => self.word(),
                _ => {
                    self.token(self.pos, self.pos + 1);
                    self.pos += 1;
                }
            }
        }
        self.flush();
        if let Some(i) = self.goose_block.take() {
            if let Some(piece) = self.out.get_mut(i) {
                piece.problem = Some("unterminated goose statement block".to_string());
            }
        }
    }

    /// Records a token (anything but whitespace, comments and `;`) of the
    /// current statement, starting one if none is open.
    fn token(&mut self, start: usize, end: usize) {
        match &mut self.stmt {
            Some(s) => {
                s.end = end;
                s.after_begin = false;
            }
            None => {
                self.stmt = Some(Stmt {
                    start,
                    end,
                    atomic: false,
                    case_depth: 0,
                    after_begin: false,
                    problem: None,
                })
            }
        }
    }

    /// Marks the current statement as running unterminated to the end of the text.
    fn unterminated(&mut self, start: usize, message: String) {
        self.token(start, self.bytes.len());
        if let Some(s) = &mut self.stmt {
            s.problem.get_or_insert(message);
        }
        self.pos = self.bytes.len();
    }

    /// Ends the current statement, if any, and emits it.
    fn flush(&mut self) {
        if let Some(s) = self.stmt.take() {
            let mut problem = s.problem;
            if s.atomic && problem.is_none() {
                problem = Some("unterminated begin atomic body".to_string());
            }
            self.out.push(Piece {
                span: Span::new(s.start, s.end),
                kind: PieceKind::Sql,
                problem,
            });
        }
    }

    fn semicolon(&mut self) {
        self.pos += 1;
        let inside = self.goose_block.is_some() || self.stmt.as_ref().is_some_and(|s| s.atomic);
        if inside {
            if let Some(s) = &mut self.stmt {
                s.after_begin = false;
            }
        } else {
            self.flush();
        }
    }

    fn line_end(&self, from: usize) -> usize {
        self.bytes
            .get(from..)
            .and_then(|rest| rest.iter().position(|&c| is_line_break(c)))
            .map_or(self.bytes.len(), |n| from + n)
    }

    fn line_comment(&mut self) {
        let start = self.pos;
        let end = self.line_end(start);
        self.pos = end;
        self.out.push(Piece {
            span: Span::new(start, end),
            kind: PieceKind::LineComment,
            problem: None,
        });
        let Some(body) = self.text.get(start + 2..end) else {
            return;
        };
        match classify(body) {
            Some(Marker::GooseStatementBegin) if self.goose_block.is_none() => {
                let marker = self.out.len() - 1;
                self.flush();
                self.goose_block = Some(marker);
            }
            Some(Marker::GooseStatementEnd) if self.goose_block.is_some() => {
                self.flush();
                self.goose_block = None;
            }
            Some(Marker::GooseUp | Marker::GooseDown | Marker::DbmateUp { .. } | Marker::DbmateDown)
                if self.goose_block.is_none() =>
            {
                self.flush();
            }
            _ => {}
        }
    }

    fn block_comment(&mut self) {
        let start = self.pos;
        let mut depth = 1usize;
        let mut i = start + 2;
        let mut end = None;
        while let Some(b) = self.at(i) {
            let next = self.at(i + 1);
            if b == b'/' && next == Some(b'*') {
                depth += 1;
                i += 2;
            } else if b == b'*' && next == Some(b'/') {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    end = Some(i);
                    break;
                }
            } else {
                i += 1;
            }
        }
        let (end, problem) = match end {
            Some(end) => (end, None),
            None => (self.bytes.len(), Some("unterminated block comment".to_string())),
        };
        self.pos = end;
        self.out.push(Piece {
            span: Span::new(start, end),
            kind: PieceKind::BlockComment,
            problem,
        });
    }

    fn backslash(&mut self) {
        let start = self.pos;
        if self.stmt.is_some() {
            let mut i = start + 1;
            while self.at(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
                i += 1;
            }
            let command = self.text.get(start + 1..i).unwrap_or("");
            if !matches!(command, "g" | "gx" | "gset" | "gexec" | "gdesc") {
                self.token(start, start + 1);
                self.pos += 1;
                return;
            }
            self.flush();
        }
        let mut end = self.line_end(start);
        while end > start && matches!(self.bytes[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        self.out.push(Piece {
            span: Span::new(start, end),
            kind: PieceKind::PsqlMeta,
            problem: None,
        });
        self.pos = self.line_end(start);
    }

    /// A string whose opening quote is at `start` and whose text starts at `body`.
    fn string(&mut self, start: usize, body: usize, backslash_escapes: bool) {
        let mut i = body;
        while let Some(b) = self.at(i) {
            if backslash_escapes && b == b'\\' {
                i += 2;
            } else if b == b'\'' {
                if self.at(i + 1) == Some(b'\'') {
                    i += 2;
                } else {
                    self.token(start, i + 1);
                    self.pos = i + 1;
                    return;
                }
            } else {
                i += 1;
            }
        }
        self.unterminated(start, "unterminated quoted string".to_string());
    }

    fn quoted_identifier(&mut self) {
        let start = self.pos;
        let mut i = start + 1;
        while let Some(b) = self.at(i) {
            if b == b'"' {
                if self.at(i + 1) == Some(b'"') {
                    i += 2;
                } else {
                    self.token(start, i + 1);
                    self.pos = i + 1;
                    return;
                }
            } else {
                i += 1;
            }
        }
        self.unterminated(start, "unterminated quoted identifier".to_string());
    }

    fn dollar(&mut self) {
        let start = self.pos;
        let mut i = start + 1;
        match self.at(i) {
            Some(b) if b.is_ascii_digit() => {
                while self.at(i).is_some_and(|c| c.is_ascii_digit()) {
                    i += 1;
                }
                self.token(start, i);
                self.pos = i;
                return;
            }
            Some(b'$') => {}
            Some(b) if is_word_start(b) => {
                while self.at(i).is_some_and(is_tag_char) {
                    i += 1;
                }
                if self.at(i) != Some(b'$') {
                    self.token(start, start + 1);
                    self.pos = start + 1;
                    return;
                }
            }
            _ => {
                self.token(start, start + 1);
                self.pos = start + 1;
                return;
            }
        }
        // `i` is at the `$` that closes the opening delimiter.
        let body = i + 1;
        let Some(delimiter) = self.text.get(start..body) else {
            self.token(start, start + 1);
            self.pos = start + 1;
            return;
        };
        match self.text.get(body..).and_then(|rest| rest.find(delimiter)) {
            Some(n) => {
                let end = body + n + delimiter.len();
                self.token(start, end);
                self.pos = end;
            }
            None => {
                let message = format!("unterminated dollar-quoted string {delimiter}");
                self.unterminated(start, message);
            }
        }
    }

    fn word(&mut self) {
        let start = self.pos;
        let mut end = start + 1;
        while self.at(end).is_some_and(is_word_char) {
            end += 1;
        }
        if end == start + 1 && matches!(self.bytes[start], b'E' | b'e') && self.at(end) == Some(b'\'') {
            self.string(start, end + 1, true);
            return;
        }
        self.pos = end;
        let after_begin = self.stmt.as_ref().is_some_and(|s| s.after_begin);
        self.token(start, end);
        let word = self.text.get(start..end).unwrap_or("");
        if let Some(s) = &mut self.stmt {
            if s.atomic {
                if word.eq_ignore_ascii_case("case") {
                    s.case_depth += 1;
                } else if word.eq_ignore_ascii_case("end") {
                    if s.case_depth > 0 {
                        s.case_depth -= 1;
                    } else {
                        s.atomic = false;
                    }
                }
            } else if after_begin && word.eq_ignore_ascii_case("atomic") {
                s.atomic = true;
                s.case_depth = 0;
            } else {
                s.after_begin = word.eq_ignore_ascii_case("begin");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str) -> Vec<&str> {
        split(text)
            .into_iter()
            .filter(|p| p.kind == PieceKind::Sql)
            .map(|p| p.span.slice(text))
            .collect()
    }

    fn kinds(text: &str) -> Vec<(PieceKind, &str)> {
        split(text)
            .into_iter()
            .map(|p| (p.kind, p.span.slice(text)))
            .collect()
    }

    fn problems(text: &str) -> Vec<String> {
        split(text).into_iter().filter_map(|p| p.problem).collect()
    }

    #[test]
    fn splits_simple_statements() {
        assert_eq!(
            sql("SELECT 1; SELECT 2;\n  SELECT 3  "),
            ["SELECT 1", "SELECT 2", "SELECT 3"]
        );
    }

    #[test]
    fn splits_nothing_for_empty_statements() {
        assert!(split(";;  ;\n;").is_empty());
        assert!(split("").is_empty());
        assert_eq!(sql(";;SELECT 1;;"), ["SELECT 1"]);
    }

    #[test]
    fn splits_around_leading_and_trailing_comments() {
        let text = "-- head\n/* a */ SELECT 1 /* b */ -- tail\n;";
        assert_eq!(
            kinds(text),
            [
                (PieceKind::LineComment, "-- head"),
                (PieceKind::BlockComment, "/* a */"),
                (PieceKind::Sql, "SELECT 1"),
                (PieceKind::BlockComment, "/* b */"),
                (PieceKind::LineComment, "-- tail"),
            ]
        );
    }

    #[test]
    fn splits_comments_inside_statements_as_pieces() {
        let text = "ALTER TABLE t\n  -- migrate:ignore x\n  ADD COLUMN a int;";
        assert_eq!(
            kinds(text),
            [
                (
                    PieceKind::Sql,
                    "ALTER TABLE t\n  -- migrate:ignore x\n  ADD COLUMN a int"
                ),
                (PieceKind::LineComment, "-- migrate:ignore x"),
            ]
        );
    }

    #[test]
    fn splits_ignoring_semicolons_in_strings() {
        assert_eq!(
            sql("SELECT 'a;b''c;'; SELECT 2"),
            ["SELECT 'a;b''c;'", "SELECT 2"]
        );
        assert_eq!(
            sql(r"SELECT E'it\'s;'; SELECT 2"),
            [r"SELECT E'it\'s;'", "SELECT 2"]
        );
        assert_eq!(sql(r"SELECT e'\\'; SELECT 2"), [r"SELECT e'\\'", "SELECT 2"]);
        assert_eq!(sql(r"SELECT 'a\'; SELECT 2"), [r"SELECT 'a\'", "SELECT 2"]);
        assert_eq!(
            sql(r#"SELECT "a;""b"; SELECT 2"#),
            [r#"SELECT "a;""b""#, "SELECT 2"]
        );
    }

    #[test]
    fn splits_ignoring_comment_markers_in_strings() {
        assert_eq!(
            sql("SELECT '--', '/*'; SELECT 2"),
            ["SELECT '--', '/*'", "SELECT 2"]
        );
        assert_eq!(
            sql("SELECT $$ -- ; $$; SELECT 2"),
            ["SELECT $$ -- ; $$", "SELECT 2"]
        );
    }

    #[test]
    fn splits_dollar_quotes() {
        let text =
            "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $$ x $$; $body$ LANGUAGE sql; SELECT 2";
        assert_eq!(
            sql(text),
            [
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $$ x $$; $body$ LANGUAGE sql",
                "SELECT 2"
            ]
        );
        assert_eq!(
            sql("DO $$ BEGIN; END $$; SELECT 2"),
            ["DO $$ BEGIN; END $$", "SELECT 2"]
        );
    }

    #[test]
    fn splits_parameters_and_identifier_dollars_without_quoting() {
        assert_eq!(sql("SELECT $1; SELECT $2"), ["SELECT $1", "SELECT $2"]);
        assert_eq!(sql("SELECT a$b; SELECT $c;"), ["SELECT a$b", "SELECT $c"]);
        assert_eq!(sql("SELECT a$b$; SELECT 2"), ["SELECT a$b$", "SELECT 2"]);
    }

    #[test]
    fn splits_nested_block_comments() {
        let text = "/* a /* b; */ still; */ SELECT 1; SELECT 2";
        assert_eq!(
            kinds(text),
            [
                (PieceKind::BlockComment, "/* a /* b; */ still; */"),
                (PieceKind::Sql, "SELECT 1"),
                (PieceKind::Sql, "SELECT 2"),
            ]
        );
    }

    #[test]
    fn splits_begin_atomic_bodies_as_one_statement() {
        let text = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\nSELECT 3;";
        assert_eq!(
            sql(text),
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND",
                "SELECT 3"
            ]
        );
    }

    #[test]
    fn splits_begin_atomic_with_nested_case() {
        let text = "CREATE PROCEDURE p() begin atomic SELECT CASE WHEN true THEN 1 ELSE 2 END; SELECT 3; end; SELECT 4";
        assert_eq!(
            sql(text),
            [
                "CREATE PROCEDURE p() begin atomic SELECT CASE WHEN true THEN 1 ELSE 2 END; SELECT 3; end",
                "SELECT 4"
            ]
        );
    }

    #[test]
    fn splits_plain_begin_as_transaction_statement() {
        assert_eq!(sql("BEGIN; SELECT 1; COMMIT;"), ["BEGIN", "SELECT 1", "COMMIT"]);
        assert_eq!(sql("BEGIN TRANSACTION; END;"), ["BEGIN TRANSACTION", "END"]);
    }

    #[test]
    fn flags_unterminated_begin_atomic() {
        let text = "CREATE FUNCTION f() BEGIN ATOMIC SELECT 1;";
        assert_eq!(sql(text), ["CREATE FUNCTION f() BEGIN ATOMIC SELECT 1"]);
        assert_eq!(problems(text), ["unterminated begin atomic body"]);
    }

    #[test]
    fn splits_psql_meta_commands() {
        let text = "\\set ON_ERROR_STOP on\r\nSELECT 1;\n  \\c other  \nSELECT 2; \\i x.sql";
        assert_eq!(
            kinds(text),
            [
                (PieceKind::PsqlMeta, "\\set ON_ERROR_STOP on"),
                (PieceKind::Sql, "SELECT 1"),
                (PieceKind::PsqlMeta, "\\c other"),
                (PieceKind::Sql, "SELECT 2"),
                (PieceKind::PsqlMeta, "\\i x.sql"),
            ]
        );
    }

    #[test]
    fn splits_at_psql_gset() {
        let text = "SELECT 1 AS x \\gset\nSELECT :x;";
        assert_eq!(
            kinds(text),
            [
                (PieceKind::Sql, "SELECT 1 AS x"),
                (PieceKind::PsqlMeta, "\\gset"),
                (PieceKind::Sql, "SELECT :x"),
            ]
        );
    }

    #[test]
    fn splits_goose_statement_blocks() {
        let text = "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS trigger AS '\nBEGIN\n  RETURN NEW;\nEND;\n' LANGUAGE plpgsql;\nSELECT 1;\n-- +goose StatementEnd\nSELECT 2;";
        assert_eq!(
            kinds(text),
            [
                (PieceKind::LineComment, "-- +goose Up"),
                (PieceKind::LineComment, "-- +goose StatementBegin"),
                (
                    PieceKind::Sql,
                    "CREATE FUNCTION f() RETURNS trigger AS '\nBEGIN\n  RETURN NEW;\nEND;\n' LANGUAGE plpgsql;\nSELECT 1"
                ),
                (PieceKind::LineComment, "-- +goose StatementEnd"),
                (PieceKind::Sql, "SELECT 2"),
            ]
        );
    }

    #[test]
    fn splits_goose_blocks_case_insensitively() {
        let text = "--  +GOOSE statementbegin\nSELECT 1; SELECT 2;\n--+goose   StatementEnd\nSELECT 3";
        assert_eq!(sql(text), ["SELECT 1; SELECT 2", "SELECT 3"]);
    }

    #[test]
    fn flags_unterminated_goose_block() {
        let text = "-- +goose StatementBegin\nSELECT 1; SELECT 2;";
        assert_eq!(sql(text), ["SELECT 1; SELECT 2"]);
        let pieces = split(text);
        assert_eq!(pieces[0].kind, PieceKind::LineComment);
        assert_eq!(
            pieces[0].problem.as_deref(),
            Some("unterminated goose statement block")
        );
    }

    #[test]
    fn splits_at_section_markers() {
        let text = "-- migrate:up\nCREATE TABLE t (a int)\n-- migrate:down\nDROP TABLE t";
        assert_eq!(sql(text), ["CREATE TABLE t (a int)", "DROP TABLE t"]);
    }

    #[test]
    fn splits_crlf_and_lone_cr_line_endings() {
        let text = "SELECT 1; -- one\r\nSELECT 2; -- two\rSELECT 3;\r";
        assert_eq!(
            kinds(text),
            [
                (PieceKind::Sql, "SELECT 1"),
                (PieceKind::LineComment, "-- one"),
                (PieceKind::Sql, "SELECT 2"),
                (PieceKind::LineComment, "-- two"),
                (PieceKind::Sql, "SELECT 3"),
            ]
        );
    }

    #[test]
    fn flags_unterminated_quotes_and_comments() {
        assert_eq!(problems("SELECT 'abc; SELECT 2"), ["unterminated quoted string"]);
        assert_eq!(problems("SELECT E'abc\\'"), ["unterminated quoted string"]);
        assert_eq!(
            problems("SELECT \"abc; SELECT 2"),
            ["unterminated quoted identifier"]
        );
        assert_eq!(
            problems("SELECT $tag$ abc $ta"),
            ["unterminated dollar-quoted string $tag$"]
        );
        assert_eq!(
            problems("SELECT $$ abc"),
            ["unterminated dollar-quoted string $$"]
        );
        assert_eq!(problems("SELECT 1; /* a /* b */"), ["unterminated block comment"]);
        let text = "SELECT 1; SELECT 'x";
        let pieces = split(text);
        assert_eq!(pieces[1].span.slice(text), "SELECT 'x");
        assert_eq!(pieces[1].span.end, text.len());
    }

    #[test]
    fn splits_non_ascii_text() {
        let text = "SELECT 'é;ü'; SELECT naïve; SELECT $é$ ; $é$;-- ça\nSELECT ö";
        assert_eq!(
            sql(text),
            ["SELECT 'é;ü'", "SELECT naïve", "SELECT $é$ ; $é$", "SELECT ö"]
        );
    }

    #[test]
    fn splits_large_inputs_in_linear_time() {
        let text = "INSERT INTO t VALUES (1, 'a;b', $$c$$); -- x\n".repeat(20_000);
        let start = std::time::Instant::now();
        let pieces = split(&text);
        assert_eq!(pieces.len(), 40_000);
        let unterminated = format!("SELECT '{}", "x;".repeat(1_000_000));
        assert_eq!(split(&unterminated).len(), 1);
        let dollars = "$a".repeat(500_000);
        split(&dollars);
        assert!(start.elapsed().as_secs() < 10);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        const FRAGMENTS: &[&str] = &[
            ";",
            "'",
            "''",
            "$$",
            "$a$",
            "$1",
            "$",
            "--",
            "/*",
            "*/",
            "\n",
            "\r\n",
            "\r",
            "E'",
            "e'",
            "\\",
            "\\set x",
            "\"",
            "BEGIN ATOMIC",
            "BEGIN",
            "CASE",
            "END",
            "SELECT",
            "x",
            " ",
            "é",
            "日本",
            "-- +goose StatementBegin",
            "-- +goose StatementEnd",
            "-- migrate:down",
        ];

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn splits_any_soup_without_panicking(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..60)) {
                let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
                check(&text)?;
            }

            #[test]
            fn splits_any_string_without_panicking(text in "\\PC*") {
                check(&text)?;
            }
        }

        fn check(text: &str) -> Result<(), TestCaseError> {
            let pieces = split(text);
            let mut last_start = 0;
            let mut last_sql_end = 0;
            for p in &pieces {
                prop_assert!(p.span.start <= p.span.end && p.span.end <= text.len());
                prop_assert!(text.is_char_boundary(p.span.start) && text.is_char_boundary(p.span.end));
                prop_assert!(p.span.start >= last_start);
                last_start = p.span.start;
                if p.kind == PieceKind::Sql {
                    prop_assert!(p.span.start >= last_sql_end);
                    prop_assert!(p.span.end > p.span.start);
                    last_sql_end = p.span.end;
                }
            }
            Ok(())
        }
    }
}
