//! Leader election: Raft §5.2, §5.4.1, pre-vote and check-quorum.

use crate::common::*;
use std::collections::BTreeMap;
use synod_core::{NodeId, Protocol};
use synod_raft::{RaftHardState, RaftMessage, Role};

fn vote_request(term: u64, last_log_index: u64, last_log_term: u64) -> RaftMessage {
    RaftMessage::RequestVote {
        term,
        last_log_index,
        last_log_term,
        pre_vote: false,
        leadership_transfer: false,
    }
}

fn granted(out: &synod_core::Output<synod_raft::RaftNode>) -> Option<bool> {
    out.messages.iter().find_map(|(_, m)| match m {
        RaftMessage::RequestVoteResponse { granted, .. } => Some(*granted),
        _ => None,
    })
}

/// §5.4.1: "the voter denies its vote if its own log is more up-to-date
/// than that of the candidate" (last term first, then length).
#[test]
fn follower_rejects_vote_for_stale_log() {
    let opts = Opts::default();
    let hs = RaftHardState {
        term: 2,
        voted_for: None,
    };
    let log = vec![entry(1, 1), entry(2, 2)];
    // Lower last term, longer log: rejected.
    let mut node = recovered_core(1, &[1, 2, 3], &opts, hs.clone(), log.clone());
    assert_eq!(
        granted(&step(&mut node, 2, vote_request(3, 9, 1))),
        Some(false)
    );
    // Same last term, shorter log: rejected.
    let mut node = recovered_core(1, &[1, 2, 3], &opts, hs.clone(), log.clone());
    assert_eq!(
        granted(&step(&mut node, 2, vote_request(3, 1, 2))),
        Some(false)
    );
    // Same last term, same length: granted; higher last term: granted.
    let mut node = recovered_core(1, &[1, 2, 3], &opts, hs.clone(), log.clone());
    assert_eq!(
        granted(&step(&mut node, 2, vote_request(3, 2, 2))),
        Some(true)
    );
    let mut node = recovered_core(1, &[1, 2, 3], &opts, hs, log);
    assert_eq!(
        granted(&step(&mut node, 2, vote_request(3, 1, 3))),
        Some(true)
    );
}

/// §5.2: "each server will vote for at most one candidate in a given term,
/// on a first-come-first-served basis".
#[test]
fn one_vote_per_term_first_come_first_served() {
    let mut node = lone_core(1, &[1, 2, 3], &Opts::default());
    assert_eq!(
        granted(&step(&mut node, 2, vote_request(1, 0, 0))),
        Some(true)
    );
    assert_eq!(
        granted(&step(&mut node, 3, vote_request(1, 0, 0))),
        Some(false)
    );
    // A retransmitted request from the chosen candidate is granted again.
    assert_eq!(
        granted(&step(&mut node, 2, vote_request(1, 0, 0))),
        Some(true)
    );
    // A new term frees the vote.
    assert_eq!(
        granted(&step(&mut node, 3, vote_request(2, 0, 0))),
        Some(true)
    );
}

/// Persistence before send: the vote reaches the hard state of the very
/// output that carries the RequestVote response.
#[test]
fn vote_is_persisted_in_the_same_output_as_the_response() {
    let mut node = lone_core(1, &[1, 2, 3], &Opts::default());
    let out = step(&mut node, 2, vote_request(4, 0, 0));
    assert_eq!(
        out.hard_state,
        Some(RaftHardState {
            term: 4,
            voted_for: Some(NodeId(2))
        })
    );
    assert_eq!(granted(&out), Some(true));
}

