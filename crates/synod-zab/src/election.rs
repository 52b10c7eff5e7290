//! Fast Leader Election (ZooKeeper's `FastLeaderElection`), in ticks.
//!
//! A LOOKING server raises its logical clock (the *election epoch*), votes
//! for itself — its `currentEpoch` and last zxid — and sends a
//! notification to every voter. On each notification from a voter:
//!
//! - from a LOOKING server with a **higher election epoch**: adopt that
//!   epoch, forget the votes received so far (`recvset`), and vote for the
//!   better of the sender's vote and our own initial vote;
//! - with a **lower election epoch**: answer with our vote, so the sender
//!   catches up;
//! - with the **same election epoch**: switch to the sender's vote if it
//!   beats ours ([`Vote::beats`]: peer epoch, then zxid, then server id) and
//!   tell everyone;
//! - in every case record it in `recvset`. Once a quorum of `recvset`
//!   agrees with our vote, wait `finalize_ticks` more for a better vote, then
//!   decide: LEADING if the vote is ours, FOLLOWING (OBSERVING) otherwise.
//!
//! A notification from a FOLLOWING or LEADING server goes to `outofelection`:
//! when a quorum of voters there names the same leader, and that leader
//! itself says LEADING, the server joins the established leader without an
//! election (a restarted server, a deposed leader coming back). Servers that
//! are not LOOKING answer every LOOKING server with their current vote.
//! Observers take part only through `outofelection`: their votes never
//! count.

use crate::message::{PeerState, Vote, ZabMessage};
use crate::node::ZabNode;
use std::collections::BTreeMap;
use synod_core::{NodeId, Output};

/// A server's election state (kept while following or leading too: the
/// decided vote is what it tells LOOKING servers).
#[derive(Clone, Debug, Default)]
pub(crate) struct Election {
    /// The logical clock.
    pub(crate) logical_clock: u64,
    /// The current vote (the decided one once not LOOKING).
    pub(crate) vote: Option<Vote>,
    /// Votes of LOOKING voters in our election epoch, ours included.
    pub(crate) recvset: BTreeMap<NodeId, Vote>,
    /// Leaders named by FOLLOWING / LEADING voters, with their state.
    pub(crate) outofelection: BTreeMap<NodeId, (NodeId, PeerState)>,
    /// Ticks left of the finalize wait, once a quorum agrees.
    pub(crate) finalize_left: Option<u64>,
    /// Our vote has not been announced in this election epoch yet.
    pub(crate) announce: bool,
}

impl Election {
    /// The state of a server that just started: LOOKING in election epoch 1.
    pub(crate) fn starting(vote: Vote) -> Election {
        Election {
            logical_clock: 1,
            vote: Some(vote),
            announce: true,
            ..Election::default()
        }
    }
}

impl ZabNode {
    /// The vote for ourselves: our current epoch and last zxid.
    pub(crate) fn self_vote(&self) -> Vote {
        Vote {
            leader: self.cfg.id,
            zxid: self.history.last(),
            peer_epoch: self.current_epoch,
        }
    }

    fn notification(&self) -> ZabMessage {
        ZabMessage::Notification {
            vote: self.election.vote.unwrap_or_else(|| self.self_vote()),
            election_epoch: self.election.logical_clock,
            state: self.state,
        }
    }

    fn broadcast_vote(&mut self, out: &mut Output<Self>) {
        self.election.announce = false;
        let msg = self.notification();
        for &v in &self.cfg.voters {
            if v != self.cfg.id {
                out.send_eager(v, msg.clone());
            }
        }
    }

    /// Goes (back) to LOOKING: gives up any leadership or following, starts
    /// a new election epoch and announces a vote for itself.
    pub(crate) fn start_looking(&mut self, out: &mut Output<Self>) {
        if let Some(lead) = self.lead.take() {
            lead.abandon(out);
        }
        self.abandon_forwarded(out);
        self.follower = None;
        self.state = PeerState::Looking;
        self.election.logical_clock = self.election.logical_clock.saturating_add(1);
        self.election.recvset.clear();
        self.election.outofelection.clear();
        self.election.finalize_left = None;
        let vote = self.self_vote();
        self.election.vote = Some(vote);
        if self.is_voter(self.cfg.id) {
            self.election.recvset.insert(self.cfg.id, vote);
        }
        self.reset_timeout();
        self.broadcast_vote(out);
    }

