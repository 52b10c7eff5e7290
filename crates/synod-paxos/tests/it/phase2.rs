//! Phase 2, learning, catch-up and compaction.

use crate::common::*;
use synod_core::harness::ClientOutcome;
use synod_core::testing::drive::tick;
use synod_core::{ClientError, Output, Proposal, Protocol, RequestId};
use synod_paxos::{Ballot, PaxosMessage, PaxosNode, Role, Value};

/// A lone core made leader of a 3-node cluster by hand; returns it with the
/// number of records it emitted so far.
fn lone_leader() -> (PaxosNode, u64, Ballot) {
    let mut c = core(1, 3);
    let out = tick_until_candidate(&mut c);
    let mut emitted = out.records.len() as u64;
    let ballot = c.promised();
    let out = step(
        &mut c,
        2,
        PaxosMessage::Promise {
            ballot,
            chosen_through: 0,
            compacted_through: 0,
            reports: vec![],
        },
    );
    assert_eq!(c.role(), Role::Leader);
    emitted += out.records.len() as u64;
    (c, emitted, ballot)
}

#[test]
fn leader_counts_its_own_accept_only_after_it_is_persisted() {
    let (mut c, mut emitted, ballot) = lone_leader();
    let out = write_to(&mut c, 7, b"x");
    emitted += out.records.len() as u64;
    // The follower acknowledges slots 1 (no-op) and 2 (the write).
    let out = step(
        &mut c,
        2,
        PaxosMessage::AcceptAck {
            ballot,
            first_slot: 1,
            count: 2,
        },
    );
    assert!(out.committed.is_empty(), "one ack of three is no majority");
    let mut out = Output::new();
    c.on_persisted(emitted, &mut out);
    assert_eq!(out.committed.len(), 2);
    assert_eq!(out.committed[0].command, None, "the leader's no-op");
    assert_eq!(out.committed[1].command, Some(b"x".to_vec()));
    assert_eq!(out.committed[1].reply_to, Some(RequestId(7)));
    assert_eq!(c.chosen_through(), 2);
}

fn write_to(c: &mut PaxosNode, id: u64, command: &[u8]) -> Output<PaxosNode> {
    propose(
        c,
        Proposal::Write {
            id: RequestId(id),
            command: command.to_vec(),
        },
    )
}

