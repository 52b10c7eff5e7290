//! [`RaftNode`]: the core's state, its construction from recovered storage,
//! the [`Protocol`] entry points and the transitions shared by every role.
//! The handlers live beside it: `election.rs`, `replication.rs`,
//! `snapshot.rs`, `read_index.rs`, `transfer.rs`, `membership.rs`.

use crate::config::RaftConfig;
use crate::error::RaftError;
use crate::log::RaftLog;
use crate::membership::Membership;
use crate::message::{Entry, EntryPayload, RaftHardState, RaftMessage, RaftRecord, SnapshotMeta};
use crate::progress::Progress;
use crate::transfer::Transfer;
use std::collections::{BTreeMap, VecDeque};
use synod_core::{
    ClientError, Committed, NodeId, Output, Proposal, Protocol, ProtocolStatus, ReadQueue,
    Recovered, RequestId, SeededRng, Snapshot,
};

/// A replica's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one). Learners are always followers.
    Follower,
    /// Asking whether it could win an election, without raising its term.
    PreCandidate,
    /// Campaigning in its current term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// State only a leader has.
#[derive(Debug, Default)]
pub(crate) struct LeaderState {
    /// Every other member, voter or learner.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    /// Writes this leader accepted, by log index.
    pub(crate) pending_writes: BTreeMap<u64, RequestId>,
    /// The membership change in flight: config entry index and request.
    pub(crate) pending_admin: Option<(u64, RequestId)>,
    pub(crate) reads: ReadQueue,
    pub(crate) transfer: Option<Transfer>,
    /// Index of this term's no-op. Once it is durable, so is everything the
    /// term's leadership rests on (its term and vote were persisted in the
    /// same or an earlier output), and AppendEntries may leave eagerly.
    pub(crate) term_start: u64,
}

/// A snapshot this replica holds (to send to lagging followers).
#[derive(Clone, Debug)]
pub(crate) struct HeldSnapshot {
    pub(crate) meta: SnapshotMeta,
    pub(crate) snapshot: Snapshot,
}

/// A snapshot being received chunk by chunk.
#[derive(Clone, Debug)]
pub(crate) struct IncomingSnapshot {
    /// The sender of the chunks so far: chunks from another sender start
    /// over, even for the same metadata (two snapshots of equal metadata
    /// hold equal bytes only among honest replicas of one cluster; splicing
    /// a confused peer's chunk into a transfer would install bytes no state
    /// machine wrote).
    pub(crate) from: NodeId,
    pub(crate) meta: SnapshotMeta,
    pub(crate) data: Vec<u8>,
}

/// A record emitted but not yet reported durable by `on_persisted`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingRecord {
    /// `emitted` count once this record was emitted.
    count: u64,
    /// The record's position.
    position: u64,
    /// The last index of the log once this record is durable.
    end: u64,
}

/// One Raft replica as a sans-IO state machine. See the [crate
/// documentation](crate) for the protocol and the invariants it keeps.
#[derive(Debug)]
pub struct RaftNode {
    pub(crate) cfg: RaftConfig,
    pub(crate) rng: SeededRng,
    // ---- durable (mirrored in storage) ----
    pub(crate) term: u64,
    pub(crate) voted_for: Option<NodeId>,
    /// The hard state last handed to the driver.
    saved_hard_state: RaftHardState,
    pub(crate) log: RaftLog,
    pub(crate) snapshot: Option<HeldSnapshot>,
    // ---- volatile ----
    pub(crate) role: Role,
    pub(crate) leader_id: Option<NodeId>,
    pub(crate) commit: u64,
    /// Highest index emitted as `Committed` (or restored from a snapshot).
    pub(crate) applied: u64,
    pub(crate) election_elapsed: u64,
    pub(crate) election_timeout: u64,
    pub(crate) heartbeat_elapsed: u64,
    pub(crate) votes: BTreeMap<NodeId, bool>,
    pub(crate) lead: Option<LeaderState>,
    pub(crate) incoming: Option<IncomingSnapshot>,
    // ---- durability of our own records ----
    emitted: u64,
    unpersisted: VecDeque<PendingRecord>,
    /// The log is durable, and agrees with memory, up to this index.
    durable_index: u64,
}

