//! Human-readable, rustc-style diagnostics.
//!
//! ```text
//! error[set-not-null]: `SET NOT NULL` scans users under ACCESS EXCLUSIVE, blocking reads and writes
//!   --> migrations/V12__email_required.sql:3:1
//!    |
//!  3 | ALTER TABLE users ALTER COLUMN email SET NOT NULL;
//!    | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ held until every row is checked
//!    |
//!    = lock: ACCESS EXCLUSIVE (blocks reads and writes)
//!    = help: add a CHECK … NOT VALID, VALIDATE it, then SET NOT NULL
//!    = docs: docs/rules/set-not-null.md
//! ```
//!
//! A statement over several lines shows its first [`MAX_LINES`] lines, each
//! underlined where the span covers it, then `...` if it goes on. Tabs are
//! drawn as four spaces; every other character counts as one column (wide
//! CJK characters will push the underline left of where it belongs).
//! A summary line ends the output.

use super::{FileView, Located, TextStyle};
use crate::lint::{Severity, Summary};
use anstyle::{AnsiColor, Style};
use std::io::{self, Write};

/// The most source lines shown per finding.
pub const MAX_LINES: usize = 4;

/// How many columns a tab takes in an excerpt.
const TAB_WIDTH: usize = 4;

pub(crate) fn render(
    files: &[FileView<'_>],
    summary: &Summary,
    style: &TextStyle,
    out: &mut dyn Write,
) -> io::Result<()> {
    for file in files {
        render_file(file, style, out)?;
    }
    render_summary(summary, out)
}

/// One file's findings (for [`super::Stream`]).
pub(crate) fn render_file(file: &FileView<'_>, style: &TextStyle, out: &mut dyn Write) -> io::Result<()> {
    let paint = Painter { colour: style.colour };
    for located in &file.findings {
        finding(file, located, &paint, out)?;
        writeln!(out)?;
    }
    Ok(())
}

/// The closing summary line (for [`super::Stream`]).
pub(crate) fn render_summary(summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", summary_line(summary))
}

/// Writes ANSI colours, or nothing, around text.
struct Painter {
    colour: bool,
}

impl Painter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.colour {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
}

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Error => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        Severity::Warning => Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold(),
        Severity::Info => Style::new().fg_color(Some(AnsiColor::Cyan.into())),
    }
}

fn gutter_style() -> Style {
    Style::new().fg_color(Some(AnsiColor::Blue.into())).bold()
}

fn finding(
    file: &FileView<'_>,
    located: &Located<'_>,
    paint: &Painter,
    out: &mut dyn Write,
) -> io::Result<()> {
    let f = located.finding;
    let sev = severity_style(f.severity);
    let bold = Style::new().bold();
    let blue = gutter_style();
    writeln!(
        out,
        "{}{}",
        paint.paint(sev, &format!("{}[{}]", f.severity.as_str(), f.rule.id)),
        paint.paint(bold, &format!(": {}", f.message)),
    )?;

    // The lines to show: a span ending at the very start of a line does not
    // reach into it.
    let first = located.start.line;
    let mut last = located.end.line;
    if last > first && located.end.column == 1 {
        last -= 1;
    }
    let shown_last = last.min(first + MAX_LINES - 1);
    let width = shown_last.to_string().len();
    let pad = " ".repeat(width + 1);

    writeln!(
        out,
        "{pad}{} {}:{}:{}",
        paint.paint(blue, "-->"),
        file.path(),
        located.start.line,
        located.start.column
    )?;
    let bar = paint.paint(blue, "|");
    writeln!(out, "{pad} {bar}")?;

    let text = file.index.text();
    for line in first..=shown_last {
        let range = file.index.line_range(line);
        let from = f.span.start.clamp(range.start, range.end);
        let to = f.span.end.clamp(from, range.end);
        let number = paint.paint(blue, &format!("{line:>width$}"));
        let source = expand_tabs(&text[range.start..range.end]);
        if source.is_empty() {
            writeln!(out, " {number} {bar}")?;
        } else {
            writeln!(out, " {number} {bar} {source}")?;
        }

        let is_last = line == shown_last;
        let mut carets = display_width(&text[from..to]);
        if carets == 0 {
            if !is_last {
                continue;
            }
            carets = 1;
        }
        let indent = " ".repeat(display_width(&text[range.start..from]));
        let mut underline = "^".repeat(carets);
        if is_last {
            if let Some(label) = &f.label {
                underline.push(' ');
                underline.push_str(label);
            }
        }
        writeln!(out, "{pad} {bar} {indent}{}", paint.paint(sev, &underline))?;
    }
    if shown_last < last {
        writeln!(out, "{}", paint.paint(blue, "..."))?;
    }

    writeln!(out, "{pad} {bar}")?;
    let eq = paint.paint(blue, "=");
    let mut note = |name: &str, body: &str| writeln!(out, "{pad} {eq} {}: {body}", paint.paint(bold, name));
    if let Some(lock) = f.lock {
        let since = match located.held_since {
            Some(at) => format!(", held since line {} until the transaction ends", at.line),
            None => String::new(),
        };
        note("lock", &format!("{lock} ({}){since}", lock.blocks().describe()))?;
    }
    if let (Some(table), Some(size)) = (&f.table, f.size) {
        note("table", &format!("{table}: {size}"))?;
    }
    if let Some(help) = help_text(f) {
        note("help", &help)?;
    }
    note("docs", &format!("docs/rules/{}.md", f.rule.id))
}

