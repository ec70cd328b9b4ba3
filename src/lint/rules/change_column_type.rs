//! `change-column-type`: `ALTER COLUMN … TYPE` that rewrites the table under ACCESS EXCLUSIVE.

use crate::lint::{and_list, Category, Finding, LintContext, Rule, Severity};
use crate::parse::{AlterAction, Stmt, TypeName};
use crate::pg::LockMode;

pub(crate) static RULE: Rule = Rule {
    id: "change-column-type",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: Some(LockMode::AccessExclusive),
    summary: "`ALTER COLUMN … TYPE` rewrites the table and its indexes while blocking reads and writes",
    doc: "### What it does\n\
Flags `ALTER TABLE … ALTER COLUMN … TYPE` on an existing table, unless the schema model proves the \
change binary-coercible: `varchar(n)` → `varchar(m ≥ n)`, `varchar` or `text`; `text` → `varchar`; \
`numeric(p,s)` → `numeric(p' ≥ p, s)` or `numeric`; a precision increase of `timestamp`, \
`timestamptz`, `time` or `interval`; `bit varying(n)` → `bit varying(m ≥ n)`; `cidr` → `inet`. \
`int` → `bigint` and every other change rewrites. When the old type is unknown (the column was not \
created by the linted history) the finding is a warning that says so: lint against the real schema \
(`--database-url`, or `--schema` with a dump) to make it exact. One finding per statement names \
every column it changes.\n\n\
### Why is this bad?\n\
Any other change rewrites the table and rebuilds every index under ACCESS EXCLUSIVE. A `USING` \
clause always rewrites.\n\n\
### Postgres versions\n\
All versions. `timestamp` ↔ `timestamptz` avoids the table rewrite on PG 12+ only when the session \
time zone is UTC, and still rebuilds the column's indexes; the linter knows the time zone from a `SET [LOCAL] TimeZone` earlier in the file.\n\n\
### Use instead\n\
The column swap: add a new column of the new type, keep it in sync with a trigger, backfill in \
batches, build its indexes concurrently, validate its constraints, then swap the names in one short \
transaction and drop the old column later.",
    bad: "ALTER TABLE users ALTER COLUMN age TYPE bigint;",
    good: "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);",
    rewritable: true,
    enabled_by_default: true,
    check,
};

/// Whether changing a column from `from` to `to` needs no table rewrite
/// (binary-coercible, verified on PostgreSQL 15 and 18 in the catalog).
pub(crate) fn rewrite_free(from: &TypeName, to: &TypeName) -> bool {
    if from.array != to.array {
        return false;
    }
    if from == to {
        return true;
    }
    let widened = |from: &[u32], to: &[u32]| match (from.first(), to.first()) {
        (_, None) => true,
        (Some(a), Some(b)) => b >= a,
        (None, Some(_)) => false,
    };
    match (from.base.as_str(), to.base.as_str()) {
        ("varchar", "varchar") => widened(&from.modifiers, &to.modifiers),
        ("varchar", "text") => true,
        ("text", "varchar") => to.modifiers.is_empty(),
        ("numeric", "numeric") => {
            to.modifiers.is_empty()
                || (from.modifiers.len() == to.modifiers.len()
                    && widened(&from.modifiers, &to.modifiers)
                    && from.modifiers.get(1) == to.modifiers.get(1))
        }
        ("timestamp", "timestamp")
        | ("timestamptz", "timestamptz")
        | ("time", "time")
        | ("timetz", "timetz")
        | ("interval", "interval") => widened(&from.modifiers, &to.modifiers),
        ("cidr", "inet") => true,
        ("varbit", "varbit") => widened(&from.modifiers, &to.modifiers),
        _ => false,
    }
}

