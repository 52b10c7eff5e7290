//! A core never panics on a peer's message, whatever it contains: stale or
//! future ballots, `0` and `u64::MAX` in every numeric field, unknown, zero
//! and own node ids, slots far beyond the log or below the snapshot, empty
//! and oversized batches, snapshot chunks with offsets out of range,
//! duplicated and reordered messages, messages for a role the receiver is
//! not in. (Safety against a lying peer is not claimed — Paxos is not
//! Byzantine-tolerant — only that the core keeps running.)
//!
//! Forged messages are drawn around the receiver's live state (its promise,
//! the leader's ballot, its commit point and snapshot) so that many of them
//! pass the handlers' guards; the test counts, per variant, how many did,
//! and fails if a variant only ever took the "ignore" path.

use crate::common::*;
use synod_core::harness::{Envelope, Network, RecordingMachine};
use synod_core::testing::drive::tick;
use synod_core::{NodeId, Proposal, RequestId, SeededRng};
use synod_paxos::basic::{SynodConfig, SynodMessage, SynodNode};
use synod_paxos::{Ballot, PaxosMessage, PaxosNode, Role, SlotReport, Value};

const NODES: u64 = 5;

/// What the receiver looks like when the message is forged.
#[derive(Clone, Copy, Debug)]
struct Live {
    from: NodeId,
    /// The receiver's promise (a candidate's or leader's own ballot).
    promised: Ballot,
    /// The ballot of the highest live leader (ZERO when none).
    leader_ballot: Ballot,
    /// The receiver's commit point and snapshot.
    chosen: u64,
    snapshot: u64,
    /// The highest commit point in the cluster.
    top: u64,
}

fn any_u64(rng: &mut SeededRng, near: u64) -> u64 {
    match rng.index(9) {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - 1,
        3 => rng.next_u64(),
        4 => rng.range(0, 8),
        5 => near.saturating_sub(rng.range(1, 4)),
        6 => near.saturating_add(rng.range(1, 4)),
        _ => near,
    }
}

fn any_slot(rng: &mut SeededRng, live: &Live) -> u64 {
    let near = [live.chosen, live.snapshot, live.top][rng.index(3)];
    any_u64(rng, near)
}

fn any_node(rng: &mut SeededRng, live: &Live) -> NodeId {
    match rng.index(6) {
        0 => NodeId(0),
        1 => NodeId(u64::MAX),
        2 => NodeId(rng.range(1, NODES + 2)),
        _ => live.from,
    }
}

fn any_ballot(rng: &mut SeededRng, live: &Live) -> Ballot {
    let node = any_node(rng, live);
    match rng.index(10) {
        0 => Ballot::ZERO,
        1 => Ballot::new(u64::MAX, node),
        2 => Ballot::new(rng.next_u64(), node),
        3 => live.leader_ballot,
        4 | 8 | 9 => live.promised,
        5 => Ballot::new(live.promised.round.saturating_add(1), node),
        6 => Ballot::new(live.promised.round.saturating_sub(1), node),
        _ => Ballot::new(live.promised.round, node),
    }
}

fn any_value(rng: &mut SeededRng) -> Value {
    match rng.index(5) {
        0 => Value::Noop,
        1 => Value::Command(Vec::new()),
        2 => Value::Command(vec![0xEE; 3000]),
        _ => Value::Command(vec![rng.index(256) as u8; 1 + rng.index(4)]),
    }
}

fn any_values(rng: &mut SeededRng) -> Vec<Value> {
    let len = match rng.index(8) {
        0 => 0,
        1 => 40, // above max_batch_slots
        _ => 1 + rng.index(4),
    };
    (0..len).map(|_| any_value(rng)).collect()
}

fn any_reports(rng: &mut SeededRng, live: &Live) -> Vec<SlotReport> {
    (0..rng.index(5))
        .map(|_| SlotReport {
            slot: any_slot(rng, live),
            ballot: any_ballot(rng, live),
            value: any_value(rng),
            chosen: rng.chance(0.5),
        })
        .collect()
}

/// A snapshot the harness's recording machine restores (the harness, not
/// the core, refuses bytes it cannot decode).
fn machine_snapshot(position: u64) -> Vec<u8> {
    RecordingMachine {
        applied_index: position,
        ..Default::default()
    }
    .snapshot_data()
}

