//! Reading migrations: discovery and ordering of files, splitting a file into
//! statements with exact byte spans, and the directives written in comments.
//!
//! This is the first stage of the pipeline (files → statements → findings →
//! plan → apply). It knows nothing of SQL semantics beyond what splitting
//! needs (quotes, comments, dollar quotes, `BEGIN ATOMIC` bodies) and never
//! parses statements: that is `parse`'s job.
//!
//! Spans are byte offsets into [`Source::text`] (the file's text with any
//! UTF-8 BOM removed). Only `report` turns them into line and column.

mod changed;
mod directives;
mod discover;
mod split;

use serde::Serialize;
use std::path::{Path, PathBuf};

pub use changed::{changed_since, Changed, GitError};
pub use directives::{scan_directives, Directives};
pub use discover::discover;
pub use split::{split, Piece, PieceKind};

/// A half-open byte range `start..end` into a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (`start <= end`).
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end);
        Span { start, end }
    }

    /// The text this span covers.
    pub fn slice(self, text: &str) -> &str {
        &text[self.start..self.end]
    }

    /// This span moved `by` bytes to the right (for statements found inside a
    /// larger statement, such as the body of a `DO` block).
    pub fn shift(self, by: usize) -> Span {
        Span::new(self.start + by, self.end + by)
    }
}

/// The version of a migration taken from its name: `V12__x.sql` is `[12]`,
/// `V1.2__x.sql` is `[1, 2]`, `20240101120000_x.sql` is `[20240101120000]`.
/// Ordered numerically, part by part, so `V10` comes after `V9`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct MigrationVersion(pub Vec<u64>);

impl std::fmt::Display for MigrationVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// The naming convention a migration file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NamingScheme {
    /// refinery / Flyway: `V{n}__{name}.sql`.
    Versioned,
    /// sqlx, golang-migrate, dbmate, goose: `{number}_{name}[.up].sql`.
    Numbered,
    /// diesel: `{version}_{name}/up.sql`.
    Diesel,
    /// Prisma: `{timestamp}_{name}/migration.sql`.
    Prisma,
    /// A file named directly on the command line.
    Explicit,
    /// A `.sql` file in a migration directory that matches no scheme: still
    /// linted, and named in a warning.
    Unrecognized,
}

/// One migration file found by [`discover`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationFile {
    /// The path as given on the command line or found under a given directory.
    pub path: PathBuf,
    /// The version from the name, when the scheme has one.
    pub version: Option<MigrationVersion>,
    /// The descriptive part of the name (`add_users` in `V3__add_users.sql`).
    pub name: String,
    /// How the name was read.
    pub scheme: NamingScheme,
}

/// What [`discover`] found: files in history order, and what it had to say.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Migration files in the order they run (by version, then path).
    pub files: Vec<MigrationFile>,
    /// Things worth a warning that do not stop linting.
    pub warnings: Vec<DiscoveryWarning>,
}

/// A discovery problem that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryWarning {
    /// A `.sql` file under a migration directory whose name matches no scheme.
    Unrecognized { path: PathBuf },
    /// Two files claim the same version.
    DuplicateVersion {
        version: MigrationVersion,
        first: PathBuf,
        second: PathBuf,
    },
}

/// How the runner executes a file, as its directives say, or else as the
/// runner its layout names does by default ([`Runner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileTransaction {
    /// No directive and no runner known: the linter's settings decide
    /// (`--assume-in-transaction`).
    #[default]
    Default,
    /// No directive: the runner the layout names runs the file in one
    /// transaction ([`Runner::transaction`]); the linter's settings can say
    /// otherwise (config `assume_in_transaction: false`).
    Runner,
    /// The tool that runs this file wraps it in one transaction
    /// (`-- migrate:transaction` or the runner's default).
    Wrapped,
    /// The file must run outside a transaction: goose `-- +goose NO TRANSACTION`,
    /// dbmate `transaction:false`, sqlx `-- no-transaction`, or a `.autocommit.` name.
    NoTransaction,
}

