//! Rule documentation pages, generated from each rule's metadata.
//!
//! `docs/rules/<id>.md` holds exactly [`page`]'s output (a test keeps them
//! in step), and `migrate explain <id>` prints the same page.

use super::{rules, Rule};
use std::fmt::Write;

/// The Markdown page for one rule.
pub fn page(rule: &Rule) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# `{}`\n\n{}.\n", rule.id, capitalised(rule.summary));
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Category | {} |", rule.category.as_str());
    let _ = writeln!(out, "| Default severity | {} |", rule.default_severity.as_str());
    match rule.lock {
        Some(lock) => {
            let _ = writeln!(out, "| Lock | {lock} ({}) |", lock.blocks().describe());
        }
        None => {
            let _ = writeln!(out, "| Lock | — |");
        }
    }
    let rewrite = if rule.rewritable {
        "yes: see *Use instead*"
    } else {
        "no"
    };
    let _ = writeln!(out, "| Zero-downtime rewrite | {rewrite} |");
    let enabled = if rule.enabled_by_default {
        "yes"
    } else {
        "no (turn it on in `migrate.yaml`)"
    };
    let _ = writeln!(out, "| Enabled by default | {enabled} |\n");
    let _ = writeln!(out, "{}\n", rule.doc.trim_end());
    if !rule.bad.is_empty() {
        let _ = writeln!(
            out,
            "### Example\n\nFlagged:\n\n```sql\n{}\n```\n",
            rule.bad.trim_end()
        );
        let _ = writeln!(out, "Not flagged:\n\n```sql\n{}\n```\n", rule.good.trim_end());
    }
    let _ = writeln!(
        out,
        "Silence it for one statement with `-- migrate:ignore {} -- <reason>`.",
        rule.id
    );
    out
}

/// The index page listing every rule.
pub fn index() -> String {
    let mut out = String::from(
        "# Rules\n\n| Rule | Category | Severity | Rewrite | Summary |\n|---|---|---|---|---|\n",
    );
    for rule in rules::ALL {
        let _ = writeln!(
            out,
            "| [`{id}`]({id}.md) | {} | {} | {} | {} |",
            rule.category.as_str(),
            rule.default_severity.as_str(),
            if rule.rewritable { "yes" } else { "no" },
            rule.summary.replace('|', "\\|"),
            id = rule.id,
        );
    }
    out
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `docs/rules/` must match the generated pages. Regenerate them with
    /// `MIGRATE_UPDATE_DOCS=1 cargo test docs_match`.
    #[test]
    fn docs_match_generated_pages() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules");
        let update = std::env::var_os("MIGRATE_UPDATE_DOCS").is_some();
        let mut pages: Vec<(String, String)> = rules::ALL
            .iter()
            .map(|r| (format!("{}.md", r.id), page(r)))
            .collect();
        pages.push(("README.md".into(), index()));
        let mut stale = Vec::new();
        for (name, text) in pages {
            let path = dir.join(&name);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        assert!(
            stale.is_empty(),
            "stale docs/rules pages {stale:?}: run MIGRATE_UPDATE_DOCS=1 cargo test docs_match"
        );
    }
}
