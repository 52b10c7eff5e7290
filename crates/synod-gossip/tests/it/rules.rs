//! One rule per test, on single cores driven by hand: the exact effects a
//! member emits for writes, reads, updates from peers, SWIM messages and a
//! restart.

use crate::common::*;
use synod_core::{
    codec, AdminRequest, ClientError, Output, Proposal, Recovered, RequestId, SeededRng, Snapshot,
    Stamp, Stamped,
};
use synod_gossip::{
    Digest, GossipHardState, GossipMessage, GossipNode, MemberState, MemberUpdate, Update,
};

fn write_at(node: &mut GossipNode, rid: u64, command: &[u8]) -> Output<GossipNode> {
    propose(
        node,
        Proposal::Write {
            id: RequestId(rid),
            command: synod_core::Stamped::proposal(command.to_vec()),
        },
    )
}

fn update(origin: u64, seq: u64, clock: u64) -> Update {
    Update {
        origin: n(origin),
        seq,
        stamped: Stamped {
            stamp: Stamp {
                clock,
                node: n(origin),
            },
            command: vec![origin as u8, seq as u8],
        },
    }
}

fn news(node: u64, incarnation: u64, state: MemberState) -> MemberUpdate {
    MemberUpdate {
        node: n(node),
        incarnation,
        state,
    }
}

fn rumour(updates: Vec<Update>) -> GossipMessage {
    GossipMessage::Rumour {
        updates,
        members: vec![],
    }
}

#[test]
fn a_write_is_stamped_persisted_and_answered_in_one_output() {
    let mut a = single(1, 3);
    let out = write_at(&mut a, 7, b"x");
    assert_eq!(out.records.len(), 1);
    assert!(out.must_sync, "the write is synced before it is answered");
    assert_eq!(out.records[0].position, 1);
    assert_eq!(out.records[0].update.seq, 1);
    let c = &out.committed[0];
    assert_eq!((c.index, c.reply_to), (1, Some(RequestId(7))));
    let stamped: Stamped = codec::decode(c.command.as_ref().unwrap()).unwrap();
    assert_eq!(
        stamped.stamp,
        Stamp {
            clock: 1,
            node: n(1)
        }
    );
    assert_eq!(stamped.command, b"x".to_vec());
    assert_eq!(out.hard_state, Some(GossipHardState { incarnation: 0 }));
    let second = write_at(&mut a, 8, b"y");
    assert_eq!(second.committed[0].index, 2);
    assert_eq!(
        second.hard_state, None,
        "hard state is written only when it changes"
    );
}

#[test]
fn reads_are_served_locally_at_once_and_admin_is_refused() {
    let mut a = single(1, 3);
    let out = propose(&mut a, Proposal::Read { id: RequestId(1) });
    assert_eq!(out.reads, vec![RequestId(1)]);
    let out = propose(
        &mut a,
        Proposal::Admin {
            id: RequestId(2),
            request: AdminRequest::AddVoter { node: n(4) },
        },
    );
    assert!(matches!(
        out.replies[0].result,
        Err(ClientError::Malformed { .. })
    ));
}

#[test]
fn an_update_from_a_peer_is_applied_once_without_a_reply() {
    let mut a = single(1, 3);
    let out = step(&mut a, 2, rumour(vec![update(2, 1, 4)]));
    assert_eq!(out.committed.len(), 1);
    assert_eq!(out.committed[0].reply_to, None);
    assert_eq!(out.records.len(), 1);
    let again = step(&mut a, 3, rumour(vec![update(2, 1, 4)]));
    assert!(again.committed.is_empty() && again.records.is_empty());
    assert_eq!(a.update_count(), 1);
}

#[test]
fn the_lamport_clock_advances_past_every_update_received() {
    let mut a = single(1, 3);
    step(&mut a, 2, rumour(vec![update(2, 1, 10)]));
    let out = write_at(&mut a, 1, b"z");
    let stamped: Stamped = codec::decode(out.committed[0].command.as_ref().unwrap()).unwrap();
    assert_eq!(stamped.stamp.clock, 11);
}

#[test]
fn malformed_updates_are_ignored() {
    let mut a = single(1, 3);
    let mut forged = update(2, 1, 1);
    forged.stamped.stamp.node = n(3);
    let zero_seq = update(2, 0, 1);
    let out = step(&mut a, 2, rumour(vec![forged, zero_seq, update(0, 1, 1)]));
    assert!(out.committed.is_empty());
}

