//! The instance log: per slot, what this replica's acceptor accepted and
//! what its learner knows chosen.
//!
//! Guarantees:
//! - an accepted ballot in a slot only grows (the acceptor takes no accept
//!   below its promise, and its promise only grows);
//! - a chosen value, once known, is never replaced (`choose` keeps the first);
//! - `chosen_through` is the longest prefix of slots known chosen; slots at
//!   or below `compacted_through` (the snapshot) are chosen and forgotten.

use crate::ballot::Ballot;
use crate::message::{PaxosRecord, SlotReport, Value};
use std::collections::BTreeMap;

/// The highest snapshot position taken from a peer. No real log gets near
/// it; keeping the commit point below it leaves room for every `slot + n`
/// the core computes (next slot, gap filling, batch ends) without overflow.
pub(crate) const MAX_SNAPSHOT_SLOT: u64 = u64::MAX / 2;

/// One slot (Paxos instance).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Instance {
    /// The highest-ballot proposal accepted here.
    pub(crate) accepted: Option<(Ballot, Value)>,
    /// The value known chosen.
    pub(crate) chosen: Option<Value>,
}

/// Slots above the snapshot.
#[derive(Clone, Debug, Default)]
pub(crate) struct InstanceLog {
    slots: BTreeMap<u64, Instance>,
    compacted_through: u64,
    chosen_through: u64,
}

impl InstanceLog {
    /// A log whose slots through `snapshot` are covered by a snapshot.
    pub(crate) fn new(snapshot: u64) -> Self {
        Self {
            slots: BTreeMap::new(),
            compacted_through: snapshot,
            chosen_through: snapshot,
        }
    }

    /// Rebuilds the log from records replayed in append order.
    pub(crate) fn replay(snapshot: u64, records: Vec<PaxosRecord>) -> Self {
        let mut log = Self::new(snapshot);
        let mut marked = snapshot;
        for record in records {
            match record {
                PaxosRecord::Accepted {
                    slot,
                    ballot,
                    value,
                } if slot > snapshot => {
                    log.slots.entry(slot).or_default().accepted = Some((ballot, value));
                }
                PaxosRecord::Chosen { slot, value } if slot > snapshot => {
                    log.choose(slot, value);
                }
                PaxosRecord::ChosenThrough { slot } => marked = marked.max(slot),
                _ => {}
            }
        }
        for slot in snapshot + 1..=marked {
            let Some(inst) = log.slots.get_mut(&slot) else {
                break;
            };
            if inst.chosen.is_none() {
                match &inst.accepted {
                    Some((_, v)) => inst.chosen = Some(v.clone()),
                    None => break,
                }
            }
        }
        log.advance();
        log
    }

    pub(crate) fn compacted_through(&self) -> u64 {
        self.compacted_through
    }

    pub(crate) fn chosen_through(&self) -> u64 {
        self.chosen_through
    }

