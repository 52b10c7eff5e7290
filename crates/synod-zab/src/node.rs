//! [`ZabNode`]: the server's state, its construction from recovered storage,
//! the [`Protocol`] entry points and the transitions shared by every state.
//! The handlers live beside it: `election.rs` (Fast Leader Election),
//! `leader.rs`, `sync.rs` and `broadcast.rs` (the leader's discovery,
//! synchronisation and broadcast), `follower.rs` (the learner's side of all
//! three), `forward.rs` (writes at a learner). `history.rs` holds the history
//! and the DIFF / TRUNC / SNAP choice.

use crate::config::ZabConfig;
use crate::election::Election;
use crate::error::ZabError;
use crate::follower::FollowerState;
use crate::forward::{Forwarded, Requester};
use crate::history::History;
use crate::leader::LeaderState;
use crate::message::{PeerState, ZabHardState, ZabMessage, ZabRecord};
use crate::zxid::{Txn, Zxid};
use std::collections::BTreeMap;
use synod_core::{
    ClientError, Committed, NodeId, Output, Proposal, Protocol, ProtocolStatus, Recovered,
    RequestId, SeededRng, Snapshot, SnapshotAction,
};

/// One ZAB server as a sans-IO state machine. See the [crate
/// documentation](crate) for the protocol and the invariants it keeps.
#[derive(Debug)]
pub struct ZabNode {
    pub(crate) cfg: ZabConfig,
    pub(crate) rng: SeededRng,
    // ---- durable (mirrored in storage) ----
    pub(crate) accepted_epoch: u64,
    pub(crate) current_epoch: u64,
    saved_hard_state: ZabHardState,
    pub(crate) history: History,
    /// The latest snapshot held (taken here or installed from a leader).
    pub(crate) snapshot: Option<Snapshot>,
    // ---- volatile ----
    pub(crate) state: PeerState,
    /// Highest zxid known committed.
    pub(crate) committed: Zxid,
    /// Highest zxid handed to the driver as committed (or restored from a
    /// snapshot).
    pub(crate) applied: Zxid,
    /// Ticks since this core was built.
    pub(crate) now: u64,
    /// Ticks since the last sign of progress (state-dependent meaning).
    pub(crate) elapsed: u64,
    /// The current randomised election timeout.
    pub(crate) timeout: u64,
    pub(crate) election: Election,
    pub(crate) follower: Option<FollowerState>,
    pub(crate) lead: Option<LeaderState>,
    /// Records handed to the driver since this core was built.
    pub(crate) emitted: u64,
    /// This life of the server (durable, raised at every start).
    pub(crate) incarnation: u64,
    /// Writes and reads this learner forwarded to its leader, by request
    /// number.
    pub(crate) forwarded: BTreeMap<u64, Forwarded>,
}

impl ZabNode {
    /// Builds a server from its configuration, what its storage recovered
    /// and the seeded RNG the driver hands it. It starts LOOKING.
    ///
    /// # Panics
    ///
    /// When the configuration is invalid or the recovered state unusable
    /// (see [`ZabNode::try_new`], which returns the error instead).
    pub fn new(config: ZabConfig, recovered: Recovered<ZabNode>, rng: SeededRng) -> ZabNode {
        match Self::try_new(config, recovered, rng) {
            Ok(node) => node,
            Err(e) => panic!("cannot build zab node: {e}"),
        }
    }

    /// Like [`ZabNode::new`], but returns configuration and recovery errors.
    pub fn try_new(
        config: ZabConfig,
        recovered: Recovered<ZabNode>,
        rng: SeededRng,
    ) -> Result<ZabNode, ZabError> {
        config.validate()?;
        let hard = recovered.hard_state.unwrap_or_default();
        if hard.current_epoch > hard.accepted_epoch {
            return Err(ZabError::Epochs {
                current: hard.current_epoch,
                accepted: hard.accepted_epoch,
            });
        }
        let base = recovered
            .snapshot
            .as_ref()
            .map_or(Zxid::ZERO, |s| Zxid(s.position));
        let history = History::replay(base, recovered.records);
        let mut node = ZabNode {
            rng,
            accepted_epoch: hard.accepted_epoch,
            current_epoch: hard.current_epoch,
            saved_hard_state: hard,
            history,
            snapshot: recovered.snapshot,
            state: PeerState::Looking,
            committed: base,
            applied: base,
            now: 0,
            elapsed: 0,
            timeout: config.election_ticks_min,
            election: Election::default(),
            follower: None,
            lead: None,
            emitted: 0,
            // Written with the first output, so before anything is forwarded.
            incarnation: hard.incarnation.saturating_add(1),
            forwarded: BTreeMap::new(),
            cfg: config,
        };
        node.reset_timeout();
        node.election = Election::starting(node.self_vote());
        Ok(node)
    }

