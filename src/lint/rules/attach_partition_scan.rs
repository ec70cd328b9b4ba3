//! `attach-partition-scan`: `ATTACH PARTITION` scans the partition under ACCESS EXCLUSIVE to check its bounds.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "attach-partition-scan",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "`ATTACH PARTITION` scans the partition while blocking its reads and writes, unless a validated CHECK proves the bounds",
    doc: "### What it does\n\
Flags `ALTER TABLE parent ATTACH PARTITION child …` when `child` existed before this migration and \
has no validated CHECK constraint.\n\n\
### Why is this bad?\n\
PostgreSQL reads every row of the partition to prove it fits the partition bounds, holding ACCESS \
EXCLUSIVE on the partition: no reads, no writes on it for the whole scan. When the partitioned table \
has a DEFAULT partition, that one is locked and scanned too.\n\n\
PostgreSQL skips the scan when a validated CHECK constraint on the partition implies the bounds. The \
linter cannot prove that implication, so it trusts that a validated CHECK on the partition is there \
for this, and stays quiet when one exists.\n\n\
### Postgres versions\n\
PostgreSQL 12 and later take only SHARE UPDATE EXCLUSIVE on the partitioned table; before 12 it is \
ACCESS EXCLUSIVE there as well. The partition is scanned on every version unless a CHECK proves the \
bounds. For list partitions on a column, also `SET NOT NULL` on the key first unless NULL is among \
the values.\n\n\
### Use instead\n\
```sql\n\
ALTER TABLE events_2025 ADD CONSTRAINT events_2025_bounds\n  \
CHECK (created_at >= '2025-01-01' AND created_at < '2026-01-01') NOT VALID;  -- instant\n\
ALTER TABLE events_2025 VALIDATE CONSTRAINT events_2025_bounds;  -- SHARE UPDATE EXCLUSIVE: traffic continues\n\
ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');  -- no scan\n\
ALTER TABLE events_2025 DROP CONSTRAINT events_2025_bounds;\n```\n\
Each statement in its own transaction. With a DEFAULT partition, give it a validated CHECK that \
excludes the new range as well.",
    bad: "ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');",
    good: "ALTER TABLE events_2025 ADD CONSTRAINT events_2025_bounds \
CHECK (created_at >= '2025-01-01' AND created_at < '2026-01-01') NOT VALID;\n\
ALTER TABLE events_2025 VALIDATE CONSTRAINT events_2025_bounds;\n\
ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::AlterTable(alter) = &stmt.kind else {
        return;
    };
    for action in &alter.actions {
        let AlterAction::AttachPartition { partition } = action else {
            continue;
        };
        if cx.is_new(partition) {
            continue;
        }
        let has_validated_check = cx.table(partition).is_some_and(|t| {
            t.constraints()
                .any(|c| c.validated && matches!(c.kind, ConstraintKind::Check { .. }))
        });
        if has_validated_check {
            continue;
        }
        let parent = if cx.pg_version().at_least(12) || cx.is_new(&alter.table) {
            String::new()
        } else {
            format!(" and holds ACCESS EXCLUSIVE on {} too", alter.table)
        };
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "`ATTACH PARTITION` scans {partition} under ACCESS EXCLUSIVE to check its bounds{parent}, \
                     blocking reads and writes"
                ),
            )
            .table(partition)
            .label("held until every row of the partition is checked")
            .help("add a CHECK matching the bounds NOT VALID and VALIDATE it on the partition, then attach it"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    const ATTACH: &str =
        "ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');";

    #[test]
    fn flags_attach_and_names_the_partition() {
        let f = assert_flags(&RULE, ATTACH);
        assert_eq!(f.table.unwrap().to_string(), "events_2025");
        assert!(!f.message.contains("too"), "{}", f.message);
    }

    #[test]
    fn flags_default_partition_and_qualified_names() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE public.events ATTACH PARTITION Public.\"Events_Old\" DEFAULT;",
        );
        assert_eq!(f.table.unwrap().to_string(), "public.\"Events_Old\"");
    }

    #[test]
    fn trusts_a_validated_check_on_the_partition() {
        let check =
            "ALTER TABLE events_2025 ADD CONSTRAINT b CHECK (created_at >= '2025-01-01') NOT VALID;\n";
        assert_flags(&RULE, &format!("{check}{ATTACH}"));
        assert_clean(
            &RULE,
            &format!("{check}ALTER TABLE events_2025 VALIDATE CONSTRAINT b;\n{ATTACH}"),
        );
        assert_clean(
            &RULE,
            &format!(
                "ALTER TABLE events_2025 ADD CONSTRAINT b CHECK (created_at >= '2025-01-01');\n{ATTACH}"
            ),
        );
    }

    #[test]
    fn ignores_partition_created_in_this_file() {
        assert_clean(
            &RULE,
            "CREATE TABLE events_2026 (id bigint NOT NULL, created_at timestamptz NOT NULL);\n\
             ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
        );
    }

    #[test]
    fn mentions_the_parent_lock_before_pg12() {
        assert!(findings_at(&RULE, ATTACH, 11)[0]
            .message
            .contains("ACCESS EXCLUSIVE on events too"));
        assert!(!findings_at(&RULE, ATTACH, 12)[0].message.contains("too"));
    }
}
