//! Output formats: what `migrate lint` prints.
//!
//! The last stage of the pipeline. It takes a [`LintOutcome`] and writes it as
//! rustc-style text ([`Format::Text`]), one JSON document ([`Format::Json`]),
//! SARIF 2.1.0 for code-scanning tools ([`Format::Sarif`]) or GitHub Actions
//! workflow commands ([`Format::Github`]).
//!
//! This is the only module that turns byte [`Span`](crate::source::Span)s into
//! line and column, through [`LineIndex`]. Every format uses the same
//! convention: `line`/`column` are where `finding.span` starts, and
//! `end_line`/`end_column` are the position of `span.end`, which is exclusive:
//! the column just after the last character covered. Lines and columns are
//! 1-based and columns count characters (Unicode scalar values), not bytes.
//!
//! Findings are written file by file in the order of [`LintOutcome::files`],
//! and within a file in span order. The totals come from
//! [`LintOutcome::summary`] as the linter computed them.

mod github;
mod json;
mod line_index;
mod sarif;
mod text;

pub use line_index::{LineIndex, Position};

use crate::lint::{FileLint, Finding, LintOutcome, Summary};
use std::io::{self, Write};

/// An output format for lint results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, rustc-style diagnostics with source excerpts.
    #[default]
    Text,
    /// One JSON document: `{"findings": [...], "summary": {...}}`.
    Json,
    /// SARIF 2.1.0, as GitHub code scanning accepts it.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…::…`), one per line.
    Github,
}

impl Format {
    /// The name used on the command line, e.g. `sarif`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Github => "github",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How [`Format::Text`] is drawn. The other formats ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextStyle {
    /// Whether to write ANSI colour codes. Decide with [`use_colour`]; when
    /// false the output contains no escape codes at all.
    pub colour: bool,
}

impl TextStyle {
    /// No colour.
    pub fn plain() -> TextStyle {
        TextStyle { colour: false }
    }

    /// Colour, if `colour` is true.
    pub fn coloured(colour: bool) -> TextStyle {
        TextStyle { colour }
    }
}

/// Whether text output to a stream should be coloured, following
/// <https://no-color.org> and <https://bixense.com/clicolors/>:
///
/// 1. `NO_COLOR` set to anything non-empty: no colour;
/// 2. `CLICOLOR_FORCE` set to anything but empty or `0`: colour;
/// 3. `CLICOLOR=0` or `TERM=dumb`: no colour;
/// 4. otherwise colour exactly when the stream is a terminal.
pub fn use_colour(stream_is_terminal: bool) -> bool {
    let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    colour_from(
        stream_is_terminal,
        var("NO_COLOR").as_deref(),
        var("CLICOLOR_FORCE").as_deref(),
        var("CLICOLOR").as_deref(),
        var("TERM").as_deref(),
    )
}

/// [`use_colour`] without the environment, for tests.
fn colour_from(
    is_terminal: bool,
    no_color: Option<&str>,
    clicolor_force: Option<&str>,
    clicolor: Option<&str>,
    term: Option<&str>,
) -> bool {
    if no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    if clicolor == Some("0") || term == Some("dumb") {
        return false;
    }
    is_terminal
}

/// Writes `outcome` to `out` in `format`. `style` applies to [`Format::Text`] only.
pub fn render(
    outcome: &LintOutcome,
    format: Format,
    style: &TextStyle,
    out: &mut dyn Write,
) -> io::Result<()> {
    let files = located(outcome);
    match format {
        Format::Text => text::render(&files, &outcome.summary, style, out),
        Format::Json => json::render(&files, &outcome.summary, out),
        Format::Sarif => sarif::render(&files, out),
        Format::Github => github::render(&files, out),
    }
}

/// [`render`] into a `String` (for tests and callers that post-process).
pub fn render_to_string(outcome: &LintOutcome, format: Format, style: &TextStyle) -> String {
    let mut buf = Vec::new();
    render(outcome, format, style, &mut buf).expect("writing to a Vec cannot fail");
    String::from_utf8(buf).expect("every format writes UTF-8")
}

/// One file's findings, in span order, with positions resolved.
pub(crate) struct FileView<'a> {
    pub lint: &'a FileLint,
    pub index: LineIndex<'a>,
    pub findings: Vec<Located<'a>>,
}

impl FileView<'_> {
    /// The path as given, for display.
    pub fn path(&self) -> String {
        self.lint.source.file.path.display().to_string()
    }
}

/// A finding with its start and (exclusive) end position.
pub(crate) struct Located<'a> {
    pub finding: &'a Finding,
    pub start: Position,
    pub end: Position,
    /// Where the statement that took the finding's lock starts, when an
    /// earlier statement of the transaction took it.
    pub held_since: Option<Position>,
}

fn located(outcome: &LintOutcome) -> Vec<FileView<'_>> {
    outcome.files.iter().map(view).collect()
}

