//! sqlparser's tokens, faster: a byte-level lexer for the shapes migrations
//! are made of, giving exactly the tokens (and spans) sqlparser's own
//! tokenizer gives for the PostgreSQL dialect, and handing anything else to
//! that tokenizer.
//!
//! sqlparser's tokenizer walks `Peekable<Chars>` one character at a time,
//! grows each word's `String` a character at a time and upper-cases every
//! character of a word at each step of its keyword search. On migration
//! files that is more than half of sqlparser's whole parse time. Here a word
//! is one slice copied once, a string or comment is found with `memchr`, and
//! keywords are looked up in a hash table.
//!
//! What is read here: ASCII words and keywords, `"quoted"` identifiers,
//! `'strings'` (with `''`), `$$`/`$tag$` strings and `$1` placeholders,
//! integers and decimals, `--` and nested `/* */` comments, spaces, tabs and
//! newlines (`\r\n` too), the punctuation `( ) [ ] { } , ; . : :: :=` and
//! the operators `+ - * / % = == => != <> < <= > >= || -> ->>`. Anything else
//! stops the fast path and the whole statement goes to sqlparser's
//! tokenizer: non-ASCII outside quotes, comments and strings, other
//! operators (and the ones above followed by another operator character,
//! where sqlparser builds a custom operator), `E'…'`/`B'…'`/`X'…'`/`N'…'`/
//! `U&'…'` prefixes, numbers with an exponent, a radix or `_`,
//! unterminated quotes or comments (so errors are sqlparser's own), and the
//! keyword `COPY` (sqlparser captures the inline data of `COPY … FROM STDIN`).
//!
//! `tests::same_tokens_as_sqlparser` checks the output against sqlparser's
//! on every statement of the real-migration corpus and the examples, and a property
//! test does on generated SQL-like text.

use super::tokens::Tok;
use sqlparser::ast::DollarQuotedString;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::{Keyword, ALL_KEYWORDS, ALL_KEYWORDS_INDEX};
use sqlparser::tokenizer::{
    Location, Span, Token, TokenWithSpan, Tokenizer, TokenizerError, Whitespace, Word,
};
use std::sync::OnceLock;

/// sqlparser's tokens for `sql` with their spans (what
/// `Tokenizer::tokenize_with_location` gives), from the fast path when it
/// can read the whole statement.
pub(super) fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, TokenizerError> {
    match fast(sql) {
        Some(tokens) => Ok(tokens),
        None => slow(sql),
    }
}

/// sqlparser's own tokenizer: what the fast path leaves to it.
pub(super) fn slow(sql: &str) -> Result<Vec<TokenWithSpan>, TokenizerError> {
    Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location()
}

/// The fast path alone: `None` when `sql` holds something it leaves to
/// sqlparser's tokenizer.
pub(super) fn fast(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let mut lexer = Lexer::new(sql, Out::Spans(Vec::with_capacity(capacity(sql))));
    lexer.run()?;
    match lexer.out {
        Out::Spans(tokens) => Some(tokens),
        Out::Significant(_) => None,
    }
}

/// The fast path's tokens without whitespace and comments, each with its
/// byte range in `sql` (what [`super::tokens::tokenize`] makes of sqlparser's
/// tokens, without going through lines and columns); `None` as [`fast`].
pub(super) fn significant(sql: &str) -> Option<Vec<Tok>> {
    let mut lexer = Lexer::new(sql, Out::Significant(Vec::with_capacity(capacity(sql) / 2)));
    lexer.run()?;
    match lexer.out {
        Out::Significant(tokens) => Some(tokens),
        Out::Spans(_) => None,
    }
}

/// About one token per four bytes; capped so a huge statement grows its
/// vector instead of reserving it all up front.
fn capacity(sql: &str) -> usize {
    (sql.len() / 4).clamp(4, 4096)
}

