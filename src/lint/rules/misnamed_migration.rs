//! `misnamed-migration`: a file in a migration directory that matches no naming scheme.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::Stmt;
use crate::source::{MigrationFile, Span};

pub(crate) static RULE: Rule = Rule {
    id: "misnamed-migration",
    category: Category::Correctness,
    default_severity: Severity::Warning,
    lock: None,
    summary: "a `.sql` file matches no migration naming scheme, so its place in the history is a guess",
    doc: "### What it does\n\
Reports a `.sql` file under a migration directory whose name matches none of the schemes the \
linter reads: `V{n}__{name}.sql` (refinery, Flyway), `{n}_{name}[.up].sql` (sqlx, golang-migrate, \
dbmate, goose), `{version}_{name}/up.sql` (diesel), `{timestamp}_{name}/migration.sql` (Prisma). \
The file is still linted, after the named ones.\n\n\
### Why is this bad?\n\
Many runners skip such files silently, so the migration may never run; and the linter cannot know \
where it stands in the history.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Rename the file to your runner's scheme (`migrate new NAME` creates the next `V{n}__name.sql`).",
    bad: "",
    good: "",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(_cx: &LintContext, _stmt: &Stmt, _out: &mut Vec<Finding>) {
    // Reported by the driver from the file's naming scheme (see `lint::run`).
}

/// The finding for a misnamed file.
pub(crate) fn finding(file: &MigrationFile) -> Finding {
    Finding::new(
        &RULE,
        Span::new(0, 0),
        format!(
            "{} matches no migration naming scheme; it is linted after the named files",
            file.path.display()
        ),
    )
    .help("rename it to your runner's scheme, e.g. V3__add_users.sql")
}
