//! SWIM rules on single cores driven by hand: refutation, dead members,
//! the probe sequence, relayed acks, and what `status` reports.

use crate::common::*;
use synod_core::Protocol;
use synod_gossip::{GossipHardState, GossipMessage, MemberState, MemberUpdate};

fn news(node: u64, incarnation: u64, state: MemberState) -> MemberUpdate {
    MemberUpdate {
        node: n(node),
        incarnation,
        state,
    }
}

#[test]
fn status_reports_membership_instead_of_a_leader() {
    let mut a = single(1, 3);
    step(
        &mut a,
        2,
        GossipMessage::Ping {
            probe: 1,
            members: vec![news(3, 0, MemberState::Suspect)],
        },
    );
    let s = a.status();
    assert_eq!((s.protocol.as_str(), s.role.as_str()), ("gossip", "member"));
    assert_eq!(s.leader, None);
    assert_eq!(s.voters, vec![n(1), n(2)]);
    assert_eq!(s.learners, vec![n(3)], "suspects are reported as learners");
}

#[test]
fn suspicion_of_self_is_refuted_with_a_durable_higher_incarnation() {
    let mut a = single(1, 3);
    tick(&mut a);
    let out = step(
        &mut a,
        2,
        GossipMessage::Ping {
            probe: 5,
            members: vec![news(1, 0, MemberState::Suspect)],
        },
    );
    assert_eq!(out.hard_state, Some(GossipHardState { incarnation: 1 }));
    let (to, ack) = &out.messages[0];
    assert_eq!(*to, n(2));
    let GossipMessage::Ack {
        probe,
        alive,
        members,
    } = ack
    else {
        panic!("expected an ack, got {ack:?}");
    };
    assert_eq!((*probe, *alive), (5, n(1)));
    assert!(members.contains(&news(1, 1, MemberState::Alive)));
}

#[test]
fn a_dead_members_messages_do_not_resurrect_it_without_a_new_incarnation() {
    let mut a = single(1, 3);
    step(
        &mut a,
        3,
        GossipMessage::Ping {
            probe: 1,
            members: vec![news(2, 0, MemberState::Dead)],
        },
    );
    assert_eq!(a.member(n(2)).unwrap().state, MemberState::Dead);
    let out = step(
        &mut a,
        2,
        GossipMessage::Ping {
            probe: 2,
            members: vec![],
        },
    );
    assert_eq!(a.member(n(2)).unwrap().state, MemberState::Dead);
    let GossipMessage::Ack { members, .. } = &out.messages[0].1 else {
        panic!("a dead member's ping is still answered");
    };
    assert!(
        members.contains(&news(2, 0, MemberState::Dead)),
        "the answer tells it that it is considered dead, so it can refute"
    );
    step(
        &mut a,
        2,
        GossipMessage::Ping {
            probe: 3,
            members: vec![news(2, 1, MemberState::Alive)],
        },
    );
    assert_eq!(a.member(n(2)), Some(news(2, 1, MemberState::Alive)));
}

#[test]
fn an_unanswered_probe_goes_indirect_then_suspects_then_declares_death() {
    let mut a = single(1, 3);
    let mut target = None;
    let mut saw_ping_req = false;
    for _ in 0..200 {
        let out = tick(&mut a);
        for (to, msg) in &out.messages {
            match msg {
                GossipMessage::Ping { .. } => target = Some(*to),
                GossipMessage::PingReq { target: t, .. } => {
                    assert_eq!(Some(*t), target);
                    assert_ne!(Some(*to), target, "helpers are other members");
                    saw_ping_req = true;
                }
                _ => {}
            }
        }
        if a.member(n(2)).unwrap().state == MemberState::Dead
            && a.member(n(3)).unwrap().state == MemberState::Dead
        {
            break;
        }
    }
    assert!(saw_ping_req);
    assert_eq!(a.alive_members(), vec![n(1)]);
    let stats = a.detector_stats();
    assert_eq!((stats.suspicions_raised, stats.deaths_declared), (2, 2));
}

#[test]
fn a_ping_req_is_relayed_and_only_the_matching_ack_is_forwarded() {
    let mut b = single(2, 3);
    let out = step(
        &mut b,
        1,
        GossipMessage::PingReq {
            probe: 7,
            target: n(3),
            members: vec![],
        },
    );
    let (to, GossipMessage::Ping { probe: relay, .. }) = &out.messages[0] else {
        panic!("expected a ping to the target");
    };
    assert_eq!(*to, n(3));
    let forged = step(
        &mut b,
        3,
        GossipMessage::Ack {
            probe: *relay,
            alive: n(1),
            members: vec![],
        },
    );
    assert!(
        forged.messages.is_empty(),
        "an ack vouching for someone else"
    );
    let out = step(
        &mut b,
        3,
        GossipMessage::Ack {
            probe: *relay,
            alive: n(3),
            members: vec![],
        },
    );
    assert!(matches!(
        &out.messages[..],
        [(to, GossipMessage::Ack { probe: 7, alive, .. })] if *to == n(1) && *alive == n(3)
    ));
}

#[test]
fn a_member_back_from_the_dead_is_synced_with_at_once() {
    let mut a = single(1, 3);
    step(
        &mut a,
        3,
        GossipMessage::Ping {
            probe: 1,
            members: vec![news(2, 0, MemberState::Dead)],
        },
    );
    let out = step(
        &mut a,
        3,
        GossipMessage::Ping {
            probe: 2,
            members: vec![news(2, 1, MemberState::Alive)],
        },
    );
    assert!(
        out.messages
            .iter()
            .any(|(to, m)| *to == n(2) && matches!(m, GossipMessage::SyncRequest { .. })),
        "with fanout 3 and two others, every member that notices syncs: {:?}",
        out.messages
    );
}
