//! What the fuzzers run: bytes → two migration files → split, parse, lint,
//! plan, render, with the invariants every stage promises checked (spans
//! inside the text and on character boundaries). Shared by the libFuzzer
//! target (`fuzz_targets/pipeline.rs`) and the stable runner
//! (`src/bin/stress.rs`), so both exercise the same function.

use safe_migrate::lint::{lint, LintSettings};
use safe_migrate::plan::{plan, render, PlanSettings};
use safe_migrate::source::{from_text, MigrationFile, MigrationVersion, NamingScheme};

/// A history that gives the rules and rewrites tables to reason about.
pub const HISTORY: &str =
    "CREATE TABLE users (id bigint PRIMARY KEY, c int, email text NOT NULL, n integer DEFAULT 0);\n\
CREATE INDEX users_c_idx ON users (c);\n\
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id), amount integer);\n";

fn file(name: &str, version: u64) -> MigrationFile {
    MigrationFile {
        path: name.into(),
        version: Some(MigrationVersion(vec![version])),
        name: name.into(),
        scheme: NamingScheme::Explicit,
    }
}

/// Runs the pipeline on `data`. Byte 0 picks the mode: even, the rest is one
/// migration after [`HISTORY`]; odd, the rest is cut at byte 1's share of
/// its length into a history of its own and a migration. Panics on any
/// broken invariant, as a fuzz target must.
pub fn pipeline(data: &[u8]) {
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let text = String::from_utf8_lossy(rest);
    let (history, migration) = if mode % 2 == 0 {
        (HISTORY.to_string(), text.into_owned())
    } else {
        let share = rest.first().copied().unwrap_or(0) as usize;
        let mut cut = text.len() * share / 256;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        (text[..cut].to_string(), text[cut..].to_string())
    };
    run(&history, &migration);
}

/// The pipeline on two files; panics when a span leaves its text.
pub fn run(history: &str, migration: &str) {
    let sources = vec![
        from_text(file("V1__history.sql", 1), history.to_string()),
        from_text(file("V2__change.sql", 2), migration.to_string()),
    ];
    let outcome = lint(sources.clone(), &LintSettings::default());
    for f in &outcome.files {
        let text = &f.source.text;
        for s in &f.source.statements {
            assert!(
                s.span.start <= s.span.end && s.span.end <= text.len(),
                "statement span {:?}",
                s.span
            );
            assert!(text.is_char_boundary(s.span.start) && text.is_char_boundary(s.span.end));
        }
        for finding in &f.findings {
            assert!(finding.span.start <= finding.span.end && finding.span.end <= text.len());
            assert!(text.is_char_boundary(finding.span.start) && text.is_char_boundary(finding.span.end));
        }
    }
    let planned = plan(sources, &PlanSettings::default());
    let _ = render::text(&planned, false);
    let _ = render::sql(&planned);
    let _ = render::json(&planned);
}
