//! Every rule, one file each.

use super::Rule;

/// Every rule, in the order `migrate rules` lists them.
pub static ALL: &[&Rule] = &[];

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id == id)
}
