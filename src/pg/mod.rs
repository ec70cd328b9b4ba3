//! Pure PostgreSQL knowledge: lock modes, server versions and identifier quoting.
//!
//! Nothing here talks to a server; these are the facts every later stage shares.

mod ident;
mod lock;
mod version;
pub mod volatility;

pub use ident::{index_name_addition, object_name, Ident, QualifiedName};
pub use lock::{Blocks, LockMode};
pub use version::PgVersion;
