//! The [`Protocol`] entry points of [`PaxosNode`]: every one dispatches to
//! the handler of what arrived, then runs `finish` (apply what became
//! chosen, answer reads, hand over the hard state) so that whatever a reply
//! relies on lands in the same output.

use crate::message::{PaxosHardState, PaxosMessage, PaxosRecord};
use crate::node::{PaxosNode, Role};
use synod_core::{ClientError, NodeId, Output, Proposal, Protocol, ProtocolStatus};

impl PaxosNode {
    fn tick_inner(&mut self, out: &mut Output<Self>) {
        self.catchup_idle = self.catchup_idle.saturating_add(1);
        if self.role == Role::Leader {
            self.tick_leader(out);
            return;
        }
        self.election_elapsed += 1;
        if self.election_elapsed >= self.election_timeout {
            self.start_phase1(out);
        }
    }

    fn step_inner(&mut self, from: NodeId, msg: PaxosMessage, out: &mut Output<Self>) {
        match msg {
            PaxosMessage::Prepare { ballot, first_slot } => {
                self.handle_prepare(from, ballot, first_slot, out)
            }
            PaxosMessage::Promise {
                ballot,
                compacted_through,
                reports,
                ..
            } => self.handle_promise(from, ballot, compacted_through, reports, out),
            PaxosMessage::Reject { ballot, promised } => self.handle_reject(ballot, promised, out),
            PaxosMessage::Accept {
                ballot,
                first_slot,
                values,
                commit,
            } => self.handle_accept(from, ballot, first_slot, values, commit, out),
            PaxosMessage::AcceptAck {
                ballot,
                first_slot,
                count,
            } => self.handle_accept_ack(from, ballot, first_slot, count, out),
            PaxosMessage::Commit {
                ballot,
                commit,
                read_seq,
            } => self.handle_commit(from, ballot, commit, read_seq, out),
            PaxosMessage::CommitAck { ballot, read_seq } => {
                self.handle_commit_ack(from, ballot, read_seq, out)
            }
            PaxosMessage::CatchUp {
                from_slot,
                snapshot_offset,
            } => self.handle_catch_up(from, from_slot, snapshot_offset, out),
            PaxosMessage::Decisions {
                first_slot,
                values,
                chosen_through,
            } => self.handle_decisions(from, first_slot, values, chosen_through, out),
            PaxosMessage::SnapshotChunk {
                position,
                offset,
                data,
                done,
            } => self.handle_snapshot_chunk(from, position, offset, data, done, out),
        }
    }
}

impl Protocol for PaxosNode {
    type Message = PaxosMessage;
    type Record = PaxosRecord;
    type HardState = PaxosHardState;

    fn id(&self) -> NodeId {
        self.cfg.id
    }

    fn tick(&mut self, out: &mut Output<Self>) {
        self.tick_inner(out);
        self.finish(out);
    }

    fn step(&mut self, from: NodeId, msg: PaxosMessage, out: &mut Output<Self>) {
        // Only members speak; a message "from ourselves" is forged or looped.
        if from != self.cfg.id && self.cfg.voters.contains(&from) {
            self.step_inner(from, msg, out);
        }
        self.finish(out);
    }

    fn propose(&mut self, proposal: Proposal, out: &mut Output<Self>) {
        match proposal {
            Proposal::Write { id, command } => self.propose_write(id, command, out),
            Proposal::Read { id } => self.propose_read(id, out),
            Proposal::Admin { id, .. } => out.reply(
                id,
                Err(ClientError::Unavailable {
                    reason: "synod-paxos has a fixed membership".into(),
                }),
            ),
        }
        self.finish(out);
    }

    fn on_persisted(&mut self, count: u64, out: &mut Output<Self>) {
        let me = self.cfg.id;
        let mut touched = Vec::new();
        while let Some(&(c, slot, ballot)) = self.unpersisted.front() {
            if c > count {
                break;
            }
            self.unpersisted.pop_front();
            if let Some(lead) = self.lead.as_mut().filter(|l| l.ballot == ballot) {
                if let Some(f) = lead.in_flight.get_mut(&slot) {
                    f.acks.insert(me);
                    touched.push(slot);
                }
            }
        }
        self.check_chosen(touched);
        self.flush_accepts(out);
        self.finish(out);
    }

    fn on_snapshot(&mut self, index: u64, data: Vec<u8>, out: &mut Output<Self>) {
        self.take_snapshot(index, data, out);
        self.finish(out);
    }

    fn status(&self) -> ProtocolStatus {
        ProtocolStatus {
            id: self.cfg.id,
            protocol: "paxos".into(),
            role: match self.role {
                Role::Follower => "follower",
                Role::Candidate => "candidate",
                Role::Leader => "leader",
            }
            .into(),
            term: self.promised.round,
            leader: self.leader,
            commit_index: self.log.chosen_through(),
            voters: self.cfg.voters.clone(),
            learners: Vec::new(),
        }
    }
}
