//! `add-column-rewrite`: `ADD COLUMN` forms that rewrite the whole table under ACCESS EXCLUSIVE.

use crate::lint::{and_list, Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, ColumnDef, Generated, Stmt, Volatility};
use crate::pg::{LockMode, PgVersion};

pub(crate) static RULE: Rule = Rule {
    id: "add-column-rewrite",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "this `ADD COLUMN` rewrites the whole table while blocking reads and writes",
    doc: "### What it does\n\
Flags `ADD COLUMN` on an existing table when PostgreSQL must rewrite every row: a volatile default \
(`random()`, `gen_random_uuid()`, `clock_timestamp()`, `nextval()`, `timeofday()`, or a function it \
does not know), any non-null default before PostgreSQL 11, `serial` types, identity columns, \
`GENERATED … STORED` columns, and columns of a domain with constraints.\n\n\
### Why is this bad?\n\
The table and all its indexes are rewritten under an ACCESS EXCLUSIVE lock: no reads, no writes, \
for as long as copying the table takes.\n\n\
### Postgres versions\n\
PG 11+ stores a non-volatile default (a constant, `now()`, `current_timestamp`, `'…'::date`) in \
the catalog: instant, not flagged. PG 18 virtual generated columns need no rewrite.\n\n\
### Use instead\n\
```sql\nALTER TABLE users ADD COLUMN token uuid;                         -- instant\n\
ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid(); -- new rows only\n\
UPDATE users SET token = gen_random_uuid() WHERE id >= $1 AND id < $2 AND token IS NULL; -- in batches\n```\n\
then the `set-not-null` plan if the column must be NOT NULL.",
    bad: "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
    good: "ALTER TABLE users ADD COLUMN token uuid;",
    rewritable: true,
    enabled_by_default: true,
    check,
};

/// Why adding `column` rewrites the table on `pg`, if it does.
pub(crate) fn rewrite_reason(column: &ColumnDef, pg: PgVersion, constrained_domain: bool) -> Option<String> {
    if column.ty.is_serial() {
        return Some(format!("`{}` fills every row from a sequence", column.ty.base));
    }
    match column.generated {
        Some(Generated::Identity) => {
            return Some("an identity column fills every row from a sequence".into())
        }
        Some(Generated::Stored) => return Some("a stored generated column is computed for every row".into()),
        Some(Generated::Virtual) if !pg.at_least(18) => {
            return Some("a generated column is stored (virtual columns need PostgreSQL 18)".into())
        }
        _ => {}
    }
    if constrained_domain {
        return Some(format!(
            "domain `{}` has constraints, checked against every row",
            column.ty.base
        ));
    }
    let default = column.default.as_ref()?;
    if default.volatility == Volatility::Volatile {
        let mut reason = if default.functions.is_empty() {
            "the default is volatile".to_string()
        } else {
            format!("the default calls volatile {}", default.functions.join(", "))
        };
        if !default.unknown_functions.is_empty() {
            reason.push_str(&format!(
                " ({} not built in, so assumed volatile)",
                default.unknown_functions.join(", ")
            ));
        }
        return Some(reason);
    }
    (!pg.at_least(11)).then(|| "before PostgreSQL 11 any default is written to every row".into())
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    // (subcommand, column, why it rewrites)
    let mut found: Vec<(usize, String, String)> = Vec::new();
    for (index, action) in alter.actions.iter().enumerate() {
        let AlterAction::AddColumn { column, .. } = action else {
            continue;
        };
        let domain = cx.schema.is_constrained_domain(&column.ty.base);
        if let Some(reason) = rewrite_reason(column, cx.pg_version(), domain) {
            found.push((index, column.name.to_string(), reason));
        }
    }
    if found.is_empty() {
        return;
    }
    let indexes: Vec<usize> = found.iter().map(|(i, _, _)| *i).collect();
    let columns: Vec<String> = found.iter().map(|(_, c, _)| c.clone()).collect();
    let mut reasons: Vec<&str> = Vec::new();
    for (_, _, reason) in &found {
        if !reasons.contains(&reason.as_str()) {
            reasons.push(reason);
        }
    }
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "adding {} rewrites {} under ACCESS EXCLUSIVE, blocking reads and writes: {}",
                and_list(&columns),
                alter.table,
                reasons.join("; ")
            ),
        )
        .table(&alter.table)
        .actions(&indexes)
        .label("the whole table is rewritten")
        .help("add the column without the default, SET DEFAULT, then backfill in batches"),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    #[test]
    fn one_finding_names_every_column_of_the_statement() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE users ADD COLUMN a uuid DEFAULT gen_random_uuid(), ADD COLUMN b text, \
             ADD COLUMN c uuid DEFAULT gen_random_uuid();",
        );
        assert!(
            f.message.starts_with("adding a and c rewrites users"),
            "{}",
            f.message
        );
        assert!(f.covers(0) && !f.covers(1) && f.covers(2));
    }

    #[test]
    fn flags_volatile_defaults() {
        for default in [
            "gen_random_uuid()",
            "random()",
            "clock_timestamp()",
            "timeofday()",
            "uuid_generate_v4()",
        ] {
            assert_flags(
                &RULE,
                &format!("ALTER TABLE users ADD COLUMN c text DEFAULT {default};"),
            );
        }
        assert_flags(
            &RULE,
            "ALTER TABLE users ADD COLUMN c bigint DEFAULT nextval('s');",
        );
    }

    #[test]
    fn flags_unknown_functions_and_says_so() {
        let f = assert_flags(&RULE, "ALTER TABLE users ADD COLUMN c text DEFAULT my_fn();");
        assert!(f.message.contains("my_fn not built in"), "{}", f.message);
    }

    #[test]
    fn flags_serial_identity_stored_and_domains() {
        assert_flags(&RULE, "ALTER TABLE users ADD COLUMN n bigserial;");
        assert_flags(
            &RULE,
            "ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;",
        );
        assert_flags(
            &RULE,
            "ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS (age * 2) STORED;",
        );
        assert_flags(
            &RULE,
            "CREATE DOMAIN pos AS int CHECK (VALUE > 0);\nALTER TABLE users ADD COLUMN n pos;",
        );
    }

    #[test]
    fn ignores_non_volatile_defaults_on_pg11() {
        for default in [
            "0",
            "'x'",
            "now()",
            "current_timestamp",
            "'2024-01-01'::date",
            "lower('A')",
        ] {
            assert_clean(
                &RULE,
                &format!("ALTER TABLE users ADD COLUMN c text DEFAULT {default};"),
            );
        }
        assert_clean(&RULE, "ALTER TABLE users ADD COLUMN n positive_int;");
    }

    #[test]
    fn flags_any_default_before_pg11() {
        let sql = "ALTER TABLE users ADD COLUMN c int DEFAULT 0;";
        assert_eq!(findings_at(&RULE, sql, 10).len(), 1);
        assert_eq!(findings_at(&RULE, sql, 11).len(), 0);
    }

    #[test]
    fn virtual_generated_columns_are_instant_on_pg18() {
        let sql = "ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS (age * 2);";
        assert_eq!(findings_at(&RULE, sql, 18).len(), 0);
        assert_eq!(findings_at(&RULE, sql, 17).len(), 1);
    }

    #[test]
    fn ignores_new_table() {
        assert_clean(
            &RULE,
            "CREATE TABLE t (c int);\nALTER TABLE t ADD COLUMN d uuid DEFAULT gen_random_uuid();",
        );
    }
}
