//! Writes at learners: forwarded to the leader (REQUEST), answered by the
//! learner when it delivers them, never proposed twice, never answered for
//! another life of the learner, and answered with an indefinite error when
//! the learner loses its leader or waits too long.

use crate::common::*;
use synod_core::harness::{ClientOutcome, Envelope};
use synod_core::{ClientError, NodeId};
use synod_zab::{ZabMessage, Zxid};

fn is_request(e: &Envelope<ZabMessage>) -> bool {
    matches!(e.msg, ZabMessage::Request { .. })
}

/// A settled ensemble: the network, its leader and one of its followers.
fn settled(seed: u64, opts: &Opts) -> (Net, NodeId, NodeId) {
    let mut net = cluster(seed, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    let follower = others(opts, leader)[0];
    (net, leader, follower)
}

/// Request 7 ("old life") forwarded, the follower restarted, request 7
/// ("new life") forwarded again: both REQUESTs, held back, old first.
fn request_seven_of_two_lives(
    net: &mut Net,
    opts: &Opts,
    follower: NodeId,
) -> (Envelope<ZabMessage>, Envelope<ZabMessage>) {
    write(net, follower, 7, b"old life");
    let old = withhold(net, is_request);
    net.crash(follower);
    net.restart(follower);
    stable_leader(net, &opts.all_ids(), 200);
    // Request numbers start over: the new life reuses 7.
    write(net, follower, 7, b"new life");
    let new = withhold(net, is_request);
    assert_eq!((old.len(), new.len()), (1, 1));
    (old[0].clone(), new[0].clone())
}

#[test]
fn a_learner_forwards_a_write_and_answers_it_once_it_delivers_it() {
    let opts = Opts {
        observers: 1,
        ..Opts::default()
    };
    let (mut net, leader, follower) = settled(41, &opts);
    let epoch = core(&net, leader).current_epoch() as u32;
    let observer = opts.observer_ids()[0];
    write(&mut net, follower, 1, b"via follower");
    net.run(3);
    write(&mut net, observer, 2, b"via observer");
    net.run(3);
    assert_eq!(
        outcome(&net, follower, 1),
        Some(ClientOutcome::Applied {
            index: Zxid::new(epoch, 1).0
        })
    );
    assert_eq!(
        outcome(&net, observer, 2),
        Some(ClientOutcome::Applied {
            index: Zxid::new(epoch, 2).0
        })
    );
    for id in opts.all_ids() {
        assert_eq!(
            applied(&net, id),
            vec![b"via follower".to_vec(), b"via observer".to_vec()],
            "node {id}"
        );
    }
}

#[test]
fn a_duplicated_request_is_proposed_once() {
    let opts = Opts::default();
    let (mut net, _, follower) = settled(42, &opts);
    write(&mut net, follower, 1, b"once");
    let request = withhold(&mut net, is_request);
    assert_eq!(request.len(), 1);
    net.inject(request[0].clone());
    net.inject(request[0].clone());
    net.run(3);
    for id in opts.all_ids() {
        assert_eq!(applied(&net, id), vec![b"once".to_vec()], "node {id}");
    }
    assert!(matches!(
        outcome(&net, follower, 1),
        Some(ClientOutcome::Applied { .. })
    ));
}

#[test]
fn a_write_an_earlier_life_forwarded_never_answers_this_lifes_request_of_the_same_number() {
    let opts = Opts::default();
    let (mut net, leader, follower) = settled(43, &opts);
    let epoch = core(&net, leader).current_epoch() as u32;
    let (old, new) = request_seven_of_two_lives(&mut net, &opts, follower);
    net.inject(old);
    net.inject(new);
    net.run(3);
    assert_eq!(
        applied(&net, follower),
        vec![b"old life".to_vec(), b"new life".to_vec()]
    );
    assert_eq!(
        outcome(&net, follower, 7),
        Some(ClientOutcome::Applied {
            index: Zxid::new(epoch, 2).0
        }),
        "answered with the old life's transaction"
    );
}

#[test]
fn a_learner_that_loses_its_leader_answers_its_forwarded_writes_leadership_lost() {
    let opts = Opts::default();
    let (mut net, leader, follower) = settled(44, &opts);
    write(&mut net, follower, 1, b"lost");
    withhold(&mut net, is_request);
    net.isolate(leader);
    net.run(opts.election_ticks.1 + 2);
    assert_eq!(
        outcome(&net, follower, 1),
        Some(ClientOutcome::Replied(Err(ClientError::LeadershipLost)))
    );
}

#[test]
fn a_forwarded_write_not_delivered_in_time_is_answered_timeout() {
    let opts = Opts::default();
    let (mut net, leader, follower) = settled(45, &opts);
    write(&mut net, follower, 1, b"dropped");
    withhold(&mut net, is_request);
    let limit = core(&net, follower).config().forward_timeout_ticks;
    net.run(limit - 1);
    assert_eq!(outcome(&net, follower, 1), None, "still waiting");
    net.run(1);
    assert_eq!(
        outcome(&net, follower, 1),
        Some(ClientOutcome::Replied(Err(ClientError::Timeout)))
    );
    assert_eq!(core(&net, follower).leader(), Some(leader), "never lost it");
}

#[test]
fn a_write_the_leader_refuses_reaches_the_learners_client_as_its_definite_error() {
    let opts = Opts {
        max_uncommitted_proposals: 1,
        ..Opts::default()
    };
    let (mut net, leader, follower) = settled(46, &opts);
    write(&mut net, leader, 1, b"committed");
    net.run(3);
    // One proposal the followers have not seen yet: the leader is at its
    // limit of uncommitted proposals.
    write(&mut net, leader, 3, b"pending");
    let proposals = withhold(&mut net, |e| matches!(e.msg, ZabMessage::Proposal { .. }));
    write(&mut net, follower, 2, b"refused");
    net.deliver(follower, leader);
    net.deliver(leader, follower);
    assert!(
        matches!(
            outcome(&net, follower, 2),
            Some(ClientOutcome::Replied(Err(ClientError::Unavailable { .. })))
        ),
        "{:?}",
        outcome(&net, follower, 2)
    );
    for p in proposals {
        net.inject(p);
    }
    net.run(3);
    assert_eq!(
        applied(&net, follower),
        vec![b"committed".to_vec(), b"pending".to_vec()]
    );
}

#[test]
fn a_refusal_of_an_earlier_lifes_request_never_answers_this_lifes_request_of_the_same_number() {
    let opts = Opts {
        max_uncommitted_proposals: 1,
        ..Opts::default()
    };
    let (mut net, leader, follower) = settled(47, &opts);
    let epoch = core(&net, leader).current_epoch() as u32;
    write(&mut net, leader, 1, b"committed");
    net.run(3);
    let (old, new) = request_seven_of_two_lives(&mut net, &opts, follower);
    // The leader is at its limit when the old life's request arrives.
    write(&mut net, leader, 2, b"pending");
    let proposals = withhold(&mut net, |e| matches!(e.msg, ZabMessage::Proposal { .. }));
    net.inject(old);
    net.deliver(follower, leader);
    net.deliver(leader, follower);
    assert_eq!(outcome(&net, follower, 7), None, "refused for the old life");
    for p in proposals {
        net.inject(p);
    }
    net.run(3);
    net.inject(new);
    net.run(3);
    assert_eq!(
        applied(&net, follower),
        vec![
            b"committed".to_vec(),
            b"pending".to_vec(),
            b"new life".to_vec()
        ]
    );
    assert_eq!(
        outcome(&net, follower, 7),
        Some(ClientOutcome::Applied {
            index: Zxid::new(epoch, 3).0
        })
    );
}

/// Delivers until quiet, holding back every COMMIT and PING to `learner`
/// (so it learns of no commit); returns them.
fn deliver_without_commits_to(net: &mut Net, learner: NodeId) -> Vec<Envelope<ZabMessage>> {
    let mut held = Vec::new();
    loop {
        held.extend(withhold(net, |e| {
            e.to == learner && matches!(e.msg, ZabMessage::Commit { .. } | ZabMessage::Ping { .. })
        }));
        if !net.deliver_next() {
            return held;
        }
    }
}

#[test]
fn a_learner_serves_a_linearizable_read_once_the_leader_confirmed_it_and_it_applied_the_commit_point(
) {
    let opts = Opts::default();
    let (mut net, leader, follower) = settled(48, &opts);
    write(&mut net, leader, 1, b"x");
    let mut held = deliver_without_commits_to(&mut net, follower);
    assert_eq!(applied(&net, leader), vec![b"x".to_vec()]);
    assert!(
        applied(&net, follower).is_empty(),
        "logged, not known committed"
    );
    read(&mut net, follower, 2);
    assert!(
        net.in_flight()
            .iter()
            .any(|e| matches!(e.msg, ZabMessage::SyncRequest { .. })),
        "the read goes to the leader as a sync"
    );
    // The leader's ping round, echoed by the other follower, confirms the
    // read; its answer reaches the follower, which has not applied x.
    held.extend(deliver_without_commits_to(&mut net, follower));
    assert_eq!(outcome(&net, follower, 2), None, "served before applying x");
    for e in held {
        net.inject(e);
    }
    net.run(2);
    assert_eq!(outcome(&net, follower, 2), Some(ClientOutcome::ReadReady));
    assert_eq!(applied(&net, follower), vec![b"x".to_vec()]);
}