#[test]
fn anti_entropy_sends_only_what_the_peer_lacks_and_pulls_back() {
    let mut a = single(1, 3);
    for i in 0..3 {
        write_at(&mut a, i, &[i as u8]);
    }
    let digest = Digest::from([(n(1), 2), (n(2), 1)]);
    let out = step(
        &mut a,
        2,
        GossipMessage::SyncRequest {
            digest,
            members: vec![],
        },
    );
    let GossipMessage::SyncReply {
        updates, digest, ..
    } = &out.messages[0].1
    else {
        panic!("expected a sync reply");
    };
    let keys: Vec<_> = updates.iter().map(|u| (u.origin.0, u.seq)).collect();
    assert_eq!(keys, vec![(1, 3)]);
    assert_eq!(digest, &Digest::from([(n(1), 3)]));
    // The requester's side: it learns the reply and pushes what the
    // responder lacks.
    let mut b = single(2, 3);
    write_at(&mut b, 1, b"b");
    let out = step(
        &mut b,
        1,
        GossipMessage::SyncReply {
            digest: digest.clone(),
            updates: updates.clone(),
            members: vec![],
        },
    );
    assert_eq!(out.committed.len(), 1);
    assert!(matches!(
        &out.messages[..],
        [(_, GossipMessage::SyncPush { updates })] if updates.len() == 1 && updates[0].origin == n(2)
    ));
}

#[test]
fn a_restart_bumps_the_incarnation_and_replays_what_the_snapshot_lacks() {
    let mut a = single(1, 3);
    let mut records = Vec::new();
    let mut hard = None;
    for i in 0..3 {
        let mut out = write_at(&mut a, i, &[i as u8]);
        records.append(&mut out.records);
        hard = out.hard_state.or(hard);
    }
    let recovered = Recovered::<GossipNode> {
        hard_state: hard,
        snapshot: Some(Snapshot {
            position: 1,
            meta: vec![],
            data: vec![],
        }),
        records,
    };
    let mut b = GossipNode::new(config(n(1), &ids(3)), recovered, SeededRng::new(9));
    let out = tick(&mut b);
    let replayed: Vec<_> = out
        .committed
        .iter()
        .map(|c| (c.index, c.reply_to))
        .collect();
    assert_eq!(replayed, vec![(2, None), (3, None)]);
    assert_eq!(out.hard_state, Some(GossipHardState { incarnation: 1 }));
    assert_eq!(b.update_count(), 3);
    let out = write_at(&mut b, 9, b"after");
    assert_eq!(out.committed[0].index, 4);
    assert_eq!(out.records[0].update.seq, 4, "sequence numbers continue");
    assert!(
        out.records[0].update.stamped.stamp.clock > 3,
        "the clock continues"
    );
}

#[test]
fn messages_from_strangers_and_garbage_never_panic() {
    let mut a = single(1, 3);
    let junk = vec![
        GossipMessage::Ack {
            probe: 999,
            alive: n(42),
            members: vec![],
        },
        GossipMessage::PingReq {
            probe: 1,
            target: n(0),
            members: vec![],
        },
        GossipMessage::PingReq {
            probe: 1,
            target: n(1),
            members: vec![],
        },
        GossipMessage::SyncReply {
            digest: Digest::from([(n(7), u64::MAX)]),
            updates: vec![update(7, u64::MAX, u64::MAX)],
            members: vec![
                news(0, u64::MAX, MemberState::Dead),
                news(1, u64::MAX, MemberState::Dead),
            ],
        },
        GossipMessage::SyncPush {
            updates: vec![update(9, 5, 0)],
        },
        GossipMessage::SyncRequest {
            digest: Digest::new(),
            members: vec![],
        },
    ];
    for msg in junk {
        step(&mut a, 99, msg.clone());
        step(&mut a, 0, msg);
    }
    for _ in 0..50 {
        tick(&mut a);
    }
    write_at(&mut a, 1, b"still works");
}

#[test]
fn a_write_that_is_not_an_encoded_stamped_proposal_is_refused_definitely() {
    let mut a = single(1, 3);
    let out = propose(
        &mut a,
        Proposal::Write {
            id: RequestId(9),
            command: vec![0xff],
        },
    );
    assert!(out.committed.is_empty() && out.records.is_empty());
    assert!(matches!(
        out.replies[0].result,
        Err(ClientError::Malformed { .. })
    ));
}