impl RaftNode {
    /// Builds a replica from its configuration, what its storage recovered
    /// and the seeded RNG the driver hands it.
    ///
    /// # Panics
    ///
    /// When the configuration is invalid or the recovered state is unusable
    /// (see [`RaftNode::try_new`], which returns the error instead).
    pub fn new(config: RaftConfig, recovered: Recovered<RaftNode>, rng: SeededRng) -> RaftNode {
        match Self::try_new(config, recovered, rng) {
            Ok(node) => node,
            Err(e) => panic!("cannot build raft node: {e}"),
        }
    }

    /// Like [`RaftNode::new`], but returns configuration and recovery errors.
    pub fn try_new(
        config: RaftConfig,
        recovered: Recovered<RaftNode>,
        rng: SeededRng,
    ) -> Result<RaftNode, RaftError> {
        config.validate()?;
        let bootstrap = Membership::new(
            config.voters.iter().copied(),
            config.learners.iter().copied(),
        );
        let held = match recovered.snapshot {
            Some(snapshot) => {
                let meta = SnapshotMeta::decode(&snapshot.meta)?;
                if meta.last_included_index != snapshot.position {
                    return Err(RaftError::SnapshotMeta(format!(
                        "metadata says index {}, snapshot position is {}",
                        meta.last_included_index, snapshot.position
                    )));
                }
                Some(HeldSnapshot { meta, snapshot })
            }
            None => None,
        };
        let log = RaftLog::replay(bootstrap, held.as_ref().map(|h| &h.meta), recovered.records)?;
        let hard = recovered.hard_state.unwrap_or_default();
        let base = log.snapshot_index();
        let mut node = RaftNode {
            rng,
            term: hard.term.max(log.last_term()),
            voted_for: hard.voted_for,
            saved_hard_state: hard,
            durable_index: log.last_index(),
            log,
            snapshot: held,
            role: Role::Follower,
            leader_id: None,
            commit: base,
            applied: base,
            election_elapsed: 0,
            election_timeout: config.election_ticks_min,
            heartbeat_elapsed: 0,
            votes: BTreeMap::new(),
            lead: None,
            incoming: None,
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

    /// The current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// The leader this replica believes in.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader_id
    }

    /// The highest index known committed.
    pub fn commit_index(&self) -> u64 {
        self.commit
    }

    /// The highest index handed to the driver as committed.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// Index of the last log entry.
    pub fn last_log_index(&self) -> u64 {
        self.log.last_index()
    }

    /// Index of the last entry covered by the snapshot (0 if none).
    pub fn snapshot_index(&self) -> u64 {
        self.log.snapshot_index()
    }

    /// The log entry at `index`, unless compacted or beyond the end.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.log.entry(index)
    }

    /// The term of the entry at `index`, known from the snapshot's last
    /// entry to the end of the log.
    pub fn log_term(&self, index: u64) -> Option<u64> {
        self.log.term(index)
    }

    /// The membership in force (the last config entry appended).
    pub fn membership(&self) -> &Membership {
        self.log.membership()
    }

    /// This replica's configuration.
    pub fn config(&self) -> &RaftConfig {
        &self.cfg
    }

    // ----- shared helpers -------------------------------------------------

    /// Whether this replica may campaign: it is a voter in its latest
    /// configuration, or it was a voter in the committed one and a change
    /// that removes it is not committed yet. (Without the second case a
    /// leader that appended its own removal and then lost leadership could
    /// leave the cluster stuck: the remaining voters lack the entry and need
    /// its vote, which it refuses because its log is longer, and it would
    /// not run itself. Elected, it counts only the new configuration's
    /// votes, commits the change and steps down.)
    pub(crate) fn promotable(&self) -> bool {
        let id = self.cfg.id;
        self.log.membership().is_voter(id)
            || (self.log.last_config_index() > self.commit
                && self.log.membership_at(self.commit).is_voter(id))
    }

    pub(crate) fn reset_election_timeout(&mut self) {
        self.election_timeout = self
            .rng
            .range(self.cfg.election_ticks_min, self.cfg.election_ticks_max + 1);
    }

    /// Whether the leader has committed an entry of its own term (its no-op),
    /// which it needs before ReadIndex and membership changes.
    pub(crate) fn committed_in_current_term(&self) -> bool {
        self.log.term(self.commit) == Some(self.term)
    }