/// The variants, numbered by an exhaustive match: a new variant does not
/// compile until it is generated here.
const KINDS: usize = 10;

fn kind(msg: &PaxosMessage) -> usize {
    match msg {
        PaxosMessage::Prepare { .. } => 0,
        PaxosMessage::Promise { .. } => 1,
        PaxosMessage::Reject { .. } => 2,
        PaxosMessage::Accept { .. } => 3,
        PaxosMessage::AcceptAck { .. } => 4,
        PaxosMessage::Commit { .. } => 5,
        PaxosMessage::CommitAck { .. } => 6,
        PaxosMessage::CatchUp { .. } => 7,
        PaxosMessage::Decisions { .. } => 8,
        PaxosMessage::SnapshotChunk { .. } => 9,
    }
}

fn any_message(rng: &mut SeededRng, live: &Live, kind_wanted: usize) -> PaxosMessage {
    let msg = match kind_wanted {
        0 => PaxosMessage::Prepare {
            ballot: any_ballot(rng, live),
            first_slot: any_slot(rng, live),
        },
        1 => PaxosMessage::Promise {
            ballot: any_ballot(rng, live),
            chosen_through: any_slot(rng, live),
            compacted_through: any_slot(rng, live),
            reports: any_reports(rng, live),
        },
        2 => PaxosMessage::Reject {
            ballot: any_ballot(rng, live),
            promised: any_ballot(rng, live),
        },
        3 => PaxosMessage::Accept {
            ballot: any_ballot(rng, live),
            first_slot: any_slot(rng, live),
            values: any_values(rng),
            commit: any_slot(rng, live),
        },
        4 => PaxosMessage::AcceptAck {
            ballot: any_ballot(rng, live),
            first_slot: any_slot(rng, live),
            count: any_u64(rng, 2),
        },
        5 => PaxosMessage::Commit {
            ballot: any_ballot(rng, live),
            commit: any_slot(rng, live),
            read_seq: any_u64(rng, 3),
        },
        6 => PaxosMessage::CommitAck {
            ballot: any_ballot(rng, live),
            read_seq: any_u64(rng, 3),
        },
        7 => PaxosMessage::CatchUp {
            from_slot: any_slot(rng, live),
            snapshot_offset: rng
                .chance(0.5)
                .then(|| (any_slot(rng, live), any_u64(rng, 64))),
        },
        8 => PaxosMessage::Decisions {
            first_slot: any_slot(rng, live),
            values: any_values(rng),
            chosen_through: any_slot(rng, live),
        },
        _ => {
            let position = any_slot(rng, live);
            if rng.chance(0.3) {
                // A whole snapshot in one chunk, at any position.
                PaxosMessage::SnapshotChunk {
                    position,
                    offset: 0,
                    data: machine_snapshot(position),
                    done: true,
                }
            } else if position <= u64::MAX / 2 {
                // Near live positions a real snapshot may later use: no
                // bytes, or the harness's restore would see forged ones.
                PaxosMessage::SnapshotChunk {
                    position,
                    offset: any_u64(rng, 0),
                    data: Vec::new(),
                    done: false,
                }
            } else {
                PaxosMessage::SnapshotChunk {
                    position,
                    offset: any_u64(rng, 0),
                    data: vec![9; rng.index(5)],
                    done: false,
                }
            }
        }
    };
    // The exhaustive numbering and the generator agree.
    assert_eq!(kind(&msg), kind_wanted.min(KINDS - 1));
    msg
}