    pub(crate) fn tick_looking(&mut self, out: &mut Output<Self>) {
        if self.election.announce {
            let vote = self.self_vote();
            self.election.vote = Some(vote);
            if self.is_voter(self.cfg.id) {
                self.election.recvset.insert(self.cfg.id, vote);
            }
            self.broadcast_vote(out);
        }
        if let Some(left) = self.election.finalize_left {
            if left <= 1 {
                self.election.finalize_left = None;
                if let Some(leader) = self.agreed_leader() {
                    self.decide(leader, out);
                    return;
                }
            } else {
                self.election.finalize_left = Some(left - 1);
            }
        }
        if self.elapsed >= self.timeout {
            // No decision within a timeout: announce the vote again (lost
            // notifications, servers that were down).
            self.reset_timeout();
            self.broadcast_vote(out);
        }
    }

    /// The leader of our vote, if a quorum of `recvset` agrees with it.
    fn agreed_leader(&self) -> Option<NodeId> {
        let vote = self.election.vote?;
        let agree = self
            .election
            .recvset
            .values()
            .filter(|v| **v == vote)
            .count();
        (agree >= self.quorum()).then_some(vote.leader)
    }

    pub(crate) fn handle_notification(
        &mut self,
        from: NodeId,
        vote: Vote,
        election_epoch: u64,
        state: PeerState,
        out: &mut Output<Self>,
    ) {
        if self.state != PeerState::Looking {
            // Tell a LOOKING server whom we follow (observers stay silent).
            if state == PeerState::Looking && self.state != PeerState::Observing {
                out.send_eager(from, self.notification());
            }
            return;
        }
        if !self.is_voter(from) {
            // A LOOKING observer: tell it our vote; its own never counts.
            if state == PeerState::Looking && self.is_voter(self.cfg.id) {
                out.send_eager(from, self.notification());
            }
            return;
        }
        match state {
            PeerState::Looking => self.looking_notification(from, vote, election_epoch, out),
            PeerState::Following | PeerState::Leading => {
                self.election
                    .outofelection
                    .insert(from, (vote.leader, state));
                self.join_established(vote.leader, election_epoch, out);
            }
            PeerState::Observing => {}
        }
    }

    fn looking_notification(
        &mut self,
        from: NodeId,
        vote: Vote,
        election_epoch: u64,
        out: &mut Output<Self>,
    ) {
        if self.cfg.is_observer() {
            return;
        }
        let valid = self.is_voter(vote.leader);
        let clock = self.election.logical_clock;
        if election_epoch > clock {
            self.election.logical_clock = election_epoch;
            self.election.recvset.clear();
            self.election.finalize_left = None;
            let own = self.self_vote();
            let best = if valid && vote.beats(&own) { vote } else { own };
            self.election.vote = Some(best);
            self.broadcast_vote(out);
        } else if election_epoch < clock {
            out.send_eager(from, self.notification());
            return;
        } else if let Some(current) = self.election.vote {
            if valid && vote.beats(&current) {
                self.election.vote = Some(vote);
                self.election.finalize_left = None;
                self.broadcast_vote(out);
            }
        }
        self.election.recvset.insert(from, vote);
        if let Some(own) = self.election.vote {
            self.election.recvset.insert(self.cfg.id, own);
        }
        if self.agreed_leader().is_some() {
            if self.election.recvset.len() == self.cfg.voters.len() {
                // Every voter agrees: nothing better can arrive.
                if let Some(leader) = self.agreed_leader() {
                    self.decide(leader, out);
                }
            } else if self.election.finalize_left.is_none() {
                self.election.finalize_left = Some(self.cfg.finalize_ticks.max(1));
            }
        } else {
            self.election.finalize_left = None;
        }
    }

    /// Joins `leader` if a quorum of voters outside the election follows it
    /// and it says itself that it leads (ZooKeeper's `checkLeader`).
    fn join_established(&mut self, leader: NodeId, election_epoch: u64, out: &mut Output<Self>) {
        if leader == self.cfg.id {
            return;
        }
        let backing = self
            .election
            .outofelection
            .values()
            .filter(|(l, _)| *l == leader)
            .count();
        let leader_says_so =
            self.election.outofelection.get(&leader) == Some(&(leader, PeerState::Leading));
        if backing >= self.quorum() && leader_says_so {
            self.election.logical_clock = self.election.logical_clock.max(election_epoch);
            self.decide(leader, out);
        }
    }

    /// The election is over: lead, follow or observe `leader`.
    fn decide(&mut self, leader: NodeId, out: &mut Output<Self>) {
        self.election.finalize_left = None;
        self.election.recvset.clear();
        self.election.outofelection.clear();
        if leader == self.cfg.id && self.is_voter(leader) {
            self.election.vote = Some(self.self_vote());
            self.become_leader(out);
        } else {
            self.election.vote = Some(Vote {
                leader,
                zxid: self.history.last(),
                peer_epoch: self.current_epoch,
            });
            self.become_follower(leader, out);
        }
    }
}
