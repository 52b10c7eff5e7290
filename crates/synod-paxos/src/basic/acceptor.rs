//! The acceptor: the only role with durable state, and the one that makes
//! Paxos safe. Its two promises and one answer:
//!
//! - after promising `n` it answers no prepare numbered `≤ n`;
//! - after promising `n` it accepts no proposal numbered `< n`;
//! - its promise carries the highest-numbered proposal it has accepted, if
//!   any.
//!
//! The caller persists [`Acceptor::state`] before sending the reply a
//! decision produced.

use crate::ballot::Ballot;
use serde::{Deserialize, Serialize};

/// An acceptor's durable state: what it promised and what it accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptorState {
    /// The highest proposal number promised.
    pub promised: Ballot,
    /// The highest-numbered proposal accepted, if any.
    pub accepted: Option<(Ballot, Vec<u8>)>,
}

/// One acceptor of a single-decree Paxos instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acceptor {
    state: AcceptorState,
}

impl Acceptor {
    /// An acceptor that promised and accepted nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// An acceptor restored from its durable state.
    pub fn from_state(state: AcceptorState) -> Self {
        Self { state }
    }

    /// The state to persist before replying.
    pub fn state(&self) -> &AcceptorState {
        &self.state
    }

    /// Phase 1b. `Ok` is a promise carrying the highest-numbered proposal
    /// accepted; `Err` carries the higher number already promised.
    #[allow(clippy::type_complexity)]
    pub fn on_prepare(&mut self, n: Ballot) -> Result<Option<(Ballot, Vec<u8>)>, Ballot> {
        if n <= self.state.promised {
            return Err(self.state.promised);
        }
        self.state.promised = n;
        Ok(self.state.accepted.clone())
    }

    /// Phase 2b. `Ok` means accepted; `Err` carries the higher number
    /// promised.
    pub fn on_accept(&mut self, n: Ballot, value: Vec<u8>) -> Result<(), Ballot> {
        if n < self.state.promised {
            return Err(self.state.promised);
        }
        self.state.promised = n;
        self.state.accepted = Some((n, value));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::NodeId;

    fn n(round: u64) -> Ballot {
        Ballot::new(round, NodeId(1))
    }

    #[test]
    fn acceptor_that_promised_2_rejects_proposal_1_and_accepts_proposal_2() {
        // The notes' example.
        let mut a = Acceptor::new();
        assert_eq!(a.on_prepare(n(2)), Ok(None));
        assert_eq!(a.on_accept(n(1), b"x".to_vec()), Err(n(2)));
        assert_eq!(a.on_accept(n(2), b"y".to_vec()), Ok(()));
        assert_eq!(a.state().accepted, Some((n(2), b"y".to_vec())));
    }

    #[test]
    fn acceptor_answers_no_prepare_at_or_below_its_promise() {
        let mut a = Acceptor::new();
        a.on_prepare(n(5)).unwrap();
        assert_eq!(a.on_prepare(n(5)), Err(n(5)));
        assert_eq!(a.on_prepare(n(3)), Err(n(5)));
        assert!(a.on_prepare(n(6)).is_ok());
    }

    #[test]
    fn promise_carries_the_highest_numbered_accepted_proposal() {
        let mut a = Acceptor::new();
        a.on_accept(n(1), b"a".to_vec()).unwrap();
        a.on_accept(n(3), b"b".to_vec()).unwrap();
        assert_eq!(a.on_prepare(n(4)), Ok(Some((n(3), b"b".to_vec()))));
    }

    #[test]
    fn accepting_a_higher_number_raises_the_promise() {
        let mut a = Acceptor::new();
        a.on_accept(n(4), b"a".to_vec()).unwrap();
        assert_eq!(a.on_prepare(n(3)), Err(n(4)));
    }
}
