//! The vocabulary gossip members exchange and persist: [`GossipMessage`] on
//! the wire, [`Update`] for a client write on its way around the cluster,
//! [`MemberUpdate`] for SWIM membership news, [`GossipRecord`] and
//! [`GossipHardState`] on disk.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use synod_core::{LogRecord, NodeId, Stamped};

/// One client write, named by its origin and the origin's sequence number.
///
/// `(origin, seq)` identifies the update everywhere: a member applies each
/// one exactly once however often it arrives. `seq` counts the origin's
/// writes from 1 without gaps, which is what lets a version vector of
/// per-origin high-water marks summarise what a member holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The member that accepted the write from a client.
    pub origin: NodeId,
    /// The origin's sequence number for it, from 1.
    pub seq: u64,
    /// The client's command and its last-writer-wins stamp
    /// (`stamp.node == origin`).
    pub stamped: Stamped,
}

impl Update {
    /// Whether the update is well formed (a peer may send anything).
    pub fn is_valid(&self) -> bool {
        self.origin != NodeId(0) && self.seq >= 1 && self.stamped.stamp.node == self.origin
    }

    /// Approximate encoded size, for the per-message byte budget.
    pub fn size_bytes(&self) -> usize {
        40 + self.stamped.command.len()
    }
}

/// What a member believes about another (SWIM).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Missed a probe; declared dead unless it refutes in time.
    Suspect,
    /// Declared failed; stays so until it announces a higher incarnation.
    Dead,
}

/// A piece of membership news: `node` is in `state` at `incarnation`.
///
/// News is ordered by `(incarnation, state)` with `Alive < Suspect < Dead`,
/// and a member keeps, per node, the greatest news it has heard. That is
/// SWIM's precedence (an alive of a higher incarnation overrides a
/// suspicion; a suspicion or death overrides an alive of the same
/// incarnation) and makes membership a join semilattice, so it converges
/// whatever order news arrives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUpdate {
    /// Whom the news is about.
    pub node: NodeId,
    /// That node's incarnation number the news refers to.
    pub incarnation: u64,
    /// What is claimed.
    pub state: MemberState,
}

impl MemberUpdate {
    /// The precedence rank: greater news overrides lesser.
    pub fn rank(&self) -> (u64, MemberState) {
        (self.incarnation, self.state)
    }

    /// Whether this news overrides `held`.
    pub fn overrides(&self, held: &MemberUpdate) -> bool {
        self.rank() > held.rank()
    }
}

/// A scuttlebutt digest: for every origin, the highest `seq` such that the
/// sender holds all of that origin's updates `1..=seq`.
pub type Digest = BTreeMap<NodeId, u64>;

/// A message between members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GossipMessage {
    /// SWIM probe: "are you alive?". Answered by an [`Ack`](Self::Ack).
    Ping {
        /// The prober's probe number, echoed in the ack.
        probe: u64,
        /// Piggybacked membership news.
        members: Vec<MemberUpdate>,
    },
    /// "`alive` answered probe `probe`", sent by the target itself or relayed
    /// by a member that pinged it on the prober's behalf.
    Ack {
        /// The probe answered.
        probe: u64,
        /// The member that answered.
        alive: NodeId,
        /// Piggybacked membership news.
        members: Vec<MemberUpdate>,
    },
    /// SWIM indirect probe: "ping `target` for me and relay its ack".
    PingReq {
        /// The requester's probe number.
        probe: u64,
        /// The silent member.
        target: NodeId,
        /// Piggybacked membership news.
        members: Vec<MemberUpdate>,
    },
    /// A rumour round: fresh data updates pushed to a random member.
    Rumour {
        /// Fresh updates.
        updates: Vec<Update>,
        /// Piggybacked membership news.
        members: Vec<MemberUpdate>,
    },
    /// Anti-entropy, first leg: "this is what I hold".
    SyncRequest {
        /// The sender's version vector.
        digest: Digest,
        /// The sender's whole membership table.
        members: Vec<MemberUpdate>,
    },
    /// Anti-entropy, second leg: the updates the requester lacks, and what
    /// the responder holds so the requester can push back.
    SyncReply {
        /// The responder's version vector.
        digest: Digest,
        /// Updates above the requester's digest.
        updates: Vec<Update>,
        /// The responder's whole membership table.
        members: Vec<MemberUpdate>,
    },
    /// Anti-entropy, third leg: the updates the responder lacks.
    SyncPush {
        /// Updates above the responder's digest.
        updates: Vec<Update>,
    },
}

/// A durable record: one update this member applied, at its local position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipRecord {
    /// The member-local applied index of the update (1, 2, 3, ...). It is
    /// the `Committed::index` the update was emitted with here, and differs
    /// between members: each applies updates in its own arrival order.
    pub position: u64,
    /// The update.
    pub update: Update,
}

impl LogRecord for GossipRecord {
    fn position(&self) -> u64 {
        self.position
    }
}

/// The small durable state: this member's incarnation number, bumped on
/// every restart and on every refutation, and durable before any message
/// that carries it leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipHardState {
    /// The incarnation announced in this member's `Alive` news.
    pub incarnation: u64,
}
