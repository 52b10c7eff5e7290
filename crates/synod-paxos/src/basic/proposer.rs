//! The proposer: picks a proposal number above every one it has seen, asks
//! a majority to promise it (phase 1), and proposes the value of the
//! highest-numbered proposal among the promises, or its own value when none
//! carries one (phase 2).

use crate::ballot::Ballot;
use std::collections::BTreeMap;
use synod_core::NodeId;

/// Where the current attempt stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Preparing {
        promises: BTreeMap<NodeId, Option<(Ballot, Vec<u8>)>>,
    },
    Accepting,
}

/// One proposer of a single-decree Paxos instance.
#[derive(Clone, Debug)]
pub struct Proposer {
    id: NodeId,
    quorum: usize,
    own_value: Option<Vec<u8>>,
    ballot: Ballot,
    max_round_seen: u64,
    phase: Phase,
}

impl Proposer {
    /// A proposer `id` among acceptors of which `quorum` make a majority.
    pub fn new(id: NodeId, quorum: usize) -> Self {
        Self {
            id,
            quorum,
            own_value: None,
            ballot: Ballot::ZERO,
            max_round_seen: 0,
            phase: Phase::Idle,
        }
    }

    /// The value this proposer wants chosen (kept if one is set already).
    pub fn set_value(&mut self, value: Vec<u8>) {
        self.own_value.get_or_insert(value);
    }

    /// Whether it has a value to propose.
    pub fn has_value(&self) -> bool {
        self.own_value.is_some()
    }

    /// The number of the current (or last) attempt.
    pub fn ballot(&self) -> Ballot {
        self.ballot
    }

    /// Whether an attempt is under way.
    pub fn is_active(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// Notes a number seen elsewhere, so the next attempt goes above it.
    pub fn observe(&mut self, n: Ballot) {
        self.max_round_seen = self.max_round_seen.max(n.round);
    }

    /// Starts phase 1 with a number above every one seen; returns it.
    ///
    /// # Panics
    ///
    /// When no round is left above those seen (a peer sent round
    /// `u64::MAX`); [`Proposer::try_start`] returns `None` instead.
    pub fn start(&mut self) -> Ballot {
        match self.try_start() {
            Some(ballot) => ballot,
            None => panic!("no proposal round left above {}", self.max_round_seen),
        }
    }

    /// Like [`Proposer::start`], but `None` (and no attempt) when every
    /// round was used up: a number is never reused or wrapped.
    pub fn try_start(&mut self) -> Option<Ballot> {
        self.max_round_seen = self.max_round_seen.checked_add(1)?;
        self.ballot = Ballot::new(self.max_round_seen, self.id);
        self.phase = Phase::Preparing {
            promises: BTreeMap::new(),
        };
        Some(self.ballot)
    }

    /// A promise for `n`. Returns the value to propose once a majority has
    /// promised: the highest-numbered accepted value among them, else ours.
    pub fn on_promise(
        &mut self,
        from: NodeId,
        n: Ballot,
        accepted: Option<(Ballot, Vec<u8>)>,
    ) -> Option<Vec<u8>> {
        if n != self.ballot {
            return None;
        }
        let Phase::Preparing { promises } = &mut self.phase else {
            return None;
        };
        promises.insert(from, accepted);
        if promises.len() < self.quorum {
            return None;
        }
        let adopted = promises
            .values()
            .flatten()
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v.clone());
        let value = adopted.or_else(|| self.own_value.clone())?;
        self.phase = Phase::Accepting;
        Some(value)
    }

    /// A refusal of `n` because `promised` was promised. Returns whether it
    /// pre-empted the current attempt (which then stops).
    pub fn on_reject(&mut self, n: Ballot, promised: Ballot) -> bool {
        self.observe(promised);
        if n == self.ballot && promised > n && self.is_active() {
            self.phase = Phase::Idle;
            return true;
        }
        false
    }

    /// Stops the current attempt (a value was learned, or it timed out).
    pub fn stop(&mut self) {
        self.phase = Phase::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposer_adopts_the_value_of_the_highest_numbered_accepted_proposal() {
        let mut p = Proposer::new(NodeId(1), 2);
        p.set_value(b"mine".to_vec());
        let b = p.start();
        let low = Some((Ballot::new(0, NodeId(2)), b"old".to_vec()));
        assert_eq!(p.on_promise(NodeId(2), b, low), None);
        let high = Some((Ballot::new(0, NodeId(3)), b"newer".to_vec()));
        assert_eq!(p.on_promise(NodeId(3), b, high), Some(b"newer".to_vec()));
    }

    #[test]
    fn proposer_proposes_its_own_value_when_no_promise_carries_one() {
        let mut p = Proposer::new(NodeId(1), 2);
        p.set_value(b"mine".to_vec());
        let b = p.start();
        assert_eq!(p.on_promise(NodeId(1), b, None), None);
        assert_eq!(p.on_promise(NodeId(2), b, None), Some(b"mine".to_vec()));
    }

    #[test]
    fn next_attempt_goes_above_every_number_seen() {
        let mut p = Proposer::new(NodeId(1), 2);
        let first = p.start();
        assert!(p.on_reject(first, Ballot::new(7, NodeId(2))));
        let second = p.start();
        assert!(second > Ballot::new(7, NodeId(2)));
    }

    #[test]
    fn try_start_refuses_when_no_round_is_left_above_those_seen() {
        let mut p = Proposer::new(NodeId(1), 2);
        p.observe(Ballot::new(u64::MAX, NodeId(2)));
        assert_eq!(p.try_start(), None);
        assert!(!p.is_active());
        assert_eq!(p.ballot(), Ballot::ZERO, "no number reused or wrapped");
    }

    #[test]
    fn promises_for_an_old_attempt_are_ignored() {
        let mut p = Proposer::new(NodeId(1), 1);
        p.set_value(b"v".to_vec());
        let old = p.start();
        p.start();
        assert_eq!(p.on_promise(NodeId(2), old, None), None);
    }
}
