//! `alter-domain-add-constraint`: `ALTER DOMAIN … ADD CONSTRAINT` without `NOT VALID` checks every column of the domain.

use crate::lint::{Category, Finding, LintContext, Rule, Severity};
use crate::parse::{DomainAction, Stmt, StmtKind};

pub(crate) static RULE: Rule = Rule {
    id: "alter-domain-add-constraint",
    category: Category::Lock,
    default_severity: Severity::Error,
    lock: None,
    summary: "`ALTER DOMAIN … ADD CONSTRAINT` checks every column of the domain while blocking writes to their tables",
    doc: "### What it does\n\
Flags `ALTER DOMAIN d ADD CONSTRAINT …` without `NOT VALID`, unless the domain was created in this \
migration.\n\n\
### Why is this bad?\n\
PostgreSQL checks the new constraint against every value of every column, in every table, whose \
type is the domain, holding a SHARE lock on each of those tables: writes to all of them wait until \
the check ends. The linter does not know which tables use the domain, so the finding names none.\n\n\
### Postgres versions\n\
All versions. `ADD CONSTRAINT … NOT VALID` (CHECK constraints only) touches no table. The later \
`ALTER DOMAIN … VALIDATE CONSTRAINT` still takes SHARE on each table that uses the domain and so \
blocks their writes during its scan, unlike `ALTER TABLE … VALIDATE CONSTRAINT`, which takes only \
SHARE UPDATE EXCLUSIVE. Adding a constraint fails if the domain is used inside a composite, array or \
range column.\n\n\
### Use instead\n\
Add it `NOT VALID`, so new values are checked at once, and validate it later in a quiet window:\n\
```sql\nALTER DOMAIN positive_int ADD CONSTRAINT positive_int_check CHECK (VALUE > 0) NOT VALID;\n\
-- later, when blocking writes briefly is acceptable:\n\
ALTER DOMAIN positive_int VALIDATE CONSTRAINT positive_int_check;\n```\n\
Better still, put a table CHECK on each column (`ADD CONSTRAINT … NOT VALID`, then `VALIDATE`, \
which lets traffic continue) instead of constraining the domain.",
    bad: "ALTER DOMAIN positive_int ADD CONSTRAINT positive_int_check CHECK (VALUE > 0);",
    good: "ALTER DOMAIN positive_int ADD CONSTRAINT positive_int_check CHECK (VALUE > 0) NOT VALID;",
    rewritable: false,
    enabled_by_default: true,
    check,
};

fn check(cx: &LintContext, stmt: &Stmt, out: &mut Vec<Finding>) {
    let StmtKind::AlterDomain(domain) = &stmt.kind else {
        return;
    };
    if domain.action != (DomainAction::AddConstraint { not_valid: false })
        || cx.in_this_deploy(cx.schema.domain_created_in(&domain.name))
    {
        return;
    }
    out.push(
        Finding::new(
            &RULE,
            stmt.span,
            format!(
                "`ALTER DOMAIN … ADD CONSTRAINT` checks every column of domain {} while holding SHARE on each \
                 table that uses it, blocking writes to them",
                domain.name
            ),
        )
        .label("writes to every table using the domain wait")
        .help("add the constraint NOT VALID, then VALIDATE it in a quiet window"),
    );
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::lint::testing::{assert_clean, assert_flags, findings_at};

    const BAD: &str = "ALTER DOMAIN positive_int ADD CONSTRAINT p CHECK (VALUE > 0);";

    #[test]
    fn flags_validating_add_and_names_no_table() {
        let f = assert_flags(&RULE, BAD);
        assert!(f.table.is_none() && f.lock.is_none());
        assert!(f.message.contains("domain positive_int"));
        let f = assert_flags(&RULE, "alter domain Public.\"Money\" add check (VALUE >= 0);");
        assert!(f.message.contains("domain public.\"Money\""), "{}", f.message);
    }

    #[test]
    fn ignores_not_valid_and_validate() {
        assert_clean(
            &RULE,
            "ALTER DOMAIN positive_int ADD CONSTRAINT p CHECK (VALUE > 0) NOT VALID;",
        );
        assert_clean(&RULE, "ALTER DOMAIN positive_int VALIDATE CONSTRAINT p;");
    }

    #[test]
    fn ignores_domain_created_in_this_file() {
        assert_clean(
            &RULE,
            "CREATE DOMAIN pct AS int;\nALTER DOMAIN pct ADD CONSTRAINT p CHECK (VALUE <= 100);",
        );
    }

    #[test]
    fn fires_on_every_version() {
        assert_eq!(findings_at(&RULE, BAD, 10).len(), 1);
        assert_eq!(findings_at(&RULE, BAD, 18).len(), 1);
    }
}