/// The tool a migration file is written for, as its layout tells: what
/// decides how its statements are grouped into transactions when no
/// directive says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    /// A file named on the command line, or a name no layout matches.
    Unknown,
    /// A runner that wraps each file in one transaction unless a directive
    /// says otherwise: refinery and Flyway (`V{n}__{name}.sql`; Flyway runs
    /// a file holding `CONCURRENTLY` or `VACUUM` outside a transaction, see
    /// [`Runner::transaction`]), diesel
    /// (`{version}_{name}/up.sql`, unless its `metadata.toml` says
    /// `run_in_transaction = false`), sqlx (`{n}_{name}.sql`), dbmate
    /// (`-- migrate:up`), goose (`-- +goose Up`).
    WrapsEachFile,
    /// A runner that sends the whole file as one query: golang-migrate
    /// (`{n}_{name}.up.sql`) and Prisma (`{timestamp}_{name}/migration.sql`).
    /// PostgreSQL runs a query of several statements as one implicit
    /// transaction, so `CREATE INDEX CONCURRENTLY` fails there unless it is
    /// the only statement of its file.
    OneQuery,
}

impl Runner {
    /// The runner `file` is written for, given whether its text carries goose
    /// or dbmate section markers.
    pub fn of(file: &MigrationFile, has_sections: bool) -> Runner {
        match file.scheme {
            NamingScheme::Versioned | NamingScheme::Diesel => Runner::WrapsEachFile,
            NamingScheme::Prisma => Runner::OneQuery,
            NamingScheme::Numbered if has_sections => Runner::WrapsEachFile,
            NamingScheme::Numbered => {
                let name = file
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_ascii_lowercase());
                // sqlx's reversible layout is `.up.sql` too, and wraps: for a file
                // of several statements both give one transaction.
                if name.is_some_and(|n| n.ends_with(".up.sql")) {
                    Runner::OneQuery
                } else {
                    Runner::WrapsEachFile
                }
            }
            NamingScheme::Explicit | NamingScheme::Unrecognized => Runner::Unknown,
        }
    }

    /// How this runner runs `file`, of `statements` statements (texts), when
    /// it has no transaction directive.
    pub fn transaction<'t>(
        self,
        file: &MigrationFile,
        statements: impl ExactSizeIterator<Item = &'t str>,
    ) -> FileTransaction {
        let count = statements.len();
        match self {
            Runner::Unknown => FileTransaction::Default,
            // Flyway runs a file holding a statement that cannot run in a
            // transaction without one (or refuses a file that mixes them,
            // unless `mixed` is set): left to the settings, like a file of
            // unknown origin.
            Runner::WrapsEachFile
                if file.scheme == NamingScheme::Versioned
                    && statements.into_iter().any(flyway_non_transactional) =>
            {
                FileTransaction::Default
            }
            Runner::WrapsEachFile => FileTransaction::Runner,
            Runner::OneQuery if count > 1 => FileTransaction::Runner,
            // One statement sent alone runs in autocommit.
            Runner::OneQuery => FileTransaction::Default,
        }
    }

    /// How the runner groups statements, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Runner::Unknown => "the file runs statement by statement",
            Runner::WrapsEachFile => "the runner wraps the file in one transaction",
            Runner::OneQuery => {
                "the runner sends the file as one query, which PostgreSQL runs as one transaction"
            }
        }
    }
}

/// Whether Flyway runs `sql` outside a transaction: `CREATE`/`DROP`/`REINDEX`
/// … `CONCURRENTLY` and `VACUUM` (its PostgreSQL parser's
/// `detectCanExecuteInTransaction`).
fn flyway_non_transactional(sql: &str) -> bool {
    let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
    match words.next().as_deref() {
        Some("VACUUM") => true,
        Some("CREATE" | "DROP" | "REINDEX") => words.take(4).any(|w| w == "CONCURRENTLY"),
        _ => false,
    }
}

/// Whether a directive applies to the next statement or to the whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreScope {
    /// `-- migrate:ignore-file …`.
    File,
    /// `-- migrate:ignore …`: the statement with this index in [`Source::statements`].
    Statement(usize),
    /// `-- migrate:ignore …` with no statement after it.
    Dangling,
}

/// A rule id written in an ignore directive, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredRule {
    /// The id as written (resolved against the rule list by `lint`).
    pub id: String,
    /// Where the id stands in the file.
    pub span: Span,
}