fn view(lint: &FileLint) -> FileView<'_> {
    let index = LineIndex::new(&lint.source.text);
    let mut findings: Vec<&Finding> = lint.findings.iter().collect();
    // Stable: findings on the same span keep the linter's order.
    findings.sort_by_key(|f| (f.span.start, f.span.end));
    let findings = findings
        .into_iter()
        .map(|finding| Located {
            finding,
            start: index.position(finding.span.start),
            end: index.position(finding.span.end.max(finding.span.start)),
            held_since: finding.held_since.map(|span| index.position(span.start)),
        })
        .collect();
    FileView {
        lint,
        index,
        findings,
    }
}

/// Writes a report file by file, as files are linted, so that a run holds one
/// file's source at a time. The bytes written are exactly [`render`]'s for
/// the same files and summary. SARIF lists the rules used before any result,
/// so [`Format::Sarif`] keeps the files and writes everything in [`Stream::finish`].
pub struct Stream<'w> {
    format: Format,
    style: TextStyle,
    out: &'w mut dyn Write,
    /// Findings written so far (JSON separators).
    written: usize,
    /// SARIF only.
    kept: Vec<FileLint>,
}

impl<'w> Stream<'w> {
    /// A report in `format` to `out`.
    pub fn new(format: Format, style: TextStyle, out: &'w mut dyn Write) -> Stream<'w> {
        Stream {
            format,
            style,
            out,
            written: 0,
            kept: Vec::new(),
        }
    }

    /// Writes (or, for SARIF, keeps) one linted file, in history order.
    pub fn file(&mut self, lint: FileLint) -> io::Result<()> {
        match self.format {
            Format::Sarif => {
                self.kept.push(lint);
                Ok(())
            }
            Format::Text => text::render_file(&view(&lint), &self.style, self.out),
            Format::Github => github::render(&[view(&lint)], self.out),
            Format::Json => {
                self.written = json::render_file(&view(&lint), self.written, self.out)?;
                Ok(())
            }
        }
    }

    /// Writes what follows the last file.
    pub fn finish(self, summary: &Summary) -> io::Result<()> {
        match self.format {
            Format::Sarif => {
                let outcome = LintOutcome {
                    files: self.kept,
                    summary: *summary,
                };
                render(&outcome, Format::Sarif, &self.style, self.out)
            }
            Format::Text => text::render_summary(summary, self.out),
            Format::Github => Ok(()),
            Format::Json => json::render_end(summary, self.written, self.out),
        }
    }
}

/// A shared example for every format's snapshot tests.
#[cfg(test)]
pub(crate) mod example {
    use crate::lint::{Category, FileLint, Finding, LintOutcome, Rule, Severity, Summary};
    use crate::pg::{Ident, LockMode, QualifiedName};
    use crate::source::{from_text, MigrationFile, NamingScheme, Source, Span};

    /// A lock rule with a known zero-downtime rewrite.
    pub static SET_NOT_NULL: Rule = Rule {
        id: "set-not-null",
        category: Category::Lock,
        default_severity: Severity::Error,
        lock: Some(LockMode::AccessExclusive),
        summary: "SET NOT NULL scans the table under ACCESS EXCLUSIVE",
        doc: "### What it does\nFlags `ALTER COLUMN … SET NOT NULL`.\n\n### Why is this bad?\nIt scans the table.\n",
        bad: "",
        good: "",
        rewritable: true,
        enabled_by_default: true,
        check: |_, _, _| {},
    };

    /// A style rule with no lock.
    pub static PREFER_TEXT: Rule = Rule {
        id: "prefer-text",
        category: Category::Style,
        default_severity: Severity::Warning,
        lock: None,
        summary: "Prefer text to varchar(n)",
        doc: "",
        bad: "",
        good: "",
        rewritable: false,
        enabled_by_default: true,
        check: |_, _, _| {},
    };

    /// An info rule with an index lock.
    pub static INDEX_LOCK: Rule = Rule {
        id: "create-index",
        category: Category::Lock,
        default_severity: Severity::Warning,
        lock: Some(LockMode::Share),
        summary: "CREATE INDEX blocks writes",
        doc: "### What it does\nFlags `CREATE INDEX` without `CONCURRENTLY`.\n",
        bad: "",
        good: "",
        rewritable: true,
        enabled_by_default: true,
        check: |_, _, _| {},
    };

    fn file(path: &str) -> MigrationFile {
        MigrationFile {
            path: path.into(),
            version: None,
            name: "x".into(),
            scheme: NamingScheme::Explicit,
        }
    }

    fn span_of(source: &Source, needle: &str) -> Span {
        let start = source.text.find(needle).expect("needle in text");
        Span::new(start, start + needle.len())
    }

