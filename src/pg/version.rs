//! The PostgreSQL major version a migration targets.

use serde::Serialize;
use std::fmt;

/// A PostgreSQL major version (10–18 are supported targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PgVersion(u8);

impl PgVersion {
    /// Oldest supported target.
    pub const MIN: PgVersion = PgVersion(10);
    /// Newest supported target.
    pub const MAX: PgVersion = PgVersion(18);
    /// Default target when neither `--pg-version` nor the config names one.
    pub const DEFAULT: PgVersion = PgVersion(15);
    pub const V11: PgVersion = PgVersion(11);
    pub const V12: PgVersion = PgVersion(12);
    pub const V14: PgVersion = PgVersion(14);
    pub const V18: PgVersion = PgVersion(18);

    /// Builds a version, refusing majors outside 10–18.
    pub fn new(major: u32) -> Option<PgVersion> {
        (u32::from(Self::MIN.0)..=u32::from(Self::MAX.0))
            .contains(&major)
            .then_some(PgVersion(major as u8))
    }

    /// The major version number.
    pub fn major(self) -> u32 {
        u32::from(self.0)
    }

    /// Whether the target is at least `major` (e.g. `at_least(12)`).
    pub fn at_least(self, major: u32) -> bool {
        self.major() >= major
    }
}

impl Default for PgVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_supported_majors_only() {
        assert!(PgVersion::new(9).is_none());
        assert!(PgVersion::new(19).is_none());
        assert_eq!(PgVersion::new(12).map(PgVersion::major), Some(12));
        assert!(PgVersion::new(14).unwrap().at_least(12));
        assert!(!PgVersion::new(11).unwrap().at_least(12));
    }
}
