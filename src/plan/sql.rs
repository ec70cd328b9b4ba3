//! Building SQL from safe fragments only.
//!
//! Generated SQL is assembled from keywords (`&'static str`, written in this
//! crate), quoted identifiers ([`Ident`], [`QualifiedName`]), string literals
//! quoted here ([`literal`]) and verbatim slices of the user's own file
//! ([`SourceSlice`]). A user's text can enter only as a source slice, which
//! is exactly what PostgreSQL will parse back, or as an identifier, which is
//! always quoted correctly, so no name can inject SQL.

use crate::pg::{Ident, QualifiedName};
use crate::source::Span;

/// A verbatim slice of a migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSlice<'a>(&'a str);

impl<'a> SourceSlice<'a> {
    /// The text `span` covers in `text`.
    pub fn new(text: &'a str, span: Span) -> SourceSlice<'a> {
        SourceSlice(span.slice(text))
    }

    /// The slice's text.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Text taken from the user's file with whole clauses removed (see
    /// [`crate::parse::slices::without`]): still the user's own bytes.
    pub fn derived(text: &'a str) -> SourceSlice<'a> {
        SourceSlice(text)
    }

    /// The same slice without surrounding whitespace.
    pub fn trimmed(self) -> SourceSlice<'a> {
        SourceSlice(self.0.trim())
    }
}

/// A SQL text under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sql(String);

impl Sql {
    /// Starts with a keyword sequence.
    pub fn kw(words: &'static str) -> Sql {
        Sql(words.to_string())
    }

    /// Appends keywords, separated by a space.
    pub fn then(mut self, words: &'static str) -> Sql {
        self.space();
        self.0.push_str(words);
        self
    }

    /// Appends text with no space before it (punctuation such as `)`).
    pub fn glue(mut self, punctuation: &'static str) -> Sql {
        self.0.push_str(punctuation);
        self
    }

    /// Appends a quoted identifier.
    pub fn ident(mut self, ident: &Ident) -> Sql {
        self.space();
        self.0.push_str(&ident.to_string());
        self
    }

    /// Appends a quoted, possibly qualified, name.
    pub fn name(mut self, name: &QualifiedName) -> Sql {
        self.space();
        self.0.push_str(&name.to_string());
        self
    }

    /// Appends identifiers separated by commas.
    pub fn idents(mut self, idents: &[Ident]) -> Sql {
        self.space();
        let list: Vec<String> = idents.iter().map(Ident::to_string).collect();
        self.0.push_str(&list.join(", "));
        self
    }

    /// Appends a verbatim slice of the user's file.
    pub fn slice(mut self, slice: SourceSlice<'_>) -> Sql {
        self.space();
        self.0.push_str(slice.as_str());
        self
    }

    /// Appends a string literal (single quotes, inner quotes doubled).
    pub fn literal(mut self, value: &str) -> Sql {
        self.space();
        self.0.push_str(&literal(value));
        self
    }

    /// Appends another piece of SQL.
    pub fn sql(mut self, other: &Sql) -> Sql {
        self.space();
        self.0.push_str(&other.0);
        self
    }

    fn space(&mut self) {
        if !self.0.is_empty() && !self.0.ends_with([' ', '(', '\n', '.']) {
            self.0.push(' ');
        }
    }

    /// The finished text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A standard SQL string literal for `value`.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `to_regclass('<name>')`: the relation's oid, or NULL when it does not exist.
pub fn regclass(name: &QualifiedName) -> Sql {
    Sql::kw("to_regclass(").literal(&name.to_string()).glue(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_everything_from_users() {
        let table = QualifiedName {
            schema: Some(Ident::new("My Schema")),
            name: Ident::new("x\"; DROP TABLE y; --"),
        };
        let sql = Sql::kw("ALTER TABLE")
            .name(&table)
            .then("DROP CONSTRAINT")
            .ident(&Ident::new("order"));
        assert_eq!(
            sql.as_str(),
            "ALTER TABLE \"My Schema\".\"x\"\"; DROP TABLE y; --\" DROP CONSTRAINT \"order\""
        );
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(
            regclass(&table).as_str(),
            "to_regclass('\"My Schema\".\"x\"\"; DROP TABLE y; --\"')"
        );
    }
}

/// A dollar-quote tag `$base$` (or `$base1$`, `$base2$`, …) that does not
/// occur in `body`, so the body can be quoted with it verbatim.
pub fn dollar_tag(base: &str, body: &str) -> String {
    (0..)
        .map(|n| {
            if n == 0 {
                format!("${base}$")
            } else {
                format!("${base}{n}$")
            }
        })
        .find(|tag| !body.contains(tag.as_str()))
        .expect("some numbered tag is not in the body")
}

/// `SELECT (a) OR (b)` of two boolean queries.
pub fn either(a: &Sql, b: &Sql) -> Sql {
    Sql::kw("SELECT (").sql(a).glue(") OR (").sql(b).glue(")")
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn dollar_tags_avoid_the_body() {
        assert_eq!(dollar_tag("swap", "BEGIN END"), "$swap$");
        assert_eq!(dollar_tag("swap", "x $swap$ y $swap1$"), "$swap2$");
    }
}
