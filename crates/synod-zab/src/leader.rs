//! The leader's state, its election-to-establishment phases, and discovery.
//! Synchronisation is in `sync.rs`, broadcast in `broadcast.rs`.
//!
//! ```text
//!  Discovery        FOLLOWERINFO(acceptedEpoch) from a quorum (ours included)
//!                   → e = max(acceptedEpoch) + 1, persist acceptedEpoch = e,
//!                   LEADERINFO(e) to every connected learner
//!                   ACKEPOCH(currentEpoch, history) from a quorum; a learner
//!                   more up to date than us means FLE chose wrong: LOOKING
//!  Synchronization  persist currentEpoch = e; per learner SNAP chunks, SYNC
//!                   (DIFF | TRUNC | SNAP, see `sync.rs`), NEWLEADER
//!                   ACK of NEWLEADER from a quorum → our whole history is
//!                   committed; UPTODATE to every synchronised learner
//!  Broadcast        see `broadcast.rs`
//! ```
//!
//! Learners that connect later go through the same steps one by one against
//! the established leader. A voter that promised an epoch above ours (to a
//! leader that failed) would refuse us forever: the leader then goes back
//! to LOOKING so that the next epoch is above that promise.

use crate::forward::Requester;
use crate::message::{HistorySummary, PeerState, ZabMessage};
use crate::node::ZabNode;
use crate::zxid::{Origin, Zxid};
use std::collections::{BTreeMap, VecDeque};
use synod_core::{ClientError, NodeId, Output, ReadQueue, RequestId};

/// The leader's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a quorum of FOLLOWERINFO, then of ACKEPOCH.
    Discovery,
    /// Waiting for a quorum to acknowledge NEWLEADER.
    Synchronization,
    /// Established: proposing, committing.
    Broadcast,
}

/// Where one learner is in the handshake with this leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LearnerStage {
    /// Sent FOLLOWERINFO with this accepted epoch.
    Connected { accepted_epoch: u64 },
    /// Sent ACKEPOCH: its current epoch and history.
    EpochAcked {
        current_epoch: u64,
        history: HistorySummary,
    },
    /// SYNC and NEWLEADER sent.
    Syncing,
    /// Acknowledged NEWLEADER: receives proposals (or INFORMs), its ACKs
    /// count (a voter's).
    Active,
}

/// The leader's view of one learner.
#[derive(Clone, Debug)]
pub(crate) struct Learner {
    pub(crate) stage: LearnerStage,
    pub(crate) observer: bool,
    /// The learner's last logged zxid, as it acknowledged.
    pub(crate) acked: Zxid,
    /// `acked` at the previous heartbeat (no progress means retransmit).
    pub(crate) acked_at_heartbeat: Zxid,
    /// Heartbeats in a row without progress of `acked`.
    pub(crate) stalled_beats: u32,
    /// The tick of the last message from it.
    pub(crate) last_heard: u64,
    /// The highest read round it echoed.
    pub(crate) read_echo: u64,
}

/// State only a leader has.
#[derive(Debug)]
pub(crate) struct LeaderState {
    pub(crate) phase: Phase,
    /// The new epoch, once chosen (0 before).
    pub(crate) epoch: u64,
    pub(crate) learners: BTreeMap<NodeId, Learner>,
    /// The tick this server was elected.
    pub(crate) elected_at: u64,
    /// Writes this leader proposed, by zxid.
    pub(crate) pending_writes: BTreeMap<Zxid, RequestId>,
    /// Linearizable reads waiting for a quorum to echo their round, each
    /// with the commit point when it arrived (what a learner's `sync` is
    /// answered with).
    pub(crate) reads: ReadQueue<(Requester, Zxid)>,
    pub(crate) heartbeat_elapsed: u64,
    /// The leader's own proposals not yet reported durable: the `emitted`
    /// count that covers each, and its zxid.
    pub(crate) own_unpersisted: VecDeque<(u64, Zxid)>,
    /// The leader's own acknowledgement: its last proposal known durable.
    pub(crate) own_durable: Zxid,
    /// Per learner, the latest (incarnation, request number) it forwarded:
    /// a repeated or overtaken REQUEST is not proposed twice.
    pub(crate) requests_seen: BTreeMap<NodeId, (u64, u64)>,
}

impl LeaderState {
    pub(crate) fn is_established(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// Leadership is lost: every pending request may or may not commit.
    pub(crate) fn abandon(self, out: &mut Output<ZabNode>) {
        for (_, id) in self.pending_writes {
            out.reply(id, Err(ClientError::LeadershipLost));
        }
        for (requester, _) in self.reads.into_ids() {
            // A learner's `sync` goes unanswered: it times out or the
            // learner goes LOOKING too.
            if let Requester::Client(id) = requester {
                out.reply(id, Err(ClientError::LeadershipLost));
            }
        }
    }

    /// Voters (other than the leader) at `stage`-like progress.
    pub(crate) fn count_voters(&self, pred: impl Fn(&Learner) -> bool) -> usize {
        self.learners
            .values()
            .filter(|l| !l.observer && pred(l))
            .count()
    }
}

impl ZabNode {
    pub(crate) fn become_leader(&mut self, out: &mut Output<Self>) {
        self.state = PeerState::Leading;
        self.follower = None;
        self.lead = Some(LeaderState {
            phase: Phase::Discovery,
            epoch: 0,
            learners: BTreeMap::new(),
            elected_at: self.now,
            pending_writes: BTreeMap::new(),
            reads: ReadQueue::default(),
            heartbeat_elapsed: 0,
            own_unpersisted: VecDeque::new(),
            own_durable: Zxid::ZERO,
            requests_seen: BTreeMap::new(),
        });
        self.reset_timeout();
        self.try_choose_epoch(out);
    }