/// What the lexer makes.
enum Out {
    /// sqlparser's tokens with its line and column spans.
    Spans(Vec<TokenWithSpan>),
    /// The significant tokens with byte spans.
    Significant(Vec<Tok>),
}

/// Characters after which sqlparser keeps reading a custom operator
/// (`PostgreSqlDialect::is_custom_operator_part`).
fn operator_part(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'<'
            | b'>'
            | b'='
            | b'~'
            | b'!'
            | b'@'
            | b'#'
            | b'%'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
    )
}

fn word_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// The keyword `word` spells, as sqlparser looks it up: case-insensitive,
/// over its [`ALL_KEYWORDS`] (here through a hash table built on first use
/// instead of a binary search that upper-cases at every step).
fn keyword(word: &str) -> Keyword {
    static TABLE: OnceLock<Vec<u16>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let size = (ALL_KEYWORDS.len() * 4).next_power_of_two();
        let mut table = vec![EMPTY; size];
        for (i, k) in ALL_KEYWORDS.iter().enumerate() {
            let mut at = hash(k.as_bytes()) & (size - 1);
            while table[at] != EMPTY {
                at = (at + 1) & (size - 1);
            }
            table[at] = u16::try_from(i).expect("fewer than 65535 keywords");
        }
        table
    });
    const EMPTY: u16 = u16::MAX;
    let word = word.as_bytes();
    let mask = table.len() - 1;
    let mut at = hash(word) & mask;
    loop {
        let i = table[at];
        if i == EMPTY {
            return Keyword::NoKeyword;
        }
        if ALL_KEYWORDS[usize::from(i)].as_bytes().eq_ignore_ascii_case(word) {
            return ALL_KEYWORDS_INDEX[usize::from(i)];
        }
        at = (at + 1) & mask;
    }
}