/// The `(first_slot, values)` of every `Accept` in `out` to `to`.
fn accepts_to(out: &Output<PaxosNode>, to: u64) -> Vec<(u64, Vec<Value>)> {
    sent_to(out, to)
        .into_iter()
        .filter_map(|m| match m {
            PaxosMessage::Accept {
                first_slot, values, ..
            } => Some((first_slot, values)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_idle_follower_gets_a_write_at_once() {
    let (mut c, _, ballot) = lone_leader();
    // Follower 2 acknowledges the no-op (idle); follower 3 does not (busy).
    step(
        &mut c,
        2,
        PaxosMessage::AcceptAck {
            ballot,
            first_slot: 1,
            count: 1,
        },
    );
    let out = write_to(&mut c, 7, b"x");
    assert!(
        out.must_sync,
        "the leader's own acceptance is persisted at once"
    );
    assert_eq!(
        accepts_to(&out, 2),
        vec![(2, vec![Value::Command(b"x".to_vec())])]
    );
    assert!(
        out.messages.is_empty(),
        "the Accept relies on nothing being durable"
    );
    assert!(
        accepts_to(&out, 3).is_empty(),
        "follower 3 is busy: it waits"
    );
}

#[test]
fn writes_to_a_busy_follower_travel_together_in_one_accept() {
    let (mut c, mut emitted, ballot) = lone_leader();
    // Both followers have the no-op (slot 1) unacknowledged: 20 writes wait.
    let cmd = |i: u64| Value::Command(format!("w{i}").into_bytes());
    for i in 0..20 {
        let out = write_to(&mut c, 10 + i, format!("w{i}").as_bytes());
        assert!(out.must_sync);
        emitted += out.records.len() as u64;
        assert!(accepts_to(&out, 2).is_empty() && accepts_to(&out, 3).is_empty());
    }
    // Follower 2 acknowledges: everything waiting goes, max_batch_slots (16)
    // per Accept.
    let out = step(
        &mut c,
        2,
        PaxosMessage::AcceptAck {
            ballot,
            first_slot: 1,
            count: 1,
        },
    );
    assert_eq!(
        accepts_to(&out, 2),
        vec![
            (2, (0..16).map(cmd).collect()),
            (18, (16..20).map(cmd).collect())
        ]
    );
    assert!(accepts_to(&out, 3).is_empty());
    // The leader's records are durable: the busy follower 3 gets them too.
    let mut out = Output::new();
    c.on_persisted(emitted, &mut out);
    assert_eq!(accepts_to(&out, 3).len(), 2);
    assert_eq!(accepts_to(&out, 3)[0].0, 2);
    assert!(accepts_to(&out, 2).is_empty(), "nothing new for follower 2");
    // Both busy again: a write waits for the next heartbeat.
    let out = write_to(&mut c, 99, b"late");
    assert!(accepts_to(&out, 2).is_empty() && accepts_to(&out, 3).is_empty());
    let mut sent = Vec::new();
    for _ in 0..3 {
        let out = tick(&mut c);
        sent.extend(accepts_to(&out, 2));
    }
    assert!(
        sent.contains(&(22, vec![Value::Command(b"late".to_vec())])),
        "{sent:?}"
    );
}

#[test]
fn follower_learns_slots_accepted_under_the_leaders_ballot_from_its_commit_point() {
    let mut f = core(2, 3);
    let leader_ballot = Ballot::new(3, n(1));
    let other = Ballot::new(2, n(3));
    step(
        &mut f,
        3,
        PaxosMessage::Accept {
            ballot: other,
            first_slot: 2,
            values: vec![Value::Command(b"stale".to_vec())],
            commit: 0,
        },
    );
    step(
        &mut f,
        1,
        PaxosMessage::Accept {
            ballot: leader_ballot,
            first_slot: 1,
            values: vec![Value::Noop],
            commit: 0,
        },
    );
    let out = step(
        &mut f,
        1,
        PaxosMessage::Commit {
            ballot: leader_ballot,
            commit: 2,
            read_seq: 0,
        },
    );
    assert_eq!(
        f.chosen_through(),
        1,
        "slot 2 was accepted under another ballot"
    );
    assert_eq!(out.committed.len(), 1);
    assert!(
        sent_to(&out, 1)
            .iter()
            .any(|m| matches!(m, PaxosMessage::CatchUp { from_slot: 2, .. })),
        "asks for what it cannot learn from the commit point"
    );
}

#[test]
fn non_leader_refuses_writes_with_a_definite_not_leader_hint() {
    let mut net = cluster(3, 2);
    let l = elect(&mut net);
    let f = net.ids().into_iter().find(|i| *i != l).unwrap();
    write(&mut net, f, 1, b"x");
    let Some(ClientOutcome::Replied(Err(e))) = net.outcome(f, RequestId(1)) else {
        panic!("expected a direct refusal");
    };
    assert_eq!(e, &ClientError::NotLeader { leader: Some(l) });
    assert!(e.is_definite());
}

#[test]
fn writes_commit_in_one_round_trip_and_apply_in_slot_order_everywhere() {
    let mut net = cluster(5, 3);
    let l = elect(&mut net);
    for i in 0..20u64 {
        write(&mut net, l, 100 + i, &i.to_le_bytes());
    }
    net.run(5);
    let mut last = 0;
    for i in 0..20u64 {
        let index = applied_at(&net, l, 100 + i).expect("write applied on the leader");
        assert!(index > last, "slots increase with proposal order");
        last = index;
    }
    let expected: Vec<Vec<u8>> = (0..20u64).map(|i| i.to_le_bytes().to_vec()).collect();
    for id in net.ids() {
        assert_eq!(commands(&net, id), expected, "node {id}");
    }
}

#[test]
fn partitioned_follower_catches_up_from_decisions_after_heal() {
    let mut net = cluster(3, 4);
    let l = elect(&mut net);
    let f = net.ids().into_iter().find(|i| *i != l).unwrap();
    net.isolate(f);
    for i in 0..40u64 {
        write(&mut net, l, i + 1, &[i as u8]);
        net.run(1);
    }
    assert!(commands(&net, f).is_empty());
    net.heal();
    net.run(30);
    assert_eq!(commands(&net, f), commands(&net, l));
    assert_eq!(commands(&net, f).len(), 40);
}

#[test]
fn follower_behind_compaction_catches_up_from_a_chunked_snapshot() {
    let mut net = cluster(3, 5);
    net.set_snapshot_every(Some(5));
    let l = elect(&mut net);
    let f = net.ids().into_iter().find(|i| *i != l).unwrap();
    net.isolate(f);
    for i in 0..30u64 {
        write(&mut net, l, i + 1, &[i as u8; 8]);
        net.run(1);
    }
    assert!(
        net.core(l).unwrap().snapshot_index() > 5,
        "the leader compacted"
    );
    net.heal();
    let mut chunks = 0;
    for _ in 0..200 {
        net.tick_all();
        for _ in 0..1000 {
            if let Some(env) = net.in_flight().front() {
                if matches!(env.msg, PaxosMessage::SnapshotChunk { .. }) {
                    chunks += 1;
                }
            }
            if !net.deliver_next() {
                break;
            }
        }
    }
    assert!(chunks > 1, "the snapshot came in several chunks ({chunks})");
    assert_eq!(commands(&net, f), commands(&net, l));
    assert_eq!(commands(&net, f).len(), 30);
}
