//! `create-index-non-concurrent`: `CREATE INDEX` without `CONCURRENTLY` on an existing table.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "create-index-non-concurrent",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::Share),
    summary: "`CREATE INDEX` blocks writes to the table until the index is built",
    doc: "### What it does\n\
Flags `CREATE INDEX` without `CONCURRENTLY` on a table that existed before this migration.\n\n\
### Why is this bad?\n\
A plain `CREATE INDEX` takes a SHARE lock on the table for the whole build: every `INSERT`, \
`UPDATE` and `DELETE` waits until the index is complete, which takes minutes on a large table.\n\n\
### Postgres versions\n\
All versions. `CREATE INDEX CONCURRENTLY` exists since 8.2; it cannot run inside a transaction block.\n\n\
### Use instead\n\
```sql\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);\n```\n\
Run it outside a transaction, then check that `pg_index.indisvalid` is true: a failed concurrent \
build leaves an INVALID index that must be dropped before retrying.",
    bad: "CREATE INDEX users_name_idx ON users (name);",
    good: "CREATE INDEX CONCURRENTLY users_name_idx ON users (name);",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::CreateIndex(index) = &stmt.kind else {
        return;
    };
    // `ON ONLY parent` builds nothing: it creates an invalid parent index to attach partitions to.
    if index.concurrently || index.only || cx.is_new(&index.table) {
        return;
    }
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "`CREATE INDEX` holds a SHARE lock on {} for the whole build, blocking writes",
                index.table
            ),
        )
        .table(&index.table)
        .label("writes wait until the index is built")
        .help("create the index CONCURRENTLY, outside a transaction"),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};

    #[test]
    fn flags_index_on_existing_table() {
        let f = assert_flags(&RULE, "CREATE UNIQUE INDEX i ON public.users (email);");
        assert_eq!(f.table.unwrap().to_string(), "public.users");
    }

    #[test]
    fn flags_quoted_names() {
        let f = assert_flags(&RULE, "CREATE INDEX i ON \"Users\" (email);");
        assert_eq!(f.table.unwrap().to_string(), "\"Users\"");
    }

    #[test]
    fn ignores_concurrent_builds() {
        assert_clean(&RULE, "CREATE INDEX CONCURRENTLY i ON users (email);");
    }

    #[test]
    fn ignores_table_created_in_same_migration() {
        assert_clean(&RULE, "CREATE TABLE t (c int);\nCREATE INDEX i ON t (c);");
    }

    #[test]
    fn ignores_on_only_parent() {
        assert_clean(&RULE, "CREATE INDEX i ON ONLY events (created_at);");
    }
}
