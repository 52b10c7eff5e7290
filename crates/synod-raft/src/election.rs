//! Leader election (Raft §5.2, §5.4.1) with pre-vote (dissertation §9.6).
//!
//! ```text
//!  Follower ──timeout──▶ PreCandidate ──quorum of pre-votes──▶ Candidate ──quorum of votes──▶ Leader
//!     ▲                      │   (term unchanged)           (term+1, votes self)    (appends no-op)
//!     └──── higher term, a leader's AppendEntries, or a quorum of rejections ◀─────────┘
//! ```
//!
//! - One vote per term, first come first served, persisted (in the same
//!   output's `hard_state`) before the response leaves.
//! - A vote only for a candidate whose log is at least as up to date.
//! - A pre-vote changes nobody's term or vote, so a node that cannot win
//!   (partitioned, stale log) never disrupts the cluster when it comes back.
//! - With check-quorum, a replica that heard from a live leader within
//!   `election_ticks_min` ticks ignores (pre-)votes of higher terms (the
//!   lease, checked in `step`), unless the election follows a TimeoutNow.

use crate::message::{Entry, EntryPayload, RaftMessage};
use crate::node::{LeaderState, RaftNode, Role};
use crate::progress::Progress;
use synod_core::{NodeId, Output};

/// Where a vote count stands.
enum Tally {
    Won,
    Lost,
    Pending,
}

impl RaftNode {
    /// Starts a pre-vote round (`pre_vote`) or a real election, as if the
    /// election timeout elapsed. `transfer` marks an election that follows a
    /// TimeoutNow.
    pub(crate) fn campaign(&mut self, pre_vote: bool, transfer: bool, out: &mut Output<Self>) {
        debug_assert!(self.role != Role::Leader, "a leader does not campaign");
        if self.term == u64::MAX || self.log.is_full() {
            // A peer's message raised our term to the last one, or gave us a
            // log that ends at the last index (Raft never gets there by
            // itself): no later term to campaign in, or no room for the
            // term's no-op.
            return;
        }
        self.election_elapsed = 0;
        self.reset_election_timeout();
        self.votes.clear();
        self.leader_id = None;
        if pre_vote {
            self.role = Role::PreCandidate;
        } else {
            self.term += 1;
            self.voted_for = Some(self.cfg.id);
            self.role = Role::Candidate;
        }
        self.votes.insert(self.cfg.id, true);
        if let Tally::Won = self.tally() {
            // A single voter wins at once.
            if pre_vote {
                self.campaign(false, transfer, out);
            } else {
                self.become_leader(out);
            }
            return;
        }
        let term = if pre_vote { self.term + 1 } else { self.term };
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        let voters: Vec<NodeId> = self.log.membership().voters.iter().copied().collect();
        for v in voters.into_iter().filter(|v| *v != self.cfg.id) {
            out.send(
                v,
                RaftMessage::RequestVote {
                    term,
                    last_log_index,
                    last_log_term,
                    pre_vote,
                    leadership_transfer: transfer,
                },
            );
        }
    }

    /// A (pre-)vote request whose term is not below ours (lower terms and
    /// the lease are handled in `step`).
    pub(crate) fn handle_request_vote(
        &mut self,
        from: NodeId,
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
        pre_vote: bool,
        out: &mut Output<Self>,
    ) {
        // First come first served: a vote already cast in this term only
        // repeats for the same candidate; a replica that knows this term's
        // leader does not vote; a pre-vote for a later term binds nothing.
        let can_vote = self.voted_for == Some(from)
            || (self.voted_for.is_none() && self.leader_id.is_none())
            || (pre_vote && term > self.term);
        let granted = can_vote && self.log.is_up_to_date(last_log_index, last_log_term);
        if granted && !pre_vote {
            self.voted_for = Some(from);
            self.election_elapsed = 0;
        }
        out.send(
            from,
            RaftMessage::RequestVoteResponse {
                term: if pre_vote && granted { term } else { self.term },
                granted,
                pre_vote,
            },
        );
    }

    /// A (pre-)vote response whose term is not below ours.
    pub(crate) fn handle_vote_response(
        &mut self,
        from: NodeId,
        term: u64,
        granted: bool,
        pre_vote: bool,
        out: &mut Output<Self>,
    ) {
        let current = match (self.role, pre_vote) {
            (Role::PreCandidate, true) => !granted || Some(term) == self.term.checked_add(1),
            (Role::Candidate, false) => term == self.term,
            _ => false,
        };
        // Only voters of our configuration count: a learner's answer is noise.
        if !current || !self.log.membership().is_voter(from) {
            return;
        }
        self.votes.entry(from).or_insert(granted);
        match self.tally() {
            Tally::Won if pre_vote => self.campaign(false, false, out),
            Tally::Won => self.become_leader(out),
            Tally::Lost => {
                let term = self.term;
                self.become_follower(term, None, out);
            }
            Tally::Pending => {}
        }
    }

    fn tally(&self) -> Tally {
        let membership = self.log.membership();
        let counted = self
            .votes
            .iter()
            .filter(|(id, _)| membership.is_voter(**id));
        let (mut yes, mut no) = (0, 0);
        for (_, granted) in counted {
            if *granted {
                yes += 1;
            } else {
                no += 1;
            }
        }
        let quorum = membership.quorum();
        if yes >= quorum {
            Tally::Won
        } else if no > membership.voters.len().saturating_sub(quorum) {
            Tally::Lost
        } else {
            Tally::Pending
        }
    }

    /// Won the election: appends the term's no-op (Figure 8: a leader only
    /// commits by counting entries of its own term) and probes every member.
    pub(crate) fn become_leader(&mut self, out: &mut Output<Self>) {
        self.role = Role::Leader;
        self.leader_id = Some(self.cfg.id);
        self.votes.clear();
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.incoming = None;
        let next = self.log.last_index() + 1;
        let mut lead = LeaderState::default();
        for m in self.log.membership().members() {
            if m != self.cfg.id {
                lead.progress.insert(m, Progress::new(next));
            }
        }
        lead.term_start = next;
        self.lead = Some(lead);
        self.append_own_entry(
            Entry {
                index: next,
                term: self.term,
                payload: EntryPayload::Noop,
            },
            out,
        );
        let peers: Vec<NodeId> = self.peers();
        for p in peers {
            self.send_append(p, true, out);
        }
    }
}
