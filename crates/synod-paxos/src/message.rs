//! The Multi-Paxos vocabulary: values, messages, durable records and hard
//! state.
//!
//! ```text
//!   phase 1 (once per leader)         phase 2 (per command)           learning
//!   Prepare{ballot, first_slot} ──▶    Accept{ballot, first_slot,      Commit{ballot, commit, read_seq} ──▶
//!   ◀── Promise{ballot, reports}        values, commit} ──▶            ◀── CommitAck{ballot, read_seq}
//!   ◀── Reject{promised}               ◀── AcceptAck{ballot, slots}    CatchUp{from_slot} ──▶
//!                                      ◀── Reject{promised}            ◀── Decisions | SnapshotChunk
//! ```

use crate::ballot::Ballot;
use serde::{Deserialize, Serialize};
use synod_core::LogRecord;

/// What a slot holds: a client command, or a no-op that fills a gap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// A gap filler: advances the applied index, changes nothing.
    Noop,
    /// An opaque client command.
    Command(Vec<u8>),
}

impl Value {
    /// The command to hand the state machine (`None` for a no-op).
    pub fn command(&self) -> Option<Vec<u8>> {
        match self {
            Value::Noop => None,
            Value::Command(c) => Some(c.clone()),
        }
    }

    /// Approximate encoded size, for batching limits.
    pub fn size_bytes(&self) -> usize {
        match self {
            Value::Noop => 1,
            Value::Command(c) => c.len() + 9,
        }
    }
}

/// What an acceptor knows about one slot, sent in a [`PaxosMessage::Promise`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotReport {
    /// The slot.
    pub slot: u64,
    /// The highest ballot the acceptor accepted in this slot (for a slot it
    /// only learned as chosen, the ballot is [`Ballot::ZERO`]).
    pub ballot: Ballot,
    /// The value accepted with that ballot, or the chosen value.
    pub value: Value,
    /// Whether the acceptor knows the value is chosen.
    pub chosen: bool,
}

/// A Multi-Paxos message between replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaxosMessage {
    /// Phase 1a: "promise me `ballot` for every slot from `first_slot` on".
    Prepare {
        /// The candidate's ballot.
        ballot: Ballot,
        /// The candidate's first slot not known chosen.
        first_slot: u64,
    },
    /// Phase 1b: the acceptor promised `ballot` and reports what it accepted
    /// in slots from the prepare's `first_slot` on.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// Every slot through this one is chosen at the acceptor.
        chosen_through: u64,
        /// The acceptor's log is compacted through this slot (its snapshot):
        /// it cannot report slots at or below it.
        compacted_through: u64,
        /// Accepted (or chosen) values in slots from `first_slot` on.
        reports: Vec<SlotReport>,
    },
    /// The acceptor refuses `ballot` because it promised a higher one.
    Reject {
        /// The ballot refused.
        ballot: Ballot,
        /// The ballot the acceptor promised.
        promised: Ballot,
    },
    /// Phase 2a: accept `values` in slots `first_slot..` under `ballot`.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The slot of `values[0]`.
        first_slot: u64,
        /// One value per consecutive slot.
        values: Vec<Value>,
        /// The leader's commit point: every slot through it is chosen.
        commit: u64,
    },
    /// Phase 2b: the acceptor accepted (and persisted) `count` slots from
    /// `first_slot` under `ballot`.
    AcceptAck {
        /// The ballot accepted.
        ballot: Ballot,
        /// The first slot accepted.
        first_slot: u64,
        /// How many consecutive slots.
        count: u64,
    },
    /// The leader's heartbeat: it is alive, and slots through `commit` are
    /// chosen. `read_seq` numbers the round for linearizable reads.
    Commit {
        /// The leader's ballot.
        ballot: Ballot,
        /// Every slot through this one is chosen.
        commit: u64,
        /// The leader's latest read round.
        read_seq: u64,
    },
    /// A follower still follows `ballot` (echoes the read round).
    CommitAck {
        /// The ballot acknowledged.
        ballot: Ballot,
        /// The read round echoed.
        read_seq: u64,
    },
    /// "Send me the decisions from `from_slot` on" (any replica answers).
    CatchUp {
        /// The first slot the asker does not know chosen.
        from_slot: u64,
        /// A snapshot transfer in progress: `(position, bytes received)`.
        snapshot_offset: Option<(u64, u64)>,
    },
    /// Chosen values for consecutive slots from `first_slot`.
    Decisions {
        /// The slot of `values[0]`.
        first_slot: u64,
        /// Chosen values.
        values: Vec<Value>,
        /// The sender's commit point (the asker continues while below it).
        chosen_through: u64,
    },
    /// A piece of the sender's snapshot, for an asker behind its compaction.
    SnapshotChunk {
        /// The snapshot's position (its last slot).
        position: u64,
        /// Where `data` starts in the snapshot.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
        /// Whether this is the last piece.
        done: bool,
    },
}

impl PaxosMessage {
    /// A short name for logs and test statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            PaxosMessage::Prepare { .. } => "prepare",
            PaxosMessage::Promise { .. } => "promise",
            PaxosMessage::Reject { .. } => "reject",
            PaxosMessage::Accept { .. } => "accept",
            PaxosMessage::AcceptAck { .. } => "accept-ack",
            PaxosMessage::Commit { .. } => "commit",
            PaxosMessage::CommitAck { .. } => "commit-ack",
            PaxosMessage::CatchUp { .. } => "catch-up",
            PaxosMessage::Decisions { .. } => "decisions",
            PaxosMessage::SnapshotChunk { .. } => "snapshot-chunk",
        }
    }
}

/// A durable record of the Multi-Paxos log. Replaying them in order, latest
/// record of a slot winning, gives back what the acceptor accepted and what
/// the learner knows chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaxosRecord {
    /// The acceptor accepted `value` in `slot` under `ballot` (synced before
    /// the acknowledgement leaves).
    Accepted {
        /// The slot.
        slot: u64,
        /// The ballot.
        ballot: Ballot,
        /// The value.
        value: Value,
    },
    /// The learner learned `value` chosen in `slot` from a peer.
    Chosen {
        /// The slot.
        slot: u64,
        /// The chosen value.
        value: Value,
    },
    /// Every slot through `slot` is chosen, with the value of its latest
    /// record above.
    ChosenThrough {
        /// The commit point.
        slot: u64,
    },
}

impl LogRecord for PaxosRecord {
    fn position(&self) -> u64 {
        match self {
            PaxosRecord::Accepted { slot, .. }
            | PaxosRecord::Chosen { slot, .. }
            | PaxosRecord::ChosenThrough { slot } => *slot,
        }
    }
}

/// The acceptor's promise, written atomically before any reply relying on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaxosHardState {
    /// The highest ballot promised (no prepare ≤ it is answered, no accept
    /// below it is taken).
    pub promised: Ballot,
}
