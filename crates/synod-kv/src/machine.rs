//! The key-value state machine.
//!
//! String keys, byte-string values, plus grow-only sets (for the gossip
//! workload). Deterministic: a `BTreeMap` underneath, no clocks, no
//! randomness, so every replica that applies the same commands holds the same
//! bytes and produces the same snapshot.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use synod_core::{codec, RestoreError, StateMachine};

/// A change to the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Sets `key` to `value`.
    Write {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Sets `key` to `to` if it currently holds `from` (`None`: absent).
    Cas {
        /// The key.
        key: String,
        /// The value expected.
        from: Option<Vec<u8>>,
        /// The value to set.
        to: Vec<u8>,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: String,
    },
    /// Adds `element` to the grow-only set `set`.
    Add {
        /// The set.
        set: String,
        /// The element.
        element: Vec<u8>,
    },
}

/// What applying a command did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOutput {
    /// The command took effect.
    Done,
    /// A cas found another value (or none); nothing changed.
    CasMismatch {
        /// The value found.
        current: Option<Vec<u8>>,
    },
    /// A delete found no key; nothing changed.
    NotFound,
    /// The state machine refused the command (one it cannot apply, or one
    /// that does not decode); nothing changed.
    Rejected {
        /// Why.
        reason: String,
    },
}

/// A question about the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvQuery {
    /// The value of `key`.
    Get {
        /// The key.
        key: String,
    },
    /// The elements of `set`.
    ReadSet {
        /// The set.
        set: String,
    },
}

/// The answer to a [`KvQuery`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvAnswer {
    /// The value, or `None` if the key is absent.
    Value(Option<Vec<u8>>),
    /// The set's elements in sorted order (empty if it does not exist).
    Set(Vec<Vec<u8>>),
}

/// Named grow-only sets: an add is a union, so any order of adds gives the
/// same sets. Both [`KvStore`] and [`CrdtKv`](crate::CrdtKv) keep them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GrowOnlySets(BTreeMap<String, BTreeSet<Vec<u8>>>);

impl GrowOnlySets {
    pub(crate) fn add(&mut self, set: String, element: Vec<u8>) {
        self.0.entry(set).or_default().insert(element);
    }

    /// The elements of `set`, sorted (empty if it does not exist).
    pub(crate) fn read(&self, set: &str) -> KvAnswer {
        KvAnswer::Set(
            self.0
                .get(set)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
        )
    }
}

/// A store's snapshot: its whole state, encoded.
pub(crate) fn snapshot_of<T: Serialize>(state: &T) -> Vec<u8> {
    codec::encode(state).expect("a key-value store always encodes")
}

/// A store decoded from [`snapshot_of`]'s bytes.
pub(crate) fn restore_from<T: serde::de::DeserializeOwned>(
    snapshot: &[u8],
) -> Result<T, RestoreError> {
    codec::decode(snapshot).map_err(|e| RestoreError(e.to_string()))
}

/// The replicated key-value store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStore {
    values: BTreeMap<String, Vec<u8>>,
    sets: GrowOnlySets,
    applied_index: u64,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys with a value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl StateMachine for KvStore {
    type Command = KvCommand;
    type Output = KvOutput;
    type Query = KvQuery;
    type QueryOutput = KvAnswer;

    fn apply(&mut self, index: u64, command: KvCommand) -> KvOutput {
        self.applied_index = index;
        match command {
            KvCommand::Write { key, value } => {
                self.values.insert(key, value);
                KvOutput::Done
            }
            KvCommand::Cas { key, from, to } => {
                let current = self.values.get(&key);
                if current == from.as_ref() {
                    self.values.insert(key, to);
                    KvOutput::Done
                } else {
                    KvOutput::CasMismatch {
                        current: current.cloned(),
                    }
                }
            }
            KvCommand::Delete { key } => match self.values.remove(&key) {
                Some(_) => KvOutput::Done,
                None => KvOutput::NotFound,
            },
            KvCommand::Add { set, element } => {
                self.sets.add(set, element);
                KvOutput::Done
            }
        }
    }

    fn query(&self, query: &KvQuery) -> KvAnswer {
        match query {
            KvQuery::Get { key } => KvAnswer::Value(self.values.get(key).cloned()),
            KvQuery::ReadSet { set } => self.sets.read(set),
        }
    }

    fn applied_index(&self) -> u64 {
        self.applied_index
    }

    fn skip(&mut self, index: u64) {
        self.applied_index = index;
    }

    fn snapshot(&self) -> Vec<u8> {
        snapshot_of(self)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), RestoreError> {
        *self = restore_from(snapshot)?;
        Ok(())
    }
}

impl crate::KvMachine for KvStore {
    fn command(command: KvCommand) -> Result<KvCommand, synod_core::ClientError> {
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::testing::{state_machine_suite, StateMachineFixture};

    fn w(key: &str, v: u8) -> KvCommand {
        KvCommand::Write {
            key: key.into(),
            value: vec![v],
        }
    }

    #[test]
    fn cas_succeeds_only_on_the_expected_value() {
        let mut kv = KvStore::new();
        kv.apply(1, w("x", 1));
        let cas = |from: Option<u8>, to| KvCommand::Cas {
            key: "x".into(),
            from: from.map(|f| vec![f]),
            to: vec![to],
        };
        assert_eq!(
            kv.apply(2, cas(Some(2), 3)),
            KvOutput::CasMismatch {
                current: Some(vec![1])
            }
        );
        assert_eq!(kv.apply(3, cas(Some(1), 3)), KvOutput::Done);
        assert_eq!(
            kv.query(&KvQuery::Get { key: "x".into() }),
            KvAnswer::Value(Some(vec![3]))
        );
        assert_eq!(
            kv.apply(
                4,
                KvCommand::Cas {
                    key: "y".into(),
                    from: None,
                    to: vec![5]
                }
            ),
            KvOutput::Done,
            "cas from absent creates the key"
        );
    }

    #[test]
    fn delete_of_a_missing_key_reports_not_found() {
        let mut kv = KvStore::new();
        assert_eq!(
            kv.apply(1, KvCommand::Delete { key: "x".into() }),
            KvOutput::NotFound
        );
        kv.apply(2, w("x", 1));
        assert_eq!(
            kv.apply(3, KvCommand::Delete { key: "x".into() }),
            KvOutput::Done
        );
        assert_eq!(
            kv.query(&KvQuery::Get { key: "x".into() }),
            KvAnswer::Value(None)
        );
    }

    struct Fixture;
    impl StateMachineFixture for Fixture {
        type M = KvStore;
        fn fresh(&mut self) -> KvStore {
            KvStore::new()
        }
        fn commands(&mut self) -> Vec<KvCommand> {
            let mut v = Vec::new();
            for i in 0..40u8 {
                let key = format!("k{}", i % 5);
                v.push(match i % 4 {
                    0 => w(&key, i),
                    1 => KvCommand::Cas {
                        key,
                        from: Some(vec![i - 1]),
                        to: vec![i],
                    },
                    2 => KvCommand::Add {
                        set: "s".into(),
                        element: vec![i],
                    },
                    _ => KvCommand::Delete { key },
                });
            }
            v
        }
        fn queries(&mut self) -> Vec<KvQuery> {
            let mut q: Vec<KvQuery> = (0..5)
                .map(|i| KvQuery::Get {
                    key: format!("k{i}"),
                })
                .collect();
            q.push(KvQuery::ReadSet { set: "s".into() });
            q
        }
    }

    #[test]
    fn kv_store_passes_the_state_machine_suite() {
        state_machine_suite(&mut Fixture);
    }
}
