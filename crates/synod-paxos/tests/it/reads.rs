//! Linearizable reads: through the leader, confirmed by a quorum round.

use crate::common::*;
use synod_core::harness::ClientOutcome;
use synod_core::{ClientError, Proposal, RequestId};
use synod_paxos::Role;

fn read(net: &mut Net, at: synod_core::NodeId, id: u64) {
    net.propose(at, Proposal::Read { id: RequestId(id) });
}

#[test]
fn read_is_served_only_after_a_quorum_echoes_its_round() {
    let mut net = cluster(3, 11);
    let l = elect(&mut net);
    read(&mut net, l, 1);
    assert_eq!(net.outcome(l, RequestId(1)), None, "not before the round");
    net.deliver_all(100);
    assert_eq!(
        net.outcome(l, RequestId(1)),
        Some(&ClientOutcome::ReadReady)
    );
}

#[test]
fn isolated_leader_never_serves_a_read_and_answers_not_leader_when_it_steps_down() {
    let mut net = cluster(3, 12);
    let l = elect(&mut net);
    net.isolate(l);
    read(&mut net, l, 1);
    for _ in 0..60 {
        net.run(1);
        if net.core(l).unwrap().role() != Role::Leader {
            break;
        }
    }
    assert_ne!(net.core(l).unwrap().role(), Role::Leader, "check-quorum");
    assert!(matches!(
        net.outcome(l, RequestId(1)),
        Some(ClientOutcome::Replied(Err(ClientError::NotLeader { .. })))
    ));
}

#[test]
fn read_at_a_follower_is_refused_with_a_leader_hint() {
    let mut net = cluster(3, 13);
    let l = elect(&mut net);
    let f = net.ids().into_iter().find(|i| *i != l).unwrap();
    read(&mut net, f, 1);
    assert_eq!(
        net.outcome(f, RequestId(1)),
        Some(&ClientOutcome::Replied(Err(ClientError::NotLeader {
            leader: Some(l)
        })))
    );
}

#[test]
fn read_after_an_acknowledged_write_waits_until_the_write_is_applied() {
    let mut net = cluster(3, 14);
    let l = elect(&mut net);
    write(&mut net, l, 1, b"w");
    net.run(2);
    assert!(applied_at(&net, l, 1).is_some());
    read(&mut net, l, 2);
    net.run(2);
    let at_read: Vec<_> = net.outcomes().iter().map(|(_, r, _)| r.0).collect();
    let w = at_read.iter().position(|r| *r == 1).unwrap();
    let r = at_read.iter().position(|r| *r == 2).unwrap();
    assert!(w < r);
}