/// `timestamp` ↔ `timestamptz` (either direction, same precision or wider).
fn timestamp_pair(old: &TypeName, new: &TypeName) -> bool {
    matches!(
        (old.base.as_str(), new.base.as_str()),
        ("timestamp", "timestamptz") | ("timestamptz", "timestamp")
    )
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(alter) = cx.alter_of_existing(stmt) else {
        return;
    };
    let table = cx.table(&alter.table);
    // (subcommand, what makes it rewrite) and (subcommand, column) of the
    // changes whose old type the history does not know.
    let mut rewrites: Vec<(usize, (String, String))> = Vec::new();
    let mut unknown: Vec<(usize, String)> = Vec::new();
    for (index, action) in alter.actions.iter().enumerate() {
        let AlterAction::AlterType { column, ty, using } = action else {
            continue;
        };
        let old = table.and_then(|t| t.column(column)).map(|c| c.ty);
        let old = old.as_ref();
        // A domain without constraints stores its base type: judge the change by it.
        let target = cx.schema.unconstrained_domain_base(&ty.base).unwrap_or(ty);
        let detail = match old {
            Some(old) if using.is_none() && rewrite_free(old, target) => continue,
            Some(old) if timestamp_pair(old, ty) && cx.pg_version().at_least(12) && cx.tx.timezone_utc => {
                // PG 12+ with TimeZone = UTC: no table rewrite, but each index on the column is rebuilt.
                let indexed = cx
                    .schema
                    .indexes_on(&alter.table)
                    .any(|i| i.columns.contains(column));
                if !indexed {
                    continue;
                }
                format!("{old} → {ty} under TimeZone UTC skips the table rewrite but rebuilds the column's indexes")
            }
            Some(old) if timestamp_pair(old, ty) => {
                format!("{old} → {ty} rewrites unless the session TimeZone is UTC (PostgreSQL 12+), and always rebuilds its indexes")
            }
            Some(old) => format!("{old} → {ty} is not binary-coercible"),
            None if using.is_some() => format!("a USING clause always rewrites ({column} → {ty})"),
            None => {
                unknown.push((index, format!("{column} → {ty}")));
                continue;
            }
        };
        rewrites.push((index, (column.to_string(), detail)));
    }
    let (indexes, details): (Vec<usize>, Vec<(String, String)>) = rewrites.into_iter().unzip();
    if !indexes.is_empty() {
        let (columns, why) = match details.as_slice() {
            [(column, detail)] => (format!("{}.{column}", alter.table), detail.clone()),
            _ => {
                let columns: Vec<String> = details.iter().map(|(c, _)| c.clone()).collect();
                let why: Vec<String> = details.iter().map(|(c, d)| format!("{c}: {d}")).collect();
                (
                    format!("{} columns {}", alter.table, and_list(&columns)),
                    why.join("; "),
                )
            }
        };
        out.push(
            Finding::new(
                &RULE,
                stmt.span,
                format!(
                    "changing the type of {columns} rewrites the table under ACCESS EXCLUSIVE, blocking reads and writes: {why}"
                ),
            )
            .table(&alter.table)
            .actions(&indexes)
            .label("the table and its indexes are rewritten")
            .help("swap in a new column (sync trigger, batched backfill, short rename)"),
        );
    }
    let (indexes, changes): (Vec<usize>, Vec<String>) = unknown.into_iter().unzip();
    if !indexes.is_empty() {
        let mut finding = Finding::new(
            &RULE,
            stmt.span,
            format!(
                "the old type of {} is unknown to the history, so whether {} is rewritten under ACCESS EXCLUSIVE \
                 cannot be told: {}",
                if changes.len() == 1 { "the column" } else { "these columns" },
                alter.table,
                and_list(&changes)
            ),
        )
        .table(&alter.table)
        .actions(&indexes)
        .label("rewritten unless the change is binary-coercible")
        .help(
            "lint against the real schema (`--database-url`, or `--schema` with a schema dump) to make this exact; \
             if the change rewrites, swap in a new column instead",
        );
        finding.severity = Severity::Warning;
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::{rewrite_free, RULE};
    use crate::lint::testing::{assert_clean, assert_flags};
    use crate::parse::TypeName;

    fn free(a: &str, b: &str) -> bool {
        rewrite_free(&TypeName::parse(a), &TypeName::parse(b))
    }

    #[test]
    fn knows_binary_coercible_changes() {
        assert!(free("varchar(20)", "varchar(30)"));
        assert!(free("character varying(20)", "text"));
        assert!(free("varchar(20)", "varchar"));
        assert!(free("text", "varchar"));
        assert!(free("numeric(10,2)", "numeric(12,2)"));
        assert!(free("numeric(10,2)", "numeric"));
        assert!(free("timestamp(3)", "timestamp(6)"));
        assert!(free("cidr", "inet"));
        assert!(!free("varchar(30)", "varchar(20)"));
        assert!(!free("text", "varchar(20)"));
        assert!(!free("numeric(10,2)", "numeric(12,3)"));
        assert!(!free("integer", "bigint"));
        assert!(!free("integer", "text"));
    }

    #[test]
    fn one_finding_names_every_column_of_the_statement() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE users ALTER COLUMN age TYPE bigint, ALTER COLUMN name TYPE text, ALTER COLUMN id TYPE numeric;",
        );
        assert!(f.message.contains("users columns age and id"), "{}", f.message);
        assert_eq!((f.action, f.more_actions.as_slice()), (Some(0), &[2][..]));
        assert!(f.covers(2) && !f.covers(1));
    }

    #[test]
    fn flags_rewriting_change() {
        let f = assert_flags(&RULE, "ALTER TABLE users ALTER COLUMN age TYPE bigint;");
        assert!(f.message.contains("integer → bigint"), "{}", f.message);
    }

    #[test]
    fn flags_using_and_unknown_old_type() {
        assert_flags(
            &RULE,
            "ALTER TABLE users ALTER COLUMN name TYPE varchar(100) USING name::varchar(100);",
        );
        let f = assert_flags(&RULE, "ALTER TABLE elsewhere ALTER COLUMN c TYPE text;");
        assert!(f.message.contains("unknown"), "{}", f.message);
        assert_eq!(f.severity, crate::lint::Severity::Warning);
        assert!(f.help.unwrap().contains("--database-url"));
        // A USING clause rewrites whatever the old type was.
        let f = assert_flags(
            &RULE,
            "ALTER TABLE elsewhere ALTER COLUMN c TYPE int USING c::int;",
        );
        assert_eq!(f.severity, crate::lint::Severity::Error);
    }

    #[test]
    fn flags_timestamp_to_timestamptz_with_the_utc_caveat() {
        let f = assert_flags(
            &RULE,
            "ALTER TABLE users ALTER COLUMN created_at TYPE timestamptz;",
        );
        assert!(f.message.contains("UTC"));
    }

    #[test]
    fn ignores_a_change_to_an_unconstrained_domain_over_the_same_type() {
        assert_clean(&RULE, "ALTER TABLE users ALTER COLUMN age TYPE positive_int;");
        assert_flags(
            &RULE,
            "CREATE DOMAIN pos AS int CHECK (VALUE > 0);\nALTER TABLE users ALTER COLUMN age TYPE pos;",
        );
    }

    #[test]
    fn timestamptz_under_utc_skips_the_rewrite_unless_indexed() {
        let sql = "SET TimeZone = 'UTC';\nALTER TABLE users ALTER COLUMN created_at TYPE timestamptz;";
        assert_clean(&RULE, sql);
        assert_eq!(
            crate::lint::testing::findings_at(&RULE, sql, 11).len(),
            1,
            "PG 11 rewrites anyway"
        );
        assert_clean(&RULE, "BEGIN;\nSET LOCAL TIME ZONE 'UTC';\nALTER TABLE users ALTER COLUMN created_at TYPE timestamptz;\nCOMMIT;");
        let f = assert_flags(
            &RULE,
            "CREATE INDEX users_created_idx ON users (created_at);\nSET TimeZone = 'UTC';\nALTER TABLE users ALTER COLUMN created_at TYPE timestamptz;",
        );
        assert!(
            f.message.contains("rebuilds the column's indexes"),
            "{}",
            f.message
        );
    }

    #[test]
    fn ignores_widening_varchar() {
        assert_clean(&RULE, "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);");
        assert_clean(&RULE, "ALTER TABLE users ALTER COLUMN name SET DATA TYPE text;");
    }

    #[test]
    fn follows_earlier_changes_in_the_history() {
        // Only the first change (a shrink with USING) is flagged: the model knows varchar(10) → text is free.
        assert_flags(&RULE, "ALTER TABLE users ALTER COLUMN name TYPE varchar(10) USING name;\nALTER TABLE users ALTER COLUMN name TYPE text;");
    }
}