/// One `-- migrate:ignore` / `-- migrate:ignore-file` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore {
    /// The whole comment.
    pub span: Span,
    /// What it applies to.
    pub scope: IgnoreScope,
    /// The rules it silences.
    pub rules: Vec<IgnoredRule>,
    /// The text after the second `--`, if any.
    pub reason: Option<String>,
}

/// A statement as the splitter found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// From the first token to the end of the last token, without the `;`.
    pub span: Span,
    /// SQL, or a psql meta-command such as `\set`.
    pub kind: PieceKind,
}

/// Something wrong with a file's text that does not stop the run: an
/// unterminated quote or comment, say. Reported as a `parse-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    /// Where the problem starts.
    pub span: Span,
    /// One lower-case line, e.g. `unterminated dollar-quoted string $tag$`.
    pub message: String,
}

/// A migration file read and split into statements.
#[derive(Debug, Clone)]
pub struct Source {
    /// Which file this is.
    pub file: MigrationFile,
    /// The file's text with any UTF-8 BOM removed; every span points into it.
    pub text: String,
    /// Statements of the up section, in order.
    pub statements: Vec<Statement>,
    /// Ignore directives, each resolved to a statement or the file.
    pub ignores: Vec<Ignore>,
    /// How the file is meant to be run.
    pub transaction: FileTransaction,
    /// The tool the file's layout is written for.
    pub runner: Runner,
    /// Problems found while splitting.
    pub problems: Vec<SourceProblem>,
}

/// Errors that stop reading a file or a directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: no such file or directory", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: the file is not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("{}: not a .sql file or a directory", path.display())]
    NotSql { path: PathBuf },
    #[error("bad exclude pattern {pattern:?}: {message}")]
    BadGlob { pattern: String, message: String },
}

impl Error {
    /// What the user can do about it.
    pub fn help(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "check the path; pass a migration file or directory",
            Error::Io { .. } => "check the file's permissions",
            Error::NotUtf8 { .. } => "save the migration as UTF-8",
            Error::NotSql { .. } => "pass a .sql file or a directory of migrations",
            Error::BadGlob { .. } => "fix the glob pattern in the exclude setting",
        }
    }
}

/// Reads a migration file from disk and splits it.
pub fn read(file: MigrationFile) -> Result<Source, Error> {
    let bytes = std::fs::read(&file.path).map_err(|source| io_error(&file.path, source))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..valid].iter().filter(|b| **b == b'\n').count() + 1;
            return Err(Error::NotUtf8 {
                path: file.path,
                line,
            });
        }
    };
    let diesel_autocommit = file.scheme == NamingScheme::Diesel && diesel_outside_transaction(&file.path);
    let mut source = from_text(file, text);
    if diesel_autocommit && source.transaction == FileTransaction::Runner {
        source.transaction = FileTransaction::NoTransaction;
    }
    Ok(source)
}

