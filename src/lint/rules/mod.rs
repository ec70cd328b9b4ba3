//! Every rule, one file each. A new rule is its file plus one line in [`ALL`].

use super::Rule;

pub(crate) mod add_check_constraint;
pub(crate) mod add_column_json;
pub(crate) mod add_column_not_null_without_default;
pub(crate) mod add_column_rewrite;
pub(crate) mod add_exclusion_constraint;
pub(crate) mod add_foreign_key;
pub(crate) mod add_primary_key;
pub(crate) mod add_unique_constraint;
pub(crate) mod alter_domain_add_constraint;
pub(crate) mod attach_partition_scan;
pub(crate) mod ban_char_type;
pub(crate) mod change_column_type;
pub(crate) mod cluster;
pub(crate) mod concurrently_in_transaction;
pub(crate) mod create_index_non_concurrent;
pub(crate) mod ddl_in_do_block;
pub(crate) mod detach_partition_non_concurrent;
pub(crate) mod drop_column;
pub(crate) mod drop_index_non_concurrent;
pub(crate) mod drop_not_null;
pub(crate) mod drop_table;
pub(crate) mod enum_add_value_in_transaction;
pub(crate) mod lock_table;
pub(crate) mod misnamed_migration;
pub(crate) mod missing_lock_timeout;
pub(crate) mod multiple_exclusive_locks_in_transaction;
pub(crate) mod parse_error;
pub(crate) mod prefer_bigint;
pub(crate) mod prefer_identity;
pub(crate) mod prefer_text;
pub(crate) mod prefer_timestamptz;
pub(crate) mod psql_meta_command;
pub(crate) mod refresh_matview_non_concurrent;
pub(crate) mod reindex_non_concurrent;
pub(crate) mod rename_column;
pub(crate) mod rename_table;
pub(crate) mod set_logged_unlogged;
pub(crate) mod set_not_null;
pub(crate) mod slow_statement_after_exclusive_lock;
pub(crate) mod stray_commit;
pub(crate) mod truncate;
pub(crate) mod unclosed_transaction;
pub(crate) mod unused_ignore;
pub(crate) mod vacuum_full;
pub(crate) mod validate_in_same_transaction;
pub(crate) mod whole_table_dml;

/// Every rule, in the order `migrate rules` lists them.
pub static ALL: &[&Rule] = &[
    &create_index_non_concurrent::RULE,
    &drop_index_non_concurrent::RULE,
    &concurrently_in_transaction::RULE,
    &set_not_null::RULE,
    &add_column_not_null_without_default::RULE,
    &add_column_rewrite::RULE,
    &change_column_type::RULE,
    &add_foreign_key::RULE,
    &add_check_constraint::RULE,
    &add_unique_constraint::RULE,
    &add_primary_key::RULE,
    &add_exclusion_constraint::RULE,
    &reindex_non_concurrent::RULE,
    &refresh_matview_non_concurrent::RULE,
    &attach_partition_scan::RULE,
    &detach_partition_non_concurrent::RULE,
    &set_logged_unlogged::RULE,
    &vacuum_full::RULE,
    &cluster::RULE,
    &lock_table::RULE,
    &truncate::RULE,
    &alter_domain_add_constraint::RULE,
    &validate_in_same_transaction::RULE,
    &enum_add_value_in_transaction::RULE,
    &unclosed_transaction::RULE,
    &stray_commit::RULE,
    &whole_table_dml::RULE,
    &ddl_in_do_block::RULE,
    &multiple_exclusive_locks_in_transaction::RULE,
    &slow_statement_after_exclusive_lock::RULE,
    &missing_lock_timeout::RULE,
    &rename_column::RULE,
    &rename_table::RULE,
    &drop_column::RULE,
    &drop_table::RULE,
    &drop_not_null::RULE,
    &add_column_json::RULE,
    &prefer_bigint::RULE,
    &prefer_text::RULE,
    &prefer_timestamptz::RULE,
    &prefer_identity::RULE,
    &ban_char_type::RULE,
    &parse_error::RULE,
    &psql_meta_command::RULE,
    &unused_ignore::RULE,
    &misnamed_migration::RULE,
];

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::ALL;
    use crate::lint::testing::findings;

    const HEADINGS: [&str; 4] = [
        "### What it does",
        "### Why is this bad?",
        "### Postgres versions",
        "### Use instead",
    ];

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        for id in &ids {
            assert!(id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{id}");
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
    }

    #[test]
    fn every_doc_has_every_heading() {
        for rule in ALL {
            for h in HEADINGS {
                assert!(rule.doc.contains(h), "{} lacks {h}", rule.id);
            }
        }
    }

    #[test]
    fn bad_examples_fire_and_good_ones_do_not() {
        for rule in ALL.iter().filter(|r| !r.bad.is_empty()) {
            assert!(
                !findings(rule, rule.bad).is_empty(),
                "{}: bad example does not fire",
                rule.id
            );
            let good = findings(rule, rule.good);
            assert!(good.is_empty(), "{}: good example fires: {good:?}", rule.id);
        }
    }

    #[test]
    fn messages_start_lowercase_without_final_period() {
        for rule in ALL.iter().filter(|r| !r.bad.is_empty()) {
            for f in findings(rule, rule.bad) {
                let first = f.message.chars().next().unwrap();
                assert!(!first.is_uppercase(), "{}: {}", rule.id, f.message);
                assert!(!f.message.ends_with('.'), "{}: {}", rule.id, f.message);
                assert!(!rule.summary.ends_with('.'), "{}", rule.id);
            }
        }
    }
}
