//! `migrate.yaml`: the project's lint settings.
//!
//! Found in the current directory or its parents, or named with `--config`.
//! Unknown keys and unknown rule ids are errors naming what is wrong, so a
//! typo never silently changes what CI checks.

use crate::lint::{rules, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name looked for.
pub const FILE_NAME: &str = "migrate.yaml";

/// A rule's level in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Off,
    Info,
    Warning,
    Error,
}

impl Level {
    /// The severity, or `None` for `off`.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Level::Off => None,
            Level::Info => Some(Severity::Info),
            Level::Warning => Some(Severity::Warning),
            Level::Error => Some(Severity::Error),
        }
    }
}

/// The contents of `migrate.yaml`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Target PostgreSQL major version.
    pub pg_version: Option<u32>,
    /// Each file runs inside one transaction (runners that wrap files).
    pub assume_in_transaction: Option<bool>,
    /// Per-rule levels: `rules: { set-not-null: warning, prefer-text: off }`.
    #[serde(default)]
    pub rules: BTreeMap<String, Level>,
    /// Glob patterns of files not to lint.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Migration paths used when the command line names none.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// Database URL: `apply` runs against it; `lint` and `plan` read its
    /// catalog as the schema the migrations start from.
    pub database_url: Option<String>,
    /// A `pg_dump --schema-only` file: the schema `lint` and `plan` start
    /// from when no database is given (relative to the config file).
    pub schema: Option<PathBuf>,
    /// Lock findings on tables smaller than this (rows and bytes, from the
    /// catalog) are info.
    pub small_table: Option<crate::lint::SmallTable>,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: unknown rule `{id}` in `rules`{}", path.display(), suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownRule {
        path: PathBuf,
        id: String,
        suggestion: Option<String>,
    },
    #[error("{}: pg_version {version} is not supported (10–18)", path.display())]
    BadVersion { path: PathBuf, version: u32 },
}

impl Error {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            Error::Read { .. } => "check the path given to --config and its permissions",
            Error::Invalid { .. } => {
                "valid keys: pg_version, assume_in_transaction, rules, exclude, paths, database_url"
            }
            Error::UnknownRule { .. } => "`migrate rules` lists every rule id",
            Error::BadVersion { .. } => "set pg_version to a major version from 10 to 18",
        }
    }
}

/// The rule id closest to `id`, for "did you mean" hints.
pub fn closest_rule(id: &str) -> Option<String> {
    rules::ALL
        .iter()
        .map(|r| (strsim::levenshtein(id, r.id), r.id))
        .filter(|(d, _)| *d <= (id.len() / 3).max(3))
        .min()
        .map(|(_, id)| id.to_string())
}

/// Finds `migrate.yaml` in `dir` or its parents.
pub fn find(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().map(|d| d.join(FILE_NAME)).find(|p| p.is_file())
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and checks config text (`path` is for messages).
pub fn parse(path: &Path, text: &str) -> Result<Config, Error> {
    let config: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| Error::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
    };
    for id in config.rules.keys() {
        if rules::by_id(id).is_none() {
            return Err(Error::UnknownRule {
                path: path.to_path_buf(),
                id: id.clone(),
                suggestion: closest_rule(id),
            });
        }
    }
    if let Some(version) = config.pg_version {
        if crate::pg::PgVersion::new(version).is_none() {
            return Err(Error::BadVersion {
                path: path.to_path_buf(),
                version,
            });
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_key() {
        let c = parse(
            Path::new("migrate.yaml"),
            "pg_version: 12\nassume_in_transaction: true\nrules:\n  set-not-null: warning\n  whole-table-dml: off\nexclude: ['old/**']\n",
        )
        .unwrap();
        assert_eq!(c.pg_version, Some(12));
        assert_eq!(c.rules["set-not-null"], Level::Warning);
        assert_eq!(c.rules["whole-table-dml"], Level::Off);
    }

    #[test]
    fn rejects_unknown_keys_naming_them() {
        let e = parse(Path::new("m.yaml"), "pg_versoin: 12\n").unwrap_err();
        assert!(e.to_string().contains("pg_versoin"), "{e}");
    }

    #[test]
    fn rejects_unknown_rules_with_a_suggestion() {
        let e = parse(Path::new("m.yaml"), "rules:\n  set-not-nul: off\n").unwrap_err();
        assert!(e.to_string().contains("did you mean `set-not-null`"), "{e}");
    }

    #[test]
    fn rejects_unsupported_versions() {
        assert!(matches!(
            parse(Path::new("m.yaml"), "pg_version: 9\n"),
            Err(Error::BadVersion { .. })
        ));
    }
}