    /// Every slot above the snapshot, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Instance)> + '_ {
        self.slots.iter().map(|(s, i)| (*s, i))
    }

    pub(crate) fn get(&self, slot: u64) -> Option<&Instance> {
        self.slots.get(&slot)
    }

    /// The ballot accepted in `slot`, if any.
    pub(crate) fn accepted_ballot(&self, slot: u64) -> Option<Ballot> {
        self.slots
            .get(&slot)
            .and_then(|i| i.accepted.as_ref().map(|(b, _)| *b))
    }

    /// Records an accepted proposal (the caller checked the promise).
    pub(crate) fn accept(&mut self, slot: u64, ballot: Ballot, value: Value) {
        if slot <= self.compacted_through {
            return;
        }
        self.slots.entry(slot).or_default().accepted = Some((ballot, value));
    }

    /// Marks `slot` chosen with `value` unless it is compacted or already
    /// known. Returns whether it learned something.
    pub(crate) fn choose(&mut self, slot: u64, value: Value) -> bool {
        if slot <= self.compacted_through {
            return false;
        }
        let inst = self.slots.entry(slot).or_default();
        if inst.chosen.is_some() {
            return false;
        }
        inst.chosen = Some(value);
        self.advance();
        true
    }

    /// Marks chosen every slot in `(chosen_through, commit]` whose accepted
    /// ballot is `ballot`: the leader of `ballot` proposed one value per slot
    /// and says those slots are chosen, so what we accepted from it is it.
    pub(crate) fn learn_commit(&mut self, ballot: Ballot, commit: u64) {
        let from = self.chosen_through + 1;
        if commit < from {
            return;
        }
        for (_, inst) in self.slots.range_mut(from..=commit) {
            if inst.chosen.is_none() {
                if let Some((b, v)) = &inst.accepted {
                    if *b == ballot {
                        inst.chosen = Some(v.clone());
                    }
                }
            }
        }
        self.advance();
    }

    fn advance(&mut self) {
        while self
            .slots
            .get(&(self.chosen_through + 1))
            .is_some_and(|i| i.chosen.is_some())
        {
            self.chosen_through += 1;
        }
    }

    /// The chosen value of `slot`, if known and not compacted.
    pub(crate) fn chosen(&self, slot: u64) -> Option<&Value> {
        self.slots.get(&slot).and_then(|i| i.chosen.as_ref())
    }

    /// What a promise reports: every slot from `from` on that holds an
    /// accepted or chosen value.
    pub(crate) fn reports_from(&self, from: u64) -> Vec<SlotReport> {
        self.slots
            .range(from.max(self.compacted_through + 1)..)
            .filter_map(|(&slot, inst)| match (&inst.chosen, &inst.accepted) {
                (Some(v), acc) => Some(SlotReport {
                    slot,
                    ballot: acc.as_ref().map_or(Ballot::ZERO, |(b, _)| *b),
                    value: v.clone(),
                    chosen: true,
                }),
                (None, Some((b, v))) => Some(SlotReport {
                    slot,
                    ballot: *b,
                    value: v.clone(),
                    chosen: false,
                }),
                (None, None) => None,
            })
            .collect()
    }

    /// The highest round of any ballot accepted here.
    pub(crate) fn max_accepted_round(&self) -> u64 {
        self.slots
            .values()
            .filter_map(|i| i.accepted.as_ref().map(|(b, _)| b.round))
            .max()
            .unwrap_or(0)
    }

    /// Forgets slots through `position` (covered by a snapshot). When the
    /// snapshot is ahead of what is known chosen, it becomes the commit point.
    pub(crate) fn compact_to(&mut self, position: u64) {
        if position <= self.compacted_through {
            return;
        }
        self.slots = self.slots.split_off(&(position + 1));
        self.compacted_through = position;
        self.chosen_through = self.chosen_through.max(position);
        self.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::NodeId;

    fn b(r: u64) -> Ballot {
        Ballot::new(r, NodeId(1))
    }

    fn cmd(x: u8) -> Value {
        Value::Command(vec![x])
    }

    #[test]
    fn chosen_through_is_the_contiguous_prefix() {
        let mut log = InstanceLog::new(0);
        log.choose(2, cmd(2));
        assert_eq!(log.chosen_through(), 0);
        log.choose(1, cmd(1));
        assert_eq!(log.chosen_through(), 2);
    }

    #[test]
    fn a_chosen_value_is_never_replaced() {
        let mut log = InstanceLog::new(0);
        assert!(log.choose(1, cmd(1)));
        assert!(!log.choose(1, cmd(9)));
        assert_eq!(log.chosen(1), Some(&cmd(1)));
    }

    #[test]
    fn commit_point_marks_only_slots_accepted_under_the_leaders_ballot() {
        let mut log = InstanceLog::new(0);
        log.accept(1, b(2), cmd(1));
        log.accept(2, b(1), cmd(2));
        log.accept(3, b(2), cmd(3));
        log.learn_commit(b(2), 3);
        assert_eq!(log.chosen(1), Some(&cmd(1)));
        assert_eq!(log.chosen(2), None, "accepted under an older ballot");
        assert_eq!(log.chosen(3), Some(&cmd(3)));
        assert_eq!(log.chosen_through(), 1);
    }

    #[test]
    fn replay_restores_accepted_values_and_the_commit_point() {
        let records = vec![
            PaxosRecord::Accepted {
                slot: 1,
                ballot: b(1),
                value: cmd(1),
            },
            PaxosRecord::Accepted {
                slot: 2,
                ballot: b(1),
                value: cmd(2),
            },
            PaxosRecord::Chosen {
                slot: 3,
                value: cmd(3),
            },
            PaxosRecord::ChosenThrough { slot: 2 },
            PaxosRecord::Accepted {
                slot: 4,
                ballot: b(2),
                value: cmd(4),
            },
        ];
        let log = InstanceLog::replay(0, records);
        assert_eq!(log.chosen_through(), 3);
        assert_eq!(log.accepted_ballot(4), Some(b(2)));
        assert_eq!(log.chosen(4), None);
    }

    #[test]
    fn compaction_drops_covered_slots_and_moves_the_commit_point() {
        let mut log = InstanceLog::new(0);
        log.accept(1, b(1), cmd(1));
        log.accept(5, b(1), cmd(5));
        log.compact_to(3);
        assert!(log.get(1).is_none());
        assert_eq!(log.chosen_through(), 3);
        assert_eq!(log.reports_from(1).len(), 1);
    }
}
