//! Fast Leader Election and discovery: who wins, and which epoch it picks.

use crate::common::*;
use std::collections::BTreeMap;
use synod_core::Protocol;
use synod_zab::{PeerState, Vote, ZabMessage, Zxid};

#[test]
fn equal_histories_elect_the_highest_server_id() {
    let opts = Opts::default();
    let mut net = cluster(1, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    assert_eq!(leader, n(3));
    assert_eq!(core(&net, n(1)).state(), PeerState::Following);
    assert_eq!(core(&net, n(3)).current_epoch(), 1);
}

#[test]
fn the_longest_history_wins_over_a_higher_server_id() {
    let opts = Opts::default();
    let mut preload = BTreeMap::new();
    preload.insert(n(1), (hard(1, 1), vec![txn(1, 1), txn(1, 2), txn(1, 3)]));
    preload.insert(n(2), (hard(1, 1), vec![txn(1, 1)]));
    preload.insert(n(3), (hard(1, 1), vec![txn(1, 1), txn(1, 2)]));
    let mut net = cluster_from(2, opts.clone(), preload);
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    assert_eq!(leader, n(1));
    // The leader's whole history is committed everywhere once established.
    for id in opts.all_ids() {
        assert_eq!(core(&net, id).committed(), Zxid::new(1, 3), "node {id}");
    }
}

#[test]
fn a_higher_current_epoch_beats_a_longer_history() {
    let opts = Opts::default();
    let mut preload = BTreeMap::new();
    preload.insert(n(1), (hard(2, 2), vec![txn(1, 1), txn(2, 1)]));
    preload.insert(n(2), (hard(1, 1), vec![txn(1, 1), txn(1, 2), txn(1, 3)]));
    preload.insert(n(3), (hard(1, 1), vec![txn(1, 1)]));
    let mut net = cluster_from(3, opts.clone(), preload);
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    assert_eq!(leader, n(1));
    // Node 2's 1:2 and 1:3 were never committed: TRUNC discarded them.
    assert_eq!(zxids(&net, n(2)), vec![Zxid::new(1, 1), Zxid::new(2, 1)]);
}

/// Drives core 1 of three to leadership by hand and returns it.
fn hand_elected(accepted_epoch: u64) -> synod_zab::ZabNode {
    let opts = Opts::default();
    let mut node = lone_core(1, &opts, hard(accepted_epoch, 0), vec![]);
    let out = tick(&mut node);
    assert!(
        sent(&out)
            .iter()
            .any(|(_, m)| matches!(m, ZabMessage::Notification { .. })),
        "a new server announces its vote at once"
    );
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
    assert_eq!(node.state(), PeerState::Leading);
    node
}

#[test]
fn the_new_epoch_exceeds_every_accepted_epoch_of_the_quorum() {
    let mut node = hand_elected(4);
    let out = step(&mut node, 2, ZabMessage::FollowerInfo { accepted_epoch: 9 });
    assert_eq!(node.accepted_epoch(), 10);
    assert_eq!(out.hard_state.map(|h| h.accepted_epoch), Some(10));
    assert!(sent(&out)
        .iter()
        .any(|(to, m)| *to == n(2) && *m == ZabMessage::LeaderInfo { epoch: 10 }));
    // A learner connecting later is told the same epoch.
    let out = step(&mut node, 3, ZabMessage::FollowerInfo { accepted_epoch: 2 });
    assert_eq!(
        sent(&out),
        vec![(n(3), ZabMessage::LeaderInfo { epoch: 10 })]
    );
}

#[test]
fn a_leader_above_its_own_accepted_epoch_picks_one_more() {
    let mut node = hand_elected(7);
    step(&mut node, 3, ZabMessage::FollowerInfo { accepted_epoch: 1 });
    assert_eq!(node.accepted_epoch(), 8);
}

#[test]
fn a_follower_refuses_a_leader_epoch_below_its_accepted_epoch() {
    let opts = Opts::default();
    let mut node = lone_core(1, &opts, hard(5, 5), vec![]);
    tick(&mut node);
    let vote = Vote {
        leader: n(3),
        zxid: Zxid::ZERO,
        peer_epoch: 9,
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
    for _ in 0..5 {
        tick(&mut node);
    }
    assert_eq!(node.state(), PeerState::Following);
    let out = step(&mut node, 3, ZabMessage::LeaderInfo { epoch: 4 });
    assert_eq!(node.state(), PeerState::Looking);
    assert_eq!(node.accepted_epoch(), 5);
    assert!(out.hard_state.is_none());
}

#[test]
fn a_quorum_member_ahead_of_the_leader_makes_it_give_up() {
    let mut node = hand_elected(0);
    step(&mut node, 2, ZabMessage::FollowerInfo { accepted_epoch: 0 });
    let ahead = synod_zab::HistorySummary {
        base: Zxid::ZERO,
        epoch_lasts: vec![Zxid::new(1, 4)],
    };
    step(
        &mut node,
        2,
        ZabMessage::AckEpoch {
            epoch: 1,
            current_epoch: 1,
            history: ahead,
        },
    );
    assert_eq!(node.state(), PeerState::Looking);
}

#[test]
fn a_restarted_follower_joins_the_established_leader_without_a_new_epoch() {
    let opts = Opts::default();
    let mut net = cluster(4, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    let epoch = core(&net, leader).current_epoch();
    let follower = opts.all_ids().into_iter().find(|i| *i != leader).unwrap();
    net.crash(follower);
    net.run(5);
    net.restart(follower);
    let again = stable_leader(&mut net, &opts.all_ids(), 200);
    assert_eq!(again, leader);
    assert_eq!(core(&net, leader).current_epoch(), epoch);
    assert_eq!(core(&net, follower).state(), PeerState::Following);
}

#[test]
fn a_leader_that_loses_its_quorum_goes_back_to_looking() {
    let opts = Opts::default();
    let mut net = cluster(5, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    net.isolate(leader);
    net.run(opts.election_ticks.0 + 2);
    assert_eq!(core(&net, leader).state(), PeerState::Looking);
    net.heal();
    let next = stable_leader(&mut net, &opts.all_ids(), 300);
    assert!(core(&net, next).current_epoch() > 1);
    assert_eq!(
        core(&net, n(1)).status().term,
        core(&net, next).current_epoch()
    );
}

#[test]
fn observers_never_vote_so_a_lone_voter_with_observers_stays_looking() {
    let opts = Opts {
        voters: 3,
        observers: 2,
        ..Opts::default()
    };
    let mut net = cluster(6, opts.clone());
    net.crash(n(2));
    net.crash(n(3));
    net.run(200);
    assert_eq!(core(&net, n(1)).state(), PeerState::Looking);
    assert!(leaders(&net).is_empty());
    for o in opts.observer_ids() {
        assert_ne!(core(&net, o).state(), PeerState::Following);
        assert!(!core(&net, o).is_established_leader());
    }
}

#[test]
fn a_leader_holds_a_new_election_for_a_voter_that_promised_a_higher_epoch() {
    let mut node = hand_elected(0);
    step(&mut node, 2, ZabMessage::FollowerInfo { accepted_epoch: 0 });
    assert_eq!(node.accepted_epoch(), 1);
    // Node 3 accepted epoch 5 from a leader that failed: it would refuse
    // LEADERINFO(1) forever, so this leader gives way to a new election.
    step(&mut node, 3, ZabMessage::FollowerInfo { accepted_epoch: 5 });
    assert_eq!(node.state(), PeerState::Looking);
}

fn notification(leader: u64, election_epoch: u64) -> ZabMessage {
    ZabMessage::Notification {
        vote: Vote {
            leader: n(leader),
            zxid: Zxid::ZERO,
            peer_epoch: 0,
        },
        election_epoch,
        state: PeerState::Looking,
    }
}

#[test]
fn a_higher_election_epoch_resets_the_round_and_a_lower_one_is_answered() {
    let opts = Opts {
        voters: 5,
        ..Opts::default()
    };
    let mut node = lone_core(1, &opts, hard(0, 0), vec![]);
    tick(&mut node);
    assert_eq!(node.election_epoch(), 1);
    // Same round: node 2's vote beats ours (same epoch and zxid, higher id).
    let out = step(&mut node, 2, notification(2, 1));
    assert!(sent(&out).iter().all(|(_, m)| *m
        == ZabMessage::Notification {
            vote: Vote {
                leader: n(2),
                zxid: Zxid::ZERO,
                peer_epoch: 0
            },
            election_epoch: 1,
            state: PeerState::Looking
        }));
    assert_eq!(sent(&out).len(), 4, "a changed vote goes to every voter");
    // A later round: adopt its epoch, forget node 2's vote.
    let out = step(&mut node, 3, notification(3, 5));
    assert_eq!(node.election_epoch(), 5);
    assert!(sent(&out).iter().all(|(_, m)| matches!(
        m,
        ZabMessage::Notification { vote, election_epoch: 5, .. } if vote.leader == n(3)
    )));
    // A stale round is answered with our current vote.
    let out = step(&mut node, 5, notification(5, 2));
    assert!(matches!(
        sent(&out).as_slice(),
        [(to, ZabMessage::Notification { vote, election_epoch: 5, .. })]
            if *to == n(5) && vote.leader == n(3)
    ));
    // Node 2's old vote no longer counts: with node 4 we are three for 3.
    step(&mut node, 4, notification(3, 5));
    assert_eq!(node.state(), PeerState::Looking, "the finalize wait");
    tick(&mut node);
    tick(&mut node);
    assert_eq!(node.state(), PeerState::Following);
    assert_eq!(node.leader(), Some(n(3)));
}
