//! Statements sqlparser rejects, recognised from its tokens.

use super::StmtKind;

/// Recognises a statement from its tokens (stub).
pub(super) fn recognise(_sql: &str) -> Option<StmtKind> {
    None
}
