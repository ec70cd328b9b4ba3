//! Interned names: each distinct identifier of the schema model stored once,
//! in one string, and named everywhere else by a 4-byte [`Name`].

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;
use std::num::NonZeroU32;

/// An interned name. `Option<Name>` is 4 bytes too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Name(NonZeroU32);

impl Name {
    fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

/// The interner.
#[derive(Debug, Clone, Default)]
pub(super) struct Names {
    /// Every name, one after another.
    text: String,
    /// End of each name in `text`, by [`Name`] order; a name starts where the
    /// one before it ends.
    ends: Vec<u32>,
    /// The names, by the hash of their text.
    lookup: HashTable<Name>,
}

/// The text of `name` in `text`, whose names end at `ends`.
fn slice<'t>(text: &'t str, ends: &[u32], name: Name) -> &'t str {
    let i = name.index();
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &text[start..ends[i] as usize]
}

/// A fast fixed hash: the model's hashing does not need to resist chosen
/// inputs (a migration history is the team's own code).
fn hash(s: &str) -> u64 {
    FxBuildHasher.hash_one(s)
}

impl Names {
    /// The text of `name`.
    pub(super) fn get(&self, name: Name) -> &str {
        slice(&self.text, &self.ends, name)
    }

    /// The name of `s`, if it was interned.
    pub(super) fn find(&self, s: &str) -> Option<Name> {
        self.lookup.find(hash(s), |&n| self.get(n) == s).copied()
    }

    /// The name of `s`, interning it if it is new.
    pub(super) fn intern(&mut self, s: &str) -> Name {
        if let Some(name) = self.find(s) {
            return name;
        }
        self.text.push_str(s);
        let end = u32::try_from(self.text.len()).expect("the schema model's names fit in 4 GiB");
        self.ends.push(end);
        let name = Name(
            NonZeroU32::new(u32::try_from(self.ends.len()).expect("fewer than 4 billion names"))
                .expect("one or more names"),
        );
        let Names { text, ends, lookup } = self;
        lookup.insert_unique(hash(s), name, |&n| hash(slice(text, ends, n)));
        name
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    #[test]
    fn interns_each_name_once() {
        let mut names = Names::default();
        let a = names.intern("users");
        let b = names.intern("Users");
        let empty = names.intern("");
        assert_eq!(names.intern("users"), a);
        assert_ne!(a, b);
        assert_eq!(
            (names.get(a), names.get(b), names.get(empty)),
            ("users", "Users", "")
        );
        assert_eq!(names.find("Users"), Some(b));
        assert_eq!(names.find(""), Some(empty));
        assert_eq!(names.find("orders"), None);
        for i in 0..10_000 {
            names.intern(&format!("t{i}"));
        }
        assert_eq!(names.get(names.find("t1234").unwrap()), "t1234");
        assert_eq!(names.get(a), "users");
    }
}
