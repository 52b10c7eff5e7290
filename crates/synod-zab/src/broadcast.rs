//! The leader's broadcast phase: proposals, acknowledgements, commits,
//! pings, linearizable reads and retransmission.
//!
//! ```text
//!  client write ─▶ leader: zxid = (epoch, counter + 1), log it,
//!                  PROPOSAL(prev, txn) ─▶ each active follower (FIFO per follower)
//!  follower: prev = its last? log it, ACK(zxid) ─▶ leader
//!  leader: a quorum of voters (itself included) holds zxid
//!          ─▶ deliver everything through zxid, in zxid order,
//!             COMMIT(zxid) ─▶ followers, INFORM(txn) ─▶ observers
//!  every heartbeat: PING(committed, read round) ─▶ learners, PINGACK ◀─
//!                   a learner whose ACK did not move for two heartbeats gets the
//!                   proposals after it again
//!  no PINGACK from a quorum within election_ticks_min ─▶ LOOKING
//! ```
//!
//! Commits only move forward, one zxid prefix at a time: the leader counts
//! cumulative ACKs (a follower acknowledges its last logged zxid and logs
//! only on top of its predecessor), so the quorum-th highest ACK is a zxid
//! every member of that quorum holds together with everything before it.

use crate::forward::Requester;
use crate::leader::{LearnerStage, Phase};
use crate::message::ZabMessage;
use crate::node::ZabNode;
use crate::zxid::{Txn, Zxid};
use synod_core::quorum::quorum_value;
use synod_core::{NodeId, Output};

impl ZabNode {
    /// A write at the established leader, from its own client or forwarded
    /// by a learner: the next zxid, logged and proposed to every active
    /// follower.
    pub(crate) fn leader_write(
        &mut self,
        requester: Requester,
        command: Vec<u8>,
        out: &mut Output<Self>,
    ) {
        let last = self.history.last();
        let committed = self.committed;
        let max_uncommitted = self.cfg.max_uncommitted_proposals;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let epoch = lead.epoch as u32;
        let counter = if last.epoch() == epoch {
            last.counter()
        } else {
            0
        };
        if counter == u32::MAX {
            // The counter is exhausted: a new epoch is needed (ZooKeeper
            // forces a new election too).
            requester.refuse(lead.epoch, "zxid counter exhausted; re-electing", out);
            self.start_looking(out);
            return;
        }
        if last.0.saturating_sub(committed.0) >= max_uncommitted
            && last.epoch() == committed.epoch()
        {
            requester.refuse(lead.epoch, "too many uncommitted proposals", out);
            return;
        }
        let txn = Txn {
            zxid: Zxid::new(epoch, counter + 1),
            command: Some(command),
            origin: requester.origin(),
        };
        if let Requester::Client(id) = requester {
            lead.pending_writes.insert(txn.zxid, id);
        }
        lead.own_unpersisted.push_back((self.emitted + 1, txn.zxid));
        let msg = ZabMessage::Proposal {
            epoch: lead.epoch,
            prev: last,
            txn: txn.clone(),
        };
        for (peer, l) in &lead.learners {
            if !l.observer && l.stage == LearnerStage::Active {
                // Followers log in parallel with us: the proposal relies on
                // nothing this output makes durable. Our own copy counts
                // only once `on_persisted` reports it.
                out.send_eager(*peer, msg.clone());
            }
        }
        self.log_txn(txn, out);
    }

    /// The driver reports the first `count` records durable: the leader's
    /// own proposals among them now count toward their quorum.
    pub(crate) fn own_proposals_persisted(&mut self, count: u64, out: &mut Output<Self>) {
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        while let Some(&(at, zxid)) = lead.own_unpersisted.front() {
            if at > count {
                break;
            }
            lead.own_unpersisted.pop_front();
            lead.own_durable = lead.own_durable.max(zxid);
        }
        self.try_commit(out);
    }

