//! Membership changes (dissertation §4.1), learners and leadership transfer
//! (§3.10).

use crate::common::*;
use synod_core::harness::ClientOutcome;
use synod_core::{AdminRequest, ClientError, NodeId};
use synod_raft::Role;

fn ok(net: &Net, at: NodeId, rid: u64) -> bool {
    outcome(net, at, rid) == Some(ClientOutcome::Replied(Ok(Vec::new())))
}

/// Node 4 joins a 3-voter cluster as a voter: its config entry commits,
/// every node sees 4 voters, and from then on node 4's acknowledgement is
/// needed for a quorum of 3.
#[test]
fn add_voter_joins_the_quorum() {
    let opts = Opts {
        voters: Some(ids(3)),
        ..Opts::default()
    };
    let mut net = cluster(4, 61, opts);
    let leader = stable_leader(&mut net, 200);
    assert!(
        core(&net, n(4)).membership().voters.is_empty(),
        "joiner starts empty"
    );
    admin(&mut net, leader, 1, AdminRequest::AddVoter { node: n(4) });
    net.run(5);
    assert!(ok(&net, leader, 1), "{:?}", outcome(&net, leader, 1));
    for id in net.ids() {
        assert_eq!(
            net.statuses()[id.0 as usize - 1].voters,
            ids(4),
            "node {id}"
        );
    }
    // With two of the original followers down, the leader and node 4 are
    // not enough (3 of 4 needed)...
    let down: Vec<NodeId> = ids(3).into_iter().filter(|&i| i != leader).collect();
    net.crash(down[0]);
    write(&mut net, leader, 2, b"three-of-four");
    net.run(3);
    assert_eq!(
        outcome(&net, leader, 2),
        Some(ClientOutcome::Applied {
            index: core(&net, leader).commit_index()
        }),
        "leader + remaining original + node 4 commit"
    );
    net.crash(down[1]);
    write(&mut net, leader, 3, b"two-of-four");
    for _ in 0..5 {
        net.tick(leader);
        net.deliver_all(1000);
    }
    assert_eq!(outcome(&net, leader, 3), None, "two of four committed");
}

/// Removing a voter shrinks the quorum; the removed node stops campaigning
/// (it is not a voter in its own view) and gets nothing more.
#[test]
fn remove_voter_shrinks_the_quorum() {
    let mut net = cluster(3, 62, Opts::default());
    let leader = stable_leader(&mut net, 200);
    let gone = net.ids().into_iter().find(|&i| i != leader).unwrap();
    admin(&mut net, leader, 1, AdminRequest::RemoveNode { node: gone });
    net.run(5);
    assert!(ok(&net, leader, 1));
    assert!(!core(&net, leader).membership().contains(gone));
    assert!(
        !core(&net, gone).membership().contains(gone),
        "it saw its removal"
    );
    for _ in 0..200 {
        net.tick(gone);
        assert_eq!(core(&net, gone).role(), Role::Follower);
    }
    // Two voters left: both are needed.
    let other = net
        .ids()
        .into_iter()
        .find(|&i| i != leader && i != gone)
        .unwrap();
    write(&mut net, leader, 2, b"x");
    net.run(3);
    assert!(matches!(
        outcome(&net, leader, 2),
        Some(ClientOutcome::Applied { .. })
    ));
    assert!(!applied(&net, gone).contains(&b"x".to_vec()));
    assert_eq!(applied(&net, other), vec![b"x".to_vec()]);
}

/// A leader that removes itself keeps leading until the change commits,
/// then steps down; the remaining voters elect a leader among themselves.
#[test]
fn leader_removing_itself_steps_down_after_commit() {
    let mut net = cluster(3, 63, Opts::default());
    let leader = stable_leader(&mut net, 200);
    admin(
        &mut net,
        leader,
        1,
        AdminRequest::RemoveNode { node: leader },
    );
    net.run(3);
    assert!(ok(&net, leader, 1));
    assert_ne!(core(&net, leader).role(), Role::Leader);
    let new = stable_leader(&mut net, 300);
    assert_ne!(new, leader);
    assert_eq!(core(&net, new).membership().voters.len(), 2);
}

/// One change at a time, and only once the leader committed in its term:
/// a second change while the first is uncommitted is refused, definitely.
#[test]
fn one_membership_change_at_a_time() {
    let opts = Opts {
        voters: Some(ids(3)),
        ..Opts::default()
    };
    let mut net = cluster(5, 64, opts);
    let leader = stable_leader(&mut net, 200);
    admin(&mut net, leader, 1, AdminRequest::AddLearner { node: n(4) });
    admin(&mut net, leader, 2, AdminRequest::AddLearner { node: n(5) });
    let Some(ClientOutcome::Replied(Err(e))) = outcome(&net, leader, 2) else {
        panic!("second change accepted");
    };
    assert!(matches!(e, ClientError::Unavailable { .. }) && e.is_definite());
    net.run(3);
    assert!(ok(&net, leader, 1));
    admin(&mut net, leader, 3, AdminRequest::AddLearner { node: n(5) });
    net.run(3);
    assert!(ok(&net, leader, 3));
    let st = &net.statuses()[leader.0 as usize - 1];
    assert_eq!(st.learners, vec![n(4), n(5)]);
    assert_eq!(net.statuses()[3].role, "learner");
    // A no-op change is answered at once; a refused one definitely.
    admin(&mut net, leader, 4, AdminRequest::AddLearner { node: n(5) });
    assert!(ok(&net, leader, 4));
    admin(
        &mut net,
        leader,
        5,
        AdminRequest::AddLearner { node: leader },
    );
    assert!(matches!(
        outcome(&net, leader, 5),
        Some(ClientOutcome::Replied(Err(ClientError::Malformed { .. })))
    ));
    // Learners follow the log, then one is promoted.
    write(&mut net, leader, 6, b"x");
    admin(&mut net, leader, 7, AdminRequest::AddVoter { node: n(4) });
    net.run(5);
    assert!(ok(&net, leader, 7));
    assert_eq!(applied(&net, n(5)), vec![b"x".to_vec()]);
    assert_eq!(
        core(&net, n(5)).membership().voters,
        [1, 2, 3, 4].map(NodeId).into()
    );
}

