//! `vacuum-full`: `VACUUM FULL` rewrites the table under ACCESS EXCLUSIVE.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "vacuum-full",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "`VACUUM FULL` rewrites the table while blocking reads and writes",
    doc: "### What it does\n\
Flags `VACUUM FULL` and `VACUUM (FULL)` on tables that existed before this migration, and on the \
whole database when no table is named.\n\n\
### Why is this bad?\n\
`VACUUM FULL` writes a new copy of the table and rebuilds every index while holding ACCESS \
EXCLUSIVE: no reads, no writes until it ends, which on a large table is minutes to hours. It also \
needs free disk space for the copy.\n\n\
### Postgres versions\n\
All versions. `VACUUM` (full or not) cannot run inside a transaction block. PostgreSQL 19 adds \
`REPACK (CONCURRENTLY)`, which holds ACCESS EXCLUSIVE only while it swaps the files.\n\n\
### Use instead\n\
There is no in-database zero-downtime form. Plain `VACUUM` makes dead space reusable without \
blocking reads or writes:\n\
```sql\nVACUUM (ANALYZE) users;\n```\n\
To give the space back to the operating system online, use an external tool such as \
[pg_repack](https://github.com/reorg/pg_repack) or [pg_squeeze](https://github.com/cybertec-postgresql/pg_squeeze), \
which copy the table in the background and lock it only briefly to swap.",
    bad: "VACUUM FULL users;",
    good: "VACUUM (ANALYZE) users;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::Vacuum { full: true, tables } = &stmt.kind else {
        return;
    };
    let help = "run plain VACUUM, or compact the table online with pg_repack or pg_squeeze";
    if tables.is_empty() {
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                "`VACUUM FULL` rewrites every table in the database under ACCESS EXCLUSIVE, one after \
                 another, blocking reads and writes",
            )
            .help(help),
        );
    }
    for table in tables.iter().filter(|t| !cx.is_new(t)) {
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!("`VACUUM FULL` rewrites {table} under ACCESS EXCLUSIVE, blocking reads and writes"),
            )
            .table(table)
            .label("held until the table and its indexes are rewritten")
            .help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings, findings_at};

    #[test]
    fn flags_both_spellings() {
        assert_flags(&RULE, "VACUUM FULL users;");
        let f = assert_flags(&RULE, "vacuum (full, analyze) Public.\"Users\";");
        assert_eq!(f.table.unwrap().to_string(), "public.\"Users\"");
    }

    #[test]
    fn flags_each_table_and_the_whole_database() {
        assert_eq!(findings(&RULE, "VACUUM FULL users, orders;").len(), 2);
        let f = assert_flags(&RULE, "VACUUM FULL;");
        assert!(f.table.is_none() && f.message.contains("every table"));
    }

    #[test]
    fn ignores_plain_vacuum_and_full_false() {
        assert_clean(&RULE, "VACUUM users;");
        assert_clean(&RULE, "VACUUM (FULL false, ANALYZE) users;");
    }

    #[test]
    fn ignores_table_created_in_this_file() {
        assert_clean(&RULE, "CREATE TABLE t (c int);\nVACUUM FULL t;");
    }

    #[test]
    fn fires_on_every_version() {
        assert_eq!(findings_at(&RULE, "VACUUM FULL users;", 10).len(), 1);
        assert_eq!(findings_at(&RULE, "VACUUM FULL users;", 18).len(), 1);
    }
}
