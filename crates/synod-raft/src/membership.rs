//! Membership: voters, learners, quorums, and single-server changes.
//!
//! Changes follow the Raft dissertation §4.1: one server at a time, so any
//! majority of the old configuration and any majority of the new one
//! overlap. A change is a [`EntryPayload::Config`] entry that takes effect on
//! each replica **as soon as it is appended** (not when committed); a
//! truncated config entry reverts the replica to the previous configuration.
//! The leader accepts a change only when it has committed an entry of its own
//! term and the previous change is committed (§4.1 and the 2015 bug fix on
//! raft-dev: "a leader may not append a new configuration until it has
//! committed an entry of its current term").
//!
//! Learners receive the log and snapshots but never campaign, and their
//! votes and acknowledgements never count toward a quorum. (They do answer
//! vote requests: one promoted without knowing it yet may be needed.)
//!
//! A removed node keeps receiving the log until its removal commits, so it
//! learns of it. While the removal is not committed in its own log it may
//! still campaign (see `RaftNode::promotable`): a leader that appended its
//! own removal and then lost leadership would otherwise leave the remaining
//! voters unable to elect anyone.

use crate::message::{Entry, EntryPayload};
use crate::node::{unavailable, RaftNode, Role};
use crate::progress::Progress;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use synod_core::{AdminRequest, ClientError, NodeId, Output, RequestId};

/// The members of a cluster configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Members that vote and count toward quorums.
    pub voters: BTreeSet<NodeId>,
    /// Members that only receive the log.
    pub learners: BTreeSet<NodeId>,
}

impl Membership {
    /// A membership of `voters` and `learners` (a node in both is a voter).
    pub fn new(
        voters: impl IntoIterator<Item = NodeId>,
        learners: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let voters: BTreeSet<NodeId> = voters.into_iter().collect();
        let learners = learners
            .into_iter()
            .filter(|l| !voters.contains(l))
            .collect();
        Self { voters, learners }
    }

    /// Whether `id` votes.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether `id` is a learner.
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.contains(&id)
    }

    /// Whether `id` is a member at all.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// Every member, voters and learners, in id order.
    pub fn members(&self) -> BTreeSet<NodeId> {
        self.voters.union(&self.learners).copied().collect()
    }

    /// How many voters make a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The largest value that a quorum of voters has reached: with the match
    /// indexes of the voters it is the highest replicated index, with the
    /// ReadIndex round each voter acknowledged it is the highest confirmed
    /// round. Zero when there are no voters.
    pub fn quorum_value(&self, value: impl Fn(NodeId) -> u64) -> u64 {
        let values = self.voters.iter().map(|v| value(*v)).collect();
        synod_core::quorum::quorum_value(values, self.quorum()).unwrap_or(0)
    }

    /// The membership after `request`: `Ok(None)` when it already holds,
    /// `Err` (definite) when it is refused. `TransferLeader` is not a
    /// membership change and is refused here.
    pub fn change(&self, request: &AdminRequest) -> Result<Option<Membership>, ClientError> {
        let malformed = |reason: String| Err(ClientError::Malformed { reason });
        let mut next = self.clone();
        match *request {
            AdminRequest::AddVoter { node } | AdminRequest::AddLearner { node }
                if node == NodeId(0) =>
            {
                return malformed("node id 0 is reserved".into());
            }
            AdminRequest::AddVoter { node } => {
                if self.is_voter(node) {
                    return Ok(None);
                }
                next.learners.remove(&node);
                next.voters.insert(node);
            }
            AdminRequest::AddLearner { node } => {
                if self.is_learner(node) {
                    return Ok(None);
                }
                if self.is_voter(node) {
                    return malformed(format!(
                        "node {node} is a voter; remove it before adding it as a learner"
                    ));
                }
                next.learners.insert(node);
            }
            AdminRequest::RemoveNode { node } => {
                if !self.contains(node) {
                    return Ok(None);
                }
                if self.voters.len() == 1 && self.is_voter(node) {
                    return malformed(format!("node {node} is the last voter"));
                }
                next.voters.remove(&node);
                next.learners.remove(&node);
            }
            AdminRequest::TransferLeader { .. } => {
                return malformed("leadership transfer is not a membership change".into());
            }
        }
        Ok(Some(next))
    }
}