/// A candidate's new term and self-vote are durable before its RequestVotes
/// leave; a pre-vote round changes no durable state at all.
#[test]
fn candidate_persists_term_and_self_vote_before_requesting_votes() {
    let opts = Opts {
        pre_vote: false,
        ..Opts::default()
    };
    let mut node = lone_core(1, &[1, 2, 3], &opts);
    let out = tick_until_messages(&mut node);
    assert_eq!(
        out.hard_state,
        Some(RaftHardState {
            term: 1,
            voted_for: Some(NodeId(1))
        })
    );
    assert_eq!(out.messages.len(), 2);

    let mut node = lone_core(1, &[1, 2, 3], &Opts::default());
    let out = tick_until_messages(&mut node);
    assert!(out.hard_state.is_none(), "pre-vote must not touch the term");
    assert!(out.messages.iter().all(|(_, m)| matches!(
        m,
        RaftMessage::RequestVote {
            pre_vote: true,
            term: 1,
            ..
        }
    )));
    assert_eq!(node.term(), 0);
}

/// §5.2 election safety: at most one leader per term, here with pre-vote
/// off, a narrow timeout range (many split votes) and lossy links.
#[test]
fn election_safety_at_most_one_leader_per_term() {
    for seed in 0..20 {
        let opts = Opts {
            pre_vote: false,
            check_quorum: false,
            election_ticks: (4, 5),
            heartbeat_ticks: 1,
            ..Opts::default()
        };
        let mut net = cluster(5, seed, opts);
        net.set_loss(0.2);
        net.set_reorder(true);
        let mut by_term: BTreeMap<u64, NodeId> = BTreeMap::new();
        for _ in 0..4000 {
            net.step_random();
            for (id, term) in leaders(&net) {
                let prev = *by_term.entry(term).or_insert(id);
                assert_eq!(prev, id, "seed {seed}: two leaders in term {term}");
            }
        }
        assert!(!by_term.is_empty(), "seed {seed}: nobody ever won");
    }
}

/// §5.2: a candidate that learns of a leader of its term steps down.
#[test]
fn candidate_steps_down_on_append_entries_of_its_term() {
    let opts = Opts {
        pre_vote: false,
        ..Opts::default()
    };
    let mut node = lone_core(1, &[1, 2, 3], &opts);
    tick_until_messages(&mut node);
    assert_eq!(node.role(), Role::Candidate);
    let term = node.term();
    let out = step(
        &mut node,
        2,
        RaftMessage::AppendEntries {
            term,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![],
            leader_commit: 0,
            read_seq: 0,
        },
    );
    assert_eq!(node.role(), Role::Follower);
    assert_eq!(node.leader(), Some(NodeId(2)));
    assert!(out
        .messages
        .iter()
        .any(|(_, m)| matches!(m, RaftMessage::AppendEntriesResponse { success: true, .. })));
}

/// Pre-vote (dissertation §9.6): a node cut off from the cluster keeps
/// failing pre-votes without raising its term, so when it rejoins the
/// healthy leader stays in place. Without pre-vote the same node disrupts.
#[test]
fn pre_vote_keeps_a_rejoining_node_from_disrupting_a_healthy_leader() {
    for pre_vote in [true, false] {
        let opts = Opts {
            pre_vote,
            check_quorum: false,
            ..Opts::default()
        };
        let mut net = cluster(3, 7, opts);
        let leader = stable_leader(&mut net, 200);
        let term = core(&net, leader).term();
        let loner = net.ids().into_iter().find(|&i| i != leader).unwrap();
        net.isolate(loner);
        net.run(200);
        if pre_vote {
            assert_eq!(core(&net, loner).term(), term, "pre-vote raised the term");
        } else {
            assert!(core(&net, loner).term() > term);
        }
        net.heal();
        net.run(50);
        if pre_vote {
            assert_eq!(current_leader(&net), Some(leader));
            assert_eq!(core(&net, leader).term(), term, "the leader was disrupted");
        } else {
            assert!(
                core(&net, leader).term() > term,
                "without pre-vote the rejoining node forces a new term"
            );
        }
    }
}

