//! SQL identifiers as PostgreSQL resolves them, and their correct quoting.
//!
//! An [`Ident`] holds the *folded* name (unquoted names are lower-cased, quoted
//! ones kept exactly), so `Users` and `users` are the same table while `"Users"`
//! is another. Its `Display` is always valid SQL: it quotes whenever the name is
//! not a plain lower-case identifier or is a reserved word, doubling inner quotes.

use serde::Serialize;
use std::fmt;

/// One identifier, folded the way PostgreSQL folds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Ident(Box<str>);

/// Words that must be quoted when used as a column or table name
/// (PostgreSQL's reserved key words, Appendix C of the docs).
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

impl Ident {
    /// An identifier whose folded value is exactly `name` (as if it had been quoted).
    pub fn new(name: impl Into<String>) -> Ident {
        Ident(name.into().into_boxed_str())
    }

    /// Folds an identifier as written in SQL: `"Foo"` keeps its case (with `""`
    /// unescaped), a bare `Foo` becomes `foo`.
    pub fn from_sql(written: &str) -> Ident {
        let mut name = if let Some(inner) = written.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            inner.replace("\"\"", "\"")
        } else {
            written.to_lowercase()
        };
        // PostgreSQL keeps the first 63 bytes of a longer name.
        if name.len() > 63 {
            let mut cut = 63;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            name.truncate(cut);
        }
        Ident(name.into_boxed_str())
    }

    /// The folded name, unquoted: what `pg_class.relname` holds.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A name derived from parts, e.g. `orders_user_id_not_null`, kept within
    /// PostgreSQL's 63-byte identifier limit. When the joined name is too long
    /// it is cut on a character boundary and ends in a short stable hash of the
    /// full name, so two different long inputs stay distinct.
    pub fn derived(parts: &[&str]) -> Ident {
        const MAX: usize = 63;
        let full = parts.join("_");
        if full.len() <= MAX {
            return Ident(full.into_boxed_str());
        }
        let hash = fnv1a(full.as_bytes());
        let suffix = format!("_{:08x}", hash as u32);
        let mut cut = MAX - suffix.len();
        while !full.is_char_boundary(cut) {
            cut -= 1;
        }
        Ident(format!("{}{}", &full[..cut], suffix).into_boxed_str())
    }

    fn needs_quotes(&self) -> bool {
        let s = &*self.0;
        let mut chars = s.chars();
        let plain_start = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_');
        let plain_rest = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
        !(plain_start && plain_rest) || RESERVED.binary_search(&s).is_ok()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The name PostgreSQL gives an object it names itself (`makeObjectName`):
/// `name1_name2_label`, the longer of `name1` and `name2` shortened a byte at
/// a time (on a character boundary) until the whole fits in 63 bytes.
pub fn object_name(name1: &str, name2: Option<&str>, label: &str) -> Ident {
    const MAX: usize = 63;
    let overhead = usize::from(name2.is_some()) + label.len() + 1;
    let avail = MAX.saturating_sub(overhead);
    let (mut n1, mut n2) = (name1.len(), name2.map_or(0, str::len));
    while n1 + n2 > avail {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    let clip = |s: &str, mut n: usize| {
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s[..n].to_string()
    };
    let mut name = clip(name1, n1);
    if let Some(name2) = name2 {
        name.push('_');
        name.push_str(&clip(name2, n2));
    }
    name.push('_');
    name.push_str(label);
    Ident(name.into_boxed_str())
}

/// The column part of a name PostgreSQL chooses for an index
/// (`ChooseIndexNameAddition`): the column names joined by `_`, cut once
/// it reaches 64 bytes.
pub fn index_name_addition(columns: &[&str]) -> String {
    let mut out = String::new();
    for column in columns {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(column);
        if out.len() >= 64 {
            break;
        }
    }
    out
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.needs_quotes() {
            write!(f, "\"{}\"", self.0.replace('"', "\"\""))
        } else {
            f.write_str(&self.0)
        }
    }
}

/// A possibly schema-qualified relation name. Serialised as its SQL
/// spelling (`public."Users"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedName {
    /// The schema, when the statement named one.
    pub schema: Option<Ident>,
    /// The relation name.
    pub name: Ident,
}

impl QualifiedName {
    /// An unqualified name.
    pub fn bare(name: Ident) -> QualifiedName {
        QualifiedName { schema: None, name }
    }

    /// The key the schema model uses: unqualified names resolve to `public`,
    /// the schema a default `search_path` creates tables in.
    pub fn key(&self) -> (String, String) {
        (self.resolved_schema().to_string(), self.name.as_str().to_string())
    }

    /// The schema the name resolves to: its own, or `public`.
    pub fn resolved_schema(&self) -> &str {
        self.schema.as_ref().map_or("public", Ident::as_str)
    }

    /// Whether both names denote the same relation (`t` and `public.t` do):
    /// [`QualifiedName::key`] equality without building the keys.
    pub fn same(&self, other: &QualifiedName) -> bool {
        self.name == other.name && self.resolved_schema() == other.resolved_schema()
    }
}

impl Serialize for QualifiedName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_list_is_sorted_for_binary_search() {
        let mut sorted = RESERVED.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, RESERVED);
    }

    #[test]
    fn folds_like_postgres() {
        assert_eq!(Ident::from_sql("Users").as_str(), "users");
        assert_eq!(Ident::from_sql("\"Users\"").as_str(), "Users");
        assert_eq!(Ident::from_sql("\"a\"\"b\"").as_str(), "a\"b");
    }

    #[test]
    fn quotes_when_needed() {
        assert_eq!(Ident::new("users").to_string(), "users");
        assert_eq!(Ident::new("Users").to_string(), "\"Users\"");
        assert_eq!(Ident::new("order").to_string(), "\"order\"");
        assert_eq!(
            Ident::new("x\"; DROP TABLE y; --").to_string(),
            "\"x\"\"; DROP TABLE y; --\""
        );
        assert_eq!(Ident::new("1abc").to_string(), "\"1abc\"");
        assert_eq!(Ident::new("näme").to_string(), "\"näme\"");
    }

    #[test]
    fn derived_names_fit_in_63_bytes_and_stay_distinct() {
        let long = "a".repeat(60);
        let a = Ident::derived(&[&long, "x", "not_null"]);
        let b = Ident::derived(&[&long, "y", "not_null"]);
        assert!(a.as_str().len() <= 63);
        assert_ne!(a, b);
        let uni = "é".repeat(40);
        assert!(Ident::derived(&[&uni, "nn"]).as_str().len() <= 63);
        assert_eq!(Ident::derived(&["t", "c", "nn"]).as_str(), "t_c_nn");
    }
}
