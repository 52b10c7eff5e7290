//! The key-value state machine for leaderless (gossip) replication.
//!
//! A gossip protocol delivers the same writes to every replica, but not in
//! the same order, so [`KvStore`](crate::KvStore)'s order-sensitive `apply`
//! would let replicas diverge. [`CrdtKv`] makes the state a function of the
//! *set* of writes seen:
//!
//! - values form a **last-writer-wins map**: each key keeps the write with
//!   the greatest [`Stamp`] (logical clock, then origin node); a delete is a
//!   write of a tombstone, so a late-arriving older write cannot resurrect a
//!   deleted key;
//! - sets are **grow-only sets**: an add is a union, which commutes.
//!
//! Both merges are commutative, associative and idempotent, so any two
//! replicas that applied the same writes hold the same bytes — the
//! convergence the gossip workload checks. Compare-and-set needs agreement
//! on an order and is refused before proposing (see
//! [`KvMachine::command`](crate::KvMachine::command)).

use crate::machine::{
    restore_from, snapshot_of, GrowOnlySets, KvAnswer, KvCommand, KvOutput, KvQuery,
};
use crate::KvMachine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use synod_core::{codec, ClientError, RestoreError, Stamp, Stamped, StateMachine};

/// A register of the last-writer-wins map: the winning write's stamp and
/// value (`None`: a tombstone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Register {
    stamp: Stamp,
    value: Option<Vec<u8>>,
}

/// The convergent key-value store served with the gossip protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrdtKv {
    values: BTreeMap<String, Register>,
    sets: GrowOnlySets,
    applied_index: u64,
}

impl CrdtKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn write(&mut self, key: String, stamp: Stamp, value: Option<Vec<u8>>) {
        let newer = self.values.get(&key).is_none_or(|r| stamp > r.stamp);
        if newer {
            self.values.insert(key, Register { stamp, value });
        }
    }
}

impl StateMachine for CrdtKv {
    type Command = Stamped;
    type Output = KvOutput;
    type Query = KvQuery;
    type QueryOutput = KvAnswer;

    fn apply(&mut self, index: u64, stamped: Stamped) -> KvOutput {
        self.applied_index = index;
        let command: KvCommand = match codec::decode(&stamped.command) {
            Ok(c) => c,
            Err(e) => {
                return KvOutput::Rejected {
                    reason: format!("command does not decode: {e}"),
                }
            }
        };
        match command {
            KvCommand::Write { key, value } => self.write(key, stamped.stamp, Some(value)),
            KvCommand::Delete { key } => self.write(key, stamped.stamp, None),
            KvCommand::Add { set, element } => self.sets.add(set, element),
            KvCommand::Cas { .. } => {
                return KvOutput::Rejected {
                    reason: "compare-and-set is not available without consensus".into(),
                }
            }
        }
        KvOutput::Done
    }

