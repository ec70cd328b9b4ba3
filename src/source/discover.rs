//! Finding migration files and putting them in history order.
//!
//! A directory is read recursively as one migration history. File names are
//! read by the conventions of the common tools:
//!
//! | scheme | up file | skipped (down) |
//! |---|---|---|
//! | refinery / Flyway | `V{n}__{name}.sql`, `n` dotted or `_`-separated (`V1.2__`, `V1_2__`) | `U{n}__{name}.sql` |
//! | sqlx, golang-migrate, dbmate, goose | `{number}_{name}.sql`, `{number}_{name}.up.sql` | `*.down.sql` |
//! | diesel | `{version}_{name}/up.sql` (`2023-01-01-120000`: its digits are the number) | `down.sql` |
//! | Prisma | `{timestamp}_{name}/migration.sql` | |
//!
//! A file `X.postgres.up.sql` (ory/pop's dialect-specific form) stands in for
//! `X.up.sql` next to it, which is for the other dialects and is not linted.
//!
//! `{number}-{name}.sql` (a dash in place of the underscore, as neon and
//! supabase use) is read as numbered too. Any other `.sql` file, Flyway's
//! repeatable `R__{name}.sql` among them, is linted with scheme
//! [`NamingScheme::Unrecognized`] and a warning. Other files, and hidden files
//! and directories (`.git`), are passed over silently; symbolic links to files
//! are followed, symbolic links to directories are not.
//!
//! Versions are numbers, compared part by part. A number too long for a `u64`
//! (kratos's 20-digit `20191100000001000000`) is split into its first 14
//! digits (a timestamp) and the rest, so such names keep their order among
//! themselves and next to 14-digit timestamps.

use super::{io_error, Discovery, DiscoveryWarning, Error, MigrationFile, MigrationVersion, NamingScheme};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};

/// Finds the migrations under `paths`, in order: each path in turn, a
/// directory's files sorted by version and then path, with unrecognized names
/// after all versioned ones. A file named directly is taken as it is (scheme
/// [`NamingScheme::Explicit`], its version still read from its name). Files
/// matching an `exclude` glob are dropped, whether found or named; a glob is
/// matched against the path as given or found (without a leading `./`) and
/// against the path relative to the directory argument.
pub fn discover(paths: &[PathBuf], exclude: &[String]) -> Result<Discovery, Error> {
    let excluded = exclude_set(exclude)?;
    let mut discovery = Discovery::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if meta.is_dir() {
            discover_dir(path, &excluded, &mut discovery)?;
            continue;
        }
        if !has_sql_extension(path) {
            return Err(Error::NotSql { path: path.clone() });
        }
        std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        if is_excluded(&excluded, path, None) {
            continue;
        }
        let (version, name) = match classify(path) {
            Kind::Migration { version, name, .. } => (Some(version), name),
            Kind::Down | Kind::Unrecognized => (None, stem(path)),
        };
        discovery.files.push(MigrationFile {
            path: path.clone(),
            version,
            name,
            scheme: NamingScheme::Explicit,
        });
    }
    Ok(discovery)
}

fn exclude_set(patterns: &[String]) -> Result<GlobSet, Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| Error::BadGlob {
            pattern: pattern.clone(),
            message: e.kind().to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| Error::BadGlob {
        pattern: patterns.join(", "),
        message: e.kind().to_string(),
    })
}

fn is_excluded(excluded: &GlobSet, path: &Path, relative: Option<&Path>) -> bool {
    if excluded.is_empty() {
        return false;
    }
    let bare = path.strip_prefix(".").unwrap_or(path);
    excluded.is_match(path) || excluded.is_match(bare) || relative.is_some_and(|r| excluded.is_match(r))
}

