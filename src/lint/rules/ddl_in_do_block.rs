//! `ddl-in-do-block`: DDL, or dynamic SQL, inside a `DO` block.

use crate::lint::{statement_locks, Category, Finding, LintContext, Rule, Severity};
use crate::parse::{ObjectKind, Stmt, StmtKind};
use crate::pg::Blocks;

pub(crate) static RULE: Rule = Rule {
    id: "ddl-in-do-block",
    category: Category::Lock,
    default_severity: Severity::Info,
    lock: None,
    summary: "DDL inside a `DO` block is out of reach of `migrate plan` and `migrate apply`",
    doc: "### What it does\n\
Notes (as info) a `DO` block whose body runs DDL (`CREATE`, `ALTER`, `DROP`, `TRUNCATE`, `REINDEX`, …), \
naming the statements and the existing table one of them locks against reads or writes, if any: the \
statements themselves are checked by every other rule, which report what is wrong with them. Each \
`EXECUTE` of text computed at run time gets an informational finding of its own: dynamic SQL cannot be \
analysed. An `EXECUTE` of constant text (a string, `format()` of constants, a `||` of those) is read \
as the statements in the text and checked like the others, at their place in the string. So are \
the constant `EXECUTE`s of a PL/pgSQL function or procedure the file creates, where the file calls \
it (`SELECT f()`, `CALL p()`).\n\n\
The statements of the body are also checked by every other rule, at their own line, as if they ran \
where the block runs, all in one transaction (the block's own, or the transaction it runs in): a \
`CREATE INDEX CONCURRENTLY` in a `DO` block is reported as running in a transaction, and tables created \
in the block exist after it. The body is read without a PL/pgSQL parser: block structure \
(`BEGIN`, `DECLARE`, `IF … THEN`, `ELSE`, `FOR … LOOP`, `EXCEPTION WHEN … THEN`, labels) is peeled off \
each statement, conditions are not evaluated, and whatever does not parse as SQL (declarations, \
PL/pgSQL-only statements) is skipped silently. Only `LANGUAGE plpgsql` bodies between dollar quotes are \
read; a body in a quoted string is not. An ignore directive before the block covers the statements in \
it.\n\n\
### Why is this bad?\n\
Tools that plan safe rewrites see the block as one opaque statement: `migrate plan` cannot turn a \
`CREATE INDEX` in it into a concurrent build or an `ADD CONSTRAINT` into `NOT VALID` plus `VALIDATE`, \
and it refuses a block whose statements have errors. The whole body runs in one transaction, so every \
lock it takes is held until the block ends, and `CONCURRENTLY` statements in it fail. Dynamic SQL \
(`EXECUTE format(…)`) hides the statement from every linter.\n\n\
### Postgres versions\n\
All versions. `COMMIT` inside a `DO` block (run outside a transaction block) needs PostgreSQL 11.\n\n\
### Use instead\n\
Write the DDL as plain statements, using `IF NOT EXISTS` / `IF EXISTS` where PostgreSQL has them \
instead of an exception handler:\n\
```sql\nALTER TABLE users ADD COLUMN IF NOT EXISTS nickname text;\n```\n\
For a guard PostgreSQL lacks (`CREATE TYPE`, `ADD CONSTRAINT`), keep the block as small as one \
statement, or check the catalog in your migration tool.",
    bad: "DO $$\nBEGIN\n  ALTER TABLE users ADD COLUMN nickname text;\nEXCEPTION WHEN duplicate_column THEN NULL;\nEND\n$$;",
    good: "ALTER TABLE users ADD COLUMN IF NOT EXISTS nickname text;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

/// The statement's kind when it is DDL, as SQL words (`ALTER TABLE`).
fn ddl_kind(kind: &StmtKind) -> Option<String> {
    let words = match kind {
        StmtKind::CreateTable(_) => "CREATE TABLE",
        StmtKind::CreateIndex(_) => "CREATE INDEX",
        StmtKind::DropIndex(_) => "DROP INDEX",
        StmtKind::AlterTable(_) => "ALTER TABLE",
        StmtKind::Reindex(_) => "REINDEX",
        StmtKind::Vacuum { .. } => "VACUUM",
        StmtKind::Cluster { .. } => "CLUSTER",
        StmtKind::CreateMatView { .. } => "CREATE MATERIALIZED VIEW",
        StmtKind::RefreshMatView { .. } => "REFRESH MATERIALIZED VIEW",
        StmtKind::Truncate { .. } => "TRUNCATE",
        StmtKind::Drop(d) => match d.kind {
            ObjectKind::Table => "DROP TABLE",
            ObjectKind::View => "DROP VIEW",
            ObjectKind::MaterializedView => "DROP MATERIALIZED VIEW",
            ObjectKind::Sequence => "DROP SEQUENCE",
            ObjectKind::Type => "DROP TYPE",
            ObjectKind::Domain => "DROP DOMAIN",
            ObjectKind::Schema => "DROP SCHEMA",
            ObjectKind::Other => "DROP",
        },
        StmtKind::CreateDomain { .. } => "CREATE DOMAIN",
        StmtKind::AlterDomain(_) => "ALTER DOMAIN",
        StmtKind::CreateType { .. } => "CREATE TYPE",
        StmtKind::AlterTypeAddValue { .. } => "ALTER TYPE",
        StmtKind::Sequence { create: true, .. } => "CREATE SEQUENCE",
        StmtKind::Sequence { create: false, .. } => "ALTER SEQUENCE",
        StmtKind::CreateTrigger { .. } => "CREATE TRIGGER",
        StmtKind::CreateRoutine { .. } => "CREATE FUNCTION",
        StmtKind::Other { tag } if ["CREATE ", "ALTER ", "DROP "].iter().any(|p| tag.starts_with(p)) => {
            return Some(tag.clone());
        }
        _ => return None,
    };
    Some(words.to_string())
}

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::Do(block) = &stmt.kind else {
        return;
    };
    let body = &block.inner;
    let mut kinds: Vec<String> = Vec::new();
    let mut blocking = None;
    // Tables the body creates before using them: new, like those of this file.
    let mut created: Vec<(String, String)> = Vec::new();
    for inner in &body.statements {
        let Some(kind) = ddl_kind(&inner.kind) else {
            continue;
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
        for (table, mode) in statement_locks(inner, cx.pg_version(), cx.schema) {
            let existing = !cx.is_new(&table) && !created.contains(&table.key());
            if existing && matches!(mode.blocks(), Blocks::ReadsAndWrites | Blocks::Writes) {
                blocking.get_or_insert(table);
            }
        }
        if let StmtKind::CreateTable(t) = &inner.kind {
            created.push(t.name.key());
        }
    }
    if !kinds.is_empty() {
        let mut finding = Finding::new(
            &RULE,
            stmt.span,
            format!(
                "this `DO` block runs {}, which `migrate plan` and `migrate apply` cannot rewrite",
                kinds.join(", ")
            ),
        )
        .help("move the DDL out of the `DO` block, so linters, `migrate plan` and `migrate apply` can see and rewrite it");
        if let Some(table) = &blocking {
            finding = finding
                .table(table)
                .label(format!("locks {table} for the whole block"));
        }
        out.push(finding);
    }
    for &span in &body.dynamic {
        let mut finding = Finding::new(
            &RULE,
            span,
            "dynamic SQL in a `DO` block cannot be analysed: no rule checks the statement it runs",
        )
        .help("write the statement out, outside the `DO` block, when its text is known in advance");
        finding.severity = Severity::Info;
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings};
    use crate::lint::{fixture, lint_snippet, LintSettings, Severity};

    #[test]
    fn notes_ddl_on_an_existing_table() {
        let f = assert_flags(&RULE, RULE.bad);
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(f.table.unwrap().to_string(), "users");
        assert!(f.message.contains("runs ALTER TABLE,"), "{}", f.message);
    }

    #[test]
    fn names_every_kind_once() {
        let sql = "DO $$ BEGIN\n  CREATE TABLE t (a int);\n  CREATE INDEX i ON t (a);\n  \
                   CREATE INDEX j ON t (a);\n  DROP TABLE t;\nEND $$;";
        let f = assert_flags(&RULE, sql);
        assert!(
            f.message.contains("runs CREATE TABLE, CREATE INDEX, DROP TABLE,"),
            "{}",
            f.message
        );
        // Only a table the block itself created is locked.
        assert_eq!(f.severity, Severity::Info);
    }

    #[test]
    fn flags_harmless_ddl_as_info() {
        let sql = "DO $$ BEGIN\n  CREATE TYPE mood AS ENUM ('sad');\nEXCEPTION\n  WHEN duplicate_object THEN null;\nEND $$;";
        let f = assert_flags(&RULE, sql);
        assert_eq!(f.severity, Severity::Info);
        assert!(f.table.is_none());
    }

    #[test]
    fn constant_execute_is_checked_like_a_statement() {
        let sql = "DO $$ BEGIN EXECUTE 'CREATE INDEX i ON users (email)'; END $$;";
        let found = lint_snippet(fixture::SCHEMA, sql, &LintSettings::default());
        let index = found
            .iter()
            .find(|f| f.rule.id == "create-index-non-concurrent")
            .expect("linted");
        assert_eq!(index.span.slice(sql), "CREATE INDEX i ON users (email)");
        // Not dynamic: only the note about DDL in the block.
        let own: Vec<_> = found.iter().filter(|f| f.rule.id == RULE.id).collect();
        assert_eq!(own.len(), 1);
        assert!(own[0].message.contains("runs CREATE INDEX"), "{}", own[0].message);
    }

    #[test]
    fn a_call_runs_the_constant_execute_of_a_routine_this_file_created() {
        let create = "CREATE FUNCTION m() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  \
                      EXECUTE 'CREATE INDEX i ON users (email)';\nEND\n$$;\n";
        let index = |sql: &str| -> Vec<String> {
            lint_snippet(fixture::SCHEMA, sql, &LintSettings::default())
                .iter()
                .filter(|f| f.rule.id == "create-index-non-concurrent")
                .map(|f| f.span.slice(sql).to_string())
                .collect()
        };
        assert!(index(create).is_empty(), "created, never called");
        for call in ["SELECT m();", "CALL public.m ();", "select M()"] {
            let sql = format!("{create}{call}");
            assert_eq!(index(&sql), ["CREATE INDEX i ON users (email)"], "{call}");
        }
    }

    #[test]
    fn flags_each_dynamic_execute_as_info() {
        let sql = "SELECT 1;\nDO $$\nDECLARE t text := 'users';\nBEGIN\n  EXECUTE format('ALTER TABLE %I ADD c int', t);\nEND $$;";
        let f = assert_flags(&RULE, sql);
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(f.span.slice(sql), "EXECUTE format('ALTER TABLE %I ADD c int', t)");
    }

    #[test]
    fn a_configured_severity_applies_to_every_finding() {
        let mut settings = LintSettings::default();
        settings.severity.insert(RULE.id, Some(Severity::Error));
        let found = lint_snippet(
            fixture::SCHEMA,
            "DO $$ DECLARE n int := 1; BEGIN CREATE TYPE m AS ENUM ('a'); EXECUTE 'SELECT ' || n; END $$;",
            &settings,
        );
        let severities: Vec<Severity> = found
            .iter()
            .filter(|f| f.rule.id == RULE.id)
            .map(|f| f.severity)
            .collect();
        assert_eq!(severities, [Severity::Error, Severity::Error]);
    }

    #[test]
    fn ignores_blocks_without_ddl() {
        assert_clean(
            &RULE,
            "DO $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM users; RAISE NOTICE '%', n; END $$;",
        );
        assert_clean(
            &RULE,
            "DO $$ BEGIN UPDATE users SET age = 0 WHERE id = 1; END $$;",
        );
        assert!(findings(&RULE, "DO 'BEGIN DROP TABLE users; END';").is_empty());
    }
}
