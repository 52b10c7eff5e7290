//! The learner's side (follower or observer) of discovery, synchronisation
//! and broadcast.
//!
//! ```text
//!  AwaitLeaderInfo ──LEADERINFO(e ≥ acceptedEpoch)──▶ AwaitSync     persist acceptedEpoch = e, ACKEPOCH
//!  AwaitSync ──[SNAP chunks] SYNC(DIFF|TRUNC|SNAP)──▶ AwaitNewLeader persist truncation + proposals
//!  AwaitNewLeader ──NEWLEADER(e, last = ours)──────▶ AwaitUpToDate  persist currentEpoch = e, ACK
//!  AwaitUpToDate ──UPTODATE / COMMIT / PING────────▶ Broadcast      deliver committed
//!  Broadcast: PROPOSAL(prev = our last) → log, ACK;  COMMIT / PING → deliver;  INFORM (observer) → log, deliver
//! ```
//!
//! A learner accepts a proposal only on top of its predecessor (`prev`), so
//! its history never has a hole even when the network loses or reorders
//! messages; the leader retransmits from the learner's last ACK. A learner
//! that hears nothing from its leader for an election timeout goes back to
//! LOOKING, and so does one whose leader offers an epoch older than one it
//! accepted.

use crate::message::{PeerState, SyncMode, ZabMessage, ZabRecord};
use crate::node::ZabNode;
use crate::zxid::{Txn, Zxid};
use synod_core::{NodeId, Output, Snapshot};

/// Where a learner is in its leader's handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Sent FOLLOWERINFO, waiting for LEADERINFO.
    AwaitLeaderInfo,
    /// Sent ACKEPOCH, waiting for SYNC.
    AwaitSync,
    /// Synchronised, waiting for NEWLEADER.
    AwaitNewLeader,
    /// Acknowledged NEWLEADER, waiting for UPTODATE.
    AwaitUpToDate,
    /// Serving: proposals, commits, pings.
    Broadcast,
}

/// A snapshot arriving chunk by chunk.
#[derive(Clone, Debug)]
pub(crate) struct IncomingSnapshot {
    position: Zxid,
    data: Vec<u8>,
    done: bool,
}

/// State only a learner has.
#[derive(Clone, Debug)]
pub(crate) struct FollowerState {
    pub(crate) leader: NodeId,
    /// The leader's epoch, once LEADERINFO arrived.
    pub(crate) epoch: u64,
    pub(crate) stage: Stage,
    incoming: Option<IncomingSnapshot>,
    /// Ticks since the last handshake message was (re)sent or the leader
    /// was last heard.
    resend_elapsed: u64,
}

impl ZabNode {
    /// Starts following (or observing) `leader`: FOLLOWERINFO.
    pub(crate) fn become_follower(&mut self, leader: NodeId, out: &mut Output<Self>) {
        self.state = if self.cfg.is_observer() {
            PeerState::Observing
        } else {
            PeerState::Following
        };
        self.follower = Some(FollowerState {
            leader,
            epoch: 0,
            stage: Stage::AwaitLeaderInfo,
            incoming: None,
            resend_elapsed: 0,
        });
        self.reset_timeout();
        out.send_eager(
            leader,
            ZabMessage::FollowerInfo {
                accepted_epoch: self.accepted_epoch,
            },
        );
    }

    fn stage(&self) -> Option<Stage> {
        self.follower.as_ref().map(|f| f.stage)
    }

    /// Whether this learner is synchronised with an established leader and
    /// hearing its broadcast, so it can forward writes and reads to it.
    pub(crate) fn is_serving_learner(&self) -> bool {
        self.stage() == Some(Stage::Broadcast)
    }

    fn set_stage(&mut self, stage: Stage) {
        if let Some(f) = self.follower.as_mut() {
            f.stage = stage;
            f.resend_elapsed = 0;
        }
    }

    fn ack_epoch(&self, epoch: u64) -> ZabMessage {
        ZabMessage::AckEpoch {
            epoch,
            current_epoch: self.current_epoch,
            history: self.history.summary(),
        }
    }

