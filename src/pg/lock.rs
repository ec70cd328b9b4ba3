//! Table-level lock modes and what each one blocks.
//!
//! See <https://www.postgresql.org/docs/current/explicit-locking.html>, table 13.2.

use serde::Serialize;
use std::fmt;

/// A table-level lock mode, weakest first, as listed in the PostgreSQL docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

/// What ordinary application traffic a lock stops, for messages and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blocks {
    /// `SELECT` as well as `INSERT`/`UPDATE`/`DELETE`.
    ReadsAndWrites,
    /// `INSERT`/`UPDATE`/`DELETE` (and `SELECT … FOR UPDATE` for EXCLUSIVE).
    Writes,
    /// Only other DDL, `VACUUM`/autovacuum, `ANALYZE`, `CREATE INDEX CONCURRENTLY`.
    DdlOnly,
    /// Only `ACCESS EXCLUSIVE` requests (and for ROW EXCLUSIVE, table-wide write locks).
    Nothing,
}

impl LockMode {
    /// Every mode, weakest first.
    pub const ALL: [LockMode; 8] = [
        LockMode::AccessShare,
        LockMode::RowShare,
        LockMode::RowExclusive,
        LockMode::ShareUpdateExclusive,
        LockMode::Share,
        LockMode::ShareRowExclusive,
        LockMode::Exclusive,
        LockMode::AccessExclusive,
    ];

    /// The name `pg_locks.mode` uses, e.g. `AccessExclusiveLock`.
    pub fn pg_locks_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "AccessShareLock",
            LockMode::RowShare => "RowShareLock",
            LockMode::RowExclusive => "RowExclusiveLock",
            LockMode::ShareUpdateExclusive => "ShareUpdateExclusiveLock",
            LockMode::Share => "ShareLock",
            LockMode::ShareRowExclusive => "ShareRowExclusiveLock",
            LockMode::Exclusive => "ExclusiveLock",
            LockMode::AccessExclusive => "AccessExclusiveLock",
        }
    }

    /// Parses a `pg_locks.mode` value.
    pub fn from_pg_locks_name(name: &str) -> Option<LockMode> {
        LockMode::ALL.into_iter().find(|m| m.pg_locks_name() == name)
    }

    /// Parses the words of `LOCK TABLE … IN <mode> MODE`, case-insensitively.
    pub fn from_sql_words(words: &str) -> Option<LockMode> {
        let norm = words
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        LockMode::ALL.into_iter().find(|m| m.sql_name() == norm)
    }

    /// The SQL spelling, e.g. `ACCESS EXCLUSIVE`.
    pub fn sql_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// Whether two modes conflict (PostgreSQL docs, table 13.2).
    pub fn conflicts_with(self, other: LockMode) -> bool {
        use LockMode::*;
        let conflicts: &[LockMode] = match self {
            AccessShare => &[AccessExclusive],
            RowShare => &[Exclusive, AccessExclusive],
            RowExclusive => &[Share, ShareRowExclusive, Exclusive, AccessExclusive],
            ShareUpdateExclusive => &[
                ShareUpdateExclusive,
                Share,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
            Share => &[
                RowExclusive,
                ShareUpdateExclusive,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
            ShareRowExclusive => &[
                RowExclusive,
                ShareUpdateExclusive,
                Share,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
            Exclusive => &[
                RowShare,
                RowExclusive,
                ShareUpdateExclusive,
                Share,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
            AccessExclusive => &LockMode::ALL,
        };
        conflicts.contains(&other)
    }

    /// What application traffic this lock blocks while held or waited for.
    pub fn blocks(self) -> Blocks {
        if self.conflicts_with(LockMode::AccessShare) {
            Blocks::ReadsAndWrites
        } else if self.conflicts_with(LockMode::RowExclusive) {
            Blocks::Writes
        } else if self.conflicts_with(LockMode::ShareUpdateExclusive) {
            Blocks::DdlOnly
        } else {
            Blocks::Nothing
        }
    }
}

/// Serialised as its SQL spelling, e.g. `"ACCESS EXCLUSIVE"`.
impl Serialize for LockMode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.sql_name())
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

impl Blocks {
    /// Human wording, e.g. `blocks reads and writes`.
    pub fn describe(self) -> &'static str {
        match self {
            Blocks::ReadsAndWrites => "blocks reads and writes",
            Blocks::Writes => "blocks writes",
            Blocks::DdlOnly => "blocks DDL, VACUUM and concurrent index builds only",
            Blocks::Nothing => "blocks no ordinary traffic",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_matrix_is_symmetric() {
        for a in LockMode::ALL {
            for b in LockMode::ALL {
                assert_eq!(a.conflicts_with(b), b.conflicts_with(a), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn blocks_follow_the_docs() {
        assert_eq!(LockMode::AccessExclusive.blocks(), Blocks::ReadsAndWrites);
        assert_eq!(LockMode::Exclusive.blocks(), Blocks::Writes);
        assert_eq!(LockMode::Share.blocks(), Blocks::Writes);
        assert_eq!(LockMode::ShareRowExclusive.blocks(), Blocks::Writes);
        assert_eq!(LockMode::ShareUpdateExclusive.blocks(), Blocks::DdlOnly);
        assert_eq!(LockMode::RowExclusive.blocks(), Blocks::Nothing);
    }

    #[test]
    fn parses_lock_table_words() {
        assert_eq!(
            LockMode::from_sql_words("access  exclusive"),
            Some(LockMode::AccessExclusive)
        );
        assert_eq!(
            LockMode::from_sql_words("SHARE ROW EXCLUSIVE"),
            Some(LockMode::ShareRowExclusive)
        );
        assert_eq!(LockMode::from_sql_words("bogus"), None);
    }
}
