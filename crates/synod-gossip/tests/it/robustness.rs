//! A core never panics on a peer's message, whatever it contains: stale or
//! forged probe numbers, acks vouching for anyone, news about unknown
//! members or node 0, incarnations and sequence numbers at 0 or `u64::MAX`,
//! updates whose stamp names another origin, digests claiming everything,
//! empty and odd-sized commands, duplicated and reordered deliveries — and
//! it keeps running across crashes and restarts after such input reached its
//! storage. (Safety against a lying peer is not claimed — gossip is not
//! Byzantine-tolerant — only that the core keeps running and keeps its own
//! local invariants.)
//!
//! Forged values are drawn from an adversarial distribution (0, 1,
//! `u64::MAX`, `u64::MAX - 1`, random, and values near the live ones: probe
//! numbers of pings in flight, each origin's high-water mark, the live
//! incarnations and Lamport clocks), so that handlers are reached past their
//! "stale, ignore" checks. Half of the forged messages are delivered at once
//! and their effect measured (state changed or answer sent); the test fails
//! if some variant never had an effect.

use crate::common::*;
use std::collections::BTreeMap;
use synod_core::harness::Envelope;
use synod_core::{NodeId, Protocol, SeededRng, Stamp, Stamped};
use synod_gossip::{
    DetectorStats, Digest, GossipMessage, GossipNode, MemberState, MemberUpdate, Update,
};

const MEMBERS: u64 = 5;

/// What the live cluster looks like right now, sampled before each forgery.
#[derive(Default)]
struct Live {
    /// Pings in flight: `(prober, target, probe)`.
    pings: Vec<(NodeId, NodeId, u64)>,
    /// The greatest incarnation of any member.
    incarnation: u64,
    /// Per origin, the greatest high-water mark of any member.
    high: Digest,
    /// The greatest stamp clock in flight.
    clock: u64,
}

impl Live {
    fn sample(net: &Net) -> Self {
        let mut live = Live::default();
        for id in net.ids() {
            if let Some(c) = net.core(id) {
                live.incarnation = live.incarnation.max(c.incarnation());
                for (o, s) in c.version_vector() {
                    let h = live.high.entry(o).or_insert(0);
                    *h = (*h).max(s);
                }
            }
        }
        for env in net.in_flight() {
            match &env.msg {
                GossipMessage::Ping { probe, .. } => live.pings.push((env.from, env.to, *probe)),
                GossipMessage::Rumour { updates, .. } | GossipMessage::SyncPush { updates } => {
                    for u in updates {
                        live.clock = live.clock.max(u.stamped.stamp.clock);
                    }
                }
                _ => {}
            }
        }
        live
    }
}

fn any_u64(rng: &mut SeededRng, near: u64) -> u64 {
    match rng.index(7) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => u64::MAX - 1,
        4 => rng.next_u64(),
        5 => near.saturating_add(rng.range(0, 3)),
        _ => near.saturating_sub(rng.range(0, 2)),
    }
}

/// Mostly the members, sometimes nobody (0), strangers or extremes.
fn any_node(rng: &mut SeededRng) -> NodeId {
    match rng.index(10) {
        0 => NodeId(0),
        1 => NodeId(MEMBERS + 1 + rng.range(0, 3)),
        2 => NodeId(u64::MAX),
        _ => NodeId(1 + rng.range(0, MEMBERS)),
    }
}

fn any_state(rng: &mut SeededRng) -> MemberState {
    [MemberState::Alive, MemberState::Suspect, MemberState::Dead][rng.index(3)]
}

fn any_news(rng: &mut SeededRng, live: &Live) -> Vec<MemberUpdate> {
    (0..rng.index(4))
        .map(|_| MemberUpdate {
            node: any_node(rng),
            incarnation: any_u64(rng, live.incarnation),
            state: any_state(rng),
        })
        .collect()
}

