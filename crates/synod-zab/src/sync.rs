//! The leader's side of synchronisation: per learner SNAP chunks, SYNC
//! (DIFF, TRUNC or SNAP, chosen by `history::plan_sync`) and NEWLEADER;
//! then, once a quorum of voters acknowledged NEWLEADER, the whole initial
//! history is committed and learners get UPTODATE.
//!
//! Followers are synchronised against the whole history (uncommitted
//! proposals of earlier epochs included: the NEWLEADER quorum commits them);
//! observers only against the committed part, once the leader is
//! established, so they never hold a proposal that may not commit.

use crate::history::plan_sync;
use crate::leader::{LearnerStage, Phase};
use crate::message::{SyncMode, ZabMessage};
use crate::node::ZabNode;
use crate::zxid::Zxid;
use synod_core::{NodeId, Output, Snapshot};

impl ZabNode {
    /// Sends one learner the SNAP chunks, SYNC and NEWLEADER that bring its
    /// history in line with ours (followers: the whole history; observers:
    /// the committed part).
    pub(crate) fn sync_learner(&mut self, id: NodeId, out: &mut Output<Self>) {
        let snapshot_at = self.snapshot.as_ref().map(|s| Zxid(s.position));
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let epoch = lead.epoch;
        let Some(learner) = lead.learners.get_mut(&id) else {
            return;
        };
        let LearnerStage::EpochAcked { history, .. } = &learner.stage else {
            return;
        };
        let until = if learner.observer {
            self.committed
        } else {
            self.history.last()
        };
        let Some(plan) = plan_sync(&self.history, until, snapshot_at, history) else {
            // It needs a snapshot we do not hold: let it time out and retry.
            lead.learners.remove(&id);
            return;
        };
        let for_last = history.last();
        learner.stage = LearnerStage::Syncing;
        if let (SyncMode::Snap { .. }, Some(snapshot)) = (plan.mode, &self.snapshot) {
            send_snapshot(id, epoch, snapshot, self.cfg.snapshot_chunk_bytes, out);
        }
        let proposals: Vec<_> = self
            .history
            .after(plan.send_after, usize::MAX)
            .iter()
            .take_while(|t| t.zxid <= until)
            .cloned()
            .collect();
        // Once the sync is applied the learner holds exactly our history
        // through `until`, so that is where it must stand to acknowledge.
        let last = until;
        out.send(
            id,
            ZabMessage::Sync {
                epoch,
                for_last,
                mode: plan.mode,
                proposals,
            },
        );
        out.send(id, ZabMessage::NewLeader { epoch, last });
    }

    pub(crate) fn handle_ack_new_leader(
        &mut self,
        from: NodeId,
        last: Zxid,
        out: &mut Output<Self>,
    ) {
        let our_last = self.history.last();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let phase = lead.phase;
        let Some(learner) = lead.learners.get_mut(&from) else {
            return;
        };
        let newly = match learner.stage {
            LearnerStage::Syncing => true,
            LearnerStage::Active => false,
            _ => return,
        };
        learner.stage = LearnerStage::Active;
        learner.acked = learner.acked.max(last.min(our_last));
        learner.acked_at_heartbeat = learner.acked;
        if phase == Phase::Broadcast && newly {
            self.start_learner(from, out);
        } else {
            self.try_establish(out);
        }
    }

    /// Synchronisation ends once a quorum of voters acknowledged NEWLEADER:
    /// the whole initial history is committed.
    pub(crate) fn try_establish(&mut self, out: &mut Output<Self>) {
        let quorum = self.quorum();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let active = lead.count_voters(|l| l.stage == LearnerStage::Active);
        if lead.phase != Phase::Synchronization || active + 1 < quorum {
            return;
        }
        lead.phase = Phase::Broadcast;
        lead.heartbeat_elapsed = 0;
        // The initial history came from earlier outputs, persisted before
        // this leader's NEWLEADER left.
        lead.own_durable = self.history.last();
        let waiting: Vec<(NodeId, bool)> = lead
            .learners
            .iter()
            .filter_map(|(id, l)| match l.stage {
                LearnerStage::Active => Some((*id, true)),
                LearnerStage::EpochAcked { .. } if l.observer => Some((*id, false)),
                _ => None,
            })
            .collect();
        let initial = self.history.last();
        self.advance_commit(initial, out);
        for (id, active) in waiting {
            if active {
                self.start_learner(id, out);
            } else {
                self.sync_learner(id, out);
            }
        }
    }
}

/// Sends `snapshot` to `to` in chunks of at most `chunk_bytes` (frames are
/// bounded; one chunk is sent even for an empty snapshot, marked `done`).
fn send_snapshot(
    to: NodeId,
    epoch: u64,
    snapshot: &Snapshot,
    chunk_bytes: usize,
    out: &mut Output<ZabNode>,
) {
    let mut offset: usize = 0;
    loop {
        let end = offset.saturating_add(chunk_bytes).min(snapshot.data.len());
        let done = end == snapshot.data.len();
        out.send(
            to,
            ZabMessage::SnapChunk {
                epoch,
                position: Zxid(snapshot.position),
                offset: offset as u64,
                data: snapshot.data[offset..end].to_vec(),
                done,
            },
        );
        if done {
            return;
        }
        offset = end;
    }
}
