//! Randomised runs on the seeded harness: partitions, loss, duplication,
//! reordering, crashes and restarts, snapshots, with the Multi-Paxos safety
//! properties checked after every step and liveness after the faults heal.
//!
//! Checked after every step:
//! - **at most one value is chosen per slot**: every acceptance ever seen is
//!   tallied per (slot, ballot); a value accepted by a majority under one
//!   ballot is chosen, and no slot may have two;
//! - **one value per (slot, ballot)**: a leader proposes once per slot;
//! - **a learned value never changes** and equals the chosen one: what any
//!   replica ever reports as chosen in a slot is the same, across crashes;
//! - **applied sequences are prefixes of one another** (index and command);
//! - clients: an acknowledged write is applied at the index it was
//!   acknowledged with; a definitely refused write is never applied; no
//!   request is answered twice; a linearizable read is served only once the
//!   state machine reflects every write acknowledged before it was issued.
//!
//! Replay one seed: `SYNOD_PAXOS_SEED=<seed> cargo test -p synod-paxos --test it <profile>`;
//! `SYNOD_PAXOS_SEEDS` and `SYNOD_PAXOS_STEPS` scale the runs up.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use synod_core::harness::chaos::{random_lossiness, random_node, split_in_two};
use synod_core::harness::ClientOutcome;
use synod_core::testing::seeds::{SeededRuns, Tally};
use synod_core::{NodeId, Proposal, RequestId, SeededRng};
use synod_paxos::{Ballot, PaxosMessage, Value};

#[derive(Clone, Copy, Debug)]
struct Profile {
    name: &'static str,
    nodes: u64,
    partitions: bool,
    crashes: bool,
    lossy: bool,
    snapshots: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    leaders: u64,
    writes_acked: u64,
    writes_refused: u64,
    writes_indefinite: u64,
    reads_served: u64,
    slots_chosen: u64,
    restores: u64,
    snapshot_chunks: u64,
}

impl Tally for Stats {
    fn add(&mut self, o: &Stats) {
        self.leaders += o.leaders;
        self.writes_acked += o.writes_acked;
        self.writes_refused += o.writes_refused;
        self.writes_indefinite += o.writes_indefinite;
        self.reads_served += o.reads_served;
        self.slots_chosen += o.slots_chosen;
        self.restores += o.restores;
        self.snapshot_chunks += o.snapshot_chunks;
    }
}

fn run_profile(profile: Profile, first_seed: u64, seeds: u64, steps: u64) {
    let ran = SeededRuns::profile("paxos", profile.name, first_seed, seeds, steps)
        .run(|seed, steps| run_one(profile, seed, steps));
    let (runs, total) = (ran.runs(), ran.total(profile.name));
    // Not vacuous: leaders were elected, writes acknowledged and refused,
    // reads served, faults bit.
    assert!(total.leaders >= runs && total.writes_acked >= runs);
    assert!(total.reads_served > 0);
    assert!(total.writes_indefinite + total.writes_refused > 0);
    if profile.crashes || profile.snapshots {
        assert!(total.restores > 0);
    }
    if profile.snapshots {
        assert!(total.snapshot_chunks > 0, "no snapshot was ever sent");
    }
}

struct Checker {
    seed: u64,
    step: u64,
    quorum: usize,
    /// (slot, ballot) -> the value and every acceptor that ever accepted it.
    tally: BTreeMap<(u64, Ballot), (Value, BTreeSet<NodeId>)>,
    /// Slot -> the value chosen (accepted by a majority under one ballot).
    chosen: BTreeMap<u64, Value>,
    /// Slot -> the value replicas reported as learned.
    learned: BTreeMap<u64, Value>,
    longest: Vec<(u64, Vec<u8>)>,
    cursor: BTreeMap<NodeId, usize>,
    outcomes_seen: usize,
    answered: BTreeSet<(NodeId, u64)>,
    writes: BTreeMap<u64, Vec<u8>>,
    refused: BTreeSet<Vec<u8>>,
    acked: BTreeMap<u64, u64>,
    read_floor: BTreeMap<u64, u64>,
    acked_index: u64,
    leaders_seen: BTreeSet<Ballot>,
    stats: Stats,
}

