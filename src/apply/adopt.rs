//! Taking over another tool's history, so that switching to `migrate apply`
//! runs nothing twice: refinery's `refinery_schema_history`.
//!
//! refinery records `version INT4 PRIMARY KEY, name, applied_on, checksum`,
//! the checksum being the decimal `u64` that
//! [`refinery_core::Migration::checksum`] computes: SipHasher13 over the
//! name, the version and the file's text exactly as read (no normalising).
//! [`check`] compares every recorded row with the file of that version
//! using refinery-core itself, so a file edited since refinery ran it, or a
//! version with no file, is refused before anything is written. The
//! migrations that pass are then recorded as applied in our history
//! ([`super::history::adopt_migration`]); versions refinery never ran stay
//! pending. Reads the files and the refinery table; writes nothing itself.

use super::ApplyError;
use crate::plan::{MigrationPlan, Plan};
use crate::source::MigrationVersion;
use postgres::GenericClient;

/// A tool whose history `apply --adopt` takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopt {
    /// refinery's `refinery_schema_history`.
    Refinery,
}

/// The table refinery records its migrations in (its default name).
pub const REFINERY_TABLE: &str = "refinery_schema_history";

/// One row of `refinery_schema_history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefineryRow {
    pub version: i64,
    pub name: String,
    /// A decimal `u64`, as refinery writes it.
    pub checksum: String,
}

/// The rows of `refinery_schema_history` by version, or `None` when the
/// table does not exist.
pub fn refinery_history(client: &mut impl GenericClient) -> Result<Option<Vec<RefineryRow>>, ApplyError> {
    let failed = |e: postgres::Error| ApplyError::RefineryHistory {
        message: super::run::error_text(&e),
    };
    let exists: bool = client
        .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&REFINERY_TABLE])
        .map_err(failed)?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query(
            &format!(
                "SELECT version::int8, coalesce(name, '')::text, coalesce(checksum, '')::text \
                 FROM {REFINERY_TABLE} ORDER BY version"
            ),
            &[],
        )
        .map_err(failed)?;
    Ok(Some(
        rows.into_iter()
            .map(|r| RefineryRow {
                version: r.get(0),
                name: r.get(1),
                checksum: r.get(2),
            })
            .collect(),
    ))
}

/// The checksum refinery computes for a file: its stem (`V3__add_users`)
/// and its text exactly as on disk. `None` when refinery would not accept
/// the name.
pub fn refinery_checksum(stem: &str, raw_text: &str) -> Option<(i64, u64)> {
    let migration = refinery_core::Migration::unapplied(stem, raw_text).ok()?;
    Some((i64::from(migration.version()), migration.checksum()))
}

/// The migrations of `plan` that `rows` record, each checked against
/// refinery's checksum of its file. Refuses the whole adoption when a
/// recorded version has no file ([`ApplyError::AdoptMissing`]) or a file
/// does not match ([`ApplyError::AdoptChecksum`]).
pub fn check<'p>(plan: &'p Plan, rows: &[RefineryRow]) -> Result<Vec<&'p MigrationPlan>, ApplyError> {
    let mut adopted = Vec::with_capacity(rows.len());
    for row in rows {
        let version = u64::try_from(row.version).ok().map(|v| MigrationVersion(vec![v]));
        let Some(m) = plan
            .migrations
            .iter()
            .find(|m| m.file.version.is_some() && m.file.version == version)
        else {
            return Err(ApplyError::AdoptMissing {
                version: row.version,
                name: row.name.clone(),
            });
        };
        let path = m.file.path.display().to_string();
        let stem = m
            .file
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // refinery hashed the text as read, BOM and line endings included.
        let raw = std::fs::read_to_string(&m.file.path).map_err(|e| ApplyError::AdoptChecksum {
            path: path.clone(),
            version: row.version,
            recorded: row.checksum.clone(),
            computed: format!("unreadable: {e}"),
        })?;
        let computed = match refinery_checksum(&stem, &raw) {
            Some((v, sum)) if v == row.version => sum.to_string(),
            Some((v, _)) => format!("none: refinery reads version {v} from the name"),
            None => "none: refinery does not accept the file name".to_string(),
        };
        if computed != row.checksum.trim() {
            return Err(ApplyError::AdoptChecksum {
                path,
                version: row.version,
                recorded: row.checksum.clone(),
                computed,
            });
        }
        adopted.push(m);
    }
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_like_refinery_over_name_version_and_raw_text() {
        let (version, sum) = refinery_checksum("V3__add_users", "CREATE TABLE u ();\r\n").unwrap();
        assert_eq!(version, 3);
        let expected = refinery_core::Migration::unapplied("V3__add_users", "CREATE TABLE u ();\r\n")
            .unwrap()
            .checksum();
        assert_eq!(sum, expected);
        // Unlike ours, refinery's checksum sees line endings and names.
        assert_ne!(
            Some(sum),
            refinery_checksum("V3__add_users", "CREATE TABLE u ();\n").map(|c| c.1)
        );
        assert_ne!(
            Some(sum),
            refinery_checksum("V3__add_user", "CREATE TABLE u ();\r\n").map(|c| c.1)
        );
        assert_eq!(refinery_checksum("3_add_users", "SELECT 1;"), None);
    }
}
