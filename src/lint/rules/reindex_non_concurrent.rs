//! `reindex-non-concurrent`: `REINDEX` without `CONCURRENTLY` locks the index against every read that uses it.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ReindexTarget, Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "reindex-non-concurrent",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary:
        "`REINDEX` without `CONCURRENTLY` blocks writes to the table and every query that uses the index",
    doc: "### What it does\n\
Flags `REINDEX INDEX|TABLE|SCHEMA|DATABASE|SYSTEM` without `CONCURRENTLY`, unless the table was \
created in this migration.\n\n\
### Why is this bad?\n\
A plain `REINDEX` takes a SHARE lock on the table (writes wait) and an ACCESS EXCLUSIVE lock on each \
index it rebuilds, for the whole rebuild. The planner locks every index of a table it plans a query \
on, so even a primary-key lookup (`SELECT … WHERE id = $1`) waits: in practice the table is \
unreadable until the rebuild ends. `REINDEX TABLE`, `SCHEMA` and `DATABASE` do this to one index after \
another.\n\n\
### Postgres versions\n\
`REINDEX … CONCURRENTLY` exists since PostgreSQL 12; it cannot run inside a transaction block and \
cannot rebuild exclusion-constraint indexes or system catalogs. PostgreSQL 14.0–14.3 could corrupt \
indexes built concurrently: use 14.4 or later. Before 12, build a replacement index instead.\n\n\
### Use instead\n\
PostgreSQL 12 and later, outside a transaction:\n\
```sql\nREINDEX INDEX CONCURRENTLY users_email_idx;\n```\n\
If it fails it leaves an invalid `users_email_idx_ccnew` (drop it and retry) or \
`users_email_idx_ccold` (drop it).\n\n\
Before PostgreSQL 12:\n\
```sql\nCREATE INDEX CONCURRENTLY users_email_idx_new ON users (email);\n\
DROP INDEX CONCURRENTLY users_email_idx;\n\
ALTER INDEX users_email_idx_new RENAME TO users_email_idx;\n```",
    bad: "REINDEX INDEX users_email_idx;",
    good: "REINDEX INDEX CONCURRENTLY users_email_idx;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::Reindex(reindex) = &stmt.kind else {
        return;
    };
    if reindex.concurrently {
        return;
    }
    let help = if reindex.target == ReindexTarget::System {
        "rebuild system catalogs in a maintenance window: they cannot be reindexed concurrently"
    } else if cx.pg_version().at_least(12) {
        "use `REINDEX … CONCURRENTLY`, outside a transaction"
    } else {
        "before PostgreSQL 12, build a replacement with `CREATE INDEX CONCURRENTLY`, drop the old index \
         concurrently and rename the new one"
    };
    let finding = match (reindex.target, &reindex.name) {
        (ReindexTarget::Index, Some(index)) => {
            let table = cx.schema.index(index).map(|i| i.table);
            if table.as_ref().is_some_and(|t| cx.is_new(t)) {
                return;
            }
            let on = table
                .as_ref()
                .map_or_else(|| "its table".to_string(), ToString::to_string);
            // The claim is about the index itself: that is where the ACCESS EXCLUSIVE lock is.
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "`REINDEX` holds ACCESS EXCLUSIVE on index {index} and SHARE on {on}, blocking writes \
                     and every read that uses the index"
                ),
            )
            .table(index)
        }
        (ReindexTarget::Table, Some(table)) => {
            if cx.is_new(table) {
                return;
            }
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "`REINDEX TABLE` holds SHARE on {table} and ACCESS EXCLUSIVE on each of its indexes, \
                     blocking writes and every read that uses them"
                ),
            )
            .table(table)
            .lock(Some(LockMode::Share))
        }
        (target, name) => {
            let what = match target {
                ReindexTarget::Schema => "SCHEMA",
                ReindexTarget::Database => "DATABASE",
                ReindexTarget::System => "SYSTEM",
                ReindexTarget::Index | ReindexTarget::Table => return,
            };
            let name = name.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "`REINDEX {what}{name}` holds SHARE on each table and ACCESS EXCLUSIVE on each index \
                     it rebuilds, blocking writes and every read that uses them"
                ),
            )
        }
    };
    let label = if reindex.target == ReindexTarget::Index {
        "reads that use the index wait until it is rebuilt"
    } else {
        "reads that use an index wait until it is rebuilt"
    };
    out.push(finding.label(label).help(help));
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};
    use crate::pg::LockMode;

    #[test]
    fn flags_reindex_index_and_names_the_index() {
        let f = assert_flags(&RULE, "REINDEX INDEX users_email_idx;");
        assert_eq!(f.table.unwrap().to_string(), "users_email_idx");
        assert_eq!(f.lock, Some(LockMode::AccessExclusive));
        assert!(f.message.contains("SHARE on users"), "{}", f.message);
    }

    #[test]
    fn flags_reindex_table_with_share_on_the_table() {
        let f = assert_flags(&RULE, "reindex (verbose) table public.\"Users\";");
        assert_eq!(f.table.unwrap().to_string(), "public.\"Users\"");
        assert_eq!(f.lock, Some(LockMode::Share));
    }

    #[test]
    fn flags_schema_and_database_without_a_table() {
        let f = assert_flags(&RULE, "REINDEX SCHEMA public;");
        assert!(f.table.is_none() && f.message.contains("REINDEX SCHEMA public"));
        assert_flags(&RULE, "REINDEX DATABASE app;");
    }

    #[test]
    fn ignores_concurrent_reindex() {
        assert_clean(&RULE, "REINDEX INDEX CONCURRENTLY users_email_idx;");
        assert_clean(&RULE, "REINDEX (CONCURRENTLY) TABLE users;");
    }

    #[test]
    fn ignores_indexes_of_tables_created_in_this_file() {
        assert_clean(
            &RULE,
            "CREATE TABLE t (c int);\nCREATE INDEX t_c_idx ON t (c);\nREINDEX INDEX t_c_idx;",
        );
        assert_clean(&RULE, "CREATE TABLE t (c int);\nREINDEX TABLE t;");
    }

    #[test]
    fn help_suggests_concurrently_only_from_pg12() {
        let sql = "REINDEX INDEX users_email_idx;";
        let help = |pg| findings_at(&RULE, sql, pg)[0].help.clone().unwrap();
        assert!(help(12).contains("REINDEX … CONCURRENTLY"));
        assert!(help(11).contains("CREATE INDEX CONCURRENTLY"));
        assert!(!help(11).contains("REINDEX … CONCURRENTLY"));
        assert_eq!(findings_at(&RULE, sql, 11).len(), 1);
    }
}