    /// Two files: a CRLF file with a multi-line statement, a tab and a
    /// non-ASCII comment; and an LF file with a finding with no lock or help
    /// and a long statement whose excerpt is cut.
    pub fn outcome() -> LintOutcome {
        let first = from_text(
            file("migrations/V12__email_required.sql"),
            "-- Schéma: users → emails\r\n\
             ALTER TABLE users ALTER COLUMN email SET NOT NULL;\r\n\
             CREATE INDEX users_email\r\n\
             \tON users (email);\r\n"
                .into(),
        );
        let set_not_null = Finding::new(
            &SET_NOT_NULL,
            span_of(&first, "ALTER TABLE users ALTER COLUMN email SET NOT NULL"),
            "`SET NOT NULL` scans users under ACCESS EXCLUSIVE, blocking reads and writes",
        )
        .help("add a CHECK … NOT VALID, VALIDATE it, then SET NOT NULL")
        .table(&QualifiedName::bare(Ident::new("users")))
        .label("held until every row is checked");
        let index = Finding {
            severity: Severity::Info,
            ..Finding::new(
                &INDEX_LOCK,
                span_of(&first, "CREATE INDEX users_email\r\n\tON users (email)"),
                "`CREATE INDEX` blocks writes to users until the index is built",
            )
            .help("use CREATE INDEX CONCURRENTLY")
            .table(&QualifiedName::bare(Ident::new("users")))
            .label("writes wait here")
        };
        // A comment with a non-ASCII char before the span on the same line.
        let second = from_text(
            file("migrations/V13__notes.sql"),
            "/* ü */ CREATE TABLE notes (\n  id bigint,\n  title varchar(100),\n  body text,\n  \
             author text,\n  at timestamptz\n);\nALTER TABLE notes ADD COLUMN tag varchar(20);\n"
                .into(),
        );
        let table = Finding::new(&PREFER_TEXT, span_of(&second, "CREATE TABLE notes ("), "x");
        let table = Finding {
            span: Span::new(table.span.start, second.text.find(");").unwrap() + 1),
            message: "`varchar(100)` limits title's length; changing it later rewrites the table".into(),
            ..table
        };
        let tag = Finding::new(
            &PREFER_TEXT,
            span_of(&second, "varchar(20)"),
            "`varchar(20)`: 50% of \"tags\", a:b,c\nsecond line",
        );
        LintOutcome {
            files: vec![
                FileLint {
                    source: first,
                    // Out of span order on purpose.
                    findings: vec![index, set_not_null],
                    statements: 2,
                },
                FileLint {
                    source: second,
                    findings: vec![tag, table],
                    statements: 2,
                },
            ],
            summary: Summary {
                files: 2,
                statements: 4,
                errors: 1,
                warnings: 2,
                infos: 1,
            },
        }
    }

    /// A run with nothing to report.
    pub fn clean() -> LintOutcome {
        let source = from_text(file("V1__ok.sql"), "SELECT 1;\n".into());
        LintOutcome {
            files: vec![FileLint {
                source,
                findings: Vec::new(),
                statements: 1,
            }],
            summary: Summary {
                files: 1,
                statements: 1,
                ..Summary::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_decision() {
        assert!(colour_from(true, None, None, None, None));
        assert!(!colour_from(false, None, None, None, None));
        assert!(!colour_from(true, Some("1"), None, None, None));
        assert!(
            colour_from(true, Some(""), None, None, None),
            "empty NO_COLOR is unset"
        );
        assert!(
            !colour_from(true, Some("1"), Some("1"), None, None),
            "NO_COLOR wins"
        );
        assert!(colour_from(false, None, Some("1"), None, None));
        assert!(!colour_from(false, None, Some("0"), None, None));
        assert!(!colour_from(true, None, None, Some("0"), None));
        assert!(!colour_from(true, None, None, None, Some("dumb")));
        assert!(colour_from(false, None, Some("1"), None, Some("dumb")));
    }

    #[test]
    fn positions_are_resolved_in_span_order() {
        let outcome = example::outcome();
        let files = located(&outcome);
        let first = &files[0].findings;
        assert_eq!(first[0].finding.rule.id, "set-not-null");
        assert_eq!((first[0].start, first[0].end), (pos(2, 1), pos(2, 50)));
        assert_eq!((first[1].start, first[1].end), (pos(3, 1), pos(4, 18)));
        let second = &files[1].findings;
        // `/* ü */ ` is 8 chars (9 bytes) before the statement.
        assert_eq!(second[0].start, pos(1, 9));
        assert_eq!(second[1].start, pos(8, 34));
    }

    #[test]
    fn no_colour_means_no_escapes() {
        for format in [Format::Text, Format::Json, Format::Sarif, Format::Github] {
            let out = render_to_string(&example::outcome(), format, &TextStyle::plain());
            assert!(!out.contains('\x1b'), "{format}");
        }
        let out = render_to_string(&example::outcome(), Format::Text, &TextStyle::coloured(true));
        assert!(out.contains('\x1b'));
    }

    fn pos(line: usize, column: usize) -> Position {
        Position { line, column }
    }
}