    pub(crate) fn step_leader(&mut self, from: NodeId, msg: ZabMessage, out: &mut Output<Self>) {
        let observer = !self.is_voter(from);
        let now = self.now;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        if let ZabMessage::FollowerInfo { accepted_epoch } = msg {
            if accepted_epoch >= u64::from(u32::MAX) {
                return; // no epoch could exceed it in a zxid: not a real server
            }
            if lead.epoch != 0 && accepted_epoch > lead.epoch && !observer {
                // This voter promised an epoch above ours (to a leader
                // that failed) and will refuse our LEADERINFO. ZooKeeper
                // leaves it out until the next election; we hold that
                // election now, so the ensemble regains its full fault
                // tolerance: the next epoch will be above its promise.
                self.start_looking(out);
                return;
            }
            lead.learners.insert(
                from,
                Learner {
                    stage: LearnerStage::Connected { accepted_epoch },
                    observer,
                    acked: Zxid::ZERO,
                    acked_at_heartbeat: Zxid::ZERO,
                    stalled_beats: 0,
                    last_heard: now,
                    read_echo: 0,
                },
            );
            if lead.epoch != 0 {
                let epoch = lead.epoch;
                out.send(from, ZabMessage::LeaderInfo { epoch });
            } else {
                self.try_choose_epoch(out);
            }
            return;
        }
        if msg.epoch() != Some(lead.epoch) || lead.epoch == 0 {
            return;
        }
        let Some(learner) = lead.learners.get_mut(&from) else {
            return;
        };
        learner.last_heard = now;
        match msg {
            ZabMessage::AckEpoch {
                current_epoch,
                history,
                ..
            } => self.handle_ack_epoch(from, current_epoch, history, out),
            ZabMessage::AckNewLeader { last, .. } => self.handle_ack_new_leader(from, last, out),
            ZabMessage::Ack { zxid, .. } => self.handle_ack(from, zxid, None, out),
            ZabMessage::PingAck { read_seq, last, .. } => {
                self.handle_ack(from, last, Some(read_seq), out)
            }
            ZabMessage::Request {
                incarnation,
                request,
                command,
                ..
            } => {
                let origin = Origin::new(from, incarnation, request);
                self.handle_request(origin, command, out);
            }
            ZabMessage::SyncRequest {
                incarnation,
                request,
                ..
            } => {
                let origin = Origin::new(from, incarnation, request);
                self.leader_read(Requester::Learner(origin), out);
            }
            _ => {}
        }
    }

    /// Discovery: once a quorum of voters (us included) sent FOLLOWERINFO,
    /// the new epoch is above every accepted epoch among them.
    fn try_choose_epoch(&mut self, out: &mut Output<Self>) {
        let quorum = self.quorum();
        let own = self.accepted_epoch;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        if lead.epoch != 0 {
            return;
        }
        let accepted: Vec<u64> = lead
            .learners
            .values()
            .filter(|l| !l.observer)
            .filter_map(|l| match l.stage {
                LearnerStage::Connected { accepted_epoch } => Some(accepted_epoch),
                _ => None,
            })
            .collect();
        if accepted.len() + 1 < quorum {
            return;
        }
        let epoch = accepted
            .iter()
            .copied()
            .chain([own])
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        if epoch > u64::from(u32::MAX) {
            return; // epochs must fit the zxid's high half
        }
        lead.epoch = epoch;
        // Persisted (hard state, by `finish`) before LEADERINFO leaves.
        self.accepted_epoch = epoch;
        for &id in lead.learners.keys() {
            out.send(id, ZabMessage::LeaderInfo { epoch });
        }
        self.try_finish_discovery(out);
    }

    fn handle_ack_epoch(
        &mut self,
        from: NodeId,
        current_epoch: u64,
        history: HistorySummary,
        out: &mut Output<Self>,
    ) {
        let ours = (self.current_epoch, self.history.last());
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let phase = lead.phase;
        let Some(learner) = lead.learners.get_mut(&from) else {
            return;
        };
        if learner.stage == LearnerStage::Active {
            return;
        }
        if phase == Phase::Discovery && (current_epoch, history.last()) > ours {
            // A quorum member is more up to date than us: FLE elected the
            // wrong server. Give up so a better one can lead.
            self.start_looking(out);
            return;
        }
        learner.stage = LearnerStage::EpochAcked {
            current_epoch,
            history,
        };
        match phase {
            Phase::Discovery => self.try_finish_discovery(out),
            Phase::Synchronization if !learner.observer => self.sync_learner(from, out),
            Phase::Synchronization => {}
            Phase::Broadcast => self.sync_learner(from, out),
        }
    }

    /// Discovery ends once a quorum of voters acknowledged the epoch: the
    /// leader adopts it as its current epoch and synchronises them.
    pub(crate) fn try_finish_discovery(&mut self, out: &mut Output<Self>) {
        let quorum = self.quorum();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let acked = lead.count_voters(|l| matches!(l.stage, LearnerStage::EpochAcked { .. }));
        if lead.phase != Phase::Discovery || lead.epoch == 0 || acked + 1 < quorum {
            return;
        }
        lead.phase = Phase::Synchronization;
        // Persisted (hard state) before NEWLEADER leaves.
        self.current_epoch = lead.epoch;
        let ready: Vec<NodeId> = lead
            .learners
            .iter()
            .filter(|(_, l)| !l.observer && matches!(l.stage, LearnerStage::EpochAcked { .. }))
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            self.sync_learner(id, out);
        }
        self.try_establish(out);
    }
}
