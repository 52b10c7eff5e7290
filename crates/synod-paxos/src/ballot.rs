//! [`Ballot`]: a proposal number that is unique across proposers and totally
//! ordered.
//!
//! Paxos needs proposal numbers that no two proposers ever share and that a
//! proposer can always raise above any it has seen. The pair `(round, node)`,
//! compared round first and node second, gives both: two proposers never use
//! the same pair because their node ids differ, and `round + 1` beats every
//! ballot of `round`. (It is the notes' `round × N + id` without having to
//! know `N`.) `Ballot::ZERO` is below every real ballot: "promised nothing".

use serde::{Deserialize, Serialize};
use std::fmt;
use synod_core::NodeId;

/// A proposal number: `(round, node)`, ordered by round, then node.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// The proposer's attempt counter; raised above every round seen.
    pub round: u64,
    /// The proposer that owns the ballot (breaks ties between rounds).
    pub node: NodeId,
}

impl Ballot {
    /// Below every ballot a proposer can use.
    pub const ZERO: Ballot = Ballot {
        round: 0,
        node: NodeId(0),
    };

    /// The ballot `(round, node)`.
    pub fn new(round: u64, node: NodeId) -> Ballot {
        Ballot { round, node }
    }

    /// The smallest ballot of `node` above `self`.
    pub fn next_for(self, node: NodeId) -> Ballot {
        Ballot {
            round: self.round + 1,
            node,
        }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node() {
        let a = Ballot::new(1, NodeId(3));
        let b = Ballot::new(2, NodeId(1));
        assert!(a < b);
        assert!(Ballot::new(2, NodeId(1)) < Ballot::new(2, NodeId(2)));
        assert!(Ballot::ZERO < Ballot::new(0, NodeId(1)));
    }

    #[test]
    fn next_for_is_above_every_ballot_of_the_round() {
        let seen = Ballot::new(4, NodeId(9));
        let mine = seen.next_for(NodeId(1));
        assert!(mine > seen);
        assert_eq!(mine, Ballot::new(5, NodeId(1)));
    }
}
