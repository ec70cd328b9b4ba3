//! Parser coverage over the real-world migrations in `tests/corpus`.
//!
//! For each repository under `tests/corpus/real/<owner>__<repo>/` the up
//! migrations are discovered, read and linted in history order with default
//! settings. Nothing may panic, and at most [`MAX_PARSE_ERROR_SHARE`] of all
//! statements may end as `parse-error` findings. Down migrations (which
//! discovery skips) are split and parsed too, only to prove they do not panic.
//!
//! `CORPUS_VERBOSE=1 cargo test --test corpus -- --nocapture` also lists every
//! statement that ended as a `parse-error`, with the parser's message.

use safe_migrate::lint::{lint, LintSettings};
use safe_migrate::parse::parse_source;
use safe_migrate::source::{self, MigrationFile, NamingScheme, Source};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The largest share of statements that may end as `parse-error`.
const MAX_PARSE_ERROR_SHARE: f64 = 0.005;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/real")
}

fn repo_dirs(corpus: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus)
        .unwrap_or_else(|e| panic!("{}: cannot list the corpus: {e}", corpus.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("{}: {e}", corpus.display())).path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Every down migration under `dir` (`down.sql`, `*.down.sql`), sorted.
fn down_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if name == "down.sql" || name.ends_with(".down.sql") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// One repository's totals.
struct RepoCount {
    name: String,
    files: usize,
    statements: usize,
    parse_errors: usize,
}

/// Lints one repository's history; panics (with the path) on a read error.
fn lint_repo(dir: &Path, verbose: bool) -> RepoCount {
    let discovery = source::discover(&[dir.to_path_buf()], &[])
        .unwrap_or_else(|e| panic!("{}: discovery failed: {e}", dir.display()));
    let sources: Vec<Source> = discovery
        .files
        .into_iter()
        .map(|file| {
            let path = file.path.clone();
            source::read(file).unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()))
        })
        .collect();

    // Parse each file on its own first, so a parser panic names its file.
    for src in &sources {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| parse_source(src))) {
            panic!(
                "{}: parsing panicked: {}",
                src.file.path.display(),
                panic_message(payload.as_ref())
            );
        }
    }

    let files = sources.len();
    let outcome = match catch_unwind(AssertUnwindSafe(|| {
        lint(sources.clone(), &LintSettings::default())
    })) {
        Ok(outcome) => outcome,
        Err(payload) => {
            // Find the file: lint the history up to each file in turn.
            let message = panic_message(payload.as_ref());
            for n in 1..=sources.len() {
                let prefix = sources[..n].to_vec();
                if catch_unwind(AssertUnwindSafe(|| lint(prefix, &LintSettings::default()))).is_err() {
                    panic!(
                        "{}: linting panicked at {}: {message}",
                        dir.display(),
                        sources[n - 1].file.path.display()
                    );
                }
            }
            panic!("{}: linting panicked: {message}", dir.display());
        }
    };

    let mut parse_errors = 0;
    for file in &outcome.files {
        for finding in file.findings.iter().filter(|f| f.rule.id == "parse-error") {
            parse_errors += 1;
            if verbose {
                let text = finding.span.slice(&file.source.text);
                let head: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let head: String = head.chars().take(60).collect();
                let relative = file
                    .source
                    .file
                    .path
                    .strip_prefix(dir)
                    .unwrap_or(&file.source.file.path);
                println!(
                    "PARSE-ERROR {}: {head:<60} | {}",
                    relative.display(),
                    finding.message
                );
            }
        }
    }
    RepoCount {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        files,
        statements: outcome.summary.statements,
        parse_errors,
    }
}

/// Splits and parses every down migration of a repository, only to prove
/// nothing panics. Returns how many files it parsed.
fn parse_downs(dir: &Path) -> usize {
    let downs = down_files(dir);
    for path in &downs {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
        let file = MigrationFile {
            path: path.clone(),
            version: None,
            name: path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            scheme: NamingScheme::Explicit,
        };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
            let src = source::from_text(file, text);
            parse_source(&src).len()
        })) {
            panic!(
                "{}: parsing a down migration panicked: {}",
                path.display(),
                panic_message(payload.as_ref())
            );
        }
    }
    downs.len()
}

#[test]
fn corpus_parses_with_few_parse_errors() {
    let corpus = corpus_dir();
    assert!(
        corpus.is_dir(),
        "the migration corpus is missing: expected a directory at {} \
         (tests/corpus/README.md says where its files come from)",
        corpus.display()
    );
    let verbose = std::env::var_os("CORPUS_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0");
    let repos = repo_dirs(&corpus);
    assert!(
        !repos.is_empty(),
        "{}: no repositories in the corpus",
        corpus.display()
    );

    let mut counts = Vec::new();
    let mut downs = 0;
    for dir in &repos {
        counts.push(lint_repo(dir, verbose));
        downs += parse_downs(dir);
    }

    let share = |errors: usize, statements: usize| {
        if statements == 0 {
            0.0
        } else {
            errors as f64 / statements as f64
        }
    };
    println!(
        "{:<28} {:>6} {:>10} {:>12} {:>8}",
        "repository", "files", "statements", "parse-errors", "share"
    );
    for c in &counts {
        println!(
            "{:<28} {:>6} {:>10} {:>12} {:>7.2}%",
            c.name,
            c.files,
            c.statements,
            c.parse_errors,
            100.0 * share(c.parse_errors, c.statements)
        );
    }
    let files: usize = counts.iter().map(|c| c.files).sum();
    let statements: usize = counts.iter().map(|c| c.statements).sum();
    let parse_errors: usize = counts.iter().map(|c| c.parse_errors).sum();
    let total = share(parse_errors, statements);
    println!(
        "{:<28} {:>6} {:>10} {:>12} {:>7.2}%",
        "total",
        files,
        statements,
        parse_errors,
        100.0 * total
    );
    println!("down migrations parsed without panicking: {downs}");

    assert!(statements > 0, "no statements found in the corpus");
    assert!(
        total <= MAX_PARSE_ERROR_SHARE,
        "{parse_errors} of {statements} statements ({:.2}%) ended as parse-error; at most {:.2}% may \
         (run with CORPUS_VERBOSE=1 and --nocapture to list them)",
        100.0 * total,
        100.0 * MAX_PARSE_ERROR_SHARE
    );
}