    /// Check-quorum's other half, the leader lease: a replica that heard from
    /// a live leader less than `election_ticks_min` ticks ago ignores
    /// (pre-)votes of higher terms.
    pub(crate) fn in_lease(&self) -> bool {
        self.cfg.check_quorum
            && (self.role == Role::Leader
                || (self.leader_id.is_some()
                    && self.election_elapsed < self.cfg.election_ticks_min))
    }

    /// Emits a record for the driver to persist (synced before this output's
    /// messages), tracking it until `on_persisted` reports it durable.
    pub(crate) fn emit_record(&mut self, record: RaftRecord, out: &mut Output<Self>) {
        use synod_core::LogRecord;
        let position = record.position();
        let end = match &record {
            RaftRecord::Entry(e) => e.index,
            RaftRecord::Truncate { last_kept } => *last_kept,
        };
        self.emitted += 1;
        self.unpersisted.push_back(PendingRecord {
            count: self.emitted,
            position,
            end,
        });
        self.durable_index = self.durable_index.min(position - 1);
        out.persist(record);
    }

    /// Appends an entry this leader created and hands it to the driver.
    pub(crate) fn append_own_entry(&mut self, entry: Entry, out: &mut Output<Self>) {
        self.log.append(entry.clone());
        self.emit_record(RaftRecord::Entry(entry), out);
    }

    /// The index up to which this replica's own log is durable (entries
    /// a snapshot covers are durable through the snapshot).
    pub(crate) fn durable_match(&self) -> u64 {
        self.durable_index
            .max(self.log.snapshot_index())
            .min(self.log.last_index())
    }

    /// Steps down (or stays) a follower in `term` (which must not be below
    /// the current one), answering everything a leader had pending.
    pub(crate) fn become_follower(
        &mut self,
        term: u64,
        leader: Option<NodeId>,
        out: &mut Output<Self>,
    ) {
        debug_assert!(term >= self.term, "terms never go back");
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        if let Some(lead) = self.lead.take() {
            self.abandon_leadership(lead, leader, out);
        }
        self.role = Role::Follower;
        self.leader_id = leader;
        self.votes.clear();
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_election_timeout();
    }

    /// Answers every request a former leader still held: writes and
    /// membership changes may still commit under another leader
    /// (indefinite), reads were never served (definite).
    fn abandon_leadership(
        &mut self,
        lead: LeaderState,
        hint: Option<NodeId>,
        out: &mut Output<Self>,
    ) {
        for (_, id) in lead.pending_writes {
            out.reply(id, Err(ClientError::LeadershipLost));
        }
        if let Some((_, id)) = lead.pending_admin {
            out.reply(id, Err(ClientError::LeadershipLost));
        }
        for id in lead.reads.into_ids() {
            out.reply(id, Err(ClientError::NotLeader { leader: hint }));
        }
        if let Some(id) = lead.transfer.and_then(|t| t.reply) {
            out.reply(
                id,
                unavailable("leadership lost before the transfer started"),
            );
        }
    }

    /// Emits every entry committed but not yet handed to the driver, answers
    /// membership changes and reads that became ready.
    pub(crate) fn apply_committed(&mut self, out: &mut Output<Self>) {
        while self.applied < self.commit {
            let index = self.applied + 1;
            let entry = self
                .log
                .entry(index)
                .expect("committed entries after the snapshot are in the log");
            let command = match &entry.payload {
                EntryPayload::Command(c) => Some(c.clone()),
                EntryPayload::Noop | EntryPayload::Config(_) => None,
            };
            let mut reply_to = None;
            if let Some(lead) = self.lead.as_mut() {
                reply_to = lead.pending_writes.remove(&index);
                if let Some((at, id)) = lead.pending_admin {
                    if at == index {
                        lead.pending_admin = None;
                        out.reply(id, Ok(Vec::new()));
                    }
                }
            }
            out.committed.push(Committed {
                index,
                command,
                reply_to,
            });
            self.applied = index;
        }
        self.serve_reads(out);
    }

    /// Hands the hard state to the driver when term or vote changed; called
    /// at the end of every entry point so that it lands in the same output as
    /// the messages that depend on it.
    fn finish(&mut self, out: &mut Output<Self>) {
        let now = RaftHardState {
            term: self.term,
            voted_for: self.voted_for,
        };
        if now != self.saved_hard_state {
            out.hard_state = Some(now.clone());
            self.saved_hard_state = now;
        }
    }