    pub(crate) fn tick_follower(&mut self, out: &mut Output<Self>) {
        if self.elapsed >= self.timeout {
            // The leader is silent (or the handshake stalled): elect again.
            self.start_looking(out);
            return;
        }
        let resend_every = 2 * self.cfg.heartbeat_ticks;
        let Some(f) = self.follower.as_mut() else {
            return;
        };
        f.resend_elapsed += 1;
        if f.resend_elapsed < resend_every {
            return;
        }
        f.resend_elapsed = 0;
        let (leader, epoch, stage) = (f.leader, f.epoch, f.stage);
        // Handshake messages may be lost: repeat the last one.
        let msg = match stage {
            Stage::AwaitLeaderInfo => ZabMessage::FollowerInfo {
                accepted_epoch: self.accepted_epoch,
            },
            Stage::AwaitSync | Stage::AwaitNewLeader => self.ack_epoch(epoch),
            Stage::AwaitUpToDate => ZabMessage::AckNewLeader {
                epoch,
                last: self.history.last(),
            },
            Stage::Broadcast => return,
        };
        out.send(leader, msg);
    }

    pub(crate) fn step_follower(&mut self, from: NodeId, msg: ZabMessage, out: &mut Output<Self>) {
        let Some(f) = self.follower.as_ref() else {
            return;
        };
        if from != f.leader {
            return;
        }
        if let ZabMessage::LeaderInfo { epoch } = msg {
            self.handle_leader_info(epoch, out);
            return;
        }
        if msg.epoch() != Some(f.epoch) || f.epoch == 0 {
            return;
        }
        self.elapsed = 0;
        let epoch = f.epoch;
        if let Some(f) = self.follower.as_mut() {
            // The leader is talking: repeat handshake messages only when it
            // falls silent, not while a large SNAP is still arriving.
            f.resend_elapsed = 0;
        }
        match msg {
            ZabMessage::SnapChunk {
                position,
                offset,
                data,
                done,
                ..
            } => self.handle_snap_chunk(position, offset, data, done),
            ZabMessage::Sync {
                for_last,
                mode,
                proposals,
                ..
            } => self.handle_sync(for_last, mode, proposals, out),
            ZabMessage::NewLeader { last, .. } => self.handle_new_leader(epoch, last, out),
            ZabMessage::UpToDate { committed, .. }
            | ZabMessage::Commit {
                zxid: committed, ..
            } => {
                self.handle_commit(committed, out);
            }
            ZabMessage::Proposal { prev, txn, .. } => self.handle_proposal(epoch, prev, txn, out),
            ZabMessage::Inform { prev, txn, .. } => self.handle_inform(epoch, prev, txn, out),
            ZabMessage::Refused {
                incarnation,
                request,
                error,
                ..
            } => self.handle_refused(incarnation, request, error, out),
            ZabMessage::SyncReply {
                incarnation,
                request,
                zxid,
                ..
            } => self.handle_sync_reply(incarnation, request, zxid, out),
            ZabMessage::Ping {
                committed,
                read_seq,
                ..
            } if self.handle_commit(committed, out) => {
                out.send(
                    from,
                    ZabMessage::PingAck {
                        epoch,
                        read_seq,
                        last: self.history.last(),
                    },
                );
            }
            _ => {}
        }
    }

    fn handle_leader_info(&mut self, epoch: u64, out: &mut Output<Self>) {
        let Some(f) = self.follower.as_ref() else {
            return;
        };
        let repeat = f.stage == Stage::AwaitSync && f.epoch == epoch;
        if f.stage != Stage::AwaitLeaderInfo && !repeat {
            return;
        }
        let observer = self.cfg.is_observer();
        if (epoch < self.accepted_epoch && !observer) || epoch > u64::from(u32::MAX) {
            // We promised a newer leader: this one cannot establish with us.
            self.start_looking(out);
            return;
        }
        // Persisted (hard state) before the ACKEPOCH leaves. An observer's
        // promise protects no quorum, so it follows whichever leader is
        // established, and its accepted epoch never goes down.
        self.accepted_epoch = self.accepted_epoch.max(epoch);
        self.elapsed = 0;
        if let Some(f) = self.follower.as_mut() {
            f.epoch = epoch;
        }
        self.set_stage(Stage::AwaitSync);
        out.send(f_leader(self), self.ack_epoch(epoch));
    }

    fn handle_snap_chunk(&mut self, position: Zxid, offset: u64, data: Vec<u8>, done: bool) {
        let Some(f) = self.follower.as_mut() else {
            return;
        };
        if !matches!(f.stage, Stage::AwaitSync | Stage::AwaitNewLeader) {
            return;
        }
        if offset == 0 {
            f.incoming = Some(IncomingSnapshot {
                position,
                data,
                done,
            });
        } else if let Some(inc) = f.incoming.as_mut() {
            if inc.position == position && !inc.done && inc.data.len() as u64 == offset {
                inc.data.extend_from_slice(&data);
                inc.done = done;
            }
        }
    }

