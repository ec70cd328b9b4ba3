//! Finding migration files and putting them in history order.

use super::{Discovery, Error, MigrationFile, NamingScheme};
use std::path::PathBuf;

/// Finds the migrations under `paths` (stub: files only, as given).
pub fn discover(paths: &[PathBuf], _exclude: &[String]) -> Result<Discovery, Error> {
    let files = paths
        .iter()
        .map(|p| MigrationFile {
            path: p.clone(),
            version: None,
            name: String::new(),
            scheme: NamingScheme::Explicit,
        })
        .collect();
    Ok(Discovery {
        files,
        warnings: Vec::new(),
    })
}
