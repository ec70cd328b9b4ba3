//! One JSON document for scripts:
//!
//! ```json
//! {
//!   "version": 2,
//!   "findings": [
//!     {
//!       "rule": "set-not-null", "category": "lock", "severity": "error",
//!       "file": "migrations/V12__email_required.sql",
//!       "line": 3, "column": 1, "end_line": 3, "end_column": 50,
//!       "message": "…", "help": "…" | null, "label": "…" | null,
//!       "lock": "ACCESS EXCLUSIVE" | null, "lock_held_since_line": 2 | null,
//!       "blocks": "reads-and-writes" | "writes" | "ddl-only" | "nothing" | null,
//!       "table": "users" | null, "plannable": true,
//!       "rows": 48200000 | null, "bytes": 12884901888 | null
//!     }
//!   ],
//!   "summary": { "files": 2, "statements": 14, "errors": 1, "warnings": 0, "infos": 0 }
//! }
//! ```
//!
//! `docs/lint-json.md` documents every field and what changed from one
//! [`VERSION`] to the next.
//!
//! Positions follow the convention of [`crate::report`]: 1-based, columns in
//! characters, `end_line`/`end_column` exclusive. Pretty-printed, with a
//! trailing newline.

use super::{FileView, Located};
use crate::lint::{Category, Severity, Summary};
use crate::pg::Blocks;
use serde::Serialize;
use std::io::{self, Write};

/// The version of the document's layout: bumped when a field is renamed,
/// removed or changes meaning (`docs/lint-json.md` lists the versions).
pub(crate) const VERSION: u32 = 2;

/// The whole document.
#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    findings: Vec<JsonFinding<'a>>,
    summary: &'a Summary,
}

/// One finding.
#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'static str,
    category: Category,
    severity: Severity,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
    help: Option<&'a str>,
    label: Option<&'a str>,
    /// SQL spelling, e.g. `ACCESS EXCLUSIVE`.
    lock: Option<&'static str>,
    /// The line of the earlier statement of the transaction that took `lock`.
    lock_held_since_line: Option<usize>,
    /// Kebab-case, e.g. `reads-and-writes`.
    blocks: Option<Blocks>,
    /// As SQL would write it, quoted where needed.
    table: Option<String>,
    /// `migrate plan` rewrites what this rule flags into a safe form.
    plannable: bool,
    /// The table's row estimate, when the schema came from a live database
    /// (`null` also when it was never analyzed).
    rows: Option<u64>,
    /// The table's total size in bytes, when the schema came from a live database.
    bytes: Option<u64>,
}

