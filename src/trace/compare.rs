//! Comparing what PostgreSQL did with what the linter claimed.
//!
//! Pure: observations and findings in, [`Discrepancy`]s out. Three kinds:
//!
//! * [`Discrepancy::WrongLock`]: a finding claims a lock mode on a relation,
//!   and the strongest mode observed on it differs. A claim also holds when
//!   it matches the strongest mode held in the enclosing transaction block
//!   (a finding such as `slow-statement-after-exclusive-lock` is about a lock
//!   an earlier statement of the block took). A lock missing from an
//!   autocommit *sample* is not a discrepancy: sampling can miss a lock,
//!   never invent one.
//! * [`Discrepancy::MissedRewrite`]: a relation that existed before this
//!   migration file was rewritten under a strong lock (SHARE or stronger),
//!   and no finding claims any lock on it (or on the rewritten index). Brief strong locks alone are not
//!   counted: adding a nullable column takes ACCESS EXCLUSIVE for an instant
//!   and is safe, which is why rules leave it alone.
//! * [`Discrepancy::NoRewrite`]: a finding of a rule that says the statement
//!   rewrites its table ([`REWRITE_RULES`]), where the table was not rewritten.

use crate::lint::rules::{add_column_rewrite, change_column_type, cluster, set_logged_unlogged, vacuum_full};
use crate::lint::{Finding, Rule};
use crate::pg::LockMode;
use serde::Serialize;

/// Rules whose findings say the table is rewritten.
pub static REWRITE_RULES: &[&Rule] = &[
    &add_column_rewrite::RULE,
    &change_column_type::RULE,
    &set_logged_unlogged::RULE,
    &vacuum_full::RULE,
    &cluster::RULE,
];

/// A relation key `(schema, name)`, as [`crate::pg::QualifiedName::key`] spells it.
pub type Key = (String, String);

/// A lock seen on a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenLock {
    /// The relation (table or index) as it was named before the statement.
    pub relation: Key,
    pub mode: LockMode,
}

/// A relation that got a new filenode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRewrite {
    pub relation: Key,
    /// The table the relation belongs to: itself, or an index's table.
    pub table: Key,
}

/// What was observed for one statement, for comparison.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The statement's own locks.
    pub locks: Vec<SeenLock>,
    /// Locks held by the enclosing transaction block so far (including this
    /// statement's); empty outside a block.
    pub block: Vec<SeenLock>,
    pub rewrites: Vec<SeenRewrite>,
    /// Locks were sampled from another connection (autocommit statement).
    pub sampled: bool,
    /// Relations that existed when this migration file started.
    pub preexisting: Vec<Key>,
}

/// A claim of the linter that PostgreSQL contradicted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Discrepancy {
    /// The finding's lock mode is not the one observed.
    WrongLock {
        rule: &'static str,
        table: String,
        #[serde(serialize_with = "lock_name")]
        claimed: LockMode,
        #[serde(serialize_with = "opt_lock_name")]
        observed: Option<LockMode>,
    },
    /// A rewrite under a strong lock that no finding mentions.
    MissedRewrite {
        table: String,
        #[serde(serialize_with = "lock_name")]
        lock: LockMode,
        rewritten: Vec<String>,
    },
    /// A rule said "rewrite", and nothing was rewritten.
    NoRewrite { rule: &'static str, table: String },
}

impl std::fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Discrepancy::WrongLock {
                rule,
                table,
                claimed,
                observed,
            } => write!(
                f,
                "{rule} claims {} on {table}, PostgreSQL took {}",
                claimed.sql_name(),
                observed.map_or("no lock", LockMode::sql_name)
            ),
            Discrepancy::MissedRewrite {
                table,
                lock,
                rewritten,
            } => write!(
                f,
                "PostgreSQL rewrote {} under {} on {table}, and no rule said so",
                rewritten.join(", "),
                lock.sql_name()
            ),
            Discrepancy::NoRewrite { rule, table } => {
                write!(f, "{rule} says {table} is rewritten, and it was not")
            }
        }
    }
}

fn lock_name<S: serde::Serializer>(mode: &LockMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.sql_name())
}

fn opt_lock_name<S: serde::Serializer>(mode: &Option<LockMode>, s: S) -> Result<S::Ok, S::Error> {
    match mode {
        Some(mode) => s.serialize_str(mode.sql_name()),
        None => s.serialize_none(),
    }
}

/// The strongest mode in `locks` on `relation`.
fn strongest(locks: &[SeenLock], relation: &Key) -> Option<LockMode> {
    locks
        .iter()
        .filter(|l| &l.relation == relation)
        .map(|l| l.mode)
        .max()
}

