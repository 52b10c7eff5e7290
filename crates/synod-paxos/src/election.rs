//! Phase 1, once per leader: a follower that stops hearing the leader
//! prepares a higher ballot for every slot from its first unchosen one; a
//! majority of promises makes it leader.
//!
//! ```text
//!  candidate                                   acceptors
//!     │ promised := b (hard state)                 │
//!     │ Prepare{b, first_slot} ──────────────────▶ │ b ≥ promised? promised := b (hard state)
//!     │ ◀──── Promise{b, reports ≥ first_slot} ─── │   else Reject{b, promised}
//!     │ majority: for each slot ≥ first_slot the value of the highest-ballot
//!     │ report (a chosen report wins), a no-op in gaps, then its own no-op;
//!     │ proposes them all with phase 2 (replication.rs)
//! ```
//!
//! The acceptor's two promises: after promising `b` it answers no prepare
//! below `b` and accepts no proposal below `b`. Its promise carries what it
//! accepted, which is why the candidate must adopt those values. An acceptor
//! that compacted slots the candidate does not know cannot report them; the
//! candidate does not count its promise and catches up from it instead.

use crate::ballot::Ballot;
use crate::message::{PaxosMessage, SlotReport, Value};
use crate::node::{Candidacy, LeaderState, PaxosNode, Pipe, Role};
use std::collections::{BTreeMap, BTreeSet};
use synod_core::{NodeId, Output, ReadQueue};

/// A candidate does not lead from a promise reporting slots this far above
/// what it knows chosen (it catches up first): the bound on the no-op gap a
/// new leader fills, whatever a peer's message claims.
const MAX_PROMISE_SPAN_SLOTS: u64 = 1_000_000;

impl PaxosNode {
    /// Whether `reports` speak of a slot so far above what this node knows
    /// chosen that filling the gap with no-ops would be absurd.
    fn beyond_promise_span(&self, reports: &[SlotReport]) -> bool {
        let known = self.log.chosen_through();
        reports
            .iter()
            .any(|r| r.slot > known.saturating_add(MAX_PROMISE_SPAN_SLOTS))
    }

    /// Starts phase 1 with a ballot above every one seen.
    pub(crate) fn start_phase1(&mut self, out: &mut Output<Self>) {
        self.step_down(None, out);
        let Some(round) = self.max_round_seen.max(self.promised.round).checked_add(1) else {
            // A peer sent round u64::MAX: no ballot of ours can go above it.
            // Stay a follower (and keep our promise) rather than wrap.
            return;
        };
        let known = self.log.chosen_through();
        let first_slot = known + 1;
        let own = self.log.reports_from(first_slot);
        if self.beyond_promise_span(&own) {
            // Our own promise is held to the rule of a peer's: we accepted
            // slots so far above what we know chosen that leading would fill
            // an absurd gap. Catch up first.
            let peers = self.peers();
            if !peers.is_empty() {
                let peer = peers[self.rng.index(peers.len())];
                self.request_catch_up(peer, out);
            }
            return;
        }
        let ballot = Ballot::new(round, self.cfg.id);
        self.max_round_seen = round;
        self.promised = ballot;
        self.role = Role::Candidate;
        let mut promises = BTreeMap::new();
        promises.insert(self.cfg.id, own);
        self.candidacy = Some(Candidacy {
            ballot,
            first_slot,
            promises,
        });
        for peer in self.peers() {
            out.send(peer, PaxosMessage::Prepare { ballot, first_slot });
        }
        self.maybe_win(out);
    }

    /// The acceptor's promise: a ballot below it is refused with `Reject`,
    /// which tells the sender the ballot to beat. Returns whether it was.
    pub(crate) fn reject_below_promise(
        &self,
        from: NodeId,
        ballot: Ballot,
        out: &mut Output<Self>,
    ) -> bool {
        if ballot >= self.promised {
            return false;
        }
        let promised = self.promised;
        out.send(from, PaxosMessage::Reject { ballot, promised });
        true
    }