pub(crate) fn render(files: &[FileView<'_>], summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
    let paths: Vec<String> = files.iter().map(FileView::path).collect();
    let findings = files
        .iter()
        .zip(&paths)
        .flat_map(|(file, path)| file.findings.iter().map(move |l| json_finding(path, l)))
        .collect();
    serde_json::to_writer_pretty(
        &mut *out,
        &Report {
            version: VERSION,
            findings,
            summary,
        },
    )?;
    writeln!(out)
}

fn json_finding<'a>(path: &'a str, l: &Located<'a>) -> JsonFinding<'a> {
    let f = l.finding;
    JsonFinding {
        rule: f.rule.id,
        category: f.rule.category,
        severity: f.severity,
        file: path,
        line: l.start.line,
        column: l.start.column,
        end_line: l.end.line,
        end_column: l.end.column,
        message: &f.message,
        help: f.help.as_deref(),
        label: f.label.as_deref(),
        lock: f.lock.map(|m| m.sql_name()),
        lock_held_since_line: l.held_since.map(|at| at.line),
        blocks: f.blocks(),
        table: f.table.as_ref().map(ToString::to_string),
        plannable: f.rule.rewritable,
        rows: f.size.and_then(|s| s.rows),
        bytes: f.size.map(|s| s.bytes),
    }
}

/// Writes `value` pretty-printed as [`render`] would at `depth` levels of
/// nesting. `buf` is scratch space, reused from call to call.
fn write_nested(
    value: &impl Serialize,
    depth: usize,
    buf: &mut Vec<u8>,
    out: &mut dyn Write,
) -> io::Result<()> {
    buf.clear();
    let mut serializer = serde_json::Serializer::with_formatter(&mut *buf, Nested::at(depth));
    value.serialize(&mut serializer)?;
    out.write_all(buf)
}

/// serde_json's `PrettyFormatter` (two spaces a level) starting `depth`
/// levels in, so that a value streamed on its own lands exactly where it
/// stands in the whole document.
struct Nested {
    depth: usize,
    has_value: bool,
}

impl Nested {
    fn at(depth: usize) -> Nested {
        Nested {
            depth,
            has_value: false,
        }
    }

    fn newline<W: ?Sized + Write>(&self, writer: &mut W, first: bool) -> io::Result<()> {
        writer.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(writer)
    }

    fn indent<W: ?Sized + Write>(&self, writer: &mut W) -> io::Result<()> {
        for _ in 0..self.depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            writer.write_all(b"\n")?;
            self.indent(writer)?;
        }
        writer.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.newline(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.newline(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Streams one file's findings (for [`super::Stream`]); `written` counts the
/// findings written before. Returns the new count.
pub(crate) fn render_file(file: &FileView<'_>, mut written: usize, out: &mut dyn Write) -> io::Result<usize> {
    if file.findings.is_empty() {
        return Ok(written);
    }
    let path = file.path();
    let mut buf = Vec::with_capacity(1024);
    for l in &file.findings {
        if written == 0 {
            write!(out, "{{\n  \"version\": {VERSION},\n  \"findings\": [\n    ")?;
        } else {
            out.write_all(b",\n    ")?;
        }
        write_nested(&json_finding(&path, l), 2, &mut buf, out)?;
        written += 1;
    }
    Ok(written)
}

/// Ends a streamed document: closes the findings and writes the summary.
pub(crate) fn render_end(summary: &Summary, written: usize, out: &mut dyn Write) -> io::Result<()> {
    if written == 0 {
        write!(out, "{{\n  \"version\": {VERSION},\n  \"findings\": [],\n")?;
    } else {
        out.write_all(b"\n  ],\n")?;
    }
    out.write_all(b"  \"summary\": ")?;
    write_nested(summary, 1, &mut Vec::new(), out)?;
    out.write_all(b"\n}\n")
}

#[cfg(test)]
mod tests {
    use crate::report::{example, render_to_string, Format, TextStyle};
    use serde_json::Value;

    fn json(outcome: &crate::lint::LintOutcome) -> String {
        render_to_string(outcome, Format::Json, &TextStyle::plain())
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(json(&example::outcome()));
    }

    #[test]
    fn fields_and_types() {
        let out = json(&example::outcome());
        assert!(out.ends_with("}\n"));
        let doc: Value = serde_json::from_str(&out).unwrap();
        let findings = doc["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 4);
        let first = &findings[0];
        for key in [
            "rule",
            "category",
            "severity",
            "file",
            "line",
            "column",
            "end_line",
            "end_column",
            "message",
            "help",
            "lock",
            "lock_held_since_line",
            "blocks",
            "plannable",
            "table",
        ] {
            assert!(first.get(key).is_some(), "missing {key}");
        }
        assert_eq!(first["lock"], "ACCESS EXCLUSIVE");
        assert_eq!(first["blocks"], "reads-and-writes");
        assert_eq!(first["category"], "lock");
        assert_eq!(first["severity"], "error");
        assert_eq!(first["table"], "users");
        assert_eq!(first["plannable"], true);
        assert!(first.get("rewrite").is_none());
        assert_eq!(doc["version"], super::VERSION);
        assert_eq!(findings[1]["blocks"], "writes");
        let no_lock = &findings[2];
        assert_eq!(no_lock["lock"], Value::Null);
        assert_eq!(no_lock["blocks"], Value::Null);
        assert_eq!(no_lock["help"], Value::Null);
        assert_eq!(no_lock["table"], Value::Null);
        assert_eq!(doc["summary"]["errors"], 1);
        assert_eq!(doc["summary"]["statements"], 4);
    }

    #[test]
    fn streamed_output_is_identical() {
        for outcome in [example::outcome(), example::clean()] {
            for format in [Format::Json, Format::Text, Format::Github, Format::Sarif] {
                let mut buf = Vec::new();
                let mut stream = crate::report::Stream::new(format, TextStyle::plain(), &mut buf);
                for file in outcome.files.clone() {
                    stream.file(file).unwrap();
                }
                stream.finish(&outcome.summary).unwrap();
                let expected = render_to_string(&outcome, format, &TextStyle::plain());
                assert_eq!(String::from_utf8(buf).unwrap(), expected, "{format}");
            }
        }
    }

    #[test]
    fn clean_run() {
        let doc: Value = serde_json::from_str(&json(&example::clean())).unwrap();
        assert_eq!(doc["findings"], Value::Array(vec![]));
        assert_eq!(doc["summary"]["files"], 1);
    }
}
