//! Persistence: epochs and proposals are durable before the messages that
//! rely on them leave, and a restart rebuilds the history from the log.

use crate::common::*;
use synod_core::harness::ClientOutcome;
use synod_zab::{PeerState, Vote, ZabMessage, ZabRecord, Zxid};

#[test]
fn a_full_restart_recovers_epochs_and_history() {
    let opts = Opts::default();
    let mut net = cluster(31, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    for rid in 1..=4 {
        write(&mut net, leader, rid, format!("w{rid}").as_bytes());
    }
    net.run(3);
    let before: Vec<_> = opts.all_ids().iter().map(|i| zxids(&net, *i)).collect();
    let epoch = core(&net, leader).current_epoch();
    for id in opts.all_ids() {
        net.crash(id);
    }
    for id in opts.all_ids() {
        net.restart(id);
        assert_eq!(core(&net, id).current_epoch(), epoch);
        assert_eq!(core(&net, id).accepted_epoch(), epoch);
        assert_eq!(core(&net, id).state(), PeerState::Looking);
    }
    let after: Vec<_> = opts.all_ids().iter().map(|i| zxids(&net, *i)).collect();
    assert_eq!(before, after);
    let leader = stable_leader(&mut net, &opts.all_ids(), 300);
    assert_eq!(core(&net, leader).current_epoch(), epoch + 1);
    write(&mut net, leader, 9, b"w9");
    net.run(3);
    assert!(matches!(
        outcome(&net, leader, 9),
        Some(ClientOutcome::Applied { .. })
    ));
    for id in opts.all_ids() {
        assert_eq!(
            applied(&net, id).len(),
            5,
            "node {id} redelivers after restart"
        );
    }
}

#[test]
fn a_follower_logs_a_proposal_durably_before_its_ack_leaves() {
    let opts = Opts::default();
    let mut net = cluster(32, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    let follower = opts.all_ids().into_iter().find(|i| *i != leader).unwrap();
    write(&mut net, leader, 1, b"w1");
    let zxid = core(&net, leader).last_zxid();
    net.deliver(leader, follower);
    assert!(net.in_flight().iter().any(
        |e| e.from == follower && matches!(e.msg, ZabMessage::Ack { zxid: z, .. } if z == zxid)
    ));
    // Power loss right after the ACK left: the proposal is on disk.
    net.crash(follower);
    net.restart(follower);
    assert!(zxids(&net, follower).contains(&zxid));
}

#[test]
fn accepted_epoch_is_persisted_in_the_output_that_sends_ackepoch() {
    let opts = Opts::default();
    let mut node = lone_core(1, &opts, hard(2, 2), vec![txn(2, 1)]);
    tick(&mut node);
    let vote = Vote {
        leader: n(3),
        zxid: Zxid::new(2, 1),
        peer_epoch: 2,
    };
    for from in [2, 3] {
        step(
            &mut node,
            from,
            ZabMessage::Notification {
                vote,
                election_epoch: 1,
                state: PeerState::Looking,
            },
        );
    }
    assert_eq!(node.state(), PeerState::Following);
    let out = step(&mut node, 3, ZabMessage::LeaderInfo { epoch: 3 });
    assert_eq!(out.hard_state.map(|h| h.accepted_epoch), Some(3));
    assert!(out.eager_messages.is_empty());
    assert!(matches!(
        out.messages.as_slice(),
        [(to, ZabMessage::AckEpoch { epoch: 3, current_epoch: 2, .. })] if *to == n(3)
    ));
    // SYNC (TRUNC) then NEWLEADER: the truncation is a durable record and
    // currentEpoch is persisted with the acknowledgement.
    let out = step(
        &mut node,
        3,
        ZabMessage::Sync {
            epoch: 3,
            for_last: Zxid::new(2, 1),
            mode: synod_zab::SyncMode::Trunc {
                after: Zxid::new(1, 9),
            },
            proposals: vec![txn(3, 1)],
        },
    );
    assert_eq!(
        out.records,
        vec![
            ZabRecord::Truncate {
                after: Zxid::new(1, 9)
            },
            ZabRecord::Proposal(txn(3, 1))
        ]
    );
    assert!(out.must_sync);
    let out = step(
        &mut node,
        3,
        ZabMessage::NewLeader {
            epoch: 3,
            last: Zxid::new(3, 1),
        },
    );
    assert_eq!(out.hard_state.map(|h| h.current_epoch), Some(3));
    assert!(matches!(
        out.messages.as_slice(),
        [(_, ZabMessage::AckNewLeader { epoch: 3, .. })]
    ));
}

#[test]
fn the_leader_counts_its_own_proposal_only_once_it_is_durable() {
    use synod_core::{Output, Proposal, Protocol, RequestId};
    let opts = Opts::default();
    let mut node = lone_core(1, &opts, hard(0, 0), vec![]);
    tick(&mut node);
    let vote = Vote {
        leader: n(1),
        zxid: Zxid::ZERO,
        peer_epoch: 0,
    };
    for from in [2, 3] {
        step(
            &mut node,
            from,
            ZabMessage::Notification {
                vote,
                election_epoch: 1,
                state: PeerState::Looking,
            },
        );
    }
    step(&mut node, 2, ZabMessage::FollowerInfo { accepted_epoch: 0 });
    let out = step(
        &mut node,
        2,
        ZabMessage::AckEpoch {
            epoch: 1,
            current_epoch: 0,
            history: Default::default(),
        },
    );
    assert_eq!(out.hard_state.map(|h| h.current_epoch), Some(1));
    assert!(matches!(
        sent(&out).as_slice(),
        [
            (_, ZabMessage::Sync { .. }),
            (_, ZabMessage::NewLeader { epoch: 1, .. })
        ]
    ));
    step(
        &mut node,
        2,
        ZabMessage::AckNewLeader {
            epoch: 1,
            last: Zxid::ZERO,
        },
    );
    assert!(node.is_established_leader());
    let mut out = Output::new();
    node.propose(
        Proposal::Write {
            id: RequestId(7),
            command: b"x".to_vec(),
        },
        &mut out,
    );
    let zxid = Zxid::new(1, 1);
    assert_eq!(out.records.len(), 1);
    assert!(
        matches!(out.eager_messages.as_slice(), [(to, ZabMessage::Proposal { txn, .. })] if *to == n(2) && txn.zxid == zxid),
        "followers log in parallel with the leader"
    );
    // Node 2's ACK alone is not a quorum while our own copy is not durable.
    let out = step(&mut node, 2, ZabMessage::Ack { epoch: 1, zxid });
    assert!(out.committed.is_empty());
    assert_eq!(node.committed(), Zxid::ZERO);
    let mut out = Output::new();
    node.on_persisted(1, &mut out);
    assert_eq!(node.committed(), zxid);
    assert_eq!(out.committed.len(), 1);
    assert_eq!(out.committed[0].reply_to, Some(RequestId(7)));
    assert!(sent(&out)
        .iter()
        .any(|(to, m)| *to == n(2) && *m == ZabMessage::Commit { epoch: 1, zxid }));
}