    /// A linearizable read at the established leader, its own client's or
    /// a learner's `sync` (SYNCREQUEST): served once a quorum has confirmed,
    /// after the read arrived, that it still follows us (a ping round).
    /// Everything committed before is delivered here already (the leader
    /// delivers as soon as it commits); a learner is told the commit point
    /// at the read's arrival, to apply before it reads.
    pub(crate) fn leader_read(&mut self, requester: Requester, out: &mut Output<Self>) {
        let (quorum, committed) = (self.quorum(), self.committed);
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        if !lead.is_established() {
            // Its commit point may still miss the previous epoch's
            // commits; an honest learner never asks before UPTODATE.
            return;
        }
        if quorum == 1 {
            requester.serve_read(lead.epoch, committed, out);
            return;
        }
        // Index 0: nothing to wait for once confirmed.
        let read_seq = lead.reads.start(vec![(requester, committed)], 0);
        let msg = ZabMessage::Ping {
            epoch: lead.epoch,
            committed,
            read_seq,
        };
        for (peer, l) in &lead.learners {
            if !l.observer && l.stage == LearnerStage::Active {
                out.send(*peer, msg.clone());
            }
        }
    }

    /// ACK or PINGACK from a learner: its last logged zxid (and the read
    /// round it echoes).
    pub(crate) fn handle_ack(
        &mut self,
        from: NodeId,
        zxid: Zxid,
        read_seq: Option<u64>,
        out: &mut Output<Self>,
    ) {
        let our_last = self.history.last();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let Some(learner) = lead.learners.get_mut(&from) else {
            return;
        };
        if learner.stage != LearnerStage::Active {
            return;
        }
        learner.acked = learner.acked.max(zxid.min(our_last));
        if let Some(seq) = read_seq {
            learner.read_echo = learner.read_echo.max(seq.min(lead.reads.round()));
        }
        self.try_commit(out);
        self.serve_reads(out);
    }

    /// Commits the highest zxid a quorum of voters holds, if it moved.
    fn try_commit(&mut self, out: &mut Output<Self>) {
        let quorum = self.quorum();
        let old = self.committed;
        let Some(lead) = self.lead.as_ref() else {
            return;
        };
        if lead.phase != Phase::Broadcast {
            return;
        }
        let acks = lead
            .learners
            .values()
            .filter(|l| !l.observer && l.stage == LearnerStage::Active)
            .map(|l| l.acked)
            .chain([lead.own_durable])
            .collect();
        let Some(candidate) = quorum_value(acks, quorum) else {
            return;
        };
        if candidate <= old {
            return;
        }
        let epoch = lead.epoch;
        self.advance_commit(candidate, out);
        let committed = self.committed;
        let informs: Vec<Txn> = self
            .history
            .after(old, usize::MAX)
            .iter()
            .take_while(|t| t.zxid <= committed)
            .cloned()
            .collect();
        let Some(lead) = self.lead.as_ref() else {
            return;
        };
        for (peer, l) in &lead.learners {
            if l.stage != LearnerStage::Active {
                continue;
            }
            if l.observer {
                let mut prev = self
                    .history
                    .prev_of(informs.first().map_or(old, |t| t.zxid));
                for txn in &informs {
                    out.send(
                        *peer,
                        ZabMessage::Inform {
                            epoch,
                            prev,
                            txn: txn.clone(),
                        },
                    );
                    prev = txn.zxid;
                }
            } else {
                out.send(
                    *peer,
                    ZabMessage::Commit {
                        epoch,
                        zxid: committed,
                    },
                );
            }
        }
    }

    /// Serves the reads whose round a quorum of voters echoed.
    fn serve_reads(&mut self, out: &mut Output<Self>) {
        let quorum = self.quorum();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        if !lead.reads.has_pending() {
            return;
        }
        let echoes = lead
            .learners
            .values()
            .filter(|l| !l.observer && l.stage == LearnerStage::Active)
            .map(|l| l.read_echo)
            .chain([u64::MAX])
            .collect();
        let Some(round) = quorum_value(echoes, quorum) else {
            return;
        };
        lead.reads.confirm(round);
        let mut confirmed = Vec::new();
        lead.reads.serve(0, &mut confirmed);
        for (requester, committed) in confirmed {
            requester.serve_read(lead.epoch, committed, out);
        }
    }

