//! Phase 1: the acceptor's promises, and what a new leader proposes.

use crate::common::*;
use synod_core::{Output, Protocol};
use synod_paxos::{Ballot, PaxosMessage, PaxosRecord, Role, SlotReport, Value};

fn b(round: u64, node: u64) -> Ballot {
    Ballot::new(round, n(node))
}

#[test]
fn acceptor_that_promised_ballot_2_rejects_proposal_1_and_accepts_ballot_2() {
    let mut a = core(1, 3);
    let out = step(
        &mut a,
        3,
        PaxosMessage::Prepare {
            ballot: b(2, 3),
            first_slot: 1,
        },
    );
    assert_eq!(
        out.hard_state.unwrap().promised,
        b(2, 3),
        "promise is durable"
    );
    assert!(matches!(sent_to(&out, 3)[0], PaxosMessage::Promise { .. }));
    let accept = |ballot| PaxosMessage::Accept {
        ballot,
        first_slot: 1,
        values: vec![Value::Command(b"x".to_vec())],
        commit: 0,
    };
    let out = step(&mut a, 2, accept(b(1, 2)));
    assert_eq!(
        sent_to(&out, 2),
        vec![PaxosMessage::Reject {
            ballot: b(1, 2),
            promised: b(2, 3)
        }]
    );
    assert!(out.records.is_empty());
    let out = step(&mut a, 3, accept(b(2, 3)));
    assert_eq!(out.records.len(), 1, "accepted value persisted");
    assert!(out.must_sync);
    assert!(matches!(
        sent_to(&out, 3)[0],
        PaxosMessage::AcceptAck { count: 1, .. }
    ));
}

#[test]
fn acceptor_answers_no_prepare_below_its_promise() {
    let mut a = core(1, 3);
    step(
        &mut a,
        3,
        PaxosMessage::Prepare {
            ballot: b(5, 3),
            first_slot: 1,
        },
    );
    let out = step(
        &mut a,
        2,
        PaxosMessage::Prepare {
            ballot: b(4, 2),
            first_slot: 1,
        },
    );
    assert!(out.hard_state.is_none());
    assert!(matches!(
        sent_to(&out, 2)[..],
        [PaxosMessage::Reject { promised, .. }] if promised == b(5, 3)
    ));
}

#[test]
fn promise_reports_the_highest_ballot_accepted_per_slot() {
    let mut a = core(1, 3);
    for (ballot, v) in [(b(1, 2), b"old"), (b(3, 2), b"new")] {
        step(
            &mut a,
            2,
            PaxosMessage::Accept {
                ballot,
                first_slot: 4,
                values: vec![Value::Command(v.to_vec())],
                commit: 0,
            },
        );
    }
    let out = step(
        &mut a,
        3,
        PaxosMessage::Prepare {
            ballot: b(4, 3),
            first_slot: 2,
        },
    );
    let PaxosMessage::Promise { reports, .. } = &sent_to(&out, 3)[0] else {
        panic!("expected a promise");
    };
    assert_eq!(
        reports,
        &vec![SlotReport {
            slot: 4,
            ballot: b(3, 2),
            value: Value::Command(b"new".to_vec()),
            chosen: false
        }]
    );
}

#[test]
fn follower_that_times_out_prepares_a_higher_ballot_durably() {
    let mut c = core(1, 3);
    step(
        &mut c,
        2,
        PaxosMessage::Commit {
            ballot: b(7, 2),
            commit: 0,
            read_seq: 0,
        },
    );
    let out = tick_until_candidate(&mut c);
    assert_eq!(c.role(), Role::Candidate);
    let mine = out
        .hard_state
        .expect("promise to itself persisted")
        .promised;
    assert!(mine > b(7, 2));
    assert!(matches!(
        sent_to(&out, 2)[..],
        [PaxosMessage::Prepare { ballot, first_slot: 1 }] if ballot == mine
    ));
}