    fn tick_inner(&mut self, out: &mut Output<Self>) {
        if self.role == Role::Leader {
            self.tick_leader(out);
            return;
        }
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        if self.promotable() && self.election_elapsed >= self.election_timeout {
            self.campaign(self.cfg.pre_vote, false, out);
        }
    }

    fn tick_leader(&mut self, out: &mut Output<Self>) {
        self.heartbeat_elapsed += 1;
        if let Some(lead) = self.lead.as_mut() {
            for pr in lead.progress.values_mut() {
                pr.idle_ticks = pr.idle_ticks.saturating_add(1);
            }
        }
        if self.cfg.check_quorum && !self.quorum_active() {
            let term = self.term;
            self.become_follower(term, None, out);
            return;
        }
        self.tick_transfer(out);
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat(out);
        }
        self.send_commit_notices(out);
    }

    /// Check-quorum: whether a quorum of voters (this leader included, if
    /// it votes) was heard from within the last `election_ticks_min` ticks.
    fn quorum_active(&self) -> bool {
        let Some(lead) = &self.lead else { return false };
        let me = self.cfg.id;
        let window = self.cfg.election_ticks_min;
        self.log.membership().quorum_value(|v| {
            let active = v == me || lead.progress.get(&v).is_some_and(|p| p.idle_ticks < window);
            u64::from(active)
        }) == 1
    }

    fn step_inner(&mut self, from: NodeId, msg: RaftMessage, out: &mut Output<Self>) {
        if from == self.cfg.id {
            return;
        }
        let term = msg.term();
        if term > self.term {
            match &msg {
                RaftMessage::RequestVote {
                    pre_vote,
                    leadership_transfer,
                    ..
                } => {
                    if self.in_lease() && !leadership_transfer {
                        return;
                    }
                    if !pre_vote {
                        self.become_follower(term, None, out);
                    }
                }
                // A granted pre-vote echoes the term we would campaign in.
                RaftMessage::RequestVoteResponse {
                    pre_vote: true,
                    granted: true,
                    ..
                } => {}
                RaftMessage::AppendEntries { .. }
                | RaftMessage::InstallSnapshot { .. }
                | RaftMessage::TimeoutNow { .. } => self.become_follower(term, Some(from), out),
                _ => self.become_follower(term, None, out),
            }
        } else if term < self.term {
            // Tell a stale leader or candidate about the newer term.
            match msg {
                RaftMessage::AppendEntries { .. } | RaftMessage::InstallSnapshot { .. } => out
                    .send(
                        from,
                        RaftMessage::AppendEntriesResponse {
                            term: self.term,
                            success: false,
                            index: 0,
                            conflict_index: 0,
                            conflict_term: None,
                            read_seq: 0,
                        },
                    ),
                RaftMessage::RequestVote { pre_vote, .. } => out.send(
                    from,
                    RaftMessage::RequestVoteResponse {
                        term: self.term,
                        granted: false,
                        pre_vote,
                    },
                ),
                _ => {}
            }
            return;
        }
        match msg {
            RaftMessage::RequestVote {
                term,
                last_log_index,
                last_log_term,
                pre_vote,
                ..
            } => self.handle_request_vote(from, term, last_log_index, last_log_term, pre_vote, out),
            RaftMessage::RequestVoteResponse {
                term,
                granted,
                pre_vote,
            } => self.handle_vote_response(from, term, granted, pre_vote, out),
            RaftMessage::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_seq,
                ..
            } => self.handle_append_entries(
                from,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_seq,
                out,
            ),
            RaftMessage::AppendEntriesResponse {
                success,
                index,
                conflict_index,
                conflict_term,
                read_seq,
                ..
            } => self.handle_append_response(
                from,
                success,
                index,
                conflict_index,
                conflict_term,
                read_seq,
                out,
            ),
            RaftMessage::InstallSnapshot {
                last_included_index,
                last_included_term,
                membership,
                offset,
                data,
                done,
                read_seq,
                ..
            } => {
                let meta = SnapshotMeta {
                    last_included_index,
                    last_included_term,
                    membership,
                };
                self.handle_install_snapshot(from, meta, offset, data, done, read_seq, out)
            }
            RaftMessage::InstallSnapshotResponse {
                last_included_index,
                next_offset,
                done,
                read_seq,
                ..
            } => self.handle_snapshot_response(
                from,
                last_included_index,
                next_offset,
                done,
                read_seq,
                out,
            ),
            RaftMessage::TimeoutNow { .. } => self.handle_timeout_now(from, out),
        }
    }

    /// Answers a proposal `NotLeader` (with the leader we know) unless we
    /// lead; returns whether it did.
    pub(crate) fn refuse_unless_leader(&self, id: RequestId, out: &mut Output<Self>) -> bool {
        if self.role == Role::Leader {
            return false;
        }
        let leader = self.leader_id;
        out.reply(id, Err(ClientError::NotLeader { leader }));
        true
    }

    fn propose_write(&mut self, id: RequestId, command: Vec<u8>, out: &mut Output<Self>) {
        if self.refuse_unless_leader(id, out) {
            return;
        }
        let refusal = if self.transfer_in_progress() {
            Some("leadership transfer in progress")
        } else if self.log.is_full() {
            Some("the log has reached its last index")
        } else if self.log.last_index() - self.commit >= self.cfg.max_uncommitted_entries {
            Some("too many uncommitted entries")
        } else {
            None
        };
        if let Some(reason) = refusal {
            out.reply(id, unavailable(reason));
            return;
        }
        let index = self.log.last_index() + 1;
        self.append_own_entry(
            Entry {
                index,
                term: self.term,
                payload: EntryPayload::Command(command),
            },
            out,
        );
        if let Some(lead) = self.lead.as_mut() {
            lead.pending_writes.insert(index, id);
        }
        // Followers with nothing in flight get it at once; the others when
        // an acknowledgement frees their window, when the driver reports the
        // entry durable (`on_persisted`) or at the next heartbeat: proposals
        // made in between go out together in one AppendEntries.
        self.send_to_idle_peers(out);
    }

    fn on_persisted_inner(&mut self, count: u64, out: &mut Output<Self>) {
        let mut last_end = None;
        while let Some(p) = self.unpersisted.front() {
            if p.count > count {
                break;
            }
            last_end = Some(p.end);
            self.unpersisted.pop_front();
        }
        let Some(end) = last_end else { return };
        // Records still pending may overwrite part of what just became durable.
        let cap = self
            .unpersisted
            .iter()
            .map(|p| p.position - 1)
            .min()
            .unwrap_or(u64::MAX);
        self.durable_index = end.min(cap);
        if self.role == Role::Leader {
            self.maybe_commit(out);
            self.flush_appends(out);
        }
    }
}

