//! Small state-based CRDTs: a grow-only set ([`GSet`]) and a
//! last-writer-wins map ([`LwwMap`]).
//!
//! Gossip delivers updates in any order, possibly twice. A replica state
//! converges whatever the order only if merging is a join in a
//! semilattice: **commutative** (`a ⊔ b = b ⊔ a`), **associative**
//! (`(a ⊔ b) ⊔ c = a ⊔ (b ⊔ c)`) and **idempotent** (`a ⊔ a = a`). Then the
//! state is a function of the *set* of updates seen, and two replicas that
//! saw the same updates are equal. The property tests below check the three
//! laws on random states.
//!
//! - [`GSet`]: merge is set union; elements are never removed.
//! - [`LwwMap`]: per key, the entry with the greatest [`Stamp`] wins. A
//!   stamp is `(clock, node)`, totally ordered, and two different writes
//!   never share one (each origin's Lamport clock strictly increases), so
//!   ties between concurrent writes are broken the same way on every replica:
//!   the higher clock, then the higher node id.
//!
//! The gossip core itself only moves opaque [`Stamped`](synod_core::Stamped)
//! commands; these types are the state a replica builds from them, used by
//! the tests and available to state machines.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use synod_core::Stamp;

/// A grow-only set: add and union, never remove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GSet<T: Ord> {
    elements: BTreeSet<T>,
}

impl<T: Ord> Default for GSet<T> {
    fn default() -> Self {
        Self {
            elements: BTreeSet::new(),
        }
    }
}

impl<T: Ord + Clone> GSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `element`; returns whether it was new.
    pub fn insert(&mut self, element: T) -> bool {
        self.elements.insert(element)
    }

    /// Whether `element` was ever added.
    pub fn contains(&self, element: &T) -> bool {
        self.elements.contains(element)
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.elements.iter()
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// Joins `other` into `self` (set union).
    pub fn merge(&mut self, other: &GSet<T>) {
        self.elements.extend(other.elements.iter().cloned());
    }
}

/// A last-writer-wins map: every key holds the value of the write with the
/// greatest stamp seen for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LwwMap<K: Ord, V> {
    entries: BTreeMap<K, (Stamp, V)>,
}

impl<K: Ord, V> Default for LwwMap<K, V> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone, V: Clone> LwwMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a write of `value` to `key` stamped `stamp`; it takes effect
    /// only if its stamp is greater than the one held. Returns whether it did.
    pub fn write(&mut self, key: K, stamp: Stamp, value: V) -> bool {
        match self.entries.get(&key) {
            Some((held, _)) if *held >= stamp => false,
            _ => {
                self.entries.insert(key, (stamp, value));
                true
            }
        }
    }

    /// The winning value of `key`, if it was ever written.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// The winning stamp of `key`.
    pub fn stamp(&self, key: &K) -> Option<Stamp> {
        self.entries.get(key).map(|(s, _)| *s)
    }

    /// `(key, stamp, value)` of every key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Stamp, &V)> {
        self.entries.iter().map(|(k, (s, v))| (k, s, v))
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key was written.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Joins `other` into `self`: per key, the greater stamp wins.
    pub fn merge(&mut self, other: &LwwMap<K, V>) {
        for (k, (s, v)) in &other.entries {
            self.write(k.clone(), *s, v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use synod_core::NodeId;

    fn gset() -> impl Strategy<Value = GSet<u8>> {
        proptest::collection::btree_set(0u8..32, 0..12).prop_map(|elements| GSet { elements })
    }

    /// Maps whose stamps are unique per (clock, node), as real stamps are:
    /// the value is a function of the stamp, so equal stamps carry equal
    /// values.
    fn lww() -> impl Strategy<Value = LwwMap<u8, u64>> {
        proptest::collection::vec((0u8..8, 0u64..6, 1u64..4), 0..12).prop_map(|writes| {
            let mut m = LwwMap::new();
            for (k, clock, node) in writes {
                m.write(
                    k,
                    Stamp {
                        clock,
                        node: NodeId(node),
                    },
                    clock * 10 + node,
                );
            }
            m
        })
    }

    fn join<T: Clone>(a: &T, b: &T, merge: impl Fn(&mut T, &T)) -> T {
        let mut x = a.clone();
        merge(&mut x, b);
        x
    }

    proptest! {
        #[test]
        fn gset_merge_is_commutative_associative_idempotent(a in gset(), b in gset(), c in gset()) {
            let m = |x: &mut GSet<u8>, y: &GSet<u8>| x.merge(y);
            prop_assert_eq!(join(&a, &b, m), join(&b, &a, m));
            prop_assert_eq!(join(&join(&a, &b, m), &c, m), join(&a, &join(&b, &c, m), m));
            prop_assert_eq!(join(&a, &a, m), a);
        }

        #[test]
        fn lww_merge_is_commutative_associative_idempotent(a in lww(), b in lww(), c in lww()) {
            let m = |x: &mut LwwMap<u8, u64>, y: &LwwMap<u8, u64>| x.merge(y);
            prop_assert_eq!(join(&a, &b, m), join(&b, &a, m));
            prop_assert_eq!(join(&join(&a, &b, m), &c, m), join(&a, &join(&b, &c, m), m));
            prop_assert_eq!(join(&a, &a, m), a);
        }

        #[test]
        fn lww_state_does_not_depend_on_delivery_order(
            writes in proptest::collection::vec((0u8..4, 0u64..6, 1u64..4), 0..16),
            seed in any::<u64>(),
        ) {
            let mut forward = LwwMap::new();
            for &(k, clock, node) in &writes {
                forward.write(k, Stamp { clock, node: NodeId(node) }, clock * 10 + node);
            }
            let mut shuffled = writes.clone();
            synod_core::SeededRng::new(seed).shuffle(&mut shuffled);
            let mut other = LwwMap::new();
            for &(k, clock, node) in shuffled.iter().chain(writes.iter()) {
                other.write(k, Stamp { clock, node: NodeId(node) }, clock * 10 + node);
            }
            prop_assert_eq!(forward, other);
        }
    }

    #[test]
    fn concurrent_writes_with_equal_clocks_are_won_by_the_higher_node() {
        let mut a = LwwMap::new();
        let mut b = LwwMap::new();
        a.write(
            "k",
            Stamp {
                clock: 5,
                node: NodeId(1),
            },
            "from 1",
        );
        b.write(
            "k",
            Stamp {
                clock: 5,
                node: NodeId(2),
            },
            "from 2",
        );
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(&b);
        ba.merge(&a);
        assert_eq!(ab.get(&"k"), Some(&"from 2"));
        assert_eq!(ab, ba);
    }

    #[test]
    fn an_older_write_never_overwrites_a_newer_one() {
        let mut m = LwwMap::new();
        assert!(m.write(
            1,
            Stamp {
                clock: 7,
                node: NodeId(1)
            },
            'b'
        ));
        assert!(!m.write(
            1,
            Stamp {
                clock: 3,
                node: NodeId(3)
            },
            'a'
        ));
        assert_eq!(m.get(&1), Some(&'b'));
    }
}
