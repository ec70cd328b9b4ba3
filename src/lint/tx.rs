//! The transaction a statement runs in.

/// Transaction state at a statement.
#[derive(Debug, Clone, Default)]
pub struct TxState {
    /// Inside an explicit `BEGIN` block or a file the runner wraps.
    pub in_transaction: bool,
}