    // ----- observation ----------------------------------------------------

    /// The server's state: LOOKING, FOLLOWING, LEADING or OBSERVING.
    pub fn state(&self) -> PeerState {
        self.state
    }

    /// `currentEpoch`: the epoch of the last NEWLEADER acknowledged (or
    /// sent, as leader).
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    /// `acceptedEpoch`: the highest epoch accepted in a LEADERINFO.
    pub fn accepted_epoch(&self) -> u64 {
        self.accepted_epoch
    }

    /// The leader this server follows (itself when leading), if any.
    pub fn leader(&self) -> Option<NodeId> {
        match self.state {
            PeerState::Leading => Some(self.cfg.id),
            PeerState::Following | PeerState::Observing => self.follower.as_ref().map(|f| f.leader),
            PeerState::Looking => None,
        }
    }

    /// Whether this server leads an established epoch (a quorum acknowledged
    /// its NEWLEADER), so it accepts writes.
    pub fn is_established_leader(&self) -> bool {
        self.lead.as_ref().is_some_and(|l| l.is_established())
    }

    /// The highest zxid known committed.
    pub fn committed(&self) -> Zxid {
        self.committed
    }

    /// The highest zxid handed to the driver.
    pub fn applied(&self) -> Zxid {
        self.applied
    }

    /// The last zxid of the history.
    pub fn last_zxid(&self) -> Zxid {
        self.history.last()
    }

    /// Everything at or below this zxid is covered by the snapshot.
    pub fn history_base(&self) -> Zxid {
        self.history.base()
    }

    /// The history above its base, in zxid order.
    pub fn history(&self) -> &[Txn] {
        self.history.entries()
    }

    /// The logical clock (election epoch) of Fast Leader Election.
    pub fn election_epoch(&self) -> u64 {
        self.election.logical_clock
    }

    /// This server's configuration.
    pub fn config(&self) -> &ZabConfig {
        &self.cfg
    }

    // ----- shared helpers -------------------------------------------------

    pub(crate) fn is_voter(&self, id: NodeId) -> bool {
        self.cfg.voters.contains(&id)
    }

    pub(crate) fn is_member(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.cfg.observers.contains(&id)
    }

    /// A majority of the voters. Observers never count.
    pub(crate) fn quorum(&self) -> usize {
        self.cfg.voters.len() / 2 + 1
    }

    pub(crate) fn reset_timeout(&mut self) {
        self.elapsed = 0;
        self.timeout = self.rng.range(
            self.cfg.election_ticks_min,
            self.cfg.election_ticks_max.saturating_add(1),
        );
    }

    /// Raises the commit point to `zxid` (capped at the last zxid held,
    /// since a learner's history is a prefix of its leader's) and hands the
    /// newly committed transactions to the driver.
    pub(crate) fn advance_commit(&mut self, zxid: Zxid, out: &mut Output<Self>) {
        let target = zxid.min(self.history.last());
        if target > self.committed {
            self.committed = target;
        }
        self.emit_committed(out);
    }

    /// Emits every committed transaction not yet emitted, in zxid order,
    /// with the client request to answer when this server proposed it.
    pub(crate) fn emit_committed(&mut self, out: &mut Output<Self>) {
        let mut emitted = Vec::new();
        for txn in self.history.after(self.applied, usize::MAX) {
            if txn.zxid > self.committed {
                break;
            }
            emitted.push(txn.clone());
        }
        let moved = !emitted.is_empty();
        for txn in emitted {
            let reply_to = match self.lead.as_mut() {
                Some(l) => l.pending_writes.remove(&txn.zxid),
                None => self.take_forwarded(txn.origin),
            };
            self.applied = txn.zxid;
            out.committed.push(Committed {
                index: txn.zxid.0,
                command: txn.command,
                reply_to,
            });
        }
        if moved {
            self.serve_forwarded_reads(out);
        }
    }

    /// Logs a transaction: appended to the history and to `out.records`
    /// (synced before this output's messages leave).
    pub(crate) fn log_txn(&mut self, txn: Txn, out: &mut Output<Self>) -> bool {
        if !self.history.append(txn.clone()) {
            return false;
        }
        self.persist_record(ZabRecord::Proposal(txn), out);
        true
    }

    /// Hands a record to the driver (synced before this output's messages)
    /// and counts it, so that [`Protocol::on_persisted`] can tell which of
    /// the leader's own proposals are durable.
    pub(crate) fn persist_record(&mut self, record: ZabRecord, out: &mut Output<Self>) {
        self.emitted += 1;
        out.persist(record);
    }

