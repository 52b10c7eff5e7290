//! Linearizable reads through the leader, confirmed by a quorum round (as
//! Raft's ReadIndex).
//!
//! ```text
//!  client ─Read{id}─▶ leader: is its own no-op chosen? (else wait: until then it may
//!                     not know every slot chosen before it was elected)
//!                     read_index = commit point; read_seq += 1
//!                     Commit{b, commit, read_seq} ──▶ followers
//!                     a majority echoes read_seq in CommitAck{b} (still promised to b)
//!                     once applied ≥ read_index: out.reads.push(id)
//! ```
//!
//! Why it is safe: a write acknowledged before the read arrived was applied
//! here, so it is at or below `read_index`. A value chosen under a higher
//! ballot needs a majority of promises to that ballot; the echo majority
//! answered after the read arrived while still following `b`, and promises
//! only grow, so no higher ballot had a majority when the read arrived.

use crate::node::PaxosNode;
use synod_core::quorum::quorum_value;
use synod_core::{ClientError, Output, RequestId};

impl PaxosNode {
    /// `Proposal::Read`.
    pub(crate) fn propose_read(&mut self, id: RequestId, out: &mut Output<Self>) {
        let chosen = self.log.chosen_through();
        let Some(lead) = self.lead.as_mut() else {
            out.reply(
                id,
                Err(ClientError::NotLeader {
                    leader: self.leader,
                }),
            );
            return;
        };
        if chosen < lead.start_slot {
            lead.reads.wait(id);
            return;
        }
        self.start_reads(vec![id], out);
    }

    fn start_reads(&mut self, ids: Vec<RequestId>, out: &mut Output<Self>) {
        let index = self.log.chosen_through();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        lead.reads.start(ids, index);
        self.broadcast_heartbeat(out);
        self.confirm_reads(out);
    }

    /// Starts the reads that waited for the leader's no-op, once it is
    /// chosen, and serves confirmed reads already applied.
    pub(crate) fn release_reads(&mut self, out: &mut Output<Self>) {
        let chosen = self.log.chosen_through();
        let ids = match self.lead.as_mut() {
            Some(lead) if chosen >= lead.start_slot => lead.reads.take_awaiting(),
            _ => Vec::new(),
        };
        if !ids.is_empty() {
            self.start_reads(ids, out);
        }
        self.serve_reads(out);
    }

    /// Moves reads whose round a majority echoed to the ready queue.
    pub(crate) fn confirm_reads(&mut self, out: &mut Output<Self>) {
        let quorum = self.quorum();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        if lead.reads.has_pending() {
            // Counting ourselves as echoing every round.
            let echoes = lead
                .pipes
                .values()
                .map(|p| p.read_ack)
                .chain([u64::MAX])
                .collect();
            if let Some(round) = quorum_value(echoes, quorum) {
                lead.reads.confirm(round);
            }
        }
        self.serve_reads(out);
    }

    fn serve_reads(&mut self, out: &mut Output<Self>) {
        let applied = self.applied;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        lead.reads.serve(applied, &mut out.reads);
    }
}