fn any_command(rng: &mut SeededRng) -> Vec<u8> {
    match rng.index(4) {
        0 => Vec::new(),
        1 => vec![0xff; 1 + 2 * rng.index(4)],
        _ => vec![rng.index(256) as u8; rng.index(5)],
    }
}

fn any_update(rng: &mut SeededRng, live: &Live) -> Update {
    let origin = any_node(rng);
    let high = live.high.get(&origin).copied().unwrap_or(0);
    let node = if rng.chance(0.85) {
        origin
    } else {
        any_node(rng)
    };
    Update {
        origin,
        // Near the high-water mark mostly, so that many are new and applied.
        seq: if rng.chance(0.5) {
            high + 1 + rng.range(0, 2)
        } else {
            any_u64(rng, high)
        },
        stamped: Stamped {
            stamp: Stamp {
                clock: any_u64(rng, live.clock),
                node,
            },
            command: any_command(rng),
        },
    }
}

fn any_updates(rng: &mut SeededRng, live: &Live) -> Vec<Update> {
    (0..rng.index(4)).map(|_| any_update(rng, live)).collect()
}

fn any_digest(rng: &mut SeededRng, live: &Live) -> Digest {
    (0..rng.index(4))
        .map(|_| {
            let origin = any_node(rng);
            let high = live.high.get(&origin).copied().unwrap_or(0);
            (origin, any_u64(rng, high))
        })
        .collect()
}

/// A forged message to `to`. Exhaustive on purpose: a new variant does not
/// compile until it is forged here too.
fn any_message(rng: &mut SeededRng, live: &Live, to: NodeId) -> (usize, GossipMessage) {
    let kind = rng.index(7);
    let template = match kind {
        0 => GossipMessage::Ping {
            probe: 0,
            members: vec![],
        },
        1 => GossipMessage::Ack {
            probe: 0,
            alive: NodeId(0),
            members: vec![],
        },
        2 => GossipMessage::PingReq {
            probe: 0,
            target: NodeId(0),
            members: vec![],
        },
        3 => GossipMessage::Rumour {
            updates: vec![],
            members: vec![],
        },
        4 => GossipMessage::SyncRequest {
            digest: Digest::new(),
            members: vec![],
        },
        5 => GossipMessage::SyncReply {
            digest: Digest::new(),
            updates: vec![],
            members: vec![],
        },
        _ => GossipMessage::SyncPush { updates: vec![] },
    };
    let msg = match template {
        GossipMessage::Ping { .. } => GossipMessage::Ping {
            probe: any_u64(rng, 1),
            members: any_news(rng, live),
        },
        GossipMessage::Ack { .. } => {
            // Half of the acks answer a ping in flight from `to` (its own
            // probe or a relay), so that they match and are acted on.
            let mine: Vec<(NodeId, u64)> = live
                .pings
                .iter()
                .filter(|p| p.0 == to)
                .map(|&(_, target, probe)| (target, probe))
                .collect();
            let (alive, probe) = if !mine.is_empty() && rng.chance(0.5) {
                mine[rng.index(mine.len())]
            } else {
                (any_node(rng), any_u64(rng, 1))
            };
            GossipMessage::Ack {
                probe,
                alive,
                members: any_news(rng, live),
            }
        }
        GossipMessage::PingReq { .. } => GossipMessage::PingReq {
            probe: any_u64(rng, 1),
            target: any_node(rng),
            members: any_news(rng, live),
        },
        GossipMessage::Rumour { .. } => GossipMessage::Rumour {
            updates: any_updates(rng, live),
            members: any_news(rng, live),
        },
        GossipMessage::SyncRequest { .. } => GossipMessage::SyncRequest {
            digest: any_digest(rng, live),
            members: any_news(rng, live),
        },
        GossipMessage::SyncReply { .. } => GossipMessage::SyncReply {
            digest: any_digest(rng, live),
            updates: any_updates(rng, live),
            members: any_news(rng, live),
        },
        GossipMessage::SyncPush { .. } => GossipMessage::SyncPush {
            updates: any_updates(rng, live),
        },
    };
    (kind, msg)
}

