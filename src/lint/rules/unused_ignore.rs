//! `unused-ignore`: an ignore directive that silences nothing.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::Stmt;
use crate::source::{Ignore, IgnoreScope, IgnoredRule};

pub(crate) static RULE: Rule = Rule {
    id: "unused-ignore",
    category: Category::Correctness,
    default_severity: Severity::Warning,
    lock: None,
    summary: "a `migrate:ignore` directive names a rule that did not fire there",
    doc: "### What it does\n\
Reports each rule id in a `-- migrate:ignore` or `-- migrate:ignore-file` directive that silenced \
nothing: a misspelt or unknown id, a rule that does not fire on that statement, or a directive with \
no statement after it.\n\n\
### Why is this bad?\n\
A stale ignore hides nothing today but will silently hide a real problem later, and a misspelt one \
protects nothing.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
Remove the directive, or correct the rule id (`migrate rules` lists them).",
    bad: "-- migrate:ignore set-not-null -- not needed\nSELECT 1;",
    good: "-- migrate:ignore set-not-null -- backfilled and checked in V11\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(_cx: &LintContext, _stmt: &Stmt, _out: &mut Vec<Finding>) {
    // Reported by the driver once every rule has run (see `lint::run`).
}

/// The finding for `id` of `ignore`, which matched nothing.
pub(crate) fn finding(id: &IgnoredRule, ignore: &Ignore) -> Finding {
    let message = if super::by_id(&id.id).is_none() {
        format!("unknown rule `{}` in ignore directive", id.id)
    } else if ignore.scope == IgnoreScope::Dangling {
        format!("ignore for `{}` has no statement after it", id.id)
    } else {
        format!("`{}` does not fire here, so this ignore has no effect", id.id)
    };
    Finding::new(&RULE, id.span, message)
        .help("remove it, or correct the rule id (`migrate rules` lists them)")
}