    fn query(&self, query: &KvQuery) -> KvAnswer {
        match query {
            KvQuery::Get { key } => {
                KvAnswer::Value(self.values.get(key).and_then(|r| r.value.clone()))
            }
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

impl KvMachine for CrdtKv {
    fn command(command: KvCommand) -> Result<Stamped, ClientError> {
        if matches!(command, KvCommand::Cas { .. }) {
            return Err(ClientError::Unavailable {
                reason: "compare-and-set needs consensus; the gossip protocol is AP".into(),
            });
        }
        let command = codec::encode(&command).map_err(|e| ClientError::Malformed {
            reason: e.to_string(),
        })?;
        Ok(Stamped {
            stamp: Stamp::default(),
            command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use synod_core::NodeId;

    fn stamped(clock: u64, node: u64, command: KvCommand) -> Stamped {
        Stamped {
            stamp: Stamp {
                clock,
                node: NodeId(node),
            },
            command: codec::encode(&command).unwrap(),
        }
    }

    fn get(kv: &CrdtKv, key: &str) -> Option<Vec<u8>> {
        match kv.query(&KvQuery::Get { key: key.into() }) {
            KvAnswer::Value(v) => v,
            KvAnswer::Set(_) => unreachable!(),
        }
    }

    #[test]
    fn the_greatest_stamp_wins_whatever_the_arrival_order() {
        let older = stamped(
            1,
            2,
            KvCommand::Write {
                key: "x".into(),
                value: vec![1],
            },
        );
        let newer = stamped(
            2,
            1,
            KvCommand::Write {
                key: "x".into(),
                value: vec![2],
            },
        );
        let mut a = CrdtKv::new();
        a.apply(1, older.clone());
        a.apply(2, newer.clone());
        let mut b = CrdtKv::new();
        b.apply(1, newer);
        b.apply(2, older);
        assert_eq!(get(&a, "x"), Some(vec![2]));
        assert_eq!(get(&b, "x"), Some(vec![2]));
    }

    #[test]
    fn equal_clocks_are_ordered_by_node() {
        let mut kv = CrdtKv::new();
        let w = |node, v| {
            stamped(
                5,
                node,
                KvCommand::Write {
                    key: "x".into(),
                    value: vec![v],
                },
            )
        };
        kv.apply(1, w(3, 30));
        kv.apply(2, w(2, 20));
        assert_eq!(get(&kv, "x"), Some(vec![30]));
    }

    #[test]
    fn a_delete_tombstone_keeps_an_older_write_from_resurrecting_the_key() {
        let mut kv = CrdtKv::new();
        kv.apply(1, stamped(7, 1, KvCommand::Delete { key: "x".into() }));
        kv.apply(
            2,
            stamped(
                3,
                2,
                KvCommand::Write {
                    key: "x".into(),
                    value: vec![1],
                },
            ),
        );
        assert_eq!(get(&kv, "x"), None);
    }

    #[test]
    fn cas_is_refused_before_proposing_and_rejected_if_applied() {
        let cas = KvCommand::Cas {
            key: "x".into(),
            from: None,
            to: vec![1],
        };
        let err = CrdtKv::command(cas.clone()).unwrap_err();
        assert!(err.is_definite());
        let mut kv = CrdtKv::new();
        assert!(matches!(
            kv.apply(1, stamped(1, 1, cas)),
            KvOutput::Rejected { .. }
        ));
        assert_eq!(get(&kv, "x"), None);
    }

    #[test]
    fn an_undecodable_command_is_rejected_not_a_panic() {
        let mut kv = CrdtKv::new();
        let out = kv.apply(
            1,
            Stamped {
                stamp: Stamp::default(),
                command: vec![0xff; 3],
            },
        );
        assert!(matches!(out, KvOutput::Rejected { .. }));
    }

    fn arb_command() -> impl Strategy<Value = Stamped> {
        (0u64..6, 1u64..4, 0u8..3, 0u8..4, any::<u8>()).prop_map(|(clock, node, key, kind, v)| {
            let key = format!("k{key}");
            let command = match kind {
                0 | 1 => KvCommand::Write {
                    key,
                    value: vec![v],
                },
                2 => KvCommand::Delete { key },
                _ => KvCommand::Add {
                    set: key,
                    element: vec![v],
                },
            };
            stamped(clock, node, command)
        })
    }

    proptest! {
        /// Replicas that apply the same writes in any order, some of them
        /// twice, end with the same state (commutative, idempotent merge).
        /// Writes with the same stamp must be the same write, as a real
        /// origin never reuses a stamp, so the generator dedups by stamp.
        #[test]
        fn any_delivery_order_converges(
            writes in proptest::collection::vec(arb_command(), 0..24),
            seed in any::<u64>(),
        ) {
            let mut seen = BTreeSet::new();
            let writes: Vec<Stamped> =
                writes.into_iter().filter(|w| seen.insert(w.stamp)).collect();
            let mut shuffled = writes.clone();
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            shuffled.extend(writes.iter().take(3).cloned());
            let mut a = CrdtKv::new();
            for (i, w) in writes.into_iter().enumerate() { a.apply(i as u64 + 1, w); }
            let mut b = CrdtKv::new();
            for (i, w) in shuffled.into_iter().enumerate() { b.apply(i as u64 + 1, w); }
            prop_assert_eq!(a.values, b.values);
            prop_assert_eq!(a.sets, b.sets);
        }
    }
}