const NAMES: [&str; 7] = [
    "Ping",
    "Ack",
    "PingReq",
    "Rumour",
    "SyncRequest",
    "SyncReply",
    "SyncPush",
];

/// What a core exposes, to tell whether a message changed anything.
#[derive(PartialEq, Eq)]
struct Fingerprint {
    updates: u64,
    applied: u64,
    incarnation: u64,
    vv: Digest,
    stats: DetectorStats,
    members: Vec<Option<MemberUpdate>>,
}

fn fingerprint(core: &GossipNode) -> Fingerprint {
    let mut probe: Vec<NodeId> = (0..=MEMBERS + 4).map(NodeId).collect();
    probe.push(NodeId(u64::MAX));
    Fingerprint {
        updates: core.update_count(),
        applied: core.applied_index(),
        incarnation: core.incarnation(),
        vv: core.version_vector(),
        stats: core.detector_stats(),
        members: probe.into_iter().map(|n| core.member(n)).collect(),
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    delivered: u64,
    changed_state: u64,
    answered: u64,
}

/// Delivers `env` at once (ahead of everything in flight) and reports
/// whether it changed the receiver's state and whether it answered.
fn deliver_now(net: &mut Net, env: Envelope<GossipMessage>) -> Option<(bool, bool)> {
    let before = fingerprint(net.core(env.to)?);
    let to = env.to;
    let answered = !net.deliver_now(env).is_empty();
    let changed = net.core(to).is_some_and(|c| fingerprint(c) != before);
    Some((changed, answered))
}

fn run_one(seed: u64, steps: u64, tally: &mut [Tally; 7]) {
    let mut net = cluster(MEMBERS, seed);
    net.set_snapshot_every(Some(7));
    let mut rng = SeededRng::new(seed ^ 0xBAD);
    let mut senders: Vec<NodeId> = (0..=MEMBERS + 1).map(NodeId).collect();
    senders.push(NodeId(u64::MAX));
    let mut rid = 0;
    let mut incarnations: BTreeMap<NodeId, u64> = BTreeMap::new();
    for _ in 0..steps {
        let dice = rng.unit();
        if dice < 0.25 {
            let to = NodeId(1 + rng.range(0, MEMBERS));
            let live = Live::sample(&net);
            let (kind, msg) = any_message(&mut rng, &live, to);
            let env = Envelope {
                from: senders[rng.index(senders.len())],
                to,
                msg,
            };
            if rng.chance(0.5) {
                if let Some((changed, answered)) = deliver_now(&mut net, env) {
                    let t = &mut tally[kind];
                    t.delivered += 1;
                    t.changed_state += u64::from(changed);
                    t.answered += u64::from(answered);
                }
            } else {
                net.inject(env);
            }
        } else if dice < 0.30 {
            rid += 1;
            let at = NodeId(1 + rng.range(0, MEMBERS));
            let before = net.core(at).map(|c| c.update_count());
            write(&mut net, at, rid, &rid.to_be_bytes());
            if let Some(before) = before {
                // A write is a new update here, whatever peers sent before.
                assert_eq!(
                    core(&net, at).update_count(),
                    before + 1,
                    "{at}'s own write was taken for a duplicate"
                );
            }
        } else if dice < 0.302 {
            net.crash(NodeId(1 + rng.range(0, MEMBERS)));
        } else if dice < 0.31 {
            net.restart(NodeId(1 + rng.range(0, MEMBERS)));
        } else if dice < 0.311 {
            net.set_duplicate(0.05);
            net.set_reorder(true);
        } else if dice < 0.312 {
            net.heal();
        } else {
            net.step_random();
        }
        // Local invariants that no input may break.
        for id in net.ids() {
            let Some(core) = net.core(id) else { continue };
            assert!(core.applied_index() >= net.machine(id).applied_index);
            let inc = core.incarnation();
            let seen = incarnations.entry(id).or_insert(0);
            assert!(inc >= *seen, "{id}'s incarnation went back");
            *seen = inc;
            assert_eq!(core.status().id, id);
        }
    }
    // Whatever was injected, every core still ticks, writes and reads.
    for id in net.ids() {
        net.restart(id);
        rid += 1;
        assert!(write(&mut net, id, rid, b"after"));
        assert!(acked(&net, id, rid), "{id} still accepts writes");
    }
    net.heal();
    net.run(20);
}

#[test]
fn arbitrary_peer_messages_never_make_a_core_panic() {
    let mut tally = [Tally::default(); 7];
    for seed in 0..100 {
        run_one(seed, 3000, &mut tally);
    }
    for (name, t) in NAMES.iter().zip(tally) {
        eprintln!(
            "robustness {name:>11}: {} delivered at once, {} changed state, {} answered",
            t.delivered, t.changed_state, t.answered
        );
        // Not only the "stale, ignore" path: at least 5 % of each variant
        // changed the receiver's state or drew an answer (for an Ack: was
        // relayed, i.e. matched a live relay by probe and target).
        assert!(
            t.delivered > 1000 && (t.changed_state + t.answered) * 20 >= t.delivered,
            "forged {name} rarely reached a handler past its checks"
        );
    }
}

// ----- the cases the run above found, one rule each ----------------------

/// News of this member's suspicion at incarnation `u64::MAX` makes it refute
/// at `u64::MAX` and persist that; the restart that follows must not
/// overflow computing "the recorded incarnation plus one".
#[test]
fn a_restart_after_news_of_own_suspicion_at_u64_max_never_panics() {
    let mut a = single(1, 3);
    let out = step(
        &mut a,
        2,
        GossipMessage::Ping {
            probe: 1,
            members: vec![MemberUpdate {
                node: n(1),
                incarnation: u64::MAX,
                state: MemberState::Suspect,
            }],
        },
    );
    let hard = out.hard_state.expect("the refutation is persisted");
    assert_eq!(hard.incarnation, u64::MAX);
    let recovered = synod_core::Recovered::<GossipNode> {
        hard_state: Some(hard),
        ..Default::default()
    };
    let mut b = GossipNode::new(config(n(1), &ids(3)), recovered, SeededRng::new(1));
    assert_eq!(b.incarnation(), u64::MAX);
    tick(&mut b);
    assert_eq!(b.status().term, u64::MAX);
}

/// A peer's update claiming this member as origin, at the sequence number
/// its next write will use, is never taken: otherwise the write would be
/// answered but refused by the store as a duplicate, and the forged update
/// spread (and replayed after a restart) in its place.
#[test]
fn an_update_forged_in_our_name_never_takes_the_seq_of_our_next_write() {
    let mut a = single(1, 3);
    let forged = Update {
        origin: n(1),
        seq: 1,
        stamped: Stamped {
            stamp: Stamp {
                clock: 1,
                node: n(1),
            },
            command: b"forged".to_vec(),
        },
    };
    for msg in [
        GossipMessage::Rumour {
            updates: vec![forged.clone()],
            members: vec![],
        },
        GossipMessage::SyncPush {
            updates: vec![forged.clone()],
        },
        GossipMessage::SyncReply {
            digest: Digest::new(),
            updates: vec![forged.clone()],
            members: vec![],
        },
    ] {
        let out = step(&mut a, 2, msg);
        assert!(out.committed.is_empty() && out.records.is_empty());
    }
    assert_eq!(a.update_count(), 0);
    let out = propose(
        &mut a,
        synod_core::Proposal::Write {
            id: synod_core::RequestId(1),
            command: Stamped::proposal(b"mine".to_vec()),
        },
    );
    assert_eq!(out.records[0].update.seq, 1);
    assert_eq!(a.update_count(), 1);
    assert!(a.has_update(n(1), 1));
}