impl Checker {
    fn new(seed: u64, nodes: u64) -> Self {
        Self {
            seed,
            step: 0,
            quorum: nodes as usize / 2 + 1,
            tally: BTreeMap::new(),
            chosen: BTreeMap::new(),
            learned: BTreeMap::new(),
            longest: Vec::new(),
            cursor: BTreeMap::new(),
            outcomes_seen: 0,
            answered: BTreeSet::new(),
            writes: BTreeMap::new(),
            refused: BTreeSet::new(),
            acked: BTreeMap::new(),
            read_floor: BTreeMap::new(),
            acked_index: 0,
            leaders_seen: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    fn ctx(&self) -> String {
        format!("seed {} step {}", self.seed, self.step)
    }

    fn check(&mut self, net: &Net) {
        self.check_acceptances(net);
        self.check_learned(net);
        self.check_applied(net);
        self.check_outcomes(net);
        if let Some(l) = leader(net) {
            if self.leaders_seen.insert(net.core(l).unwrap().promised()) {
                self.stats.leaders += 1;
            }
        }
    }

    fn check_acceptances(&mut self, net: &Net) {
        let ctx = self.ctx();
        for id in net.ids() {
            let Some(c) = net.core(id) else { continue };
            for (slot, ballot, value) in c.accepted_proposals() {
                let entry = self
                    .tally
                    .entry((slot, ballot))
                    .or_insert_with(|| (value.clone(), BTreeSet::new()));
                assert_eq!(
                    &entry.0, value,
                    "{ctx}: two values proposed in slot {slot} under ballot {ballot}"
                );
                if entry.1.insert(id) && entry.1.len() == self.quorum {
                    let v = entry.0.clone();
                    match self.chosen.get(&slot) {
                        Some(prev) => assert_eq!(
                            prev, &v,
                            "{ctx}: slot {slot} chosen twice with different values"
                        ),
                        None => {
                            self.chosen.insert(slot, v);
                            self.stats.slots_chosen += 1;
                        }
                    }
                }
            }
        }
    }

    fn check_learned(&mut self, net: &Net) {
        let ctx = self.ctx();
        for id in net.ids() {
            let Some(c) = net.core(id) else { continue };
            for slot in c.snapshot_index() + 1..=c.chosen_through() {
                let v = c.chosen_value(slot).expect("chosen slots hold a value");
                let prev = self.learned.entry(slot).or_insert_with(|| v.clone());
                assert_eq!(
                    prev, v,
                    "{ctx}: node {id} learned another value in slot {slot}"
                );
                if let Some(ch) = self.chosen.get(&slot) {
                    assert_eq!(
                        ch, v,
                        "{ctx}: node {id} learned a value not chosen in {slot}"
                    );
                }
            }
        }
    }

    fn check_applied(&mut self, net: &Net) {
        for id in net.ids() {
            let applied = &net.machine(id).applied;
            let mut c = self.cursor.get(&id).copied().unwrap_or(0);
            if c > applied.len() || (c > 0 && applied[c - 1] != self.longest[c - 1]) {
                c = 0;
                self.stats.restores += 1;
            }
            for (k, entry) in applied.iter().enumerate().skip(c) {
                match self.longest.get(k) {
                    Some(e) => assert_eq!(
                        e,
                        entry,
                        "{}: node {id}'s applied sequence diverges at its command {k}",
                        self.ctx()
                    ),
                    None => self.longest.push(entry.clone()),
                }
            }
            self.cursor.insert(id, applied.len());
        }
    }

    fn check_outcomes(&mut self, net: &Net) {
        let outcomes = net.outcomes();
        for (node, rid, outcome) in &outcomes[self.outcomes_seen..] {
            assert!(
                self.answered.insert((*node, rid.0)),
                "{}: request {} answered twice",
                self.ctx(),
                rid.0
            );
            let is_write = self.writes.contains_key(&rid.0);
            match outcome {
                ClientOutcome::Applied { index } => {
                    assert!(is_write);
                    self.stats.writes_acked += 1;
                    self.acked.insert(rid.0, *index);
                    self.acked_index = self.acked_index.max(*index);
                    let at = self
                        .longest
                        .binary_search_by_key(index, |(i, _)| *i)
                        .ok()
                        .map(|k| &self.longest[k].1);
                    assert_eq!(
                        at,
                        self.writes.get(&rid.0),
                        "{}: write {} acknowledged at {index} but another command was applied there",
                        self.ctx(),
                        rid.0
                    );
                }
                ClientOutcome::ReadReady => {
                    self.stats.reads_served += 1;
                    let floor = self.read_floor[&rid.0];
                    let applied = net.machine(*node).applied_index;
                    assert!(
                        applied >= floor,
                        "{}: read {} served at applied {applied} below acknowledged {floor}",
                        self.ctx(),
                        rid.0
                    );
                }
                ClientOutcome::Replied(Err(e)) if is_write => {
                    if e.is_definite() {
                        self.stats.writes_refused += 1;
                        self.refused.insert(self.writes[&rid.0].clone());
                    } else {
                        self.stats.writes_indefinite += 1;
                    }
                }
                ClientOutcome::Replied(_) => {}
            }
        }
        self.outcomes_seen = outcomes.len();
        for (_, cmd) in self.longest.iter() {
            assert!(
                !self.refused.contains(cmd),
                "{}: a definitely refused write was applied",
                self.ctx()
            );
        }
    }
}

fn run_one(profile: Profile, seed: u64, steps: u64) -> Stats {
    let mut net = cluster(profile.nodes, seed);
    if profile.snapshots {
        net.set_snapshot_every(Some(4));
    }
    let mut rng = SeededRng::new(seed ^ 0x5eed);
    let mut ck = Checker::new(seed, profile.nodes);
    let all = net.ids();
    let minority = (profile.nodes as usize - 1) / 2;
    let mut next_req = 1u64;
    for step in 0..steps {
        ck.step = step;
        let roll = rng.range(0, 100);
        match roll {
            0..=9 => {
                let at = leader(&net)
                    .filter(|_| rng.chance(0.8))
                    .unwrap_or(all[rng.index(all.len())]);
                let cmd = next_req.to_le_bytes().to_vec();
                ck.writes.insert(next_req, cmd.clone());
                net.propose(
                    at,
                    Proposal::Write {
                        id: RequestId(next_req),
                        command: cmd,
                    },
                );
                next_req += 1;
            }
            10..=12 => {
                let at = leader(&net).unwrap_or(all[rng.index(all.len())]);
                ck.read_floor.insert(next_req, ck.acked_index);
                net.propose(
                    at,
                    Proposal::Read {
                        id: RequestId(next_req),
                    },
                );
                next_req += 1;
            }
            13 if profile.partitions => {
                net.heal();
                split_in_two(&mut net, &mut rng);
            }
            14 if profile.partitions || profile.lossy => net.heal(),
            15 if profile.lossy => random_lossiness(&mut net, &mut rng, 0.2, 0.1),
            // Crashes and restarts pick any node, down or up: a crash of a
            // node already down, or a restart of a live one, does nothing.
            16 if profile.crashes => {
                let down = all.iter().filter(|i| !net.is_up(**i)).count();
                if down < minority {
                    let victim = random_node(&net, &mut rng);
                    net.crash(victim);
                }
            }
            17..=18 if profile.crashes => {
                let back = random_node(&net, &mut rng);
                net.restart(back);
            }
            _ => {
                if let Some(env) = net.in_flight().front() {
                    if matches!(env.msg, PaxosMessage::SnapshotChunk { .. }) {
                        ck.stats.snapshot_chunks += 1;
                    }
                }
                net.step_random();
            }
        }
        ck.check(&net);
    }
    // Liveness: heal everything; a write proposed afterwards commits and
    // every replica applies the same sequence.
    net.heal();
    for id in all.clone() {
        net.restart(id);
    }
    let mut done = false;
    let mut probe: Option<(NodeId, u64)> = None;
    for _ in 0..400 {
        net.run(1);
        ck.check(&net);
        match probe {
            None => {
                if let Some(l) = leader(&net) {
                    let cmd = next_req.to_le_bytes().to_vec();
                    ck.writes.insert(next_req, cmd.clone());
                    net.propose(
                        l,
                        Proposal::Write {
                            id: RequestId(next_req),
                            command: cmd,
                        },
                    );
                    probe = Some((l, next_req));
                    next_req += 1;
                }
            }
            Some((l, id)) => match net.outcome(l, RequestId(id)) {
                Some(ClientOutcome::Applied { .. }) => {
                    done = true;
                    break;
                }
                Some(_) => probe = None, // refused or leadership lost: again
                None => {}
            },
        }
    }
    assert!(
        done,
        "seed {seed}: no write committed after the faults healed"
    );
    net.run(30);
    ck.check(&net);
    if std::env::var("SYNOD_PAXOS_DEBUG").is_ok() {
        for id in &all {
            let c = net.core(*id).unwrap();
            eprintln!(
                "node {id}: {:?} promised {} leader {:?} chosen {} applied {} snap {} machine {}",
                c.role(),
                c.promised(),
                c.leader(),
                c.chosen_through(),
                c.applied_index(),
                c.snapshot_index(),
                net.machine(*id).applied_index
            );
        }
    }
    let reference = net.machine(all[0]).applied.clone();
    for id in &all {
        assert_eq!(
            &net.machine(*id).applied,
            &reference,
            "seed {seed}: node {id} did not converge"
        );
    }
    ck.stats
}

#[test]
fn lossy_network_keeps_one_value_per_slot() {
    run_profile(
        Profile {
            name: "lossy_network_keeps_one_value_per_slot",
            nodes: 3,
            partitions: false,
            crashes: false,
            lossy: true,
            snapshots: false,
        },
        1000,
        60,
        1500,
    );
}

#[test]
fn partitions_keep_one_value_per_slot() {
    run_profile(
        Profile {
            name: "partitions_keep_one_value_per_slot",
            nodes: 5,
            partitions: true,
            crashes: false,
            lossy: false,
            snapshots: false,
        },
        2000,
        60,
        1500,
    );
}

#[test]
fn crashes_and_restarts_keep_learned_values() {
    run_profile(
        Profile {
            name: "crashes_and_restarts_keep_learned_values",
            nodes: 3,
            partitions: true,
            crashes: true,
            lossy: true,
            snapshots: false,
        },
        3000,
        60,
        1500,
    );
}

#[test]
fn snapshots_and_catch_up_keep_applied_sequences_prefixes() {
    run_profile(
        Profile {
            name: "snapshots_and_catch_up_keep_applied_sequences_prefixes",
            nodes: 5,
            partitions: true,
            crashes: true,
            lossy: true,
            snapshots: true,
        },
        4000,
        60,
        1500,
    );
}