/// A definite refusal: the leader did nothing with the request.
pub(crate) fn unavailable(reason: &str) -> Result<Vec<u8>, ClientError> {
    Err(ClientError::Unavailable {
        reason: reason.into(),
    })
}

impl Protocol for RaftNode {
    type Message = RaftMessage;
    type Record = RaftRecord;
    type HardState = RaftHardState;

    fn id(&self) -> NodeId {
        self.cfg.id
    }

    fn tick(&mut self, out: &mut Output<Self>) {
        self.tick_inner(out);
        self.finish(out);
    }

    fn step(&mut self, from: NodeId, msg: RaftMessage, out: &mut Output<Self>) {
        self.step_inner(from, msg, out);
        self.finish(out);
    }

    fn propose(&mut self, proposal: Proposal, out: &mut Output<Self>) {
        match proposal {
            Proposal::Write { id, command } => self.propose_write(id, command, out),
            Proposal::Read { id } => self.propose_read(id, out),
            Proposal::Admin { id, request } => self.propose_admin(id, request, out),
        }
        self.finish(out);
    }

    fn on_persisted(&mut self, count: u64, out: &mut Output<Self>) {
        self.on_persisted_inner(count, out);
        self.finish(out);
    }

    fn on_snapshot(&mut self, index: u64, data: Vec<u8>, out: &mut Output<Self>) {
        self.take_snapshot(index, data, out);
        self.finish(out);
    }

    fn status(&self) -> ProtocolStatus {
        let membership = self.log.membership();
        let role = match self.role {
            Role::Leader => "leader",
            Role::Candidate | Role::PreCandidate => "candidate",
            Role::Follower if membership.is_learner(self.cfg.id) => "learner",
            Role::Follower => "follower",
        };
        ProtocolStatus {
            id: self.cfg.id,
            protocol: "raft".into(),
            role: role.into(),
            term: self.term,
            leader: self.leader_id,
            commit_index: self.commit,
            voters: membership.voters.iter().copied().collect(),
            learners: membership.learners.iter().copied().collect(),
        }
    }
}