/// Leadership transfer: the leader brings the target up to date, sends
/// TimeoutNow, and the target wins the next term at once (without waiting
/// for an election timeout and despite the other followers' lease).
#[test]
fn leadership_transfer_hands_over_to_the_target() {
    let mut net = cluster(3, 65, Opts::default());
    let leader = stable_leader(&mut net, 200);
    let term = core(&net, leader).term();
    let target = net.ids().into_iter().find(|&i| i != leader).unwrap();
    // Make the target lag so the leader must catch it up first.
    net.cut(leader, target);
    for i in 1..=5 {
        write(&mut net, leader, i, &[i as u8]);
    }
    net.deliver_all(1000);
    net.heal();
    admin(
        &mut net,
        leader,
        10,
        AdminRequest::TransferLeader { to: target },
    );
    // Writes are refused while the transfer is under way.
    write(&mut net, leader, 11, b"during");
    assert!(matches!(
        outcome(&net, leader, 11),
        Some(ClientOutcome::Replied(Err(ClientError::Unavailable { .. })))
    ));
    net.deliver_all(10_000);
    assert!(ok(&net, leader, 10));
    assert_eq!(core(&net, target).role(), Role::Leader);
    assert_eq!(core(&net, target).term(), term + 1);
    assert_eq!(core(&net, leader).role(), Role::Follower);
    net.run(3);
    assert_eq!(applied(&net, target).len(), 5);
    assert_eq!(current_leader(&net), Some(target));
}

/// Transfer to a node that is not a voter is refused; a transfer to a
/// target that cannot catch up times out and the leader resumes.
#[test]
fn leadership_transfer_refusals_and_timeout() {
    let opts = Opts {
        voters: Some(ids(3)),
        ..Opts::default()
    };
    let mut net = cluster(4, 66, opts);
    let leader = stable_leader(&mut net, 200);
    admin(
        &mut net,
        leader,
        1,
        AdminRequest::TransferLeader { to: n(4) },
    );
    assert!(matches!(
        outcome(&net, leader, 1),
        Some(ClientOutcome::Replied(Err(ClientError::Malformed { .. })))
    ));
    let target = ids(3).into_iter().find(|&i| i != leader).unwrap();
    net.crash(target);
    write(&mut net, leader, 2, b"x");
    net.run(2);
    admin(
        &mut net,
        leader,
        3,
        AdminRequest::TransferLeader { to: target },
    );
    net.run(Opts::default().election_ticks.0 + 1);
    assert!(matches!(
        outcome(&net, leader, 3),
        Some(ClientOutcome::Replied(Err(ClientError::Unavailable { .. })))
    ));
    assert_eq!(core(&net, leader).role(), Role::Leader);
    write(&mut net, leader, 4, b"y");
    net.run(2);
    assert!(matches!(
        outcome(&net, leader, 4),
        Some(ClientOutcome::Applied { .. })
    ));
    admin(
        &mut net,
        leader,
        5,
        AdminRequest::TransferLeader { to: leader },
    );
    assert!(ok(&net, leader, 5));
}

/// Dissertation §4.2.2, the removed leader: a leader appends its own
/// removal and loses leadership before the remaining voter has the entry.
/// The remaining voter cannot win (it needs the old leader's vote, refused
/// for its shorter log), so the removed node may still run while its
/// removal is uncommitted: it wins with the new configuration's votes,
/// commits its removal and steps down.
#[test]
fn removed_leader_that_lost_leadership_still_completes_its_removal() {
    let opts = Opts {
        voters: Some(vec![n(1), n(2)]),
        ..Opts::default()
    };
    let mut net = cluster(2, 67, opts);
    let mut leader = stable_leader(&mut net, 200);
    if leader != n(2) {
        admin(
            &mut net,
            leader,
            1,
            AdminRequest::TransferLeader { to: n(2) },
        );
        net.run(5);
        leader = stable_leader(&mut net, 200);
    }
    assert_eq!(leader, n(2));
    net.isolate(n(2));
    admin(&mut net, n(2), 2, AdminRequest::RemoveNode { node: n(2) });
    assert_eq!(core(&net, n(2)).membership().voters, [n(1)].into());
    assert_eq!(core(&net, n(1)).membership().voters, [n(1), n(2)].into());
    net.run(30);
    assert_ne!(
        core(&net, n(2)).role(),
        Role::Leader,
        "check-quorum stepped it down"
    );
    assert!(matches!(
        outcome(&net, n(2), 2),
        Some(ClientOutcome::Replied(Err(ClientError::LeadershipLost)))
    ));
    net.heal();
    let leader = stable_leader(&mut net, 300);
    net.run(20);
    let leader = current_leader(&net).unwrap_or(leader);
    assert_eq!(leader, n(1));
    for id in [n(1), n(2)] {
        assert_eq!(
            core(&net, id).membership().voters,
            [n(1)].into(),
            "node {id}"
        );
    }
    write(&mut net, n(1), 3, b"alone");
    net.run(2);
    assert!(matches!(
        outcome(&net, n(1), 3),
        Some(ClientOutcome::Applied { .. })
    ));
}
