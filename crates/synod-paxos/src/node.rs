//! [`PaxosNode`]: the replica's state, its construction from recovered
//! storage and the transitions every role shares. The
//! [`Protocol`](synod_core::Protocol) entry points are in `protocol.rs`;
//! the handlers live beside it: `election.rs` (phase 1), `replication.rs`
//! (phase 2 and the commit point), `catchup.rs` (decisions and snapshots
//! for replicas that fell behind) and `read.rs` (linearizable reads).

use crate::ballot::Ballot;
use crate::config::{ConfigError, PaxosConfig};
use crate::log::InstanceLog;
use crate::message::{PaxosHardState, PaxosRecord, SlotReport, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use synod_core::{
    ClientError, Committed, NodeId, Output, ReadQueue, Recovered, RequestId, SeededRng, Snapshot,
};

/// A replica's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepts and learns; runs phase 1 when the leader goes quiet.
    Follower,
    /// Running phase 1 with its own ballot.
    Candidate,
    /// Won phase 1: proposes with phase 2 only.
    Leader,
}

/// A phase 1 in progress.
#[derive(Debug)]
pub(crate) struct Candidacy {
    pub(crate) ballot: Ballot,
    /// The first slot this candidate did not know chosen when it started.
    pub(crate) first_slot: u64,
    /// Promises counted, with their reports (our own included).
    pub(crate) promises: BTreeMap<NodeId, Vec<SlotReport>>,
}

/// A slot proposed by this leader and not yet known chosen.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) value: Value,
    /// Acceptors that accepted it under the leader's ballot (ourselves only
    /// once our record is durable).
    pub(crate) acks: BTreeSet<NodeId>,
}

/// What a leader sent one follower (see "Batching" in `replication.rs`).
#[derive(Debug)]
pub(crate) struct Pipe {
    /// The first slot not yet sent to this follower in an `Accept`.
    pub(crate) next: u64,
    /// An `Accept` with new slots left and no `AcceptAck` came back since:
    /// new slots wait to travel together.
    pub(crate) busy: bool,
    /// The highest read round this follower echoed.
    pub(crate) read_ack: u64,
}

/// State only a leader has.
#[derive(Debug)]
pub(crate) struct LeaderState {
    pub(crate) ballot: Ballot,
    pub(crate) in_flight: BTreeMap<u64, InFlight>,
    /// Per follower, what was sent to it.
    pub(crate) pipes: BTreeMap<NodeId, Pipe>,
    /// Client writes by slot, answered when the slot is applied.
    pub(crate) replies: BTreeMap<u64, RequestId>,
    /// The next free slot.
    pub(crate) next_slot: u64,
    /// This leader's own no-op: once it is chosen, every slot chosen before
    /// the leader was elected is known here (reads wait for it).
    pub(crate) start_slot: u64,
    /// Linearizable reads waiting for a quorum round or their index.
    pub(crate) reads: ReadQueue,
    /// Peers heard from in the current check-quorum window.
    pub(crate) heard: BTreeSet<NodeId>,
    pub(crate) quorum_elapsed: u64,
}

/// One Multi-Paxos replica (proposer, acceptor and learner) as a sans-IO
/// state machine. See the [crate documentation](crate).
#[derive(Debug)]
pub struct PaxosNode {
    pub(crate) cfg: PaxosConfig,
    pub(crate) rng: SeededRng,
    // ---- durable ----
    pub(crate) promised: Ballot,
    saved_hard_state: PaxosHardState,
    pub(crate) log: InstanceLog,
    pub(crate) snapshot: Option<Snapshot>,
    // ---- volatile ----
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) max_round_seen: u64,
    pub(crate) applied: u64,
    pub(crate) election_elapsed: u64,
    pub(crate) election_timeout: u64,
    pub(crate) heartbeat_elapsed: u64,
    pub(crate) candidacy: Option<Candidacy>,
    pub(crate) lead: Option<LeaderState>,
    /// A snapshot being received: `(sender, position, bytes so far)`. It is
    /// assembled from one sender's chunks only, so bytes of two snapshots
    /// are never spliced together.
    pub(crate) incoming: Option<(NodeId, u64, Vec<u8>)>,
    /// Ticks since catch-up traffic was last seen (limits requests).
    pub(crate) catchup_idle: u64,
    /// Records emitted since this core was built.
    emitted: u64,
    /// The leader's own `Accepted` records not yet durable: (count, slot, ballot).
    pub(crate) unpersisted: VecDeque<(u64, u64, Ballot)>,
    /// The last `ChosenThrough` record emitted.
    marked_through: u64,
}

impl PaxosNode {
    /// Builds a replica from its configuration, what its storage recovered
    /// and the seeded RNG the driver hands it.
    ///
    /// # Panics
    ///
    /// When the configuration is invalid (see [`PaxosNode::try_new`]).
    pub fn new(config: PaxosConfig, recovered: Recovered<PaxosNode>, rng: SeededRng) -> Self {
        match Self::try_new(config, recovered, rng) {
            Ok(node) => node,
            Err(e) => panic!("cannot build paxos node: {e}"),
        }
    }

