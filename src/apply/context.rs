//! The starting point of every command run against a database: its schema
//! read from the catalog, and the migrations its history says are applied
//! (context only: their objects are in the catalog already).

use super::history::{self, Status};
use super::ApplyError;
use crate::db::catalog::{self, Catalog};
use std::collections::HashSet;

/// A database's schema and applied history.
#[derive(Debug)]
pub struct DatabaseContext {
    pub catalog: Catalog,
    /// Ids ([`super::migration_id`]) of the migrations applied completely.
    pub applied: HashSet<String>,
}

/// Reads the catalog and the history kept in `history_schema` (none when
/// the history does not exist yet). Changes nothing.
pub fn read(client: &mut postgres::Client, history_schema: &str) -> Result<DatabaseContext, ApplyError> {
    let catalog = catalog::read(client)?;
    let applied = history::load(client, history_schema)?
        .migrations()
        .iter()
        .filter(|m| m.status == Status::Applied)
        .map(|m| m.version.clone())
        .collect();
    Ok(DatabaseContext { catalog, applied })
}