    /// A learner acknowledged NEWLEADER after we were established: UPTODATE,
    /// then whatever it still lacks.
    pub(crate) fn start_learner(&mut self, id: NodeId, out: &mut Output<Self>) {
        let Some(lead) = self.lead.as_ref() else {
            return;
        };
        let epoch = lead.epoch;
        out.send(
            id,
            ZabMessage::UpToDate {
                epoch,
                committed: self.committed,
            },
        );
        self.send_tail(id, out);
    }

    /// Sends a learner the proposals (INFORMs for an observer) after its
    /// last acknowledged zxid, one batch. A learner behind our in-memory
    /// history is dropped: it times out, rejoins and gets a SNAP.
    fn send_tail(&mut self, id: NodeId, out: &mut Output<Self>) {
        let batch = self.cfg.max_batch_proposals;
        let base = self.history.base();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let epoch = lead.epoch;
        let Some(learner) = lead.learners.get(&id) else {
            return;
        };
        let (observer, acked) = (learner.observer, learner.acked);
        let until = if observer {
            self.committed
        } else {
            self.history.last()
        };
        if acked >= until {
            return;
        }
        if acked < base || !self.history.holds(acked) {
            lead.learners.remove(&id);
            return;
        }
        let mut prev = acked;
        for txn in self.history.after(acked, batch) {
            if txn.zxid > until {
                break;
            }
            let txn = txn.clone();
            let zxid = txn.zxid;
            let msg = if observer {
                ZabMessage::Inform { epoch, prev, txn }
            } else {
                ZabMessage::Proposal { epoch, prev, txn }
            };
            out.send(id, msg);
            prev = zxid;
        }
    }

    pub(crate) fn tick_leader(&mut self, out: &mut Output<Self>) {
        let quorum = self.quorum();
        let (now, min, establish) = (
            self.now,
            self.cfg.election_ticks_min,
            self.cfg.establish_ticks,
        );
        let heartbeat_ticks = self.cfg.heartbeat_ticks;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        if lead.phase != Phase::Broadcast {
            if now.saturating_sub(lead.elected_at) >= establish {
                self.start_looking(out);
            }
            return;
        }
        let recent = lead
            .learners
            .values()
            .filter(|l| {
                !l.observer
                    && l.stage == LearnerStage::Active
                    && now.saturating_sub(l.last_heard) < min
            })
            .count();
        if recent + 1 < quorum {
            // Lost the quorum: give up leadership (ZooKeeper's leader
            // shuts down when its synced followers no longer form one).
            self.start_looking(out);
            return;
        }
        lead.heartbeat_elapsed += 1;
        if lead.heartbeat_elapsed < heartbeat_ticks {
            return;
        }
        lead.heartbeat_elapsed = 0;
        let ping = ZabMessage::Ping {
            epoch: lead.epoch,
            committed: self.committed,
            read_seq: lead.reads.round(),
        };
        let mut stalled = Vec::new();
        for (peer, l) in lead.learners.iter_mut() {
            if l.stage != LearnerStage::Active {
                continue;
            }
            out.send(*peer, ping.clone());
            if l.acked == l.acked_at_heartbeat {
                l.stalled_beats += 1;
            } else {
                l.stalled_beats = 0;
            }
            // No progress over two heartbeats: resend (one heartbeat would
            // resend to every follower whose disk is merely slow).
            if l.stalled_beats >= 2 {
                l.stalled_beats = 0;
                stalled.push(*peer);
            }
            l.acked_at_heartbeat = l.acked;
        }
        for peer in stalled {
            self.send_tail(peer, out);
        }
    }
}