/// The help line, pointing to `migrate plan` when it rewrites this finding.
fn help_text(f: &crate::lint::Finding) -> Option<String> {
    match (&f.help, f.rule.rewritable) {
        (Some(help), true) => Some(format!("{help}; `migrate plan` writes this")),
        (Some(help), false) => Some(help.clone()),
        (None, true) => Some("`migrate plan` writes the safe steps".to_string()),
        (None, false) => None,
    }
}

fn expand_tabs(s: &str) -> String {
    s.replace('\t', &" ".repeat(TAB_WIDTH))
}

fn display_width(s: &str) -> usize {
    s.chars().map(|c| if c == '\t' { TAB_WIDTH } else { 1 }).sum()
}

/// `3 errors, 1 warning, 0 infos in 2 files (14 statements)`, or
/// `no findings in 2 files (14 statements)`.
pub(crate) fn summary_line(s: &Summary) -> String {
    let tail = format!(
        "in {} ({})",
        plural(s.files, "file", "files"),
        plural(s.statements, "statement", "statements")
    );
    if s.errors + s.warnings + s.infos == 0 {
        return format!("no findings {tail}");
    }
    format!(
        "{}, {}, {} {tail}",
        plural(s.errors, "error", "errors"),
        plural(s.warnings, "warning", "warnings"),
        plural(s.infos, "info", "infos"),
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{example, render_to_string, Format};

    fn plain(outcome: &crate::lint::LintOutcome) -> String {
        render_to_string(outcome, Format::Text, &TextStyle::plain())
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(plain(&example::outcome()));
    }

    #[test]
    fn clean_run() {
        assert_eq!(plain(&example::clean()), "no findings in 1 file (1 statement)\n");
    }

    #[test]
    fn summary_wording() {
        let s = Summary {
            files: 2,
            statements: 14,
            errors: 3,
            warnings: 1,
            infos: 0,
        };
        assert_eq!(
            summary_line(&s),
            "3 errors, 1 warning, 0 infos in 2 files (14 statements)"
        );
    }

    #[test]
    fn tab_underline_aligns() {
        let out = plain(&example::outcome());
        // `\tON users (email)` is drawn with four spaces and underlined fully.
        assert!(out.contains(" 4 |     ON users (email);\n   | ^^^^^^^^^^^^^^^^^^^^ writes wait here\n"));
    }

    #[test]
    fn gutter_widens_with_line_numbers() {
        let mut outcome = example::outcome();
        let file = &mut outcome.files[0];
        file.source.text = format!("{}{}", "\n".repeat(120), file.source.text);
        for f in &mut file.findings {
            f.span = f.span.shift(120);
        }
        let out = plain(&outcome);
        assert!(
            out.contains("\n    --> migrations/V12__email_required.sql:122:1\n     |\n 122 | ALTER"),
            "{out}"
        );
        assert!(
            out.contains("\n 123 | CREATE INDEX users_email\n     | ^^^^"),
            "{out}"
        );
    }

    #[test]
    fn coloured_output_is_coloured() {
        let out = render_to_string(&example::outcome(), Format::Text, &TextStyle::coloured(true));
        assert!(
            out.starts_with("\x1b[1m\x1b[31merror[set-not-null]\x1b[0m"),
            "{out:?}"
        );
        assert!(out.contains("\x1b[36minfo[create-index]\x1b[0m"), "{out:?}");
    }
}