/// Whether the `metadata.toml` next to a diesel `up.sql` says
/// `run_in_transaction = false`.
fn diesel_outside_transaction(up: &Path) -> bool {
    let Some(dir) = up.parent() else {
        return false;
    };
    std::fs::read_to_string(dir.join("metadata.toml")).is_ok_and(|toml| {
        toml.lines().any(|line| {
            let line = line.split('#').next().unwrap_or("");
            let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            compact == "run_in_transaction=false"
        })
    })
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> Error {
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Splits a migration's text (pure: no I/O). A leading BOM is removed; spans
/// point into the text that remains.
///
/// ```
/// use safe_migrate::source::{from_text, MigrationFile, NamingScheme};
/// let file = MigrationFile { path: "V1__x.sql".into(), version: None, name: "x".into(), scheme: NamingScheme::Explicit };
/// let src = from_text(file, "CREATE TABLE t (a text DEFAULT 'x;y');\nSELECT 1".into());
/// assert_eq!(src.statements.len(), 2);
/// assert_eq!(src.statements[1].span.slice(&src.text), "SELECT 1");
/// ```
pub fn from_text(file: MigrationFile, mut text: String) -> Source {
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    let pieces = split(&text);
    let directives = scan_directives(&text, &pieces);
    let mut transaction = directives.transaction;
    if transaction == FileTransaction::Default && file.path.to_string_lossy().contains(".autocommit.") {
        transaction = FileTransaction::NoTransaction;
    }
    let mut statements = Vec::new();
    let mut problems = Vec::new();
    for piece in &pieces {
        if let Some(message) = &piece.problem {
            problems.push(SourceProblem {
                span: piece.span,
                message: message.clone(),
            });
        }
        if matches!(piece.kind, PieceKind::Sql | PieceKind::PsqlMeta) && directives.is_up(piece.span) {
            statements.push(Statement {
                span: piece.span,
                kind: piece.kind,
            });
        }
    }
    let ignores = directives.resolve_ignores(&statements);
    let runner = Runner::of(&file, !directives.up.is_empty());
    if transaction == FileTransaction::Default {
        transaction = runner.transaction(&file, statements.iter().map(|s| s.span.slice(&text)));
    }
    Source {
        file,
        text,
        statements,
        ignores,
        transaction,
        runner,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::{from_text, FileTransaction, MigrationFile, NamingScheme, Runner};

    fn source_at(path: &str, scheme: NamingScheme, text: &str) -> super::Source {
        let file = MigrationFile {
            path: path.into(),
            version: None,
            name: "x".into(),
            scheme,
        };
        from_text(file, text.into())
    }

    #[test]
    fn the_layout_names_the_runner_and_its_transaction() {
        use FileTransaction::{Default, NoTransaction, Runner as ByRunner};
        use NamingScheme::*;
        let two = "ALTER TABLE t ADD COLUMN a int;\nCREATE INDEX i ON t (a);";
        let cases = [
            ("V2__x.sql", Versioned, two, Runner::WrapsEachFile, ByRunner),
            (
                "2020-01-01-000000_x/up.sql",
                Diesel,
                two,
                Runner::WrapsEachFile,
                ByRunner,
            ),
            ("2_x.sql", Numbered, two, Runner::WrapsEachFile, ByRunner),
            (
                "2_x.sql",
                Numbered,
                "-- +goose Up\nSELECT 1;",
                Runner::WrapsEachFile,
                ByRunner,
            ),
            (
                "2_x.sql",
                Numbered,
                "-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;",
                Runner::WrapsEachFile,
                NoTransaction,
            ),
            ("2_x.up.sql", Numbered, two, Runner::OneQuery, ByRunner),
            // One statement sent alone is not in a transaction block.
            (
                "2_x.up.sql",
                Numbered,
                "CREATE INDEX CONCURRENTLY i ON t (a);",
                Runner::OneQuery,
                Default,
            ),
            ("2_x/migration.sql", Prisma, two, Runner::OneQuery, ByRunner),
            ("x.sql", Explicit, two, Runner::Unknown, Default),
            ("x.sql", Unrecognized, two, Runner::Unknown, Default),
            // Flyway runs a file with CONCURRENTLY outside a transaction.
            (
                "V3__x.sql",
                Versioned,
                "SELECT 1;\nCREATE UNIQUE INDEX CONCURRENTLY i ON t (a);",
                Runner::WrapsEachFile,
                Default,
            ),
            (
                "V3__x.autocommit.sql",
                Versioned,
                two,
                Runner::WrapsEachFile,
                NoTransaction,
            ),
        ];
        for (path, scheme, text, runner, transaction) in cases {
            let source = source_at(path, scheme, text);
            assert_eq!(
                (source.runner, source.transaction),
                (runner, transaction),
                "{path}: {text}"
            );
        }
    }

    #[test]
    fn diesel_metadata_can_turn_the_transaction_off() {
        let dir = tempfile::tempdir().unwrap();
        let migration = dir.path().join("2020-01-01-000000_x");
        std::fs::create_dir(&migration).unwrap();
        let up = migration.join("up.sql");
        std::fs::write(&up, "CREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;").unwrap();
        let read = || {
            super::read(MigrationFile {
                path: up.clone(),
                version: None,
                name: "x".into(),
                scheme: NamingScheme::Diesel,
            })
            .unwrap()
            .transaction
        };
        assert_eq!(read(), FileTransaction::Runner);
        std::fs::write(
            migration.join("metadata.toml"),
            "run_in_transaction = false # builds concurrently\n",
        )
        .unwrap();
        assert_eq!(read(), FileTransaction::NoTransaction);
    }
}