#[test]
fn new_leader_reproposes_found_values_and_fills_gaps_with_noops() {
    let mut c = core(1, 3);
    let out = tick_until_candidate(&mut c);
    let PaxosMessage::Prepare { ballot, .. } = sent_to(&out, 2)[0].clone() else {
        panic!()
    };
    let report = |slot, round, v: &[u8]| SlotReport {
        slot,
        ballot: b(round, 3),
        value: Value::Command(v.to_vec()),
        chosen: false,
    };
    let out = step(
        &mut c,
        2,
        PaxosMessage::Promise {
            ballot,
            chosen_through: 0,
            compacted_through: 0,
            reports: vec![report(1, 1, b"a"), report(1, 2, b"b"), report(3, 1, b"c")],
        },
    );
    assert_eq!(c.role(), Role::Leader);
    let accepted: Vec<(u64, Value)> = out
        .records
        .iter()
        .filter_map(|r| match r {
            PaxosRecord::Accepted { slot, value, .. } => Some((*slot, value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        accepted,
        vec![
            (1, Value::Command(b"b".to_vec())),
            (2, Value::Noop),
            (3, Value::Command(b"c".to_vec())),
            (4, Value::Noop),
        ]
    );
    // Phase 2 only after phase 1: the accepts carry the new ballot.
    assert!(sent_to(&out, 3).iter().any(
        |m| matches!(m, PaxosMessage::Accept { ballot: bb, first_slot: 1, values, .. } if *bb == ballot && values.len() == 4)
    ));
}

#[test]
fn leader_steps_down_on_a_higher_ballot_and_answers_pending_writes_indefinitely() {
    let mut net = cluster(3, 1);
    let l = elect(&mut net);
    let other = net.ids().into_iter().find(|i| *i != l).unwrap();
    net.isolate(l);
    write(&mut net, l, 1, b"w");
    net.heal();
    // Someone else prepares a higher ballot and tells the old leader.
    let high = net.core(l).unwrap().promised().next_for(other);
    let mut out = Output::new();
    net.core_mut(l).unwrap().step(
        other,
        PaxosMessage::Prepare {
            ballot: high,
            first_slot: 1,
        },
        &mut out,
    );
    assert_eq!(net.core(l).unwrap().role(), Role::Follower);
    assert_eq!(out.replies.len(), 1);
    assert_eq!(
        out.replies[0].result,
        Err(synod_core::ClientError::LeadershipLost)
    );
}

#[test]
fn messages_from_unknown_nodes_or_with_forged_ballots_are_ignored() {
    let mut c = core(1, 3);
    let out = step(
        &mut c,
        9,
        PaxosMessage::Prepare {
            ballot: b(5, 9),
            first_slot: 1,
        },
    );
    assert!(out.is_empty());
    let out = step(
        &mut c,
        2,
        PaxosMessage::Prepare {
            ballot: b(5, 3),
            first_slot: 1,
        },
    );
    assert!(out.is_empty(), "a ballot is only ever used by its owner");
    let out = step(
        &mut c,
        2,
        PaxosMessage::AcceptAck {
            ballot: b(5, 1),
            first_slot: u64::MAX,
            count: u64::MAX,
        },
    );
    assert!(out.is_empty());
}

#[test]
fn out_of_range_slots_from_a_peer_are_ignored_without_panicking() {
    let mut c = core(1, 3);
    let two = vec![Value::Noop, Value::Noop];
    let out = step(
        &mut c,
        2,
        PaxosMessage::Accept {
            ballot: b(1, 2),
            first_slot: u64::MAX,
            values: two.clone(),
            commit: u64::MAX,
        },
    );
    assert!(out.records.is_empty() && sent_to(&out, 2).is_empty());
    let out = step(
        &mut c,
        2,
        PaxosMessage::Decisions {
            first_slot: u64::MAX,
            values: two,
            chosen_through: u64::MAX,
        },
    );
    assert!(out.records.is_empty() && out.committed.is_empty());
    let out = step(
        &mut c,
        2,
        PaxosMessage::CatchUp {
            from_slot: u64::MAX,
            snapshot_offset: Some((u64::MAX, u64::MAX)),
        },
    );
    assert!(out.is_empty());
}
