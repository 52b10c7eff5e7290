//! The sans-IO protocol trait and the effects a step produces.
//!
//! A protocol core is a deterministic state machine. The driver (the tokio
//! runtime, the in-memory [`Network`](crate::harness::Network), a simulator)
//! feeds it three kinds of input — a tick of logical time, a peer's message, a
//! client's proposal — and the core answers by filling an [`Output`]. It never
//! touches a socket, a file, a clock or a global RNG, so the same core runs
//! unchanged in unit tests, in the harness and in real processes.
//!
//! # The order of effects
//!
//! The driver carries out an `Output` in this order, and every protocol may
//! rely on it:
//!
//! 1. **persist**: `hard_state`, `snapshot`, then `records` (synced when
//!    `must_sync`), then `compact_through`;
//! 2. **send** `messages` (`eager_messages` may leave earlier, even before
//!    step 1: they must not rely on anything being durable);
//! 3. **apply** `committed` to the state machine, in order;
//! 4. **answer** `reads` (served from the state machine after step 3) and
//!    `replies`.
//!
//! "Persist before you speak": a vote, a promise or an accepted value is in
//! `hard_state` or `records` of the same `Output` as the message that relies
//! on it, so it is durable before that message leaves. Once records are
//! durable the driver calls [`Protocol::on_persisted`], which is how a leader
//! learns that its own copy of an entry may be counted.

use crate::client::{ClientError, Proposal};
use crate::ids::{NodeId, RequestId};
use crate::storage::Snapshot;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// A record a protocol writes to its durable log.
pub trait LogRecord: Serialize + DeserializeOwned + Clone + Debug + Send + 'static {
    /// The record's place in the protocol's own order (Raft index, Paxos
    /// slot, ZAB zxid). Storage uses it only for compaction: `compact(p)` may
    /// drop a prefix of the log whose records all have positions `<= p`.
    fn position(&self) -> u64;
}

/// A committed command the driver must apply, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The command's position in the replicated log (strictly increasing).
    pub index: u64,
    /// The encoded state machine command; `None` for a protocol's own no-op
    /// entry, which advances the applied index without touching the state
    /// machine.
    pub command: Option<Vec<u8>>,
    /// The client request to answer with the command's output, when this
    /// replica is the one that proposed it.
    pub reply_to: Option<RequestId>,
}

/// An answer to a proposal that does not come from applying a command
/// (errors, admin results).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The request answered.
    pub id: RequestId,
    /// Success (with an optional protocol-specific payload) or the error.
    pub result: Result<Vec<u8>, ClientError>,
}

/// What to do with a snapshot in an [`Output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotAction {
    /// Persist a snapshot the state machine itself produced (see
    /// [`Protocol::on_snapshot`]); the state machine is already there.
    Save(Snapshot),
    /// Persist a snapshot received from a peer, then restore the state
    /// machine from it: its applied index becomes `snapshot.position`.
    Install(Snapshot),
}

/// The effects of one step, carried out by the driver in the order given in
/// the [module documentation](self).
#[derive(Debug)]
pub struct Output<P: Protocol> {
    /// New hard state (term and vote, promised ballot, epochs), written
    /// atomically and durably before anything else.
    pub hard_state: Option<P::HardState>,
    /// A snapshot to persist (and maybe install) before the records.
    pub snapshot: Option<SnapshotAction>,
    /// Records to append to the log.
    pub records: Vec<P::Record>,
    /// Whether `records` must be synced before the messages leave.
    pub must_sync: bool,
    /// Compact the log through this position (after a snapshot covers it).
    pub compact_through: Option<u64>,
    /// Messages to peers.
    pub messages: Vec<(NodeId, P::Message)>,
    /// Messages that rely on nothing this output (or an earlier one still
    /// being persisted) makes durable, so the driver may send them at once,
    /// before the records reach the disk. A leader's AppendEntries is the
    /// case in point: followers persist in parallel with the leader, which
    /// counts its own copy only after `on_persisted` (Raft dissertation
    /// §10.2.1). They may overtake `messages` of earlier outputs.
    pub eager_messages: Vec<(NodeId, P::Message)>,
    /// Commands to apply, in order.
    pub committed: Vec<Committed>,
    /// Linearizable reads that may now be served from the state machine
    /// (after this output's `committed` are applied).
    pub reads: Vec<RequestId>,
    /// Direct answers to proposals.
    pub replies: Vec<Reply>,
}

impl<P: Protocol> Default for Output<P> {
    fn default() -> Self {
        Self {
            hard_state: None,
            snapshot: None,
            records: Vec::new(),
            must_sync: false,
            compact_through: None,
            messages: Vec::new(),
            eager_messages: Vec::new(),
            committed: Vec::new(),
            reads: Vec::new(),
            replies: Vec::new(),
        }
    }
}