fn has_sql_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("sql"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads one directory tree as a migration history.
fn discover_dir(root: &Path, excluded: &GlobSet, discovery: &mut Discovery) -> Result<(), Error> {
    let mut versioned: Vec<MigrationFile> = Vec::new();
    let mut unrecognized: Vec<MigrationFile> = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&dir, e))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let file_type = entry.file_type().map_err(|e| io_error(&path, e))?;
            if file_type.is_dir() {
                pending.push(path);
                continue;
            }
            if file_type.is_symlink() {
                // Follow links to files only: a link to a directory could loop.
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => {}
                    _ => continue,
                }
            }
            if !has_sql_extension(&path) {
                continue;
            }
            let relative = path.strip_prefix(root).ok();
            if is_excluded(excluded, &path, relative) {
                continue;
            }
            match classify(&path) {
                Kind::Down => {}
                Kind::Migration {
                    version,
                    name,
                    scheme,
                } => versioned.push(MigrationFile {
                    path,
                    version: Some(version),
                    name,
                    scheme,
                }),
                Kind::Unrecognized => unrecognized.push(MigrationFile {
                    name: stem(&path),
                    path,
                    version: None,
                    scheme: NamingScheme::Unrecognized,
                }),
            }
        }
    }
    // ory/pop: `X.postgres.up.sql` replaces `X.up.sql` (the file for every
    // other dialect) on PostgreSQL, which never runs the latter.
    let specific: Vec<PathBuf> = versioned
        .iter()
        .filter_map(|f| {
            let name = f.path.file_name()?.to_str()?;
            let generic = name.to_ascii_lowercase().contains(".postgres.").then(|| {
                let at = name.to_ascii_lowercase().find(".postgres.").unwrap_or(0);
                format!("{}{}", &name[..at], &name[at + ".postgres".len()..])
            })?;
            Some(f.path.with_file_name(generic))
        })
        .collect();
    versioned.retain(|f| !specific.contains(&f.path));
    versioned.sort_by(|a, b| (&a.version, &a.path).cmp(&(&b.version, &b.path)));
    unrecognized.sort_by(|a, b| a.path.cmp(&b.path));
    let mut first_of_run: Option<&MigrationFile> = None;
    for file in &versioned {
        match first_of_run {
            Some(first) if first.version == file.version => {
                if let Some(version) = &file.version {
                    discovery.warnings.push(DiscoveryWarning::DuplicateVersion {
                        version: version.clone(),
                        first: first.path.clone(),
                        second: file.path.clone(),
                    });
                }
            }
            _ => first_of_run = Some(file),
        }
    }
    for file in &unrecognized {
        discovery.warnings.push(DiscoveryWarning::Unrecognized {
            path: file.path.clone(),
        });
    }
    discovery.files.extend(versioned);
    discovery.files.extend(unrecognized);
    Ok(())
}

/// How a `.sql` file's name reads.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// An up migration with a version.
    Migration {
        version: MigrationVersion,
        name: String,
        scheme: NamingScheme,
    },
    /// A down (or undo) migration: never linted from a directory.
    Down,
    /// No scheme fits.
    Unrecognized,
}

/// Reads the naming scheme, version and name of a `.sql` file's path.
fn classify(path: &Path) -> Kind {
    let file = file_name(path);
    let lower = file.to_ascii_lowercase();
    if lower == "down.sql" || lower.ends_with(".down.sql") {
        return Kind::Down;
    }
    let Some(base) = file.get(..file.len().saturating_sub(4)) else {
        return Kind::Unrecognized;
    };
    let parent = path.parent().map(file_name).unwrap_or_default();
    if lower == "up.sql" {
        return match parent.split_once('_') {
            Some((version, name))
                if version.starts_with(|c: char| c.is_ascii_digit())
                    && version.chars().all(|c| c.is_ascii_digit() || c == '-') =>
            {
                let digits: String = version.chars().filter(char::is_ascii_digit).collect();
                migration(number(&digits), name, NamingScheme::Diesel)
            }
            _ => Kind::Unrecognized,
        };
    }
    if lower == "migration.sql" {
        return match parent.split_once('_') {
            Some((stamp, name)) if all_digits(stamp) => migration(number(stamp), name, NamingScheme::Prisma),
            _ => Kind::Unrecognized,
        };
    }
    if let Some(rest) = base.strip_prefix('U') {
        if flyway_version(rest).is_some() {
            return Kind::Down;
        }
    }
    if let Some(rest) = base.strip_prefix('V') {
        if let Some((version, name)) = flyway_version(rest) {
            return migration(version, name, NamingScheme::Versioned);
        }
    }
    let base = strip_suffix_ignore_case(base, ".up");
    let digits = base.len() - base.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match base.get(digits..digits + 1) {
        Some("_" | "-") if digits > 0 => migration(
            number(&base[..digits]),
            &base[digits + 1..],
            NamingScheme::Numbered,
        ),
        _ => Kind::Unrecognized,
    }
}

