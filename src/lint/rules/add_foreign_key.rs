//! `add-foreign-key`: a foreign key added without `NOT VALID` on an existing table.

use crate::lint::{and_list, Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ConstraintKind, Stmt};
use crate::pg::{LockMode, QualifiedName};

pub(crate) static RULE: Rule = Rule {
    id: "add-foreign-key",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::ShareRowExclusive),
    summary: "adding a foreign key validates every row while blocking writes on both tables",
    doc: "### What it does\n\
Flags `ADD [CONSTRAINT …] FOREIGN KEY … REFERENCES` without `NOT VALID` on an existing table, and \
`ADD COLUMN … REFERENCES` with a default on an existing table; one finding per statement, naming \
every foreign key. `ADD COLUMN … REFERENCES` without a default is a warning about the brief lock \
on the referenced table, and nothing when that table is this one or was created in the same file.\n\n\
### Why is this bad?\n\
PostgreSQL takes SHARE ROW EXCLUSIVE on the table *and* on the referenced table, then checks every \
row: writes to both tables wait for the whole scan. `ADD COLUMN … REFERENCES` without a default needs no \
scan (the new column is all NULL): it takes ACCESS EXCLUSIVE on the table, as any `ADD COLUMN`, and \
SHARE ROW EXCLUSIVE on the referenced one, both briefly.\n\n\
### Postgres versions\n\
All versions (`NOT VALID` foreign keys since 9.1).\n\n\
### Use instead\n\
```sql\nALTER TABLE orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;\n\
ALTER TABLE orders VALIDATE CONSTRAINT orders_account_fk;  -- SHARE UPDATE EXCLUSIVE: traffic continues\n```\n\
Each statement in its own transaction.",
    bad: "ALTER TABLE users ADD CONSTRAINT users_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id);",
    good: "ALTER TABLE users ADD CONSTRAINT users_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    // Foreign keys that validate every row: (subcommand, referenced table).
    let mut scans: Vec<(usize, &QualifiedName)> = Vec::new();
    // `ADD COLUMN … REFERENCES` without a default: a column of NULLs, no
    // scan; only the brief lock on another table that holds data.
    let mut brief: Vec<(usize, String, &QualifiedName)> = Vec::new();
    for (index, action) in alter.actions.iter().enumerate() {
        match action {
            AlterAction::AddConstraint {
                constraint,
                not_valid: false,
            } => {
                if let ConstraintKind::ForeignKey { references, .. } = &constraint.kind {
                    scans.push((index, references));
                }
            }
            AlterAction::AddColumn { column, .. } => {
                let Some(references) = &column.references else {
                    continue;
                };
                if column.default.is_some() || column.generated.is_some() {
                    scans.push((index, references));
                } else if !references.same(&alter.table) && !cx.is_new(references) {
                    brief.push((index, column.name.to_string(), references));
                }
            }
            _ => {}
        }
    }
    if !scans.is_empty() {
        let indexes: Vec<usize> = scans.iter().map(|(i, _)| *i).collect();
        // Writes to a referenced table wait too, unless it is this table or new.
        let mut others: Vec<String> = Vec::new();
        for (_, references) in &scans {
            if !references.same(&alter.table)
                && !cx.is_new(references)
                && !others.contains(&references.to_string())
            {
                others.push(references.to_string());
            }
        }
        let keys = if scans.len() == 1 {
            "a foreign key".to_string()
        } else {
            format!("{} foreign keys", scans.len())
        };
        let blocked = if others.is_empty() {
            "blocking writes to it".to_string()
        } else {
            format!("blocking writes to it and to {}", and_list(&others))
        };
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "adding {keys} validates every row of {} under SHARE ROW EXCLUSIVE, {blocked}",
                    alter.table
                ),
            )
            .table(&alter.table)
            .actions(&indexes)
            .help("add the foreign key NOT VALID, then VALIDATE CONSTRAINT in its own transaction"),
        );
    }
    if let Some((_, _, first)) = brief.first() {
        let indexes: Vec<usize> = brief.iter().map(|(i, _, _)| *i).collect();
        let columns: Vec<String> = brief.iter().map(|(_, c, _)| c.clone()).collect();
        let mut tables: Vec<String> = Vec::new();
        for (_, _, t) in &brief {
            if !tables.contains(&t.to_string()) {
                tables.push(t.to_string());
            }
        }
        let mut finding = Finding::new(
            &RULE,
            stmt.span,
            format!(
                "`ADD COLUMN {} … REFERENCES` checks no rows (the new column is all NULL), but takes SHARE ROW \
                 EXCLUSIVE on {} in the same statement: brief, yet writes to it queue while it waits for the lock",
                columns.join(", "),
                and_list(&tables)
            ),
        )
        .table(first)
        .lock(Some(LockMode::ShareRowExclusive))
        .actions(&indexes)
        .help("set a lock_timeout, or add the column first and the foreign key NOT VALID after it");
        finding.severity = Severity::Warning;
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags};
    use crate::lint::Severity;

    #[test]
    fn flags_validated_foreign_key() {
        assert_flags(
            &RULE,
            "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id);",
        );
    }

    #[test]
    fn add_column_references_without_default_scans_nothing() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE orders ADD COLUMN account_id bigint REFERENCES accounts (id);",
        );
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.table.unwrap().to_string(), "accounts");
        assert!(f.message.contains("checks no rows"), "{}", f.message);
        // A default fills every row, and each is checked.
        let f = assert_flags(
            &RULE,
            "ALTER TABLE orders ADD COLUMN account_id bigint DEFAULT 1 REFERENCES accounts (id);",
        );
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.message.contains("validates every row of orders"),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_new_or_the_same_referenced_table_blocks_nobody() {
        assert_clean(
            &RULE,
            "CREATE TABLE tags (id bigint PRIMARY KEY);\nALTER TABLE orders ADD COLUMN tag_id bigint REFERENCES tags (id);",
        );
        assert_clean(
            &RULE,
            "ALTER TABLE orders ADD COLUMN parent_id bigint REFERENCES orders (id);",
        );
        let f = assert_flags(
            &RULE,
            "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES orders (id);",
        );
        assert!(f.message.ends_with("blocking writes to it"), "{}", f.message);
    }

    #[test]
    fn one_finding_lists_every_foreign_key_of_the_statement() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id), \
             ADD FOREIGN KEY (id) REFERENCES accounts (id), ADD COLUMN note text;",
        );
        assert!(
            f.message.contains("2 foreign keys") && f.message.contains("users and accounts"),
            "{}",
            f.message
        );
        assert!(f.covers(0) && f.covers(1) && !f.covers(2));
        let f = assert_flags(
            &RULE,
            "ALTER TABLE orders ADD COLUMN a bigint REFERENCES users (id), ADD COLUMN b bigint REFERENCES users (id);",
        );
        assert!(
            f.message.contains("`ADD COLUMN a, b … REFERENCES`"),
            "{}",
            f.message
        );
    }

    #[test]
    fn ignores_not_valid_and_new_tables() {
        assert_clean(
            &RULE,
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
        );
        assert_clean(
            &RULE,
            "CREATE TABLE t (u bigint);\nALTER TABLE t ADD FOREIGN KEY (u) REFERENCES users (id);",
        );
    }
}
