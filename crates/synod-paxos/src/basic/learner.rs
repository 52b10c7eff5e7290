//! The learner: a value is chosen once a majority of acceptors accepted the
//! same proposal. Acceptors broadcast every acceptance to every learner, so
//! each learns on its own (no distinguished learner to lose).

use crate::ballot::Ballot;
use std::collections::{BTreeMap, BTreeSet};
use synod_core::NodeId;

/// One learner of a single-decree Paxos instance.
#[derive(Clone, Debug, Default)]
pub struct Learner {
    quorum: usize,
    votes: BTreeMap<Ballot, (Vec<u8>, BTreeSet<NodeId>)>,
    learned: Option<Vec<u8>>,
}

impl Learner {
    /// A learner among acceptors of which `quorum` make a majority.
    pub fn new(quorum: usize) -> Self {
        Self {
            quorum,
            votes: BTreeMap::new(),
            learned: None,
        }
    }

    /// A learner that already learned `value` (after a restart).
    pub fn with_learned(quorum: usize, value: Option<Vec<u8>>) -> Self {
        Self {
            learned: value,
            ..Self::new(quorum)
        }
    }

    /// The value learned, if any. Once set it never changes.
    pub fn learned(&self) -> Option<&Vec<u8>> {
        self.learned.as_ref()
    }

    /// Another learner reports the value it learned (chosen values never
    /// change, so this is safe to believe). Returns it if it is news.
    pub fn on_decided(&mut self, value: Vec<u8>) -> Option<Vec<u8>> {
        if self.learned.is_some() {
            return None;
        }
        self.learned = Some(value.clone());
        self.votes.clear();
        Some(value)
    }

    /// Acceptor `from` accepted `(n, value)`. Returns the value when this
    /// acceptance is the one that makes it learned.
    pub fn on_accepted(&mut self, from: NodeId, n: Ballot, value: Vec<u8>) -> Option<Vec<u8>> {
        if self.learned.is_some() {
            return None;
        }
        let entry = self
            .votes
            .entry(n)
            .or_insert_with(|| (value, BTreeSet::new()));
        entry.1.insert(from);
        if entry.1.len() >= self.quorum {
            let v = entry.0.clone();
            self.learned = Some(v.clone());
            self.votes.clear();
            return Some(v);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learner_learns_once_a_majority_accepted_the_same_proposal() {
        let mut l = Learner::new(2);
        let b1 = Ballot::new(1, NodeId(1));
        let b2 = Ballot::new(2, NodeId(2));
        assert_eq!(l.on_accepted(NodeId(1), b1, b"a".to_vec()), None);
        assert_eq!(l.on_accepted(NodeId(2), b2, b"a".to_vec()), None);
        assert_eq!(
            l.on_accepted(NodeId(1), b1, b"a".to_vec()),
            None,
            "duplicate"
        );
        assert_eq!(
            l.on_accepted(NodeId(3), b2, b"a".to_vec()),
            Some(b"a".to_vec())
        );
        assert_eq!(l.on_accepted(NodeId(3), b1, b"z".to_vec()), None);
        assert_eq!(l.learned(), Some(&b"a".to_vec()));
    }
}