    /// Installs a snapshot received from the leader: the driver restores the
    /// state machine from it, the history's base moves up to it.
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot, out: &mut Output<Self>) {
        let position = Zxid(snapshot.position);
        self.history.install_base(position);
        self.committed = self.committed.max(position);
        self.applied = position;
        out.snapshot = Some(SnapshotAction::Install(snapshot.clone()));
        out.compact_through = Some(snapshot.position);
        self.snapshot = Some(snapshot);
    }

    /// Writes the hard state into `out` if it changed. Runs at the end of
    /// every entry point, so the epochs are durable before any message of
    /// the same output that relies on them leaves.
    fn finish(&mut self, out: &mut Output<Self>) {
        let hard = ZabHardState {
            accepted_epoch: self.accepted_epoch,
            current_epoch: self.current_epoch,
            incarnation: self.incarnation,
        };
        if hard != self.saved_hard_state {
            self.saved_hard_state = hard;
            out.hard_state = Some(hard);
        }
    }

    fn refuse(&self, id: RequestId, out: &mut Output<Self>) {
        let error = match self.state {
            PeerState::Leading => ClientError::Unavailable {
                reason: "leader not established yet".into(),
            },
            _ => ClientError::NotLeader {
                leader: self.leader(),
            },
        };
        out.reply(id, Err(error));
    }
}

impl Protocol for ZabNode {
    type Message = ZabMessage;
    type Record = ZabRecord;
    type HardState = ZabHardState;

    fn id(&self) -> NodeId {
        self.cfg.id
    }

    fn tick(&mut self, out: &mut Output<Self>) {
        self.now += 1;
        self.elapsed += 1;
        match self.state {
            PeerState::Looking => self.tick_looking(out),
            PeerState::Leading => self.tick_leader(out),
            PeerState::Following | PeerState::Observing => self.tick_follower(out),
        }
        self.expire_forwarded(out);
        self.finish(out);
    }

    fn step(&mut self, from: NodeId, msg: ZabMessage, out: &mut Output<Self>) {
        if from == self.cfg.id || !self.is_member(from) {
            return;
        }
        match msg {
            ZabMessage::Notification {
                vote,
                election_epoch,
                state,
            } => self.handle_notification(from, vote, election_epoch, state, out),
            msg => match self.state {
                PeerState::Leading => self.step_leader(from, msg, out),
                PeerState::Following | PeerState::Observing => self.step_follower(from, msg, out),
                PeerState::Looking => {}
            },
        }
        self.finish(out);
    }

    fn propose(&mut self, proposal: Proposal, out: &mut Output<Self>) {
        match proposal {
            Proposal::Write { id, command } => {
                if self.is_established_leader() {
                    self.leader_write(Requester::Client(id), command, out);
                } else if self.is_serving_learner() {
                    self.forward_write(id, command, out);
                } else {
                    self.refuse(id, out);
                }
            }
            Proposal::Read { id } => {
                if self.is_established_leader() {
                    self.leader_read(Requester::Client(id), out);
                } else if self.is_serving_learner() {
                    self.forward_read(id, out);
                } else {
                    self.refuse(id, out);
                }
            }
            Proposal::Admin { id, .. } => out.reply(
                id,
                Err(ClientError::Malformed {
                    reason: "zab does not support membership or leadership changes".into(),
                }),
            ),
        }
        self.finish(out);
    }

    fn on_persisted(&mut self, count: u64, out: &mut Output<Self>) {
        self.own_proposals_persisted(count, out);
        self.finish(out);
    }

    fn on_snapshot(&mut self, index: u64, data: Vec<u8>, out: &mut Output<Self>) {
        let position = Zxid(index);
        if position > self.applied || self.snapshot.as_ref().is_some_and(|s| s.position >= index) {
            return;
        }
        let snapshot = Snapshot {
            position: index,
            meta: Vec::new(),
            data,
        };
        self.history
            .compact(position, self.cfg.diff_window_proposals);
        out.snapshot = Some(SnapshotAction::Save(snapshot.clone()));
        out.compact_through = Some(index);
        self.snapshot = Some(snapshot);
    }

    fn status(&self) -> ProtocolStatus {
        ProtocolStatus {
            id: self.cfg.id,
            protocol: "zab".into(),
            role: self.state.name().into(),
            term: self.current_epoch,
            leader: self.leader(),
            commit_index: self.committed.0,
            voters: self.cfg.voters.clone(),
            learners: self.cfg.observers.clone(),
        }
    }
}
