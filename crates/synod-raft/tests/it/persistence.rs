//! Persistence: term, vote and log are durable before anything depending on
//! them leaves, and a restart recovers them.

use crate::common::*;
use synod_core::{codec, Output, Proposal, Protocol, RequestId, Storage};
use synod_raft::{RaftHardState, RaftMessage, Role};

/// The leader's own copy of an entry counts toward the quorum only after the
/// driver reports it durable through `on_persisted`.
#[test]
fn leader_counts_its_own_entry_only_after_on_persisted() {
    let (mut node, emitted) = hand_made_leader(&Opts::default());
    let mut out = Output::new();
    node.propose(
        Proposal::Write {
            id: RequestId(1),
            command: b"x".to_vec(),
        },
        &mut out,
    );
    let index = node.last_log_index();
    let term = node.term();
    // Node 2 acknowledges before our own write is durable: 1 of 3.
    let out = step(&mut node, 2, ack(term, index, 0));
    assert!(out.committed.is_empty());
    assert_eq!(node.commit_index(), index - 1);
    let mut out = Output::new();
    node.on_persisted(emitted + 1, &mut out);
    assert_eq!(node.commit_index(), index);
    assert_eq!(out.committed.len(), 1);
    assert_eq!(out.committed[0].reply_to, Some(RequestId(1)));
    assert_eq!(out.committed[0].command.as_deref(), Some(&b"x"[..]));
}

/// A crashed follower restarts with the term, vote and log it had made
/// durable, and catches up.
#[test]
fn restart_recovers_term_vote_and_log() {
    let mut net = cluster(3, 71, Opts::default());
    let leader = stable_leader(&mut net, 200);
    for i in 1..=5u64 {
        write(&mut net, leader, i, &[i as u8]);
    }
    net.run(3);
    let follower = net.ids().into_iter().find(|&i| i != leader).unwrap();
    let (term, last, log) = {
        let c = core(&net, follower);
        (c.term(), c.last_log_index(), log_terms(&net, follower))
    };
    let mut storage = net.storage(follower).clone();
    let hs: RaftHardState = codec::decode(&storage.load().unwrap().hard_state.unwrap()).unwrap();
    assert_eq!(hs.term, term);
    net.crash(follower);
    net.restart(follower);
    let c = core(&net, follower);
    assert_eq!((c.term(), c.last_log_index()), (term, last));
    assert_eq!(log_terms(&net, follower), log);
    assert_eq!(c.role(), Role::Follower);
    assert_eq!(c.commit_index(), 0, "commit is re-learned, not persisted");
    net.run(3);
    assert_eq!(applied(&net, follower), applied(&net, leader));
    // A candidate's vote survives a crash: it will not vote twice in a term.
    let mut node = lone_core(1, &[1, 2, 3], &Opts::default());
    let out = step(
        &mut node,
        2,
        RaftMessage::RequestVote {
            term: 9,
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
            leadership_transfer: false,
        },
    );
    let hs = out.hard_state.unwrap();
    let mut again = recovered_core(1, &[1, 2, 3], &Opts::default(), hs, Vec::new());
    let out = step(
        &mut again,
        3,
        RaftMessage::RequestVote {
            term: 9,
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
            leadership_transfer: false,
        },
    );
    assert!(matches!(
        out.messages[0].1,
        RaftMessage::RequestVoteResponse { granted: false, .. }
    ));
}

/// Every node crashes at once: nothing committed is lost, and the restarted
/// cluster elects a leader and serves writes.
#[test]
fn whole_cluster_crash_loses_no_committed_entry() {
    let mut net = cluster(5, 72, Opts::default());
    let leader = stable_leader(&mut net, 200);
    for i in 1..=10u64 {
        write(&mut net, leader, i, &[i as u8]);
    }
    net.run(3);
    let before = applied(&net, leader);
    assert_eq!(before.len(), 10);
    for id in net.ids() {
        net.crash(id);
    }
    for id in net.ids() {
        net.restart(id);
    }
    let leader = stable_leader(&mut net, 300);
    write(&mut net, leader, 100, b"after");
    net.run(3);
    let mut expected = before;
    expected.push(b"after".to_vec());
    for id in net.ids() {
        assert_eq!(applied(&net, id), expected, "node {id}");
    }
}

/// An invalid configuration or unusable recovered state is an error from
/// `try_new`, not a silently broken core.
#[test]
fn try_new_refuses_invalid_config_and_corrupt_snapshot_meta() {
    use synod_core::{NodeId, Recovered, SeededRng, Snapshot};
    use synod_raft::{RaftConfig, RaftNode};
    let mut c = RaftConfig::new(NodeId(1), vec![NodeId(1)]);
    c.heartbeat_ticks = 100;
    assert!(RaftNode::try_new(c, Recovered::default(), SeededRng::new(1)).is_err());
    let rec = Recovered::<RaftNode> {
        hard_state: None,
        snapshot: Some(Snapshot {
            position: 3,
            meta: vec![1, 2, 3],
            data: Vec::new(),
        }),
        records: Vec::new(),
    };
    let err = RaftNode::try_new(
        RaftConfig::new(NodeId(1), vec![NodeId(1)]),
        rec,
        SeededRng::new(1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("snapshot metadata"), "{err}");
}
