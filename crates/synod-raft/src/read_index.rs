//! Linearizable reads by ReadIndex (Raft dissertation §6.4).
//!
//! ```text
//!  client ─Read{id}─▶ leader: has it committed an entry of its term? (else wait for the no-op)
//!                     read_index = commit index; read_seq += 1
//!                     heartbeat round: AppendEntries{read_seq} ──▶ followers
//!                     a quorum echoes read_seq ≥ the read's ◀── (still the leader)
//!                     once applied ≥ read_index: out.reads.push(id)
//! ```
//!
//! Every AppendEntries (and snapshot chunk) carries the leader's latest
//! `read_seq`, and every answer echoes it, so ordinary replication traffic
//! confirms reads too. A quorum echo of round `s` proves that, after every
//! read of round `s` arrived, a quorum still knew this leader in its term:
//! no other leader could have committed anything the read would miss.

use crate::node::RaftNode;
use synod_core::{Output, RequestId};

impl RaftNode {
    /// `Proposal::Read`.
    pub(crate) fn propose_read(&mut self, id: RequestId, out: &mut Output<Self>) {
        if self.refuse_unless_leader(id, out) {
            return;
        }
        if !self.committed_in_current_term() {
            if let Some(lead) = self.lead.as_mut() {
                lead.reads.wait(id);
            }
            return;
        }
        self.start_reads(vec![id], out);
    }

    /// Records `ids` at the current commit index and starts a heartbeat
    /// round for them.
    fn start_reads(&mut self, ids: Vec<RequestId>, out: &mut Output<Self>) {
        let index = self.commit;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        lead.reads.start(ids, index);
        for to in self.peers() {
            self.send_heartbeat(to, out);
        }
        // A single voter confirms at once.
        self.confirm_reads(out);
    }

    /// After the leader's first commit in its term: start the reads that
    /// were waiting for it.
    pub(crate) fn release_awaiting_reads(&mut self, out: &mut Output<Self>) {
        if !self.committed_in_current_term() {
            return;
        }
        let ids = match self.lead.as_mut() {
            Some(lead) => lead.reads.take_awaiting(),
            None => return,
        };
        if !ids.is_empty() {
            self.start_reads(ids, out);
        }
    }

    /// Moves reads whose round a quorum echoed to the ready queue, and
    /// serves those already applied.
    pub(crate) fn confirm_reads(&mut self, out: &mut Output<Self>) {
        let me = self.cfg.id;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        if !lead.reads.has_pending() {
            return;
        }
        let progress = &lead.progress;
        let confirmed = self.log.membership().quorum_value(|v| {
            if v == me {
                u64::MAX
            } else {
                progress.get(&v).map_or(0, |p| p.read_ack)
            }
        });
        lead.reads.confirm(confirmed);
        self.serve_reads(out);
    }

    /// Answers confirmed reads whose index has been applied.
    pub(crate) fn serve_reads(&mut self, out: &mut Output<Self>) {
        let applied = self.applied;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        lead.reads.serve(applied, &mut out.reads);
    }
}