impl<P: Protocol> Output<P> {
    /// An empty output.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the step produced nothing at all.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.records.is_empty()
            && self.compact_through.is_none()
            && self.messages.is_empty()
            && self.eager_messages.is_empty()
            && self.committed.is_empty()
            && self.reads.is_empty()
            && self.replies.is_empty()
    }

    /// Whether anything must be made durable before the messages leave.
    pub fn needs_persist(&self) -> bool {
        self.hard_state.is_some() || self.snapshot.is_some() || !self.records.is_empty()
    }

    /// Queues a message to `to`.
    pub fn send(&mut self, to: NodeId, msg: P::Message) {
        self.messages.push((to, msg));
    }

    /// Queues a message that may leave before this output is persisted (see
    /// [`eager_messages`](Self::eager_messages)).
    pub fn send_eager(&mut self, to: NodeId, msg: P::Message) {
        self.eager_messages.push((to, msg));
    }

    /// Queues a direct reply.
    pub fn reply(&mut self, id: RequestId, result: Result<Vec<u8>, ClientError>) {
        self.replies.push(Reply { id, result });
    }

    /// Appends a record, to be synced before any message of this output.
    pub fn persist(&mut self, record: P::Record) {
        self.records.push(record);
        self.must_sync = true;
    }

    /// Moves everything from `other` to the end of `self`, keeping the order.
    /// A later hard state or snapshot replaces an earlier one.
    pub fn append(&mut self, other: &mut Output<P>) {
        if let Some(h) = other.hard_state.take() {
            self.hard_state = Some(h);
        }
        if let Some(s) = other.snapshot.take() {
            self.snapshot = Some(s);
        }
        self.records.append(&mut other.records);
        self.must_sync |= std::mem::take(&mut other.must_sync);
        if let Some(c) = other.compact_through.take() {
            self.compact_through = Some(self.compact_through.map_or(c, |old| old.max(c)));
        }
        self.messages.append(&mut other.messages);
        self.eager_messages.append(&mut other.eager_messages);
        self.committed.append(&mut other.committed);
        self.reads.append(&mut other.reads);
        self.replies.append(&mut other.replies);
    }
}

/// What a replica reports about itself (the `status` admin request).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolStatus {
    /// This replica.
    pub id: NodeId,
    /// The protocol's name ("raft", "paxos", "zab", "gossip").
    pub protocol: String,
    /// Role in the protocol's own words: "leader", "follower", "candidate",
    /// "learner", "looking", "following", "leading", "observing", "member".
    pub role: String,
    /// Term, ballot round or epoch: the protocol's logical era.
    pub term: u64,
    /// The leader this replica believes in.
    pub leader: Option<NodeId>,
    /// The highest log position known committed.
    pub commit_index: u64,
    /// Voting members as this replica sees them.
    pub voters: Vec<NodeId>,
    /// Non-voting members (learners, observers).
    pub learners: Vec<NodeId>,
}

/// A running replica's status: the protocol's view plus what its driver has
/// applied (the answer to the `status` admin request).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Role, term, leader, commit index and members.
    pub protocol: ProtocolStatus,
    /// The state machine's applied index.
    pub applied_index: u64,
}

/// What a core is rebuilt from after a restart: what its storage had synced.
#[derive(Debug)]
pub struct Recovered<P: Protocol> {
    /// The last hard state written, if any.
    pub hard_state: Option<P::HardState>,
    /// The newest snapshot, if any; the state machine has been restored from
    /// it before the core is built.
    pub snapshot: Option<Snapshot>,
    /// Every record still in the log, in append order. Records the snapshot
    /// covers may still be present; the core skips them.
    pub records: Vec<P::Record>,
}

impl<P: Protocol> Default for Recovered<P> {
    fn default() -> Self {
        Self {
            hard_state: None,
            snapshot: None,
            records: Vec::new(),
        }
    }
}

/// One replica of a consensus (or gossip) protocol, as a pure state machine.
///
/// Implementations must be deterministic: given the same construction (seed
/// included) and the same sequence of calls, they fill the same outputs.
pub trait Protocol: Sized {
    /// The peer-to-peer message type: one enum with struct variants.
    type Message: Serialize + DeserializeOwned + Clone + Debug + Send + 'static;
    /// The durable log record type.
    type Record: LogRecord;
    /// The small durable state written atomically (term and vote, ...).
    type HardState: Serialize + DeserializeOwned + Clone + Debug + Send + 'static;

    /// This replica's id.
    fn id(&self) -> NodeId;

    /// One tick of logical time has passed (the driver ticks every `tick_ms`).
    fn tick(&mut self, out: &mut Output<Self>);

    /// A peer's message arrives.
    fn step(&mut self, from: NodeId, msg: Self::Message, out: &mut Output<Self>);

    /// A client asks for a write, a linearizable read or an admin change.
    fn propose(&mut self, proposal: Proposal, out: &mut Output<Self>);

    /// The first `count` records emitted since this core was built are now
    /// durable. Cores that count their own log toward a quorum wait for this.
    fn on_persisted(&mut self, count: u64, out: &mut Output<Self>) {
        let _ = (count, out);
    }

    /// The driver took a snapshot of the state machine at applied `index`.
    /// The core may keep it (to send to lagging peers), emit
    /// [`SnapshotAction::Save`] and compact its log.
    fn on_snapshot(&mut self, index: u64, data: Vec<u8>, out: &mut Output<Self>) {
        let _ = (index, data, out);
    }

    /// The replica's role, term, leader and commit index.
    fn status(&self) -> ProtocolStatus;
}
