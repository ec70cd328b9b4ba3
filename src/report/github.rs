//! GitHub Actions workflow commands: one annotation per finding, one per line.
//!
//! ```text
//! ::error file=migrations/V12__email_required.sql,line=3,col=1,endLine=3,endColumn=50,title=set-not-null::`SET NOT NULL` scans users … — add a CHECK …
//! ```
//!
//! Errors are `::error`, warnings `::warning`, infos `::notice`. The help, if
//! any, follows the message after ` — `. Values are escaped as the runner
//! expects: in the message `%`, `\r`, `\n` become `%25`, `%0D`, `%0A`; in
//! property values `:` and `,` also become `%3A` and `%2C`.
//!
//! GitHub only honours columns on single-line annotations (the checks API
//! rejects `start_column`/`end_column` when the lines differ), so `col` and
//! `endColumn` are written only when a finding starts and ends on one line.

use super::FileView;
use crate::lint::Severity;
use std::io::{self, Write};

pub(crate) fn render(files: &[FileView<'_>], out: &mut dyn Write) -> io::Result<()> {
    for file in files {
        let path = escape_property(&file.path());
        for l in &file.findings {
            let f = l.finding;
            let command = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut props = format!("file={path},line={}", l.start.line);
            if l.start.line == l.end.line {
                props.push_str(&format!(",col={}", l.start.column));
            }
            props.push_str(&format!(",endLine={}", l.end.line));
            if l.start.line == l.end.line {
                props.push_str(&format!(",endColumn={}", l.end.column));
            }
            props.push_str(&format!(",title={}", escape_property(f.rule.id)));
            let message = match &f.help {
                Some(help) => format!("{} — {help}", f.message),
                None => f.message.clone(),
            };
            writeln!(out, "::{command} {props}::{}", escape_data(&message))?;
        }
    }
    Ok(())
}

/// Escapes a command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{example, render_to_string, Format, TextStyle};

    #[test]
    fn snapshot() {
        let out = render_to_string(&example::outcome(), Format::Github, &TextStyle::plain());
        insta::assert_snapshot!(out);
    }

    #[test]
    fn one_line_per_finding() {
        let out = render_to_string(&example::outcome(), Format::Github, &TextStyle::plain());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("::error file=migrations/V12__email_required.sql,line=2,col=1,"));
        assert!(lines[1].starts_with("::notice "));
        assert!(lines[2].starts_with("::warning "));
        // Multi-line: no columns.
        assert!(
            lines[1].contains(",line=3,endLine=4,title=create-index::"),
            "{}",
            lines[1]
        );
        assert!(render_to_string(&example::clean(), Format::Github, &TextStyle::plain()).is_empty());
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_data("50% a:b,c\r\nd"), "50%25 a:b,c%0D%0Ad");
        assert_eq!(escape_property("50% a:b,c\r\nd"), "50%25 a%3Ab%2Cc%0D%0Ad");
    }
}
