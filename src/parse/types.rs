//! Column types and expression volatility.
//!
//! Types are normalised to PostgreSQL's canonical spelling so rules can
//! compare them: `character varying(20)` and `VARCHAR(20)` are both base
//! `varchar` with modifiers `[20]`; `int4`, `int` and `integer` are `integer`.

use serde::Serialize;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A column type, normalised. Shared: a clone is a pointer, so the schema
/// model can keep one copy of each distinct type for all its columns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeName(Arc<TypeParts>);

/// What a [`TypeName`] is made of.
#[derive(Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TypeParts {
    /// Canonical lower-case base name (`varchar`, `integer`, `timestamptz`, …),
    /// schema-qualified user types keep their written (folded) name.
    pub base: String,
    /// Type modifiers such as a length, or precision and scale.
    pub modifiers: Vec<u32>,
    /// An array type (`[]` or `ARRAY`).
    pub array: bool,
}

impl Deref for TypeName {
    type Target = TypeParts;

    fn deref(&self) -> &TypeParts {
        &self.0
    }
}

impl Serialize for TypeName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl TypeName {
    /// A type from its parts.
    pub fn new(base: String, modifiers: Vec<u32>, array: bool) -> TypeName {
        TypeName(Arc::new(TypeParts {
            base,
            modifiers,
            array,
        }))
    }

    /// Parses a type as written (`VARCHAR(20)`, `timestamp(3) with time zone`,
    /// `int[]`, `public.my_domain`).
    pub fn parse(written: &str) -> TypeName {
        let mut text = written.trim().to_lowercase();
        let mut array = false;
        while let Some(stripped) = text.strip_suffix("[]") {
            text = stripped.trim_end().to_string();
            array = true;
        }
        if let Some(stripped) = text.strip_suffix(" array") {
            text = stripped.trim_end().to_string();
            array = true;
        }
        // Pull out the modifiers `( … )`, wherever they stand
        // (`timestamp(3) with time zone` has them in the middle).
        let mut modifiers = Vec::new();
        if let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) {
            if open < close {
                modifiers = text[open + 1..close]
                    .split(',')
                    .filter_map(|m| m.trim().parse().ok())
                    .collect();
                text = format!("{} {}", &text[..open], &text[close + 1..]);
            }
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        let joined = words.join(" ");
        // `public.t` and `pg_catalog.t` name what `t` names on the default
        // search_path (pg_dump qualifies every type that is not built in).
        let joined = joined
            .strip_prefix("public.")
            .or_else(|| joined.strip_prefix("pg_catalog."))
            .unwrap_or(&joined);
        let base = canonical(joined).unwrap_or(joined).to_string();
        TypeName::new(base, modifiers, array)
    }

    /// Whether this is a `serial`-family pseudo-type (an implicit sequence default).
    pub fn is_serial(&self) -> bool {
        matches!(self.base.as_str(), "serial" | "bigserial" | "smallserial")
    }

    /// The type a serial pseudo-type stores, or the type itself.
    pub fn storage(&self) -> TypeName {
        let base = match self.base.as_str() {
            "serial" => "integer",
            "bigserial" => "bigint",
            "smallserial" => "smallint",
            _ => return self.clone(),
        };
        TypeName::new(base.to_string(), self.modifiers.clone(), self.array)
    }
}

fn canonical(name: &str) -> Option<&'static str> {
    Some(match name {
        "int" | "int4" | "integer" => "integer",
        "int8" | "bigint" => "bigint",
        "int2" | "smallint" => "smallint",
        "serial" | "serial4" => "serial",
        "bigserial" | "serial8" => "bigserial",
        "smallserial" | "serial2" => "smallserial",
        "varchar" | "character varying" | "char varying" => "varchar",
        "char" | "character" | "bpchar" => "char",
        "text" => "text",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "time" | "time without time zone" => "time",
        "timetz" | "time with time zone" => "timetz",
        "bool" | "boolean" => "boolean",
        "float8" | "double precision" | "double" => "double precision",
        "float4" | "real" => "real",
        "float" => "double precision",
        "decimal" | "numeric" | "dec" => "numeric",
        "json" => "json",
        "jsonb" => "jsonb",
        "uuid" => "uuid",
        "bytea" => "bytea",
        "date" => "date",
        "interval" => "interval",
        "inet" => "inet",
        "cidr" => "cidr",
        "citext" => "citext",
        "bit varying" | "varbit" => "varbit",
        _ => return None,
    })
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)?;
        if !self.modifiers.is_empty() {
            let mods: Vec<String> = self.modifiers.iter().map(u32::to_string).collect();
            write!(f, "({})", mods.join(","))?;
        }
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// How volatile an expression is (`pg_proc.provolatile`). Ordered, so the
/// volatility of an expression is the maximum over its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_spellings() {
        let t = TypeName::parse("CHARACTER VARYING(20)");
        assert_eq!(
            (t.base.as_str(), t.modifiers.as_slice(), t.array),
            ("varchar", &[20][..], false)
        );
        assert_eq!(TypeName::parse("int4").base, "integer");
        assert_eq!(TypeName::parse("INT").base, "integer");
        let ts = TypeName::parse("timestamp(3) with time zone");
        assert_eq!(
            (ts.base.as_str(), ts.modifiers.as_slice()),
            ("timestamptz", &[3][..])
        );
        assert_eq!(TypeName::parse("NUMERIC(10, 2)").modifiers, vec![10, 2]);
        assert!(TypeName::parse("text[]").array);
        assert_eq!(TypeName::parse("public.my_domain").base, "my_domain");
        assert_eq!(TypeName::parse("app.my_domain").base, "app.my_domain");
        assert_eq!(TypeName::parse("pg_catalog.int4").base, "integer");
        assert!(TypeName::parse("BIGSERIAL").is_serial());
        assert_eq!(TypeName::parse("serial").storage().base, "integer");
    }
}