/// Whether `msg` gets past the guards of its handler at `core` (mirrors
/// them, from the receiver's public state): such a message reaches the
/// code that changes state or answers with more than a refusal.
fn passes_guards(core: &PaxosNode, from: NodeId, msg: &PaxosMessage) -> bool {
    let me = core.config().id;
    if from == me || !core.config().voters.contains(&from) {
        return false;
    }
    let promised = core.promised();
    let role = core.role();
    let fits = |first: u64, len: usize| first != 0 && first.checked_add(len as u64).is_some();
    match msg {
        PaxosMessage::Prepare { ballot, .. } => ballot.node == from && *ballot >= promised,
        PaxosMessage::Promise { ballot, .. } => role == Role::Candidate && *ballot == promised,
        PaxosMessage::Reject { ballot, .. } => role != Role::Follower && *ballot == promised,
        PaxosMessage::Accept {
            ballot,
            first_slot,
            values,
            ..
        } => ballot.node == from && *ballot >= promised && fits(*first_slot, values.len()),
        PaxosMessage::AcceptAck { ballot, .. } | PaxosMessage::CommitAck { ballot, .. } => {
            role == Role::Leader && *ballot == promised
        }
        PaxosMessage::Commit { ballot, .. } => ballot.node == from && *ballot >= promised,
        PaxosMessage::CatchUp { from_slot, .. } => {
            let s = (*from_slot).max(1);
            (s <= core.snapshot_index() && core.snapshot_index() > 0) || s <= core.chosen_through()
        }
        PaxosMessage::Decisions {
            first_slot, values, ..
        } => role != Role::Leader && fits(*first_slot, values.len()),
        PaxosMessage::SnapshotChunk { position, .. } => {
            role != Role::Leader && *position > core.chosen_through()
        }
    }
}

type Signature = (Role, Ballot, Option<NodeId>, u64, u64, u64, usize);

fn signature(core: &PaxosNode) -> Signature {
    (
        core.role(),
        core.promised(),
        core.leader(),
        core.chosen_through(),
        core.applied_index(),
        core.snapshot_index(),
        core.accepted_proposals().count(),
    )
}

#[derive(Default, Debug, Clone, Copy)]
struct Count {
    injected: u64,
    deep: u64,
    effect: u64,
}

fn live_state(net: &Net, from: NodeId, to: &PaxosNode) -> Live {
    let cores: Vec<&PaxosNode> = net.ids().into_iter().filter_map(|i| net.core(i)).collect();
    Live {
        from,
        promised: to.promised(),
        leader_ballot: cores
            .iter()
            .filter(|c| c.role() == Role::Leader)
            .map(|c| c.promised())
            .max()
            .unwrap_or(Ballot::ZERO),
        chosen: to.chosen_through(),
        snapshot: to.snapshot_index(),
        top: cores.iter().map(|c| c.chosen_through()).max().unwrap_or(0),
    }
}

/// The common cluster, but every snapshot fits in one chunk. Forged
/// decisions make replicas' states (so their snapshots at one position)
/// differ, and a transfer assembled from two senders' chunks would then not
/// decode: the harness's machine refuses it with a panic of its own.
fn robust_cluster(seed: u64) -> Net {
    cluster_with(NODES, seed, |c| c.snapshot_chunk_bytes = 1 << 20)
}

