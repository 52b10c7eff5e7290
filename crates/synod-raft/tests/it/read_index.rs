//! Linearizable reads by ReadIndex (dissertation §6.4).

use crate::common::*;
use synod_core::harness::ClientOutcome;
use synod_core::{ClientError, NodeId, Output, Proposal, Protocol, RequestId};
use synod_raft::{RaftMessage, Role};

/// The leader serves a read only after a quorum answered a heartbeat round
/// started after the read arrived: while it is cut off, the read waits.
#[test]
fn read_index_waits_for_a_quorum_round() {
    let mut net = cluster(3, 51, Opts::default());
    let leader = stable_leader(&mut net, 200);
    write(&mut net, leader, 1, b"w");
    net.run(2);
    net.isolate(leader);
    read(&mut net, leader, 2);
    net.deliver_all(1000);
    for _ in 0..4 {
        net.tick(leader);
        net.deliver_all(1000);
    }
    assert_eq!(outcome(&net, leader, 2), None, "served without a quorum");
    assert_eq!(core(&net, leader).role(), Role::Leader);
    net.heal();
    for _ in 0..Opts::default().heartbeat_ticks {
        net.tick(leader);
    }
    net.deliver_all(1000);
    assert_eq!(outcome(&net, leader, 2), Some(ClientOutcome::ReadReady));
    assert_eq!(applied(&net, leader), vec![b"w".to_vec()]);
}

/// A new leader does not know the commit index until it commits an entry
/// of its own term: a read waits for the no-op, then for its round.
#[test]
fn read_waits_for_the_leaders_first_commit_in_its_term() {
    let opts = Opts::default();
    let mut node = lone_core(1, &[1, 2, 3], &opts);
    let out = tick_until_messages(&mut node);
    let RaftMessage::RequestVote { term: pre, .. } = out.messages[0].1 else {
        panic!()
    };
    step(
        &mut node,
        2,
        RaftMessage::RequestVoteResponse {
            term: pre,
            granted: true,
            pre_vote: true,
        },
    );
    let term = node.term();
    let out = step(
        &mut node,
        2,
        RaftMessage::RequestVoteResponse {
            term,
            granted: true,
            pre_vote: false,
        },
    );
    assert_eq!(node.role(), Role::Leader);
    let emitted = out.records.len() as u64;
    let mut out = Output::new();
    node.propose(Proposal::Read { id: RequestId(7) }, &mut out);
    assert!(out.reads.is_empty() && out.replies.is_empty());
    assert!(out.messages.is_empty(), "no round before the no-op commits");
    // The no-op commits (own copy durable + node 2): the round starts.
    node.on_persisted(emitted, &mut Output::new());
    let out = step(&mut node, 2, ack(term, 1, 0));
    assert_eq!(node.commit_index(), 1);
    assert!(out.reads.is_empty());
    let round = sent(&out)
        .into_iter()
        .filter_map(|(_, m)| match m {
            RaftMessage::AppendEntries { read_seq, .. } => Some(read_seq),
            _ => None,
        })
        .max()
        .expect("a heartbeat round");
    // An answer to an older message (read_seq 0) does not confirm it...
    let out = step(&mut node, 3, ack(term, 1, 0));
    assert!(out.reads.is_empty());
    // ...an answer to the round does.
    let out = step(&mut node, 3, ack(term, 1, round));
    assert_eq!(out.reads, vec![RequestId(7)]);
}

/// Followers answer reads with a definite not-leader and a hint.
#[test]
fn read_on_a_follower_is_refused_with_a_leader_hint() {
    let mut net = cluster(3, 52, Opts::default());
    let leader = stable_leader(&mut net, 200);
    let follower = net.ids().into_iter().find(|&i| i != leader).unwrap();
    read(&mut net, follower, 1);
    assert_eq!(
        outcome(&net, follower, 1),
        Some(ClientOutcome::Replied(Err(ClientError::NotLeader {
            leader: Some(leader)
        })))
    );
}

/// A leader cut off from the majority never serves a pending read (the new
/// leader may already have committed writes it lacks); it answers
/// not-leader when it steps down. The new leader's reads see its writes.
#[test]
fn deposed_leader_never_serves_a_read() {
    let mut net = cluster(3, 53, Opts::default());
    let old = stable_leader(&mut net, 200);
    net.isolate(old);
    read(&mut net, old, 1);
    net.run(100);
    let new = current_leader(&net).expect("majority elects");
    assert_ne!(new, old);
    write(&mut net, new, 2, b"new");
    net.run(2);
    read(&mut net, new, 3);
    net.run(2);
    assert_eq!(outcome(&net, new, 3), Some(ClientOutcome::ReadReady));
    assert_eq!(applied(&net, new), vec![b"new".to_vec()]);
    match outcome(&net, old, 1) {
        Some(ClientOutcome::Replied(Err(ClientError::NotLeader { .. }))) => {}
        other => panic!("stale read: {other:?}"),
    }
    assert!(applied(&net, old).is_empty());
    let _ = NodeId(0);
}

/// A single voter confirms reads by itself.
#[test]
fn single_voter_serves_reads_at_once() {
    let mut net = cluster(1, 54, Opts::default());
    let leader = stable_leader(&mut net, 100);
    write(&mut net, leader, 1, b"x");
    read(&mut net, leader, 2);
    assert_eq!(outcome(&net, leader, 2), Some(ClientOutcome::ReadReady));
    assert_eq!(
        outcome(&net, leader, 1),
        Some(ClientOutcome::Applied { index: 2 })
    );
}
