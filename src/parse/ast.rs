//! sqlparser's AST → [`StmtKind`] facts.

use super::StmtKind;

/// Parses one statement with sqlparser (stub).
pub(super) fn parse(_sql: &str) -> Result<StmtKind, String> {
    Err("not yet".into())
}