#[test]
fn arbitrary_peer_messages_never_make_a_paxos_core_panic() {
    let mut counts = [Count::default(); KINDS];
    let mut requests = 0;
    for seed in 0..100 {
        let mut net = robust_cluster(seed);
        net.set_snapshot_every(Some(8));
        net.set_duplicate(0.03);
        let mut rng = SeededRng::new(seed ^ 0xBAD);
        for _ in 0..3000u64 {
            let roll = rng.unit();
            if roll < 0.25 {
                // Often a leader or a candidate: the receivers of promises,
                // rejections and acknowledgements.
                let busy: Vec<NodeId> = net
                    .ids()
                    .into_iter()
                    .filter(|&i| net.core(i).is_some_and(|c| c.role() != Role::Follower))
                    .collect();
                let to = if !busy.is_empty() && rng.chance(0.4) {
                    busy[rng.index(busy.len())]
                } else {
                    NodeId(rng.range(1, NODES + 1))
                };
                let from = match rng.index(8) {
                    0 => NodeId(0),
                    1 => NodeId(NODES + 1),
                    2 => to,
                    3 => NodeId(u64::MAX),
                    // Often the live leader, so its ballot passes `node == from`.
                    4 => leader(&net).unwrap_or(NodeId(1)),
                    _ => NodeId(rng.range(1, NODES + 1)),
                };
                let Some(core) = net.core(to) else {
                    continue;
                };
                let live = live_state(&net, from, core);
                // Aim the messages only a candidate or a leader handles at
                // one often.
                let wanted = match core.role() {
                    Role::Candidate if rng.chance(0.5) => 1,
                    Role::Leader if rng.chance(0.3) => [2, 4, 6][rng.index(3)],
                    _ => rng.index(KINDS),
                };
                let msg = any_message(&mut rng, &live, wanted);
                let k = kind(&msg);
                let mut deep = passes_guards(core, from, &msg);
                let before = signature(core);
                let lost = net.message_counts().1;
                let answers = net.deliver_now(Envelope { from, to, msg }).len();
                deep &= net.message_counts().1 == lost; // not cut off
                let changed = net.core(to).map(signature) != Some(before);
                counts[k].injected += 1;
                counts[k].deep += u64::from(deep);
                counts[k].effect += u64::from(answers > 0 || changed);
            } else if roll < 0.29 {
                requests += 1;
                let at = NodeId(rng.range(1, NODES + 1));
                let proposal = if rng.chance(0.7) {
                    Proposal::Write {
                        id: RequestId(requests),
                        command: vec![rng.index(256) as u8],
                    }
                } else {
                    Proposal::Read {
                        id: RequestId(requests),
                    }
                };
                net.propose(at, proposal);
            } else if roll < 0.2905 {
                net.crash(NodeId(rng.range(1, NODES + 1)));
            } else if roll < 0.2925 {
                // A node nobody hears campaigns alone: a long candidacy
                // (it still hears, so forged promises reach it).
                let mute = NodeId(rng.range(1, NODES + 1));
                for other in net.ids() {
                    if other != mute {
                        net.cut_one_way(mute, other);
                    }
                }
            } else if roll < 0.30 {
                net.heal();
                for id in net.ids() {
                    net.restart(id);
                }
            }
            net.step_random();
        }
    }
    let names = [
        "prepare",
        "promise",
        "reject",
        "accept",
        "accept-ack",
        "commit",
        "commit-ack",
        "catch-up",
        "decisions",
        "snapshot-chunk",
    ];
    for (name, c) in names.iter().zip(counts.iter()) {
        println!(
            "{name:>15}: {:>6} injected, {:>6} past the guards, {:>6} with an effect",
            c.injected, c.deep, c.effect
        );
    }
    for (name, c) in names.iter().zip(counts.iter()) {
        assert!(c.injected > 1000, "{name}: too few injected ({c:?})");
        assert!(
            c.deep >= 100 && c.deep * 100 >= c.injected,
            "{name}: too few reached the handler past its guards ({c:?})"
        );
    }
}

// ----- Basic Paxos -------------------------------------------------------

const SYNOD_KINDS: usize = 6;

fn synod_kind(msg: &SynodMessage) -> usize {
    match msg {
        SynodMessage::Prepare { .. } => 0,
        SynodMessage::Promise { .. } => 1,
        SynodMessage::Reject { .. } => 2,
        SynodMessage::Accept { .. } => 3,
        SynodMessage::Accepted { .. } => 4,
        SynodMessage::Decided { .. } => 5,
    }
}

fn any_bytes(rng: &mut SeededRng) -> Vec<u8> {
    match rng.index(3) {
        0 => Vec::new(),
        _ => vec![rng.index(256) as u8; 1 + rng.index(3)],
    }
}

fn any_synod_message(rng: &mut SeededRng, live: &Live) -> SynodMessage {
    match rng.index(SYNOD_KINDS) {
        0 => SynodMessage::Prepare {
            ballot: any_ballot(rng, live),
        },
        1 => SynodMessage::Promise {
            ballot: any_ballot(rng, live),
            accepted: rng
                .chance(0.5)
                .then(|| (any_ballot(rng, live), any_bytes(rng))),
        },
        2 => SynodMessage::Reject {
            ballot: any_ballot(rng, live),
            promised: any_ballot(rng, live),
        },
        3 => SynodMessage::Accept {
            ballot: any_ballot(rng, live),
            value: any_bytes(rng),
        },
        4 => SynodMessage::Accepted {
            ballot: any_ballot(rng, live),
            value: any_bytes(rng),
        },
        _ => SynodMessage::Decided {
            value: any_bytes(rng),
        },
    }
}

