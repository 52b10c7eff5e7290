//! Leadership transfer (Raft dissertation §3.10).
//!
//! ```text
//!  admin ─TransferLeader{to}─▶ leader: stop accepting writes, bring `to` up to date
//!                              match(to) == last index ──TimeoutNow──▶ to: campaign now
//!                              (reply Ok)                              (RequestVote with
//!                                                                       leadership_transfer:
//!                                                                       no pre-vote, no lease)
//! ```
//!
//! If `to` is not caught up within `election_ticks_min` ticks, the transfer
//! is abandoned (definite `Unavailable`) and the leader accepts writes again;
//! after TimeoutNow is sent the leader also waits at most that long.

use crate::message::RaftMessage;
use crate::node::{unavailable, RaftNode, Role};
use synod_core::{ClientError, NodeId, Output, RequestId};

/// A transfer in progress.
#[derive(Debug)]
pub(crate) struct Transfer {
    /// The voter that should lead.
    to: NodeId,
    /// Ticks since the transfer started.
    elapsed: u64,
    /// The admin request, until answered.
    pub(crate) reply: Option<RequestId>,
    /// TimeoutNow was sent.
    timeout_sent: bool,
}

impl RaftNode {
    /// Whether a transfer is under way (writes and changes are refused).
    pub(crate) fn transfer_in_progress(&self) -> bool {
        self.lead.as_ref().is_some_and(|l| l.transfer.is_some())
    }

    /// `AdminRequest::TransferLeader` on the leader.
    pub(crate) fn propose_transfer(&mut self, id: RequestId, to: NodeId, out: &mut Output<Self>) {
        if to == self.cfg.id {
            out.reply(id, Ok(Vec::new()));
            return;
        }
        if !self.log.membership().is_voter(to) {
            out.reply(
                id,
                Err(ClientError::Malformed {
                    reason: format!("node {to} is not a voter"),
                }),
            );
            return;
        }
        if self.transfer_in_progress() {
            out.reply(id, unavailable("leadership transfer in progress"));
            return;
        }
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        lead.transfer = Some(Transfer {
            to,
            elapsed: 0,
            reply: Some(id),
            timeout_sent: false,
        });
        self.maybe_send_timeout_now(to, out);
        if self.transfer_in_progress() {
            // Catch the target up now rather than at the next heartbeat.
            self.heartbeat_peer(to, out);
        }
    }

    /// Sends TimeoutNow once the transfer target holds the whole log.
    pub(crate) fn maybe_send_timeout_now(&mut self, peer: NodeId, out: &mut Output<Self>) {
        let (last, term) = (self.log.last_index(), self.term);
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let caught_up = lead
            .progress
            .get(&peer)
            .is_some_and(|p| p.match_index == last);
        let Some(t) = lead.transfer.as_mut() else {
            return;
        };
        if t.to != peer || t.timeout_sent || !caught_up {
            return;
        }
        t.timeout_sent = true;
        out.send(peer, RaftMessage::TimeoutNow { term });
        if let Some(id) = t.reply.take() {
            out.reply(id, Ok(Vec::new()));
        }
    }

    /// Gives up a transfer that took longer than `election_ticks_min`.
    pub(crate) fn tick_transfer(&mut self, out: &mut Output<Self>) {
        let limit = self.cfg.election_ticks_min;
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let Some(t) = lead.transfer.as_mut() else {
            return;
        };
        t.elapsed += 1;
        if t.elapsed < limit {
            return;
        }
        if let Some(id) = lead.transfer.take().and_then(|t| t.reply) {
            out.reply(id, unavailable("leadership transfer timed out"));
        }
    }

    /// TimeoutNow from the leader: campaign at once, skipping pre-vote.
    pub(crate) fn handle_timeout_now(&mut self, from: NodeId, out: &mut Output<Self>) {
        if self.role == Role::Leader || !self.promotable() || self.leader_id != Some(from) {
            return;
        }
        self.campaign(false, true, out);
    }
}
