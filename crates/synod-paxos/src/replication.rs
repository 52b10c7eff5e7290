//! Phase 2, once per command, and the commit point.
//!
//! ```text
//!  client ─Write─▶ leader: slot := next_slot; accept (b, slot, v) itself (record, synced)
//!                  Accept{b, slot.., values, commit} ──▶ acceptors (eager: relies on nothing new)
//!                  ◀── AcceptAck{b, slots}  (each acceptor persisted first)
//!                  a majority (itself counted after on_persisted): slot chosen;
//!                  chosen slots apply in slot order; the proposer's reply rides Committed
//!  every heartbeat: Commit{b, commit, read_seq} ──▶ followers; ◀── CommitAck{b, read_seq}
//!                   unacknowledged Accepts are sent again
//! ```
//!
//! A follower learns a slot chosen when the leader of ballot `b` says its
//! commit point covers the slot and the follower accepted that slot under
//! `b` (the leader proposes one value per slot in its ballot). Slots it
//! accepted under another ballot, or missed, come by catch-up.

use crate::ballot::Ballot;
use crate::message::{PaxosMessage, PaxosRecord, Value};
use crate::node::{InFlight, PaxosNode, Role};
use std::collections::BTreeSet;
use synod_core::{ClientError, NodeId, Output, RequestId};

impl PaxosNode {
    /// `Proposal::Write`.
    pub(crate) fn propose_write(
        &mut self,
        id: RequestId,
        command: Vec<u8>,
        out: &mut Output<Self>,
    ) {
        let Some(lead) = self.lead.as_ref() else {
            out.reply(
                id,
                Err(ClientError::NotLeader {
                    leader: self.leader,
                }),
            );
            return;
        };
        if lead.in_flight.len() >= self.cfg.max_inflight_slots {
            out.reply(
                id,
                Err(ClientError::Unavailable {
                    reason: format!("{} slots proposed and not yet chosen", lead.in_flight.len()),
                }),
            );
            return;
        }
        self.leader_propose(vec![(Value::Command(command), Some(id))], out);
    }

    /// Proposes `values` in the next free slots under the leader's ballot.
    pub(crate) fn leader_propose(
        &mut self,
        values: Vec<(Value, Option<RequestId>)>,
        out: &mut Output<Self>,
    ) {
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let ballot = lead.ballot;
        let first = lead.next_slot;
        lead.next_slot += values.len() as u64;
        let mut batch = Vec::with_capacity(values.len());
        for (i, (value, reply)) in values.into_iter().enumerate() {
            let slot = first + i as u64;
            if let Some(lead) = self.lead.as_mut() {
                lead.in_flight.insert(
                    slot,
                    InFlight {
                        value: value.clone(),
                        acks: BTreeSet::new(),
                    },
                );
                if let Some(id) = reply {
                    lead.replies.insert(slot, id);
                }
            }
            self.log.accept(slot, ballot, value.clone());
            self.emit_record(
                PaxosRecord::Accepted {
                    slot,
                    ballot,
                    value: value.clone(),
                },
                true,
                out,
            );
            batch.push(value);
        }
        let commit = self.log.chosen_through();
        for (k, chunk) in batch.chunks(self.cfg.max_batch_slots).enumerate() {
            let first_slot = first + (k * self.cfg.max_batch_slots) as u64;
            for peer in self.peers() {
                out.send_eager(
                    peer,
                    PaxosMessage::Accept {
                        ballot,
                        first_slot,
                        values: chunk.to_vec(),
                        commit,
                    },
                );
            }
        }
    }