#[test]
fn arbitrary_peer_messages_never_make_a_synod_core_panic() {
    let all: Vec<NodeId> = (1..=NODES).map(NodeId).collect();
    let mut counts = [Count::default(); SYNOD_KINDS];
    for seed in 0..400 {
        let nodes = all.clone();
        let mut net: Network<SynodNode> = Network::new(
            &all,
            seed,
            Box::new(move |id, rec, rng| {
                SynodNode::new(SynodConfig::new(id, nodes.clone()), rec, rng)
            }),
        );
        let mut rng = SeededRng::new(seed ^ 0x5EED);
        for step in 0..200u64 {
            let roll = rng.unit();
            if roll < 0.3 {
                let to = all[rng.index(all.len())];
                let from = match rng.index(6) {
                    0 => NodeId(0),
                    1 => to,
                    2 => NodeId(u64::MAX),
                    _ => all[rng.index(all.len())],
                };
                let Some(core) = net.core(to) else {
                    continue;
                };
                let promised = core.acceptor_state().promised;
                let live = Live {
                    from,
                    promised,
                    leader_ballot: core
                        .acceptor_state()
                        .accepted
                        .as_ref()
                        .map_or(promised, |(b, _)| *b),
                    chosen: 0,
                    snapshot: 0,
                    top: 0,
                };
                let msg = any_synod_message(&mut rng, &live);
                let k = synod_kind(&msg);
                let before = (
                    core.acceptor_state().clone(),
                    core.learned().cloned(),
                    core.attempts(),
                );
                // Past the guards: from a peer, to a node still deciding,
                // and (for a promise) for the attempt under way.
                let deep = from != to
                    && all.contains(&from)
                    && core.learned().is_none()
                    && match &msg {
                        SynodMessage::Promise { ballot, .. } => *ballot == promised,
                        _ => true,
                    };
                let answers = net.deliver_now(Envelope { from, to, msg }).len();
                let after = net.core(to).map(|c| {
                    (
                        c.acceptor_state().clone(),
                        c.learned().cloned(),
                        c.attempts(),
                    )
                });
                counts[k].injected += 1;
                counts[k].deep += u64::from(deep);
                counts[k].effect += u64::from(answers > 0 || after != Some(before));
            } else if roll < 0.32 {
                let at = all[rng.index(all.len())];
                net.propose(
                    at,
                    Proposal::Write {
                        id: RequestId(step),
                        command: vec![at.0 as u8],
                    },
                );
            }
            net.step_random();
        }
    }
    for (k, c) in counts.iter().enumerate() {
        println!("synod kind {k}: {c:?}");
        assert!(c.injected > 1000, "kind {k}: too few injected ({c:?})");
        assert!(
            c.deep * 50 >= c.injected,
            "kind {k}: under 2% reached the handler past its guards ({c:?})"
        );
    }
}

// ----- the cases the randomised runs found ----------------------------------

