//! Column types and expression volatility.

use serde::Serialize;

/// A column type, normalised: `character varying(20)` is base `varchar`, modifiers `[20]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeName {
    /// Canonical lower-case base name (`varchar`, `int4`→`integer`, …).
    pub base: String,
    /// Type modifiers such as a length or precision and scale.
    pub modifiers: Vec<u32>,
    /// `[]` array type.
    pub array: bool,
}

/// How volatile an expression is (`pg_proc.provolatile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}
