//! Broadcast on the harness: proposals commit in zxid order on a quorum of
//! voters, observers learn through INFORM and never count, reads are
//! linearizable only through a quorum round, lost messages are
//! retransmitted.

use crate::common::*;
use synod_core::harness::{ClientOutcome, Envelope};
use synod_core::{AdminRequest, ClientError, Proposal, RequestId};
use synod_zab::{PeerState, ZabMessage, Zxid};

#[test]
fn writes_commit_in_zxid_order_and_every_server_delivers_the_same_sequence() {
    let opts = Opts {
        observers: 1,
        ..Opts::default()
    };
    let mut net = cluster(21, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    let epoch = core(&net, leader).current_epoch() as u32;
    for rid in 1..=5 {
        write(&mut net, leader, rid, format!("w{rid}").as_bytes());
    }
    net.run(3);
    for rid in 1..=5u32 {
        assert_eq!(
            outcome(&net, leader, u64::from(rid)),
            Some(ClientOutcome::Applied {
                index: Zxid::new(epoch, rid).0
            }),
            "the counter restarts at 1 in a new epoch and counts writes"
        );
    }
    let expected: Vec<Vec<u8>> = (1..=5).map(|r| format!("w{r}").into_bytes()).collect();
    for id in opts.all_ids() {
        assert_eq!(applied(&net, id), expected, "node {id}");
    }
}

#[test]
fn a_looking_server_refuses_writes_and_reads_and_membership_changes_are_refused() {
    let opts = Opts::default();
    let mut net = cluster(22, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    let follower = others(&opts, leader)[0];
    net.isolate(follower);
    net.run(opts.election_ticks.1 + 2);
    assert_eq!(core(&net, follower).state(), PeerState::Looking);
    write(&mut net, follower, 1, b"x");
    read(&mut net, follower, 2);
    let no_leader = ClientOutcome::Replied(Err(ClientError::NotLeader { leader: None }));
    assert_eq!(outcome(&net, follower, 1), Some(no_leader.clone()));
    assert_eq!(outcome(&net, follower, 2), Some(no_leader));
    net.propose(
        leader,
        Proposal::Admin {
            id: RequestId(3),
            request: AdminRequest::TransferLeader { to: follower },
        },
    );
    assert!(matches!(
        outcome(&net, leader, 3),
        Some(ClientOutcome::Replied(Err(ClientError::Malformed { .. })))
    ));
}

#[test]
fn an_observer_never_counts_toward_a_quorum() {
    let opts = Opts {
        voters: 3,
        observers: 2,
        ..Opts::default()
    };
    let mut net = cluster(23, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    write(&mut net, leader, 1, b"before");
    net.run(3);
    for o in opts.observer_ids() {
        assert_eq!(
            applied(&net, o),
            vec![b"before".to_vec()],
            "observers learn"
        );
        assert_eq!(core(&net, o).state(), PeerState::Observing);
    }
    for v in opts.voter_ids() {
        if v != leader {
            net.crash(v);
        }
    }
    write(&mut net, leader, 2, b"after");
    let last = core(&net, leader).last_zxid();
    let epoch = core(&net, leader).current_epoch();
    // Even an observer claiming to hold the proposal does not commit it.
    for o in opts.observer_ids() {
        net.inject(Envelope {
            from: o,
            to: leader,
            msg: ZabMessage::Ack { epoch, zxid: last },
        });
        net.inject(Envelope {
            from: o,
            to: leader,
            msg: ZabMessage::PingAck {
                epoch,
                read_seq: 0,
                last,
            },
        });
    }
    net.deliver_all(100);
    assert!(core(&net, leader).committed() < last);
    net.run(opts.election_ticks.1);
    assert_eq!(
        outcome(&net, leader, 2),
        Some(ClientOutcome::Replied(Err(ClientError::LeadershipLost)))
    );
    assert_eq!(
        core(&net, leader).state(),
        PeerState::Looking,
        "observers do not keep a leader's quorum either"
    );
    for id in opts.all_ids().into_iter().filter(|i| net.is_up(*i)) {
        assert_eq!(applied(&net, id), vec![b"before".to_vec()], "node {id}");
    }
}

#[test]
fn a_linearizable_read_waits_for_a_quorum_to_confirm_the_leader() {
    let opts = Opts::default();
    let mut net = cluster(24, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    read(&mut net, leader, 1);
    assert_eq!(outcome(&net, leader, 1), None, "not before a quorum round");
    net.deliver_all(100);
    assert_eq!(outcome(&net, leader, 1), Some(ClientOutcome::ReadReady));
    // Cut off from its followers, the leader cannot confirm a read.
    for f in others(&opts, leader) {
        net.cut_one_way(f, leader);
    }
    read(&mut net, leader, 2);
    net.deliver_all(100);
    net.tick(leader);
    net.deliver_all(100);
    assert_eq!(outcome(&net, leader, 2), None);
    net.run(opts.election_ticks.1);
    assert_eq!(
        outcome(&net, leader, 2),
        Some(ClientOutcome::Replied(Err(ClientError::LeadershipLost)))
    );
}

#[test]
fn a_lost_proposal_is_retransmitted_from_the_followers_last_ack() {
    let opts = Opts::default();
    let mut net = cluster(25, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    let follower = others(&opts, leader)[0];
    net.cut_one_way(leader, follower);
    write(&mut net, leader, 1, b"w1");
    write(&mut net, leader, 2, b"w2");
    net.deliver_all(100);
    assert!(applied(&net, follower).is_empty());
    net.heal();
    net.run(3 * opts.heartbeat_ticks + 1);
    assert_eq!(
        applied(&net, follower),
        vec![b"w1".to_vec(), b"w2".to_vec()]
    );
}

#[test]
fn a_proposal_out_of_order_is_not_logged_over_a_hole() {
    let opts = Opts::default();
    let mut net = cluster(26, opts.clone());
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    write(&mut net, leader, 1, b"w1");
    write(&mut net, leader, 2, b"w2");
    // Deliver the second proposal to every follower before the first.
    let mut flight = net.take_in_flight();
    flight.reverse();
    for e in flight {
        net.inject(e);
    }
    net.deliver_all(100);
    for f in others(&opts, leader) {
        let z = zxids(&net, f);
        assert!(
            z.windows(2)
                .all(|w| w[0].next() == w[1] || w[0].epoch() != w[1].epoch()),
            "{z:?}"
        );
    }
    net.run(3 * opts.heartbeat_ticks + 1);
    for id in opts.all_ids() {
        assert_eq!(applied(&net, id), vec![b"w1".to_vec(), b"w2".to_vec()]);
    }
}