/// FNV-1a over the upper-cased bytes.
fn hash(word: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in word {
        h = (h ^ u64::from(b.to_ascii_uppercase())).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as usize
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// sqlparser's location of `pos`: 1-based line, 1-based column counted
    /// in characters.
    line: u64,
    col: u64,
    /// Where the token being read starts.
    token_start: usize,
    out: Out,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str, out: Out) -> Lexer<'a> {
        Lexer {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            line: 1,
            col: 1,
            token_start: 0,
            out,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn location(&self) -> Location {
        Location {
            line: self.line,
            column: self.col,
        }
    }

    /// Moves to `end` over text that may hold newlines and non-ASCII
    /// characters, keeping line and column as sqlparser counts them.
    fn advance_to(&mut self, end: usize) {
        for &b in &self.bytes[self.pos..end] {
            if b == b'\n' {
                self.line += 1;
                self.col = 1;
            } else if b & 0xC0 != 0x80 {
                self.col += 1;
            }
        }
        self.pos = end;
    }

    /// Moves over `n` ASCII bytes that hold no newline.
    fn skip(&mut self, n: usize) {
        self.pos += n;
        self.col += n as u64;
    }

    fn push(&mut self, start: Location, token: Token) {
        let end = self.location();
        match &mut self.out {
            Out::Spans(tokens) => tokens.push(TokenWithSpan {
                token,
                span: Span::new(start, end),
            }),
            Out::Significant(_) if matches!(token, Token::Whitespace(_)) => {}
            Out::Significant(tokens) => tokens.push(Tok {
                token,
                span: crate::source::Span::new(self.token_start, self.pos),
            }),
        }
    }

    /// One ASCII token of `n` bytes.
    fn simple(&mut self, n: usize, token: Token) {
        let start = self.location();
        self.skip(n);
        self.push(start, token);
    }

    fn run(&mut self) -> Option<()> {
        while let Some(b) = self.peek(0) {
            self.token_start = self.pos;
            let next = self.peek(1);
            match b {
                b' ' => self.simple(1, Token::Whitespace(Whitespace::Space)),
                b'\t' => self.simple(1, Token::Whitespace(Whitespace::Tab)),
                b'\n' | b'\r' => {
                    let start = self.location();
                    let end = self.pos + if b == b'\r' && next == Some(b'\n') { 2 } else { 1 };
                    self.advance_to(end);
                    self.push(start, Token::Whitespace(Whitespace::Newline));
                }
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => self.word()?,
                b'"' => self.quoted_identifier()?,
                b'\'' => self.string()?,
                b'0'..=b'9' => self.number()?,
                b'$' => self.dollar()?,
                b'-' if next == Some(b'-') => self.line_comment(),
                b'/' if next == Some(b'*') => self.block_comment()?,
                b'(' => self.simple(1, Token::LParen),
                b')' => self.simple(1, Token::RParen),
                b'[' => self.simple(1, Token::LBracket),
                b']' => self.simple(1, Token::RBracket),
                b'{' => self.simple(1, Token::LBrace),
                b'}' => self.simple(1, Token::RBrace),
                b',' => self.simple(1, Token::Comma),
                b';' => self.simple(1, Token::SemiColon),
                b'+' => self.simple(1, Token::Plus),
                b'*' => self.simple(1, Token::Mul),
                b'/' => self.simple(1, Token::Div),
                // `.5` is a number and `t._x` needs the previous token.
                b'.' if !next.is_some_and(|n| n.is_ascii_digit() || n == b'_') => {
                    self.simple(1, Token::Period)
                }
                b':' => match next {
                    Some(b':') => self.simple(2, Token::DoubleColon),
                    Some(b'=') => self.simple(2, Token::Assignment),
                    _ => self.simple(1, Token::Colon),
                },
                b'=' | b'!' | b'<' | b'>' | b'-' | b'|' | b'%' => self.operator()?,
                _ => return None,
            }
        }
        Some(())
    }

    /// The comparison, arithmetic, concatenation and JSON operators, as
    /// sqlparser reads them: most of them, when another operator character
    /// follows, become a custom operator, which is left to sqlparser.
    fn operator(&mut self) -> Option<()> {
        let (b, next, third) = (self.bytes[self.pos], self.peek(1), self.peek(2));
        // (length, token, whether operator characters that follow extend it)
        let (len, token, extended) = match (b, next, third) {
            (b'=', Some(b'>'), _) => (2, Token::RArrow, false),
            (b'=', Some(b'='), _) => (2, Token::DoubleEq, false),
            (b'=', _, _) => (1, Token::Eq, false),
            (b'!', Some(b'='), _) => (2, Token::Neq, false),
            (b'<', Some(b'='), Some(b'+' | b'-')) => (2, Token::LtEq, false),
            (b'<', Some(b'='), _) => (2, Token::LtEq, true),
            (b'<', Some(b'>'), _) => (2, Token::Neq, true),
            (b'>', Some(b'='), _) => (2, Token::GtEq, true),
            (b'-', Some(b'>'), Some(b'>')) => (3, Token::LongArrow, true),
            (b'-', Some(b'>'), _) => (2, Token::Arrow, true),
            (b'|', Some(b'|'), _) if third != Some(b'/') => (2, Token::StringConcat, true),
            (b'<', _, _) => (1, Token::Lt, true),
            (b'>', _, _) => (1, Token::Gt, true),
            (b'-', _, _) => (1, Token::Minus, true),
            (b'%', _, _) => (1, Token::Mod, true),
            _ => return None,
        };
        if extended && self.peek(len).is_some_and(operator_part) {
            return None;
        }
        self.simple(len, token);
        Some(())
    }

    fn word(&mut self) -> Option<()> {
        let start = self.pos;
        // `E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'` and their kin are literals.
        if matches!(
            self.bytes[start],
            b'b' | b'B' | b'e' | b'E' | b'n' | b'N' | b'q' | b'Q' | b'r' | b'R' | b'u' | b'U' | b'x' | b'X'
        ) && matches!(self.peek(1), Some(b'\'' | b'"' | b'&'))
        {
            return None;
        }
        let mut end = start + 1;
        while end < self.bytes.len() && word_part(self.bytes[end]) {
            end += 1;
        }
        // A non-ASCII character continues a PostgreSQL identifier.
        if end < self.bytes.len() && !self.bytes[end].is_ascii() {
            return None;
        }
        let value = &self.text[start..end];
        let keyword = keyword(value);
        // `COPY … FROM STDIN` is followed by inline data.
        if keyword == Keyword::COPY {
            return None;
        }
        let location = self.location();
        self.skip(end - start);
        self.push(
            location,
            Token::Word(Word {
                value: value.to_string(),
                quote_style: None,
                keyword,
            }),
        );
        Some(())
    }

    /// The text between `quote` at `pos` and its closing `quote`, a doubled
    /// quote standing for one; `None` if it is not closed. Moves past it.
    fn quoted(&mut self, quote: u8) -> Option<String> {
        let open = self.pos + 1;
        let mut value = String::new();
        let mut from = open;
        let close = loop {
            let at = from + memchr::memchr(quote, &self.bytes[from..])?;
            if self.bytes.get(at + 1) == Some(&quote) {
                value.push_str(&self.text[from..=at]);
                from = at + 2;
            } else {
                break at;
            }
        };
        if from == open {
            value = self.text[open..close].to_string();
        } else {
            value.push_str(&self.text[from..close]);
        }
        self.advance_to(close + 1);
        Some(value)
    }

    fn quoted_identifier(&mut self) -> Option<()> {
        let start = self.location();
        let value = self.quoted(b'"')?;
        self.push(
            start,
            Token::Word(Word {
                value,
                quote_style: Some('"'),
                keyword: Keyword::NoKeyword,
            }),
        );
        Some(())
    }

    fn string(&mut self) -> Option<()> {
        let start = self.location();
        let value = self.quoted(b'\'')?;
        self.push(start, Token::SingleQuotedString(value));
        Some(())
    }

    /// An integer or a decimal (`12`, `1.5`, `1.`). Exponents, radix
    /// prefixes, `_` separators and a letter or a second `.` right after the
    /// number are left to sqlparser.
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let digits = |mut at: usize| {
            while at < self.bytes.len() && self.bytes[at].is_ascii_digit() {
                at += 1;
            }
            at
        };
        let mut end = digits(start);
        if self.bytes.get(end) == Some(&b'.') {
            end = digits(end + 1);
        }
        if self
            .bytes
            .get(end)
            .is_some_and(|&b| b == b'.' || b == b'_' || b.is_ascii_alphabetic() || !b.is_ascii())
        {
            return None;
        }
        let location = self.location();
        self.skip(end - start);
        self.push(location, Token::Number(self.text[start..end].to_string(), false));
        Some(())
    }

    /// `$$…$$`, `$tag$…$tag$` (up to the first closing delimiter) or a
    /// `$name` placeholder.
    fn dollar(&mut self) -> Option<()> {
        let start = self.location();
        let mut tag_end = self.pos + 1;
        while tag_end < self.bytes.len()
            && (self.bytes[tag_end].is_ascii_alphanumeric() || self.bytes[tag_end] == b'_')
        {
            tag_end += 1;
        }
        let tag = &self.text[self.pos + 1..tag_end];
        match self.bytes.get(tag_end) {
            Some(b'$') => {
                let body = tag_end + 1;
                let delimiter = &self.text[self.pos..=tag_end];
                let close = body + memchr::memmem::find(&self.bytes[body..], delimiter.as_bytes())?;
                let token = Token::DollarQuotedString(DollarQuotedString {
                    value: self.text[body..close].to_string(),
                    tag: (!tag.is_empty()).then(|| tag.to_string()),
                });
                self.advance_to(close + delimiter.len());
                self.push(start, token);
            }
            // A non-ASCII letter or digit would continue the name.
            Some(b) if !b.is_ascii() => return None,
            _ => {
                let token = Token::Placeholder(format!("${tag}"));
                self.skip(tag_end - self.pos);
                self.push(start, token);
            }
        }
        Some(())
    }

    /// `-- …` up to (not including) the end of the line.
    fn line_comment(&mut self) {
        let start = self.location();
        let body = self.pos + 2;
        let end = memchr::memchr2(b'\n', b'\r', &self.bytes[body..]).map_or(self.bytes.len(), |i| body + i);
        let comment = self.text[body..end].to_string();
        self.advance_to(end);
        self.push(
            start,
            Token::Whitespace(Whitespace::SingleLineComment {
                comment,
                prefix: "--".to_owned(),
            }),
        );
    }

    /// `/* … */`, nested; `None` if it is not closed.
    fn block_comment(&mut self) -> Option<()> {
        let start = self.location();
        let body = self.pos + 2;
        let mut at = body;
        let mut depth = 1;
        let close = loop {
            at += memchr::memchr2(b'/', b'*', &self.bytes[at..])?;
            match (self.bytes[at], self.bytes.get(at + 1)) {
                (b'/', Some(b'*')) => {
                    depth += 1;
                    at += 2;
                }
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    if depth == 0 {
                        break at;
                    }
                    at += 2;
                }
                _ => at += 1,
            }
        };
        let comment = self.text[body..close].to_string();
        self.advance_to(close + 2);
        self.push(start, Token::Whitespace(Whitespace::MultiLineComment(comment)));
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::{fast, keyword, significant, Keyword, Token, Tokenizer, ALL_KEYWORDS, ALL_KEYWORDS_INDEX};
    use proptest::prelude::*;
    use sqlparser::dialect::{Dialect, PostgreSqlDialect};

    fn sqlparser(
        sql: &str,
    ) -> Result<Vec<sqlparser::tokenizer::TokenWithSpan>, sqlparser::tokenizer::TokenizerError> {
        Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location()
    }

    /// The fast path either leaves `sql` to sqlparser or gives exactly its
    /// tokens and spans, and the significant tokens with the byte ranges
    /// `tokens::significant` finds for them. Returns whether it read `sql`.
    fn check(sql: &str) -> bool {
        let ours = fast(sql);
        assert_eq!(ours.is_some(), significant(sql).is_some(), "{sql:?}");
        let Some(ours) = ours else {
            return false;
        };
        match sqlparser(sql) {
            Ok(theirs) => {
                assert_eq!(ours, theirs, "tokens differ for {sql:?}");
                let located = crate::parse::tokens::significant(sql, theirs);
                assert_eq!(significant(sql), Some(located), "byte spans differ for {sql:?}");
            }
            Err(e) => panic!("sqlparser rejects {sql:?} ({e}) but the fast path read it"),
        }
        true
    }

    #[test]
    fn keywords_are_found_as_sqlparser_finds_them() {
        // sqlparser's own lookup, through its public `make_word`.
        let theirs = |word: &str| match Token::make_word(word, None) {
            Token::Word(w) => w.keyword,
            other => panic!("{other:?}"),
        };
        for (k, kw) in ALL_KEYWORDS.iter().zip(ALL_KEYWORDS_INDEX) {
            assert_eq!(keyword(k), *kw, "{k}");
            assert_eq!(
                keyword(&k.to_ascii_lowercase()),
                theirs(&k.to_ascii_lowercase()),
                "{k}"
            );
        }
        for word in ["", "x", "selectx", "SELEC", "table_", "ÜBER"] {
            assert_eq!(keyword(word), Keyword::NoKeyword, "{word}");
            assert_eq!(theirs(word), Keyword::NoKeyword, "{word}");
        }
    }

    #[test]
    fn dialect_is_as_the_fast_path_assumes() {
        // The fast path copies behaviour that depends on these settings.
        let d = PostgreSqlDialect {};
        assert!(!d.supports_literal_prefix_in_qualified_name());
        assert!(!d.supports_tuple_element_access());
        assert!(!d.supports_numeric_prefix());
        assert!(!d.supports_string_literal_backslash_escape());
        assert!(!d.supports_triple_quoted_string());
        assert!(!d.supports_dollar_placeholder());
        assert!(!d.supports_multiline_comment_hints());
        assert!(!d.requires_single_line_comment_whitespace());
        assert!(d.supports_nested_comments());
    }

    #[test]
    fn same_tokens_as_sqlparser() {
        let extra = [
            "SELECT 1",
            "CREATE TABLE \"Odd \"\"name\"\"\" (id bigint, \"Ü\" text)",
            "COMMENT ON TABLE t IS 'it''s ''quoted'''",
            "SELECT $1, $a, $ , $$a$b$$, $x$ $$ $x$, $$$$, $$a$$$",
            "-- comment\r\nSELECT 1 /* a /* nested */ comment */ -- end",
            "SELECT 'multi\nline ü', \"ü\"\"x\"\n, 2",
            "SELECT a::int, b := 1, c:d, x.y, t.* FROM s.t WHERE a <> 1 AND b >= 2 OR c < -3",
            "SELECT 'unterminated",
            "SELECT \"unterminated",
            "SELECT /* unterminated",
            "SELECT $$unterminated",
            "SELECT 1.5, 1e5, 0x1F, 1_000, .5, t._x",
            "SELECT E'\\n', B'101', X'ff', N'x', U&'x'",
            "COPY t FROM STDIN;\n1\n\\.",
            "select ünïcode",
            "UPDATE t SET a = a + 1 - 2 * 3 / 4",
            "SELECT a||b, a->>'k', a @> b, a ~ 'x'",
            "\t\r\r\n",
        ];
        let mut read = 0;
        for sql in extra {
            read += usize::from(check(sql));
        }
        let statements = crate::parse::corpus::statements();
        let mut read_corpus = 0;
        for sql in &statements {
            read_corpus += usize::from(check(sql));
        }
        assert!(read >= 8, "fast path read {read} of the hand-written cases");
        // Most real statements take the fast path.
        assert!(
            read_corpus * 10 >= statements.len() * 8,
            "fast path read {read_corpus} of {} corpus statements",
            statements.len()
        );
    }

    /// Pieces the fast path reads (together they may still make something
    /// it leaves to sqlparser, like `1` `.` `.`).
    const READ: &[&str] = &[
        "SELECT",
        "ab_c$1",
        "t",
        "\"Q \"\"x\"",
        "'it''s\n'",
        "''",
        "$1",
        "$$ a;$b $$",
        "$t$ $$ $t$",
        "-- c\n",
        "/* a /* b */ c */",
        "*",
        "/",
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "1",
        "0",
        "2.5",
        ".",
        "(",
        ")",
        ",",
        ";",
        ":",
        "::",
        "=",
        "-",
        "+",
        "<",
        ">",
        "<>",
        "!=",
        ">=",
        "<=",
        "||",
        "->",
        "->>",
        "%",
        "=>",
        "==",
        "ü",
        "[]",
        "{}",
    ];
    /// Pieces that stop it, or change what comes next.
    const LEFT: &[&str] = &[
        "\"", "'", "$", "$$", "$t$", "--", "/*", "*/", "copy", "e", "E", "x", "u&", "_", "!", "|", "~", "^",
        "&", "?", "—", "@", "#", "\u{a0}", "\\",
    ];

    fn pieces(set: Vec<&'static str>) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(set), 0..24).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn same_tokens_on_text_it_reads(sql in pieces(READ.to_vec())) {
            check(&sql);
        }

        #[test]
        fn same_tokens_or_left_to_sqlparser(sql in pieces([READ, LEFT].concat())) {
            check(&sql);
        }
    }
}
