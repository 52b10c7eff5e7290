//! Phase 2, once per command, and the commit point.
//!
//! ```text
//!  client ─Write─▶ leader: slot := next_slot; accept (b, slot, v) itself (record, synced)
//!                  Accept{b, slot.., values, commit} ──▶ acceptors (eager: relies on nothing new)
//!                  ◀── AcceptAck{b, slots}  (each acceptor persisted first)
//!                  a majority (itself counted after on_persisted): slot chosen;
//!                  chosen slots apply in slot order; the proposer's reply rides Committed
//!  every heartbeat: Commit{b, commit, read_seq} ──▶ followers; ◀── CommitAck{b, read_seq}
//!                   unacknowledged Accepts are sent again, waiting slots sent
//! ```
//!
//! **Batching.** A new slot is accepted by the leader and persisted at once,
//! and its `Accept` goes at once to every follower that is idle (no `Accept`
//! with new slots unacknowledged). A busy follower's slots wait and travel
//! together, in `Accept`s of at most `max_batch_slots` slots and about
//! `max_batch_bytes` bytes, when that follower acknowledges, when the leader's
//! own records are persisted (`on_persisted`) or at the next heartbeat. Their
//! values come from the leader's log, so a slot chosen meanwhile still
//! reaches a slow follower. Batching changes only when an `Accept` leaves,
//! never what it says.
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

/// Slots gathered into `Accept` messages, one per run of consecutive slots.
struct AcceptRuns {
    ballot: Ballot,
    commit: u64,
    first_slot: u64,
    values: Vec<Value>,
    bytes: usize,
    messages: Vec<PaxosMessage>,
}

impl AcceptRuns {
    fn new(ballot: Ballot, commit: u64) -> Self {
        Self {
            ballot,
            commit,
            first_slot: 0,
            values: Vec::new(),
            bytes: 0,
            messages: Vec::new(),
        }
    }

    /// Values in the current run.
    fn len(&self) -> usize {
        self.values.len()
    }

    /// Value bytes in the current run.
    fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds `value` at `slot`; a slot that does not follow the run ends it.
    fn push(&mut self, slot: u64, value: Value) {
        if !self.values.is_empty() && slot != self.first_slot + self.values.len() as u64 {
            self.cut();
        }
        if self.values.is_empty() {
            self.first_slot = slot;
        }
        self.bytes += value.size_bytes();
        self.values.push(value);
    }

    /// Ends the current run as one `Accept` (nothing if it is empty).
    fn cut(&mut self) {
        if self.values.is_empty() {
            return;
        }
        self.bytes = 0;
        self.messages.push(PaxosMessage::Accept {
            ballot: self.ballot,
            first_slot: self.first_slot,
            values: std::mem::take(&mut self.values),
            commit: self.commit,
        });
    }

    /// Every `Accept`, in slot order.
    fn finish(mut self) -> Vec<PaxosMessage> {
        self.cut();
        self.messages
    }
}

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
        }
        self.send_to_idle_peers(out);
    }

    /// Sends their waiting slots to the followers with no `Accept` in flight.
    fn send_to_idle_peers(&mut self, out: &mut Output<Self>) {
        for peer in self.peers() {
            let idle = self
                .lead
                .as_ref()
                .and_then(|l| l.pipes.get(&peer))
                .is_some_and(|p| !p.busy);
            if idle {
                self.send_waiting(peer, out);
            }
        }
    }

    /// Sends every follower its waiting slots (after `on_persisted`, at a
    /// heartbeat).
    pub(crate) fn flush_accepts(&mut self, out: &mut Output<Self>) {
        for peer in self.peers() {
            self.send_waiting(peer, out);
        }
    }

    /// Sends `peer` the slots proposed since its last `Accept`, in runs of
    /// consecutive slots bounded by `max_batch_slots` and `max_batch_bytes`
    /// (one value always fits). Eager: the follower's acceptance relies on
    /// nothing the leader persists; the leader counts its own copy only
    /// after `on_persisted`.
    fn send_waiting(&mut self, peer: NodeId, out: &mut Output<Self>) {
        let commit = self.log.chosen_through();
        let (max, max_bytes) = (self.cfg.max_batch_slots, self.cfg.max_batch_bytes);
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let ballot = lead.ballot;
        let Some(pipe) = lead.pipes.get_mut(&peer) else {
            return;
        };
        let from = pipe.next.max(self.log.compacted_through() + 1);
        pipe.next = pipe.next.max(lead.next_slot);
        let mut runs = AcceptRuns::new(ballot, commit);
        for slot in from..lead.next_slot {
            // Every slot this leader proposed holds its value under its
            // ballot unless compacted (then chosen, and learned by catch-up).
            let value = self
                .log
                .get(slot)
                .and_then(|i| i.accepted.as_ref())
                .filter(|(b, _)| *b == ballot)
                .map(|(_, v)| v);
            let size = value.map_or(0, Value::size_bytes);
            if runs.len() >= max || runs.bytes() + size > max_bytes {
                runs.cut();
            }
            if let Some(v) = value {
                runs.push(slot, v.clone());
            }
        }
        let messages = runs.finish();
        pipe.busy |= !messages.is_empty();
        for msg in messages {
            out.send_eager(peer, msg);
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
        if self.reject_below_promise(from, ballot, out) {
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
        out: &mut Output<Self>,
    ) {
        let Some(lead) = self.lead.as_mut().filter(|l| l.ballot == ballot) else {
            return;
        };
        lead.heard.insert(from);
        if let Some(pipe) = lead.pipes.get_mut(&from) {
            pipe.busy = false;
        }
        let end = first_slot.saturating_add(count);
        let mut touched = Vec::new();
        for (&slot, f) in lead.in_flight.range_mut(first_slot..end) {
            f.acks.insert(from);
            touched.push(slot);
        }
        self.check_chosen(touched);
        self.send_waiting(from, out);
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
            self.flush_accepts(out);
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
            read_seq: lead.reads.round(),
        };
        for peer in self.peers() {
            out.send_eager(peer, msg.clone());
        }
    }

    /// Sends again, per peer, the proposals sent to it that it has not
    /// acknowledged (waiting ones go with `flush_accepts`).
    fn retransmit(&mut self, out: &mut Output<Self>) {
        let commit = self.log.chosen_through();
        let max = self.cfg.max_batch_slots;
        let max_bytes = self.cfg.max_batch_bytes;
        let peers = self.peers();
        let Some(lead) = self.lead.as_ref() else {
            return;
        };
        for peer in peers {
            let sent_before = lead.pipes.get(&peer).map_or(0, |p| p.next);
            let mut runs = AcceptRuns::new(lead.ballot, commit);
            let (mut sent, mut bytes) = (0, 0);
            for (&slot, f) in lead.in_flight.range(..sent_before) {
                if f.acks.contains(&peer) {
                    continue;
                }
                if sent >= max || (sent > 0 && bytes + f.value.size_bytes() > max_bytes) {
                    break;
                }
                bytes += f.value.size_bytes();
                runs.push(slot, f.value.clone());
                sent += 1;
            }
            for msg in runs.finish() {
                out.send_eager(peer, msg);
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
        if self.reject_below_promise(from, ballot, out) {
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
        if let Some(pipe) = lead.pipes.get_mut(&from) {
            pipe.read_ack = pipe.read_ack.max(read_seq);
        }
        self.confirm_reads(out);
    }
}