fn migration(version: Vec<u64>, name: &str, scheme: NamingScheme) -> Kind {
    Kind::Migration {
        version: MigrationVersion(version),
        name: name.to_string(),
        scheme,
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> &'a str {
    let cut = s.len().saturating_sub(suffix.len());
    match (s.get(..cut), s.get(cut..)) {
        (Some(head), Some(tail)) if tail.eq_ignore_ascii_case(suffix) => head,
        _ => s,
    }
}

/// Reads `1.2__name` or `1_2__name` (after the `V`): the version's parts and the name.
fn flyway_version(rest: &str) -> Option<(Vec<u64>, &str)> {
    let (version, name) = rest.split_once("__")?;
    let parts: Vec<&str> = version.split(['.', '_']).collect();
    if !parts.iter().all(|p| all_digits(p)) {
        return None;
    }
    let version = parts
        .iter()
        .map(|p| p.parse::<u64>().unwrap_or(u64::MAX))
        .collect();
    Some((version, name))
}

/// A version from a string of ASCII digits; see the module doc for long ones.
fn number(digits: &str) -> Vec<u64> {
    let mut parts = Vec::new();
    let mut rest = digits;
    loop {
        rest = rest.trim_start_matches('0');
        if rest.len() <= 19 {
            parts.push(rest.parse::<u64>().unwrap_or(0));
            return parts;
        }
        let (head, tail) = rest.split_at(14);
        parts.push(head.parse::<u64>().unwrap_or(u64::MAX));
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(root: &Path, relative: &str) {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, "SELECT 1;\n").unwrap();
    }

    fn names(d: &Discovery, root: &Path) -> Vec<String> {
        d.files
            .iter()
            .map(|f| f.path.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect()
    }

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            touch(dir.path(), f);
        }
        dir
    }

    #[test]
    fn a_postgres_specific_file_stands_in_for_the_generic_one() {
        let dir = tree(&[
            "20200101000000_a.up.sql",
            "20200101000000_a.postgres.up.sql",
            "20200102000000_b.autocommit.up.sql",
            "20200102000000_b.postgres.autocommit.up.sql",
            "20200103000000_c.up.sql",
        ]);
        let d = discover(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(
            names(&d, dir.path()),
            [
                "20200101000000_a.postgres.up.sql",
                "20200102000000_b.postgres.autocommit.up.sql",
                "20200103000000_c.up.sql"
            ]
        );
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn splits_versions_numerically() {
        let dir = tree(&[
            "V10__ten.sql",
            "V2__two.sql",
            "V1.2__one_two.sql",
            "V1_1__one_one.sql",
            "V1__one.sql",
        ]);
        let d = discover(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(
            names(&d, dir.path()),
            [
                "V1__one.sql",
                "V1_1__one_one.sql",
                "V1.2__one_two.sql",
                "V2__two.sql",
                "V10__ten.sql"
            ]
        );
        assert!(d.files.iter().all(|f| f.scheme == NamingScheme::Versioned));
        assert_eq!(d.files[2].version, Some(MigrationVersion(vec![1, 2])));
        assert_eq!(d.files[2].name, "one_two");
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn splits_numbered_files() {
        let dir = tree(&[
            "20240102000000_b.up.sql",
            "20240101000000_a.sql",
            "20240102000000_b.down.sql",
            "3_c.sql",
            "0004-d.sql",
        ]);
        let d = discover(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(
            names(&d, dir.path()),
            [
                "3_c.sql",
                "0004-d.sql",
                "20240101000000_a.sql",
                "20240102000000_b.up.sql"
            ]
        );
        assert!(d.files.iter().all(|f| f.scheme == NamingScheme::Numbered));
        assert_eq!(d.files[3].name, "b");
        assert_eq!(d.files[3].version, Some(MigrationVersion(vec![20240102000000])));
    }

    #[test]
    fn splits_long_kratos_versions() {
        let dir = tree(&[
            "20191100000002000000_b.postgres.up.sql",
            "20191100000001000000_identities.postgres.up.sql",
            "20191100000001000000_identities.postgres.down.sql",
            "20191100000001000001_x.autocommit.up.sql",
        ]);
        let d = discover(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(
            names(&d, dir.path()),
            [
                "20191100000001000000_identities.postgres.up.sql",
                "20191100000001000001_x.autocommit.up.sql",
                "20191100000002000000_b.postgres.up.sql"
            ]
        );
        assert_eq!(d.files[0].scheme, NamingScheme::Numbered);
        assert_eq!(d.files[0].name, "identities.postgres");
        assert_eq!(
            d.files[0].version,
            Some(MigrationVersion(vec![20191100000001, 0]))
        );
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn splits_diesel_and_prisma_directories() {
        let dir = tree(&[
            "diesel/2023-01-02-120000_second/up.sql",
            "diesel/2023-01-02-120000_second/down.sql",
            "diesel/00000000000000_diesel_initial_setup/up.sql",
            "prisma/20230101000000_init/migration.sql",
            "prisma/migration_lock.toml",
        ]);
        let d = discover(&[dir.path().join("diesel"), dir.path().join("prisma")], &[]).unwrap();
        assert_eq!(
            names(&d, dir.path()),
            [
                "diesel/00000000000000_diesel_initial_setup/up.sql",
                "diesel/2023-01-02-120000_second/up.sql",
                "prisma/20230101000000_init/migration.sql"
            ]
        );
        assert_eq!(d.files[1].scheme, NamingScheme::Diesel);
        assert_eq!(d.files[1].version, Some(MigrationVersion(vec![20230102120000])));
        assert_eq!(d.files[1].name, "second");
        assert_eq!(d.files[0].version, Some(MigrationVersion(vec![0])));
        assert_eq!(d.files[2].scheme, NamingScheme::Prisma);
        assert_eq!(d.files[2].name, "init");
    }

    #[test]
    fn ignores_down_and_non_sql_files() {
        let dir = tree(&[
            "V1__a.sql",
            "U1__a.sql",
            "1_b.down.sql",
            "1_b.DOWN.SQL",
            "README.md",
            ".git/V9__hidden.sql",
            ".hidden.sql",
        ]);
        let d = discover(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(names(&d, dir.path()), ["V1__a.sql"]);
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn flags_unrecognized_files() {
        let dir = tree(&[
            "V1__a.sql",
            "R__views.sql",
            "seed.sql",
            "sub/schema.sql",
            "up.sql",
        ]);
        let d = discover(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(
            names(&d, dir.path()),
            [
                "V1__a.sql",
                "R__views.sql",
                "seed.sql",
                "sub/schema.sql",
                "up.sql"
            ]
        );
        assert_eq!(d.files[1].scheme, NamingScheme::Unrecognized);
        assert_eq!(d.files[1].version, None);
        assert_eq!(d.files[2].name, "seed");
        let warned: Vec<&Path> = d
            .warnings
            .iter()
            .map(|w| match w {
                DiscoveryWarning::Unrecognized { path } => path.as_path(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(warned.len(), 4);
        assert_eq!(warned[0], dir.path().join("R__views.sql"));
    }

    #[test]
    fn flags_duplicate_versions() {
        let dir = tree(&["V1__a.sql", "V1__b.sql", "V01__c.sql", "V2__d.sql"]);
        let d = discover(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(d.files.len(), 4);
        assert_eq!(
            d.warnings,
            [
                DiscoveryWarning::DuplicateVersion {
                    version: MigrationVersion(vec![1]),
                    first: dir.path().join("V01__c.sql"),
                    second: dir.path().join("V1__a.sql"),
                },
                DiscoveryWarning::DuplicateVersion {
                    version: MigrationVersion(vec![1]),
                    first: dir.path().join("V01__c.sql"),
                    second: dir.path().join("V1__b.sql"),
                },
            ]
        );
    }

    #[test]
    fn ignores_excluded_files() {
        let dir = tree(&[
            "V1__a.sql",
            "V2__b.tmp.sql",
            "legacy/V0__old.sql",
            "legacy/deep/x.sql",
        ]);
        let exclude = ["*.tmp.sql".to_string(), "legacy/**".to_string()];
        let d = discover(&[dir.path().to_path_buf()], &exclude).unwrap();
        assert_eq!(names(&d, dir.path()), ["V1__a.sql"]);
        assert!(d.warnings.is_empty());
        let explicit = discover(&[dir.path().join("V2__b.tmp.sql")], &exclude).unwrap();
        assert!(explicit.files.is_empty());
    }

    #[test]
    fn ignores_excluded_files_by_given_path() {
        let dir = tree(&["migrations/legacy/V0__old.sql", "migrations/V1__a.sql"]);
        let given = dir.path().join("migrations");
        let pattern = format!("{}/legacy/**", given.display());
        let d = discover(std::slice::from_ref(&given), &[pattern]).unwrap();
        assert_eq!(d.files.len(), 1);
        assert_eq!(d.files[0].path, given.join("V1__a.sql"));
    }

    #[test]
    fn flags_bad_exclude_pattern() {
        let dir = tree(&["V1__a.sql"]);
        let err = discover(&[dir.path().to_path_buf()], &["[".to_string()]).unwrap_err();
        assert!(matches!(&err, Error::BadGlob { pattern, .. } if pattern == "["));
        assert!(err.to_string().starts_with("bad exclude pattern \"[\": "));
    }

    #[test]
    fn splits_explicit_files_as_given() {
        let dir = tree(&[
            "V10__ten.sql",
            "V2__two.sql",
            "odd.sql",
            "2023-01-01-000000_x/up.sql",
        ]);
        let paths = [
            dir.path().join("V10__ten.sql"),
            dir.path().join("V2__two.sql"),
            dir.path().join("odd.sql"),
            dir.path().join("2023-01-01-000000_x/up.sql"),
        ];
        let d = discover(&paths, &[]).unwrap();
        assert_eq!(d.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(), paths);
        assert!(d.files.iter().all(|f| f.scheme == NamingScheme::Explicit));
        assert_eq!(d.files[0].version, Some(MigrationVersion(vec![10])));
        assert_eq!(d.files[0].name, "ten");
        assert_eq!(d.files[2].version, None);
        assert_eq!(d.files[2].name, "odd");
        assert_eq!(d.files[3].version, Some(MigrationVersion(vec![20230101000000])));
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn splits_several_arguments_in_order() {
        let dir = tree(&["b/V1__x.sql", "a/V2__y.sql", "c.sql"]);
        let paths = [
            dir.path().join("b"),
            dir.path().join("c.sql"),
            dir.path().join("a"),
        ];
        let d = discover(&paths, &[]).unwrap();
        assert_eq!(names(&d, dir.path()), ["b/V1__x.sql", "c.sql", "a/V2__y.sql"]);
    }

    #[test]
    fn flags_missing_and_non_sql_paths() {
        let dir = tree(&["notes.txt"]);
        let missing = discover(&[dir.path().join("nope.sql")], &[]).unwrap_err();
        assert!(matches!(missing, Error::NotFound { .. }));
        let txt = discover(&[dir.path().join("notes.txt")], &[]).unwrap_err();
        assert!(matches!(txt, Error::NotSql { .. }));
    }

    #[test]
    fn splits_relative_paths_without_canonicalizing() {
        let dir = tree(&["V1__a.sql"]);
        let given = dir.path().join(".").join("");
        let d = discover(std::slice::from_ref(&given), &[]).unwrap();
        assert_eq!(d.files[0].path, given.join("V1__a.sql"));
    }

    #[test]
    fn splits_version_numbers() {
        assert_eq!(number("0"), [0]);
        assert_eq!(number("000123"), [123]);
        assert_eq!(number("18446744073709551615"), [18446744073709, 551615]);
        assert_eq!(number("1234567890123456789"), [1234567890123456789]);
        assert_eq!(number(&"9".repeat(60)).len(), 4);
        assert_eq!(classify(Path::new("V__x.sql")), Kind::Unrecognized);
        assert_eq!(classify(Path::new("V1.__x.sql")), Kind::Unrecognized);
        assert_eq!(classify(Path::new("_x.sql")), Kind::Unrecognized);
        assert_eq!(classify(Path::new("12.sql")), Kind::Unrecognized);
        assert_eq!(classify(Path::new("é.sql")), Kind::Unrecognized);
        assert_eq!(classify(Path::new(".sql")), Kind::Unrecognized);
        assert_eq!(
            classify(Path::new("12_é.UP.sql")),
            migration(vec![12], "é", NamingScheme::Numbered)
        );
    }

    #[test]
    fn splits_real_corpus_directories() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/real");
        let entries = fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        let mut repos = 0;
        for entry in entries.flatten() {
            repos += 1;
            let repo = entry.path();
            let d = discover(std::slice::from_ref(&repo), &[])
                .unwrap_or_else(|e| panic!("{}: {e}", repo.display()));
            assert!(!d.files.is_empty(), "{}", repo.display());
            assert!(d
                .files
                .iter()
                .all(|f| !f.path.to_string_lossy().ends_with("down.sql")));
            let name = file_name(&repo);
            if name.contains("kratos") || name.contains("hatchet") || name.contains("graph-node") {
                assert!(
                    d.files.iter().all(|f| f.scheme != NamingScheme::Unrecognized),
                    "{}: {:?}",
                    repo.display(),
                    d.warnings
                );
            }
            if name.contains("kratos") {
                assert!(d.files.iter().any(|f| f.name == "identities.postgres"));
            }
        }
        assert_eq!(repos, 9, "{}: the corpus holds nine repositories", root.display());
    }
}
