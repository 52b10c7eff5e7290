//! The leader's queue of linearizable reads confirmed by a quorum round
//! (Raft's ReadIndex, the same scheme in Multi-Paxos, and ZAB's
//! quorum-confirmed leader read, which needs no index: its leader has
//! delivered everything it committed, so it starts every read at index 0).
//!
//! A read passes three stages, in order:
//!
//! 1. **awaiting**: the leader cannot yet name a safe read index (Raft: no
//!    entry of its term committed; Paxos: its own no-op not chosen), so the
//!    read waits for that;
//! 2. **pending**: the read is stamped with the commit point when it
//!    started and with a new round number; the leader sends the round to its
//!    followers, and the read is confirmed once a quorum has echoed a round
//!    at least as high — proof that this leader still led after the read
//!    arrived;
//! 3. **ready**: confirmed, it is served once the state machine has applied
//!    its index.
//!
//! The queue holds only the bookkeeping; what "a quorum echoed round `s`"
//! means is the protocol's to compute, and it hands the result to
//! [`ReadQueue::confirm`]. Rounds and indexes only grow, so both queues stay
//! sorted and each step pops from the front.

use crate::ids::RequestId;
use std::collections::VecDeque;

/// A read stamped with its index and round.
#[derive(Clone, Debug)]
struct Pending<R> {
    read: R,
    index: u64,
    round: u64,
}

/// Reads waiting at the leader, by stage. A read is its client request
/// (`R = RequestId`) unless the protocol needs to say more, as ZAB does for
/// the `sync` a learner forwarded.
#[derive(Debug)]
pub struct ReadQueue<R = RequestId> {
    round: u64,
    awaiting: Vec<R>,
    pending: VecDeque<Pending<R>>,
    ready: VecDeque<(u64, R)>,
}

impl<R> Default for ReadQueue<R> {
    fn default() -> Self {
        Self {
            round: 0,
            awaiting: Vec::new(),
            pending: VecDeque::new(),
            ready: VecDeque::new(),
        }
    }
}

impl<R> ReadQueue<R> {
    /// The latest round started (what heartbeats carry for followers to
    /// echo).
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Holds `read` until the leader can name a safe read index.
    pub fn wait(&mut self, read: R) {
        self.awaiting.push(read);
    }

    /// The reads held by [`wait`](Self::wait), to be started now.
    pub fn take_awaiting(&mut self) -> Vec<R> {
        std::mem::take(&mut self.awaiting)
    }

    /// Starts a new round for `reads` read at `index`; returns the round.
    pub fn start(&mut self, reads: Vec<R>, index: u64) -> u64 {
        self.round += 1;
        let round = self.round;
        self.pending
            .extend(reads.into_iter().map(|read| Pending { read, index, round }));
        round
    }

    /// Whether any read waits for a quorum round.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// A quorum has echoed every round up to `round`: those reads are
    /// confirmed.
    pub fn confirm(&mut self, round: u64) {
        while self.pending.front().is_some_and(|p| p.round <= round) {
            let p = self.pending.pop_front().expect("front exists");
            self.ready.push_back((p.index, p.read));
        }
    }

    /// Moves confirmed reads whose index is applied into `reads` (the
    /// output's list of reads to serve).
    pub fn serve(&mut self, applied: u64, reads: &mut Vec<R>) {
        while self
            .ready
            .front()
            .is_some_and(|(index, _)| *index <= applied)
        {
            let (_, read) = self.ready.pop_front().expect("front exists");
            reads.push(read);
        }
    }

    /// Every read not yet served, at every stage (to refuse them when
    /// leadership is lost).
    pub fn into_ids(self) -> Vec<R> {
        let mut reads = self.awaiting;
        reads.extend(self.pending.into_iter().map(|p| p.read));
        reads.extend(self.ready.into_iter().map(|(_, read)| read));
        reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_is_served_only_after_its_round_is_confirmed_and_its_index_applied() {
        let mut q = ReadQueue::default();
        let r1 = q.start(vec![RequestId(1)], 5);
        let r2 = q.start(vec![RequestId(2)], 7);
        assert_eq!((r1, r2, q.round()), (1, 2, 2));
        let mut reads = Vec::new();
        q.serve(10, &mut reads);
        assert!(reads.is_empty(), "nothing confirmed yet");
        q.confirm(1);
        q.serve(6, &mut reads);
        assert_eq!(reads, vec![RequestId(1)]);
        q.confirm(2);
        q.serve(6, &mut reads);
        assert_eq!(reads, vec![RequestId(1)], "index 7 not applied");
        q.serve(7, &mut reads);
        assert_eq!(reads, vec![RequestId(1), RequestId(2)]);
        assert!(!q.has_pending());
    }

    #[test]
    fn every_unserved_read_is_returned_when_leadership_ends() {
        let mut q = ReadQueue::default();
        q.wait(RequestId(1));
        q.start(vec![RequestId(2)], 1);
        q.start(vec![RequestId(3)], 1);
        q.confirm(1);
        assert_eq!(q.into_ids(), vec![RequestId(1), RequestId(3), RequestId(2)]);
    }
}