    fn handle_sync(
        &mut self,
        for_last: Zxid,
        mode: SyncMode,
        proposals: Vec<Txn>,
        out: &mut Output<Self>,
    ) {
        if !matches!(self.stage(), Some(Stage::AwaitSync | Stage::AwaitNewLeader))
            || for_last != self.history.last()
        {
            return;
        }
        let truncate_after = match mode {
            SyncMode::Diff => None,
            SyncMode::Trunc { after } => Some(after),
            SyncMode::Snap {
                position,
                truncate_after,
            } => {
                let Some(f) = self.follower.as_mut() else {
                    return;
                };
                let ready = f
                    .incoming
                    .as_ref()
                    .is_some_and(|i| i.done && i.position == position);
                if !ready || position <= self.applied {
                    return;
                }
                let inc = f.incoming.take().expect("checked above");
                self.install_snapshot(
                    Snapshot {
                        position: position.0,
                        meta: Vec::new(),
                        data: inc.data,
                    },
                    out,
                );
                truncate_after
            }
        };
        if let Some(after) = truncate_after {
            if after < self.committed {
                // The leader would make us drop a committed transaction: a
                // bug or a stale message. Refuse and elect again.
                self.start_looking(out);
                return;
            }
            if after < self.history.last() {
                self.history.truncate_after(after);
                self.persist_record(ZabRecord::Truncate { after }, out);
            }
        }
        for txn in proposals {
            if txn.zxid > self.history.last() {
                self.log_txn(txn, out);
            }
        }
        self.set_stage(Stage::AwaitNewLeader);
    }

    fn handle_new_leader(&mut self, epoch: u64, last: Zxid, out: &mut Output<Self>) {
        match self.stage() {
            Some(Stage::AwaitNewLeader) if self.history.last() == last => {
                // Persisted (hard state) before the acknowledgement leaves.
                self.current_epoch = epoch;
                self.set_stage(Stage::AwaitUpToDate);
            }
            Some(Stage::AwaitUpToDate | Stage::Broadcast) => {}
            _ => return,
        }
        out.send(
            f_leader(self),
            ZabMessage::AckNewLeader {
                epoch,
                last: self.history.last(),
            },
        );
    }

    /// UPTODATE, COMMIT and PING all carry the leader's commit point, and
    /// all come only from an established leader. Returns whether the
    /// learner has acknowledged NEWLEADER (so the message applies).
    fn handle_commit(&mut self, committed: Zxid, out: &mut Output<Self>) -> bool {
        if !matches!(self.stage(), Some(Stage::AwaitUpToDate | Stage::Broadcast)) {
            return false;
        }
        self.set_stage(Stage::Broadcast);
        self.advance_commit(committed, out);
        true
    }

    fn handle_proposal(&mut self, epoch: u64, prev: Zxid, txn: Txn, out: &mut Output<Self>) {
        if self.cfg.is_observer()
            || !matches!(self.stage(), Some(Stage::AwaitUpToDate | Stage::Broadcast))
            || u64::from(txn.zxid.epoch()) != epoch
        {
            return;
        }
        let last = self.history.last();
        if prev == last && txn.zxid > last {
            self.log_txn(txn, out);
        } else if !(txn.zxid <= last && self.history.holds(txn.zxid)) {
            return; // a gap: the leader retransmits from our last ACK
        }
        out.send(
            f_leader(self),
            ZabMessage::Ack {
                epoch,
                zxid: self.history.last(),
            },
        );
    }

    fn handle_inform(&mut self, epoch: u64, prev: Zxid, txn: Txn, out: &mut Output<Self>) {
        if !self.cfg.is_observer()
            || !matches!(self.stage(), Some(Stage::AwaitUpToDate | Stage::Broadcast))
        {
            return;
        }
        let last = self.history.last();
        let zxid = txn.zxid;
        if prev == last && zxid > last {
            self.log_txn(txn, out);
            self.set_stage(Stage::Broadcast);
            self.advance_commit(zxid, out);
        } else if !(zxid <= last && self.history.holds(zxid)) {
            return;
        }
        out.send(
            f_leader(self),
            ZabMessage::Ack {
                epoch,
                zxid: self.history.last(),
            },
        );
    }
}

fn f_leader(node: &ZabNode) -> NodeId {
    node.follower.as_ref().map_or(NodeId(0), |f| f.leader)
}