    /// Phase 2b at the acceptor: the two promises, then persist and answer.
    pub(crate) fn handle_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first_slot: u64,
        values: Vec<Value>,
        commit: u64,
        out: &mut Output<Self>,
    ) {
        if ballot.node != from
            || first_slot == 0
            || first_slot.checked_add(values.len() as u64).is_none()
        {
            return; // forged or out of range
        }
        if ballot < self.promised {
            out.send(
                from,
                PaxosMessage::Reject {
                    ballot,
                    promised: self.promised,
                },
            );
            return;
        }
        self.follow(from, ballot, out);
        self.promised = ballot;
        let count = values.len() as u64;
        for (i, value) in values.into_iter().enumerate() {
            let slot = first_slot + i as u64;
            if slot <= self.log.chosen_through() || self.log.accepted_ballot(slot) == Some(ballot) {
                continue; // chosen already, or a duplicate
            }
            self.log.accept(slot, ballot, value.clone());
            self.emit_record(
                PaxosRecord::Accepted {
                    slot,
                    ballot,
                    value,
                },
                true,
                out,
            );
        }
        out.send(
            from,
            PaxosMessage::AcceptAck {
                ballot,
                first_slot,
                count,
            },
        );
        self.learn_commit(from, ballot, commit, out);
    }

    /// A message of a leader with `ballot` (not below our promise) arrived.
    fn follow(&mut self, from: NodeId, ballot: Ballot, out: &mut Output<Self>) {
        self.observe_ballot(ballot, out);
        if self.role != Role::Follower {
            // A candidate of a lower ballot (ours never equals another's).
            self.step_down(Some(from), out);
        }
        self.leader = Some(from);
        self.election_elapsed = 0;
    }

    fn learn_commit(&mut self, from: NodeId, ballot: Ballot, commit: u64, out: &mut Output<Self>) {
        self.log.learn_commit(ballot, commit);
        if commit > self.log.chosen_through() {
            self.maybe_catch_up(from, out);
        }
    }

    /// The leader counts an acknowledgement.
    pub(crate) fn handle_accept_ack(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first_slot: u64,
        count: u64,
    ) {
        let Some(lead) = self.lead.as_mut().filter(|l| l.ballot == ballot) else {
            return;
        };
        lead.heard.insert(from);
        let end = first_slot.saturating_add(count);
        let mut touched = Vec::new();
        for (&slot, f) in lead.in_flight.range_mut(first_slot..end) {
            f.acks.insert(from);
            touched.push(slot);
        }
        self.check_chosen(touched);
    }

    /// Marks chosen the slots among `slots` that a majority accepted.
    pub(crate) fn check_chosen(&mut self, slots: Vec<u64>) {
        let quorum = self.quorum();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        for slot in slots {
            if lead
                .in_flight
                .get(&slot)
                .is_some_and(|f| f.acks.len() >= quorum)
            {
                if let Some(f) = lead.in_flight.remove(&slot) {
                    self.log.choose(slot, f.value);
                }
            }
        }
    }

    /// The leader's periodic work: heartbeats, retransmission, check-quorum.
    pub(crate) fn tick_leader(&mut self, out: &mut Output<Self>) {
        self.heartbeat_elapsed += 1;
        let quorum = self.quorum();
        let window = self.cfg.election_ticks_max;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        lead.quorum_elapsed += 1;
        if lead.quorum_elapsed >= window {
            let heard = lead.heard.len() + 1;
            lead.heard.clear();
            lead.quorum_elapsed = 0;
            if heard < quorum {
                // Cut off from a majority: stop taking writes we cannot
                // commit and let the majority side elect a leader.
                self.step_down(None, out);
                return;
            }
        }
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat(out);
            self.retransmit(out);
        }
    }

    /// Sends `Commit` to every peer.
    pub(crate) fn broadcast_heartbeat(&mut self, out: &mut Output<Self>) {
        let Some(lead) = self.lead.as_ref() else {
            return;
        };
        let msg = PaxosMessage::Commit {
            ballot: lead.ballot,
            commit: self.log.chosen_through(),
            read_seq: lead.reads.seq,
        };
        for peer in self.peers() {
            out.send_eager(peer, msg.clone());
        }
    }

    /// Sends again, per peer, the proposals it has not acknowledged.
    fn retransmit(&mut self, out: &mut Output<Self>) {
        let commit = self.log.chosen_through();
        let max = self.cfg.max_batch_slots;
        let max_bytes = self.cfg.max_batch_bytes;
        let peers = self.peers();
        let Some(lead) = self.lead.as_ref() else {
            return;
        };
        for peer in peers {
            let mut run: Vec<Value> = Vec::new();
            let mut run_start = 0;
            let mut sent = 0;
            let mut bytes = 0;
            for (&slot, f) in lead.in_flight.iter() {
                if f.acks.contains(&peer) {
                    continue;
                }
                if sent >= max || (sent > 0 && bytes + f.value.size_bytes() > max_bytes) {
                    break;
                }
                bytes += f.value.size_bytes();
                if !run.is_empty() && slot != run_start + run.len() as u64 {
                    out.send_eager(
                        peer,
                        PaxosMessage::Accept {
                            ballot: lead.ballot,
                            first_slot: run_start,
                            values: std::mem::take(&mut run),
                            commit,
                        },
                    );
                }
                if run.is_empty() {
                    run_start = slot;
                }
                run.push(f.value.clone());
                sent += 1;
            }
            if !run.is_empty() {
                out.send_eager(
                    peer,
                    PaxosMessage::Accept {
                        ballot: lead.ballot,
                        first_slot: run_start,
                        values: run,
                        commit,
                    },
                );
            }
        }
    }

    /// The heartbeat at a follower.
    pub(crate) fn handle_commit(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        commit: u64,
        read_seq: u64,
        out: &mut Output<Self>,
    ) {
        if ballot.node != from {
            return;
        }
        if ballot < self.promised {
            out.send(
                from,
                PaxosMessage::Reject {
                    ballot,
                    promised: self.promised,
                },
            );
            return;
        }
        self.follow(from, ballot, out);
        out.send(from, PaxosMessage::CommitAck { ballot, read_seq });
        self.learn_commit(from, ballot, commit, out);
    }

    /// A follower still follows us.
    pub(crate) fn handle_commit_ack(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        read_seq: u64,
        out: &mut Output<Self>,
    ) {
        let Some(lead) = self.lead.as_mut().filter(|l| l.ballot == ballot) else {
            return;
        };
        lead.heard.insert(from);
        lead.reads.record_ack(from, read_seq);
        self.confirm_reads(out);
    }
}
