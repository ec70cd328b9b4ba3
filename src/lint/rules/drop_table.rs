//! `drop-table`: `DROP TABLE` breaks code that still queries the table, and deletes its data.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ConstraintKind, ObjectKind, Stmt, StmtKind};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "drop-table",
    category: Category::Compat,
    default_severity: Severity::Warning,
    lock: Some(LockMode::AccessExclusive),
    summary: "dropping a table breaks running code that still queries it, and its data is gone",
    doc: "### What it does\n\
Flags `DROP TABLE` of a table that existed before this migration.\n\n\
### Why is this bad?\n\
It is destructive: the rows cannot be recovered without a backup, and the application version \
running now may still query the table. `DROP TABLE` takes ACCESS EXCLUSIVE on the table **and on \
every table its foreign keys reference**, so a hot parent table is blocked too while the drop waits \
for its lock. Foreign keys from other tables need `CASCADE`, which alters those tables as well.\n\n\
### Postgres versions\n\
All versions.\n\n\
### Use instead\n\
1. Deploy code that no longer uses the table.\n\
2. Drop its outgoing foreign keys one per short transaction \
(`ALTER TABLE t DROP CONSTRAINT t_parent_fk;`), each with a `lock_timeout`.\n\
3. Then `DROP TABLE IF EXISTS t;`",
    bad: "DROP TABLE accounts;",
    good: "CREATE TABLE scratch (id bigint);\nDROP TABLE scratch;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::Drop(drop) = &stmt.kind else {
        return;
    };
    if drop.kind != ObjectKind::Table {
        return;
    }
    for name in &drop.names {
        if cx.is_new(name) {
            continue;
        }
        let mut message =
            format!("dropping {name} breaks running code that still queries it, and its data is gone");
        let mut referenced: Vec<String> = cx
            .schema
            .table(name)
            .into_iter()
            .flat_map(|t| t.constraints())
            .filter_map(|c| match &c.kind {
                ConstraintKind::ForeignKey { references, .. } if !references.same(name) => {
                    Some(references.to_string())
                }
                _ => None,
            })
            .collect();
        referenced.dedup();
        if !referenced.is_empty() {
            message.push_str(&format!(
                "; it also takes ACCESS EXCLUSIVE on {}, which its foreign keys reference",
                referenced.join(", ")
            ));
        }
        out.push(
            Finding::new(&RULE, stmt.span, message)
                .table(name)
                .label("destructive")
                .help("deploy code that no longer uses the table, drop its foreign keys, then drop it"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings};

    #[test]
    fn flags_drop_of_existing_tables() {
        let f = assert_flags(&RULE, "DROP TABLE IF EXISTS accounts CASCADE;");
        assert_eq!(f.table.unwrap().to_string(), "accounts");
        assert_eq!(findings(&RULE, "DROP TABLE accounts, orders;").len(), 2);
    }

    #[test]
    fn flags_quoted_and_schema_qualified_names() {
        let f = assert_flags(&RULE, "DROP TABLE app.\"Orders\";");
        assert_eq!(f.table.unwrap().to_string(), "app.\"Orders\"");
    }

    #[test]
    fn names_tables_its_foreign_keys_lock() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\nDROP TABLE orders;",
        );
        assert!(f.message.contains("ACCESS EXCLUSIVE on users"), "{}", f.message);
    }

    #[test]
    fn ignores_tables_created_here_and_other_objects() {
        assert_clean(&RULE, RULE.good);
        assert_clean(&RULE, "DROP VIEW order_summary;");
        assert_clean(&RULE, "DROP INDEX users_email_idx;");
    }
}