    /// Phase 1b at the acceptor.
    pub(crate) fn handle_prepare(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first_slot: u64,
        out: &mut Output<Self>,
    ) {
        if ballot.node != from {
            return;
        }
        if self.reject_below_promise(from, ballot, out) {
            return;
        }
        self.observe_ballot(ballot, out);
        if ballot > self.promised {
            self.promised = ballot;
            self.leader = None;
        }
        // Give the candidate time to finish before running ourselves.
        self.election_elapsed = 0;
        out.send(
            from,
            PaxosMessage::Promise {
                ballot,
                chosen_through: self.log.chosen_through(),
                compacted_through: self.log.compacted_through(),
                reports: self.log.reports_from(first_slot),
            },
        );
    }

    /// A promise arrives at the candidate.
    pub(crate) fn handle_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        compacted_through: u64,
        reports: Vec<SlotReport>,
        out: &mut Output<Self>,
    ) {
        let Some(cand) = self.candidacy.as_ref() else {
            return;
        };
        if cand.ballot != ballot {
            return;
        }
        let known = self.log.chosen_through();
        let too_far = self.beyond_promise_span(&reports);
        if (compacted_through >= cand.first_slot && compacted_through > known) || too_far {
            // It forgot slots we do not know, or we are so far behind that
            // filling the gap would be absurd: learn them before leading.
            self.request_catch_up(from, out);
            return;
        }
        if let Some(cand) = self.candidacy.as_mut() {
            cand.promises.insert(from, reports);
        }
        self.maybe_win(out);
    }

    /// A refusal: someone promised a higher ballot.
    pub(crate) fn handle_reject(
        &mut self,
        ballot: Ballot,
        promised: Ballot,
        out: &mut Output<Self>,
    ) {
        let mine = match (&self.lead, &self.candidacy) {
            (Some(l), _) => Some(l.ballot),
            (None, Some(c)) => Some(c.ballot),
            _ => None,
        };
        self.max_round_seen = self.max_round_seen.max(promised.round);
        if mine == Some(ballot) && promised > ballot {
            self.step_down(None, out);
        }
    }

    fn maybe_win(&mut self, out: &mut Output<Self>) {
        let won = self
            .candidacy
            .as_ref()
            .is_some_and(|c| c.promises.len() >= self.quorum());
        if won {
            self.become_leader(out);
        }
    }

    /// Phase 1 succeeded: adopt the values found, fill gaps with no-ops,
    /// append our own no-op and propose them all with phase 2.
    fn become_leader(&mut self, out: &mut Output<Self>) {
        let Some(cand) = self.candidacy.take() else {
            return;
        };
        let start = cand.first_slot.max(self.log.chosen_through() + 1);
        // slot -> (chosen, ballot, value): a chosen report wins, then the
        // highest ballot.
        let mut found: BTreeMap<u64, (bool, Ballot, Value)> = BTreeMap::new();
        for r in cand.promises.into_values().flatten() {
            if r.slot < start {
                continue;
            }
            let better = match found.get(&r.slot) {
                None => true,
                Some((chosen, b, _)) => !*chosen && (r.chosen || r.ballot > *b),
            };
            if better {
                found.insert(r.slot, (r.chosen, r.ballot, r.value));
            }
        }
        let last = found
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(start - 1);
        let mut values = Vec::new();
        for slot in start..=last {
            match found.remove(&slot) {
                Some((chosen, _, v)) => {
                    if chosen {
                        self.log.choose(slot, v.clone());
                    }
                    values.push((v, None));
                }
                None => values.push((Value::Noop, None)),
            }
        }
        values.push((Value::Noop, None));
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id);
        self.heartbeat_elapsed = 0;
        let pipes = self
            .peers()
            .into_iter()
            .map(|p| {
                let pipe = Pipe {
                    next: start,
                    busy: false,
                    read_ack: 0,
                };
                (p, pipe)
            })
            .collect();
        self.lead = Some(LeaderState {
            ballot: cand.ballot,
            in_flight: BTreeMap::new(),
            pipes,
            replies: BTreeMap::new(),
            next_slot: start,
            start_slot: last + 1,
            reads: ReadQueue::default(),
            heard: BTreeSet::new(),
            quorum_elapsed: 0,
        });
        self.leader_propose(values, out);
    }
}
