//! `cluster`: `CLUSTER` rewrites the table under ACCESS EXCLUSIVE.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "cluster",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "`CLUSTER` rewrites the table in index order while blocking reads and writes",
    doc: "### What it does\n\
Flags `CLUSTER table [USING index]` on a table that existed before this migration, and `CLUSTER` \
with no table (every table clustered before).\n\n\
### Why is this bad?\n\
`CLUSTER` writes a sorted copy of the table and rebuilds every index while holding ACCESS \
EXCLUSIVE: no reads, no writes until it ends. It needs free disk space for the copy, and the order \
is not maintained afterwards.\n\n\
### Postgres versions\n\
All versions. `CLUSTER` without a table cannot run inside a transaction block. PostgreSQL 19 adds \
`REPACK (CONCURRENTLY) … USING INDEX`, which holds ACCESS EXCLUSIVE only while it swaps the files.\n\n\
### Use instead\n\
There is no in-database zero-downtime form. Reorder the table online with an external tool such as \
[pg_repack](https://github.com/reorg/pg_repack) (`pg_repack --table users --order-by id`) or \
[pg_squeeze](https://github.com/cybertec-postgresql/pg_squeeze), which copy the table in the \
background and lock it only briefly to swap. Marking the index is instant and lets a later \
maintenance-window `CLUSTER users` use it:\n\
```sql\nALTER TABLE users CLUSTER ON users_pkey;\n```",
    bad: "CLUSTER users USING users_pkey;",
    good: "ALTER TABLE users CLUSTER ON users_pkey;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::Cluster { table } = &stmt.kind else {
        return;
    };
    let help =
        "reorder the table online with pg_repack or pg_squeeze, or run `CLUSTER` in a maintenance window";
    let finding = match table {
        Some(table) if cx.is_new(table) => return,
        Some(table) => Finding::new(
            &RULE,
            stmt.span,
            format!("`CLUSTER` rewrites {table} under ACCESS EXCLUSIVE, blocking reads and writes"),
        )
        .table(table),
        None => Finding::new(
            &RULE,
            stmt.span,
            "`CLUSTER` rewrites every previously clustered table under ACCESS EXCLUSIVE, blocking reads and \
             writes",
        ),
    };
    out.push(
        finding
            .label("held until the table and its indexes are rewritten")
            .help(help),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    #[test]
    fn flags_cluster_on_existing_table() {
        let f = assert_flags(&RULE, "CLUSTER users USING users_pkey;");
        assert_eq!(f.table.unwrap().to_string(), "users");
        let f = assert_flags(&RULE, "cluster verbose Public.\"Users\";");
        assert_eq!(f.table.unwrap().to_string(), "public.\"Users\"");
    }

    #[test]
    fn flags_cluster_of_everything() {
        let f = assert_flags(&RULE, "CLUSTER;");
        assert!(f.table.is_none());
    }

    #[test]
    fn ignores_cluster_on_marker_and_new_tables() {
        assert_clean(&RULE, "ALTER TABLE users CLUSTER ON users_pkey;");
        assert_clean(
            &RULE,
            "CREATE TABLE t (id int PRIMARY KEY);\nCLUSTER t USING t_pkey;",
        );
    }

    #[test]
    fn fires_on_every_version() {
        assert_eq!(findings_at(&RULE, "CLUSTER users;", 10).len(), 1);
        assert_eq!(findings_at(&RULE, "CLUSTER users;", 18).len(), 1);
    }
}