fn sent_any(out: &synod_core::Output<PaxosNode>) -> Vec<PaxosMessage> {
    synod_core::testing::drive::sent(out)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// `election.rs`: the next round was `max(seen, promised) + 1`, an overflow
/// once a peer's ballot had round `u64::MAX`.
#[test]
fn a_peer_ballot_of_round_u64_max_does_not_overflow_the_next_election() {
    // Promised through a prepare...
    let mut a = core(1, 3);
    step(
        &mut a,
        2,
        PaxosMessage::Prepare {
            ballot: Ballot::new(u64::MAX, n(2)),
            first_slot: 1,
        },
    );
    // ...or only seen in a rejection.
    let mut b = core(1, 3);
    step(
        &mut b,
        3,
        PaxosMessage::Reject {
            ballot: Ballot::new(1, n(1)),
            promised: Ballot::new(u64::MAX, n(3)),
        },
    );
    for c in [&mut a, &mut b] {
        let before = c.promised();
        for _ in 0..100 {
            let out = tick(c);
            assert!(sent_any(&out).is_empty(), "no ballot above round u64::MAX");
        }
        assert_eq!(c.role(), Role::Follower);
        assert_eq!(c.promised(), before, "the promise never goes down");
    }
}

/// `catchup.rs`: a snapshot at `u64::MAX` made the commit point `u64::MAX`,
/// and `compact_to` (then every `chosen_through + 1`) overflowed.
#[test]
fn a_snapshot_chunk_at_a_position_beyond_any_log_is_ignored() {
    let mut a = core(1, 3);
    for position in [u64::MAX, u64::MAX - 1, u64::MAX / 2 + 1] {
        let out = step(
            &mut a,
            2,
            PaxosMessage::SnapshotChunk {
                position,
                offset: 0,
                data: machine_snapshot(position),
                done: true,
            },
        );
        assert!(out.snapshot.is_none() && out.compact_through.is_none());
        assert_eq!((a.snapshot_index(), a.chosen_through()), (0, 0));
    }
    // A position in range still installs, and the core keeps running.
    let out = step(
        &mut a,
        2,
        PaxosMessage::SnapshotChunk {
            position: 7,
            offset: 0,
            data: machine_snapshot(7),
            done: true,
        },
    );
    assert_eq!(out.compact_through, Some(7));
    assert_eq!(a.chosen_through(), 7);
    tick_until_candidate(&mut a);
}

/// `election.rs`: a candidate's own promise was exempt from the bound on the
/// gap a new leader fills, so one accepted slot at `5 << 40` (or
/// `u64::MAX - 1`) made it propose that many no-ops.
#[test]
fn own_accepted_slots_far_beyond_the_commit_point_make_a_replica_catch_up_not_lead() {
    for far in [5_000_000, 5 << 40, u64::MAX - 1] {
        let mut a = core(1, 3);
        step(
            &mut a,
            2,
            PaxosMessage::Accept {
                ballot: Ballot::new(1, n(2)),
                first_slot: far,
                values: vec![Value::Noop],
                commit: 0,
            },
        );
        let mut asked = false;
        for _ in 0..100 {
            let out = tick(&mut a);
            assert_ne!(a.role(), Role::Leader);
            asked |= sent_any(&out)
                .iter()
                .any(|m| matches!(m, PaxosMessage::CatchUp { from_slot: 1, .. }));
            assert!(!sent_any(&out)
                .iter()
                .any(|m| matches!(m, PaxosMessage::Prepare { .. })));
        }
        assert!(asked, "it asks a peer for what it misses");
        assert_eq!(a.role(), Role::Follower);
    }
}

/// `basic/proposer.rs`: `start` did `max_round_seen += 1`, an overflow once
/// a peer's number had round `u64::MAX`.
#[test]
fn a_synod_proposer_that_saw_round_u64_max_does_not_overflow() {
    let nodes: Vec<NodeId> = (1..=3).map(NodeId).collect();
    let mut a = SynodNode::new(
        SynodConfig::new(n(1), nodes),
        synod_core::Recovered::default(),
        SeededRng::new(1),
    );
    step(
        &mut a,
        2,
        SynodMessage::Prepare {
            ballot: Ballot::new(u64::MAX, n(2)),
        },
    );
    propose(
        &mut a,
        Proposal::Write {
            id: RequestId(1),
            command: b"v".to_vec(),
        },
    );
    for _ in 0..100 {
        tick(&mut a);
    }
    assert_eq!(a.attempts(), 0, "no number is left above u64::MAX");
    assert_eq!(a.acceptor_state().promised, Ballot::new(u64::MAX, n(2)));
}

/// `catchup.rs`: a snapshot is assembled from one sender's chunks. A chunk
/// from another sender that would continue the transfer is ignored, so the
/// bytes of two snapshots are never spliced into one.
#[test]
fn a_snapshot_is_assembled_from_one_senders_chunks() {
    let mut a = core(1, 3);
    let whole = machine_snapshot(7);
    let (head, tail) = whole.split_at(whole.len() / 2);
    let chunk = |offset: usize, data: &[u8], done| PaxosMessage::SnapshotChunk {
        position: 7,
        offset: offset as u64,
        data: data.to_vec(),
        done,
    };
    step(&mut a, 2, chunk(0, head, false));
    let out = step(&mut a, 3, chunk(head.len(), tail, true));
    assert!(out.snapshot.is_none(), "node 3 continued node 2's transfer");
    assert_eq!(a.chosen_through(), 0);
    let out = step(&mut a, 2, chunk(head.len(), tail, true));
    assert_eq!(
        out.compact_through,
        Some(7),
        "the sender's own chain completes"
    );
    assert_eq!(a.chosen_through(), 7);
}