    /// Like [`PaxosNode::new`], but returns configuration errors.
    pub fn try_new(
        config: PaxosConfig,
        recovered: Recovered<PaxosNode>,
        rng: SeededRng,
    ) -> Result<Self, ConfigError> {
        let mut config = config;
        config.validate()?;
        config.voters.sort();
        config.voters.dedup();
        let base = recovered.snapshot.as_ref().map_or(0, |s| s.position);
        let log = InstanceLog::replay(base, recovered.records);
        let hard = recovered.hard_state.unwrap_or_default();
        let mut node = PaxosNode {
            rng,
            promised: hard.promised,
            saved_hard_state: hard,
            max_round_seen: hard.promised.round.max(log.max_accepted_round()),
            marked_through: log.chosen_through(),
            log,
            snapshot: recovered.snapshot,
            role: Role::Follower,
            leader: None,
            applied: base,
            election_elapsed: 0,
            election_timeout: config.election_ticks_min,
            heartbeat_elapsed: 0,
            candidacy: None,
            lead: None,
            incoming: None,
            catchup_idle: u64::MAX / 2,
            emitted: 0,
            unpersisted: VecDeque::new(),
            cfg: config,
        };
        node.reset_election_timeout();
        Ok(node)
    }

    // ----- observation ----------------------------------------------------

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The highest ballot this acceptor promised (a leader's own ballot).
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// The leader this replica believes in.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Every slot through this one is known chosen here.
    pub fn chosen_through(&self) -> u64 {
        self.log.chosen_through()
    }

    /// The highest slot handed to the driver as committed.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// The slot of the latest snapshot (0 if none).
    pub fn snapshot_index(&self) -> u64 {
        self.log.compacted_through()
    }

    /// The chosen value of `slot`, if known and not compacted.
    pub fn chosen_value(&self, slot: u64) -> Option<&Value> {
        self.log.chosen(slot)
    }

    /// The proposal accepted in `slot`, if any and not compacted.
    pub fn accepted(&self, slot: u64) -> Option<(Ballot, &Value)> {
        self.log
            .get(slot)
            .and_then(|i| i.accepted.as_ref().map(|(b, v)| (*b, v)))
    }

    /// Every proposal this acceptor holds (slots above its snapshot), in
    /// slot order: `(slot, ballot, value)`.
    pub fn accepted_proposals(&self) -> impl Iterator<Item = (u64, Ballot, &Value)> + '_ {
        self.log
            .iter()
            .filter_map(|(s, i)| i.accepted.as_ref().map(|(b, v)| (s, *b, v)))
    }

    /// This replica's configuration.
    pub fn config(&self) -> &PaxosConfig {
        &self.cfg
    }

    // ----- shared helpers -------------------------------------------------

    pub(crate) fn quorum(&self) -> usize {
        self.cfg.voters.len() / 2 + 1
    }

    pub(crate) fn peers(&self) -> Vec<NodeId> {
        let me = self.cfg.id;
        let mut v: Vec<NodeId> = self
            .cfg
            .voters
            .iter()
            .copied()
            .filter(|p| *p != me)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub(crate) fn reset_election_timeout(&mut self) {
        self.election_timeout = self
            .rng
            .range(self.cfg.election_ticks_min, self.cfg.election_ticks_max + 1);
    }

    /// Emits a record; `sync` when a message of this output relies on it.
    pub(crate) fn emit_record(&mut self, record: PaxosRecord, sync: bool, out: &mut Output<Self>) {
        self.emitted += 1;
        if let (Some(lead), PaxosRecord::Accepted { slot, ballot, .. }) = (&self.lead, &record) {
            if lead.ballot == *ballot {
                self.unpersisted.push_back((self.emitted, *slot, *ballot));
            }
        }
        if sync {
            out.persist(record);
        } else {
            out.records.push(record);
        }
    }

    /// Notes a ballot seen in any message: a higher one ends our leadership
    /// or candidacy.
    pub(crate) fn observe_ballot(&mut self, ballot: Ballot, out: &mut Output<Self>) {
        self.max_round_seen = self.max_round_seen.max(ballot.round);
        let mine = match (&self.lead, &self.candidacy) {
            (Some(l), _) => Some(l.ballot),
            (None, Some(c)) => Some(c.ballot),
            _ => None,
        };
        if mine.is_some_and(|m| ballot > m) {
            self.step_down(None, out);
        }
    }

    /// Becomes a follower, answering everything a leader had pending: writes
    /// may still be chosen under another leader (indefinite), reads were
    /// never served (definite).
    pub(crate) fn step_down(&mut self, leader: Option<NodeId>, out: &mut Output<Self>) {
        if let Some(lead) = self.lead.take() {
            for (_, id) in lead.replies {
                out.reply(id, Err(ClientError::LeadershipLost));
            }
            for id in lead.reads.into_ids() {
                out.reply(id, Err(ClientError::NotLeader { leader }));
            }
        }
        self.unpersisted.clear();
        self.candidacy = None;
        self.role = Role::Follower;
        self.leader = leader;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_election_timeout();
    }

    /// Hands every newly chosen slot to the driver, in slot order.
    fn apply_chosen(&mut self, out: &mut Output<Self>) {
        while self.applied < self.log.chosen_through() {
            let slot = self.applied + 1;
            let Some(value) = self.log.chosen(slot) else {
                break;
            };
            let command = value.command();
            let reply_to = self.lead.as_mut().and_then(|l| l.replies.remove(&slot));
            out.committed.push(Committed {
                index: slot,
                command,
                reply_to,
            });
            self.applied = slot;
        }
        let through = self.log.chosen_through();
        if through > self.marked_through && through > self.log.compacted_through() {
            self.marked_through = through;
            self.emit_record(PaxosRecord::ChosenThrough { slot: through }, false, out);
        }
    }

    /// Runs at the end of every entry point: apply what became chosen,
    /// answer reads that became safe, and hand over the hard state when the
    /// promise changed (in the same output as the messages relying on it).
    pub(crate) fn finish(&mut self, out: &mut Output<Self>) {
        self.apply_chosen(out);
        self.release_reads(out);
        let now = PaxosHardState {
            promised: self.promised,
        };
        if now != self.saved_hard_state {
            out.hard_state = Some(now);
            self.saved_hard_state = now;
        }
    }
}