/// The discrepancies between `findings` (the linter's, for this statement)
/// and `facts`. `display` names a key as SQL writes it.
pub fn discrepancies(
    facts: &Facts,
    findings: &[&Finding],
    display: &dyn Fn(&Key) -> String,
) -> Vec<Discrepancy> {
    let mut out = Vec::new();
    for finding in findings {
        let (Some(claimed), Some(table)) = (finding.lock, &finding.table) else {
            continue;
        };
        let key = table.key();
        let observed = strongest(&facts.locks, &key);
        let held = strongest(&facts.block, &key);
        if observed == Some(claimed) || held == Some(claimed) || (facts.sampled && observed.is_none()) {
            continue;
        }
        let d = Discrepancy::WrongLock {
            rule: finding.rule.id,
            table: display(&key),
            claimed,
            observed,
        };
        if !out.contains(&d) {
            out.push(d);
        }
    }
    for finding in findings {
        let Some(table) = &finding.table else { continue };
        if !REWRITE_RULES.contains(&finding.rule) {
            continue;
        }
        let key = table.key();
        if !facts.rewrites.iter().any(|r| r.table == key) {
            let d = Discrepancy::NoRewrite {
                rule: finding.rule.id,
                table: display(&key),
            };
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    let mut tables: Vec<&Key> = facts.rewrites.iter().map(|r| &r.table).collect();
    tables.sort();
    tables.dedup();
    for table in tables {
        if !facts.preexisting.contains(table) {
            continue;
        }
        let Some(lock) = strongest(&facts.locks, table).filter(|m| *m >= LockMode::Share) else {
            continue;
        };
        // A claim on the table, or on one of its rewritten indexes (`REINDEX INDEX`).
        let covered = |key: &Key| {
            key == table
                || facts
                    .rewrites
                    .iter()
                    .any(|r| &r.table == table && &r.relation == key)
        };
        let claimed = findings
            .iter()
            .any(|f| f.lock.is_some() && f.table.as_ref().is_some_and(|t| covered(&t.key())));
        if claimed {
            continue;
        }
        out.push(Discrepancy::MissedRewrite {
            table: display(table),
            lock,
            rewritten: facts
                .rewrites
                .iter()
                .filter(|r| &r.table == table)
                .map(|r| display(&r.relation))
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::rules::{create_index_non_concurrent, slow_statement_after_exclusive_lock};
    use crate::pg::{Ident, QualifiedName};
    use crate::source::Span;

    fn key(name: &str) -> Key {
        ("public".to_string(), name.to_string())
    }

    fn lock(name: &str, mode: LockMode) -> SeenLock {
        SeenLock {
            relation: key(name),
            mode,
        }
    }

    fn finding(rule: &'static Rule, table: &str) -> Finding {
        Finding::new(rule, Span::default(), "x").table(&QualifiedName::bare(Ident::new(table)))
    }

    fn run(facts: &Facts, findings: &[Finding]) -> Vec<Discrepancy> {
        let refs: Vec<&Finding> = findings.iter().collect();
        discrepancies(facts, &refs, &|k| k.1.clone())
    }

    #[test]
    fn accepts_a_claim_that_matches() {
        let facts = Facts {
            locks: vec![
                lock("users", LockMode::Share),
                lock("users_name_idx", LockMode::AccessExclusive),
            ],
            ..Facts::default()
        };
        assert!(run(&facts, &[finding(&create_index_non_concurrent::RULE, "users")]).is_empty());
    }

    #[test]
    fn flags_a_claim_of_the_wrong_mode() {
        let facts = Facts {
            locks: vec![lock("users", LockMode::AccessExclusive)],
            ..Facts::default()
        };
        assert_eq!(
            run(&facts, &[finding(&create_index_non_concurrent::RULE, "users")]),
            [Discrepancy::WrongLock {
                rule: "create-index-non-concurrent",
                table: "users".into(),
                claimed: LockMode::Share,
                observed: Some(LockMode::AccessExclusive),
            }]
        );
    }

    #[test]
    fn accepts_a_claim_about_the_enclosing_block() {
        let facts = Facts {
            locks: vec![lock("orders", LockMode::Share)],
            block: vec![
                lock("users", LockMode::AccessExclusive),
                lock("orders", LockMode::Share),
            ],
            ..Facts::default()
        };
        let f = finding(&slow_statement_after_exclusive_lock::RULE, "users");
        assert!(run(&facts, &[f]).is_empty());
    }

    #[test]
    fn ignores_a_lock_a_sample_missed() {
        let facts = Facts {
            sampled: true,
            ..Facts::default()
        };
        assert!(run(&facts, &[finding(&create_index_non_concurrent::RULE, "users")]).is_empty());
        let unsampled = Facts::default();
        assert_eq!(
            run(
                &unsampled,
                &[finding(&create_index_non_concurrent::RULE, "users")]
            )
            .len(),
            1
        );
    }

    #[test]
    fn flags_a_rewrite_no_rule_mentions() {
        let facts = Facts {
            locks: vec![
                lock("orders", LockMode::AccessExclusive),
                lock("orders_pkey", LockMode::AccessExclusive),
            ],
            rewrites: vec![
                SeenRewrite {
                    relation: key("orders"),
                    table: key("orders"),
                },
                SeenRewrite {
                    relation: key("orders_pkey"),
                    table: key("orders"),
                },
            ],
            preexisting: vec![key("orders"), key("orders_pkey")],
            ..Facts::default()
        };
        assert_eq!(
            run(&facts, &[]),
            [Discrepancy::MissedRewrite {
                table: "orders".into(),
                lock: LockMode::AccessExclusive,
                rewritten: vec!["orders".into(), "orders_pkey".into()],
            }]
        );
        // Claimed, on the table or on a rewritten index: no discrepancy.
        let on_index = finding(&crate::lint::rules::reindex_non_concurrent::RULE, "orders_pkey");
        assert!(run(&facts, &[on_index]).is_empty());
        // Created in this file: none either.
        assert!(run(
            &facts,
            &[finding(&change_column_type::RULE, "orders").lock(Some(LockMode::AccessExclusive))]
        )
        .is_empty());
        let new = Facts {
            preexisting: vec![],
            ..facts
        };
        assert!(run(&new, &[]).is_empty());
    }

    #[test]
    fn flags_a_rewrite_claim_without_a_rewrite() {
        let facts = Facts {
            locks: vec![lock("orders", LockMode::AccessExclusive)],
            ..Facts::default()
        };
        assert_eq!(
            run(&facts, &[finding(&change_column_type::RULE, "orders")]),
            [Discrepancy::NoRewrite {
                rule: "change-column-type",
                table: "orders".into(),
            }]
        );
    }
}
