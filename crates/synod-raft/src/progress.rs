//! What a leader knows about each follower's log (etcd's `Progress`): the
//! match and next indexes, and the replication state machine
//!
//! ```text
//!            reject / lost message              next entry compacted
//!   ┌────────────────────────────────┐     ┌─────────────────────────────┐
//!   ▼                                │     │                             ▼
//! Probe ──── success ────▶ Replicate ┘   Probe/Replicate            Snapshot
//!   ▲  one message per heartbeat       pipelined, bounded          chunked, one
//!   │                                  by in-flight bytes          chunk at a time
//!   └──────────────── snapshot installed (done) ─────────────────────────┘
//! ```

use std::collections::VecDeque;

/// How the leader currently replicates to one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplState {
    /// Looking for the point where the logs agree: one AppendEntries at a
    /// time, re-sent at each heartbeat.
    Probe,
    /// Logs agree up to `match_index`: entries are sent optimistically,
    /// advancing `next_index` before acknowledgement, within the byte window.
    Replicate,
    /// Sending the snapshot at `index`, chunk by chunk.
    Snapshot {
        /// The snapshot being sent.
        index: u64,
        /// The next byte to send.
        offset: u64,
        /// Heartbeat rounds since the follower last answered a chunk.
        idle_rounds: u32,
    },
}

/// The leader's view of one follower.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Highest index known to be replicated on the follower.
    pub(crate) match_index: u64,
    /// Index of the next entry to send.
    pub(crate) next_index: u64,
    pub(crate) state: ReplState,
    /// In probe state: a probe was sent and not answered since the last
    /// heartbeat.
    pub(crate) probe_sent: bool,
    /// `(last index, bytes)` of every AppendEntries in flight (replicate state).
    pub(crate) inflight: VecDeque<(u64, u64)>,
    pub(crate) inflight_bytes: u64,
    /// Leader ticks since this follower last answered (check-quorum).
    pub(crate) idle_ticks: u64,
    /// Highest ReadIndex round the follower acknowledged.
    pub(crate) read_ack: u64,
    /// Highest commit index sent to the follower.
    pub(crate) commit_sent: u64,
}

impl Progress {
    /// A follower about which nothing is known yet.
    pub(crate) fn new(next_index: u64) -> Self {
        Self {
            match_index: 0,
            next_index,
            state: ReplState::Probe,
            probe_sent: false,
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            idle_ticks: 0,
            read_ack: 0,
            commit_sent: 0,
        }
    }

    /// Whether the pipeline window is full (an empty window always admits
    /// one message).
    pub(crate) fn inflight_full(&self, max_bytes: u64) -> bool {
        !self.inflight.is_empty() && self.inflight_bytes >= max_bytes
    }

    /// Records a sent AppendEntries whose last entry is `last` (replicate
    /// state).
    pub(crate) fn sent(&mut self, last: u64, bytes: u64) {
        self.next_index = last + 1;
        self.inflight.push_back((last, bytes));
        self.inflight_bytes += bytes;
    }

    /// Frees the window for every message acknowledged by a match at `index`.
    pub(crate) fn free_through(&mut self, index: u64) {
        while let Some(&(last, bytes)) = self.inflight.front() {
            if last > index {
                break;
            }
            self.inflight.pop_front();
            self.inflight_bytes -= bytes;
        }
    }

    fn clear_inflight(&mut self) {
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    /// Back to probing from `next_index`.
    pub(crate) fn become_probe(&mut self, next_index: u64) {
        self.state = ReplState::Probe;
        self.next_index = next_index.max(self.match_index + 1);
        self.probe_sent = false;
        self.clear_inflight();
    }

    /// The follower's log agrees up to `match_index`: pipeline from there.
    pub(crate) fn become_replicate(&mut self) {
        self.state = ReplState::Replicate;
        self.next_index = self.match_index + 1;
        self.probe_sent = false;
        self.clear_inflight();
    }

    /// Start sending the snapshot at `index`.
    pub(crate) fn become_snapshot(&mut self, index: u64) {
        self.state = ReplState::Snapshot {
            index,
            offset: 0,
            idle_rounds: 0,
        };
        self.probe_sent = false;
        self.clear_inflight();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_admits_one_message_then_fills_and_frees_in_order() {
        let mut p = Progress::new(1);
        p.become_replicate();
        assert!(!p.inflight_full(10));
        p.sent(3, 30);
        assert!(p.inflight_full(10));
        p.sent(5, 5);
        p.free_through(3);
        assert_eq!(p.inflight_bytes, 5);
        assert!(!p.inflight_full(10));
        p.free_through(9);
        assert!(p.inflight.is_empty());
        assert_eq!(p.next_index, 6);
    }

    #[test]
    fn probe_never_goes_below_match() {
        let mut p = Progress::new(10);
        p.match_index = 6;
        p.become_probe(2);
        assert_eq!(p.next_index, 7);
    }
}