impl RaftNode {
    /// `Proposal::Admin` on this replica.
    pub(crate) fn propose_admin(
        &mut self,
        id: RequestId,
        request: AdminRequest,
        out: &mut Output<Self>,
    ) {
        if self.refuse_unless_leader(id, out) {
            return;
        }
        if let AdminRequest::TransferLeader { to } = request {
            self.propose_transfer(id, to, out);
            return;
        }
        if self.transfer_in_progress() {
            out.reply(id, unavailable("leadership transfer in progress"));
            return;
        }
        if !self.committed_in_current_term() {
            out.reply(
                id,
                unavailable("the leader has not yet committed an entry of its term"),
            );
            return;
        }
        if self.log.last_config_index() > self.commit {
            out.reply(id, unavailable("a membership change is still in progress"));
            return;
        }
        if self.log.is_full() {
            out.reply(id, unavailable("the log has reached its last index"));
            return;
        }
        match self.log.membership().change(&request) {
            Err(e) => out.reply(id, Err(e)),
            Ok(None) => out.reply(id, Ok(Vec::new())),
            Ok(Some(next)) => {
                let index = self.log.last_index() + 1;
                self.append_own_entry(
                    Entry {
                        index,
                        term: self.term,
                        payload: EntryPayload::Config(next),
                    },
                    out,
                );
                if let Some(lead) = self.lead.as_mut() {
                    lead.pending_admin = Some((index, id));
                }
                self.on_membership_changed(out);
            }
        }
    }

    /// The membership in the log changed (appended, truncated or replaced
    /// by a snapshot). A leader starts or stops replicating to members and
    /// re-counts its quorum.
    pub(crate) fn on_membership_changed(&mut self, out: &mut Output<Self>) {
        self.sync_progress(out);
        self.maybe_commit(out);
    }

    /// Makes the leader replicate to every member of the configuration in
    /// force and of the last committed one: a removed node keeps receiving
    /// the log until its removal commits, so it learns of it and stops
    /// campaigning.
    pub(crate) fn sync_progress(&mut self, out: &mut Output<Self>) {
        if self.role != Role::Leader {
            return;
        }
        let mut members = self.log.membership().members();
        members.extend(self.log.membership_at(self.commit).members());
        let next_index = self.log.last_index() + 1;
        let mut added = Vec::new();
        if let Some(lead) = self.lead.as_mut() {
            lead.progress.retain(|id, _| members.contains(id));
            for &m in &members {
                if m != self.cfg.id && !lead.progress.contains_key(&m) {
                    lead.progress.insert(m, Progress::new(next_index));
                    added.push(m);
                }
            }
        }
        for m in added {
            self.send_append(m, true, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(v: &[u64]) -> Vec<NodeId> {
        v.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn quorum_is_a_majority_of_voters_only() {
        let m = Membership::new(ids(&[1, 2, 3]), ids(&[4, 5]));
        assert_eq!(m.quorum(), 2);
        // Learners' values are ignored: 4 and 5 have everything, voters 2, 3 little.
        let v = m.quorum_value(|n| match n.0 {
            1 => 10,
            2 => 3,
            3 => 1,
            _ => 100,
        });
        assert_eq!(v, 3);
        assert_eq!(Membership::default().quorum_value(|_| 7), 0);
    }

    #[test]
    fn single_server_changes() {
        let m = Membership::new(ids(&[1, 2, 3]), ids(&[4]));
        let add = m.change(&AdminRequest::AddVoter { node: NodeId(4) });
        assert_eq!(
            add.unwrap().unwrap(),
            Membership::new(ids(&[1, 2, 3, 4]), [])
        );
        assert_eq!(
            m.change(&AdminRequest::AddVoter { node: NodeId(2) }),
            Ok(None)
        );
        assert!(m
            .change(&AdminRequest::AddLearner { node: NodeId(2) })
            .is_err());
        let removed = m.change(&AdminRequest::RemoveNode { node: NodeId(1) });
        assert_eq!(
            removed.unwrap().unwrap(),
            Membership::new(ids(&[2, 3]), ids(&[4]))
        );
        assert_eq!(
            m.change(&AdminRequest::RemoveNode { node: NodeId(9) }),
            Ok(None)
        );
        let last = Membership::new(ids(&[1]), []);
        assert!(last
            .change(&AdminRequest::RemoveNode { node: NodeId(1) })
            .is_err());
    }

    proptest! {
        /// Differential test against brute force: the quorum value is the
        /// largest `x` such that at least a majority of voters have `>= x`.
        #[test]
        fn quorum_value_matches_brute_force(values in proptest::collection::vec(0u64..20, 1..8)) {
            let m = Membership::new((1..=values.len() as u64).map(NodeId), []);
            let got = m.quorum_value(|n| values[n.0 as usize - 1]);
            let majority = values.len() / 2 + 1;
            let want = (0..=20u64)
                .filter(|x| values.iter().filter(|v| *v >= x).count() >= majority)
                .max()
                .unwrap();
            prop_assert_eq!(got, want);
        }
    }
}