/// Check-quorum: a leader that hears from no quorum within an election
/// timeout steps down, and the majority side elects a new leader.
#[test]
fn check_quorum_steps_an_isolated_leader_down() {
    let mut net = cluster(3, 11, Opts::default());
    let leader = stable_leader(&mut net, 200);
    net.isolate(leader);
    net.run(15);
    assert_eq!(core(&net, leader).role(), Role::Follower);
    assert_eq!(core(&net, leader).leader(), None);
    let others: Vec<NodeId> = net.ids().into_iter().filter(|&i| i != leader).collect();
    net.run(100);
    let new = current_leader(&net).expect("the majority elects a leader");
    assert!(others.contains(&new));
}

/// The leader lease that makes pre-vote effective with check-quorum: a
/// follower that heard from its leader within `election_ticks_min` ignores
/// votes of higher terms; later it considers them.
#[test]
fn follower_in_leader_lease_ignores_higher_term_votes() {
    let opts = Opts::default();
    let mut node = lone_core(2, &[1, 2, 3], &opts);
    step(
        &mut node,
        1,
        RaftMessage::AppendEntries {
            term: 1,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![],
            leader_commit: 0,
            read_seq: 0,
        },
    );
    let out = step(&mut node, 3, vote_request(5, 10, 1));
    assert!(out.messages.is_empty() && out.hard_state.is_none());
    assert_eq!(node.term(), 1);
    for _ in 0..opts.election_ticks.0 {
        let out = tick(&mut node);
        if !out.messages.is_empty() {
            break;
        }
    }
    let out = step(&mut node, 3, vote_request(5, 10, 1));
    assert_eq!(granted(&out), Some(true));
    assert_eq!(node.term(), 5);
}

/// Learners receive the log but never campaign, and a candidate never
/// counts a learner's vote toward its quorum.
#[test]
fn learner_never_campaigns_and_its_vote_never_counts() {
    let opts = Opts {
        voters: Some(vec![n(1), n(2)]),
        learners: vec![n(3)],
        ..Opts::default()
    };
    let mut net = cluster(3, 5, opts.clone());
    let leader = stable_leader(&mut net, 200);
    assert!(leader == n(1) || leader == n(2));
    write(&mut net, leader, 1, b"x");
    net.run(5);
    assert_eq!(
        applied(&net, n(3)),
        vec![b"x".to_vec()],
        "learner gets the log"
    );
    assert_eq!(net.statuses()[2].role, "learner");
    // Isolate the learner for a long time: it never becomes a candidate.
    net.isolate(n(3));
    for _ in 0..300 {
        net.tick(n(3));
        assert_eq!(core(&net, n(3)).role(), Role::Follower);
    }
    // A voter whose only peer is the learner can never win.
    let mut node = lone_core(1, &[1, 2], &opts);
    let out = tick_until_messages(&mut node);
    assert!(
        out.messages.iter().all(|(to, _)| *to == n(2)),
        "asks voters only"
    );
    step(
        &mut node,
        3,
        RaftMessage::RequestVoteResponse {
            term: 1,
            granted: true,
            pre_vote: true,
        },
    );
    assert_eq!(node.role(), Role::PreCandidate, "a learner's vote counted");
    assert_eq!(node.term(), 0);
}

/// A real election in a 3-node cluster ends with every node agreeing on
/// the leader and term, and the leader's no-op committed everywhere.
#[test]
fn a_leader_is_elected_and_its_noop_commits_everywhere() {
    let mut net = cluster(3, 1, Opts::default());
    let leader = stable_leader(&mut net, 200);
    net.run(5);
    let term = core(&net, leader).term();
    for id in net.ids() {
        let c = core(&net, id);
        assert_eq!(c.term(), term);
        assert_eq!(c.leader(), Some(leader));
        assert_eq!(c.commit_index(), 1);
        assert_eq!(net.machine(id).applied_index, 1);
    }
    let st = net.core(leader).unwrap().status();
    assert_eq!((st.protocol.as_str(), st.role.as_str()), ("raft", "leader"));
    assert_eq!(st.voters, ids(3));
}
