//! Randomised runs on the seeded harness — partitions, loss, duplication,
//! reordering, crashes and restarts, snapshots, observers — with the
//! properties of Junqueira, Reed and Serafini (DSN 2011, §III) checked after
//! every step, and liveness once the faults heal:
//!
//! - **integrity**: only proposed commands are delivered;
//! - **total order** and **agreement**: every server delivers a prefix of
//!   one sequence (same command at the same zxid);
//! - **local primary order**: the commands one primary proposed are
//!   delivered in the order it proposed them, without gaps;
//! - **global primary order**: commands of an earlier epoch are delivered
//!   before those of a later one;
//! - **primary integrity**: a primary of epoch e had, when it was
//!   established, every command of an earlier epoch that anyone ever
//!   delivers.
//!
//! A failure prints its profile and seed; replay one seed with
//! `SYNOD_ZAB_SEED=<seed> cargo test -p synod-zab --test it <test name>`.
//! `SYNOD_ZAB_SEEDS` and `SYNOD_ZAB_STEPS` scale the runs up.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use synod_core::harness::chaos::{Chaos, ChaosProfile, CrashBudget};
use synod_core::harness::ClientOutcome;
use synod_core::testing::seeds::{SeededRuns, Tally};
use synod_core::{NodeId, RequestId, SeededRng};
use synod_zab::{SyncMode, ZabMessage, Zxid};

#[derive(Clone, Copy, Debug)]
struct Profile {
    name: &'static str,
    voters: u64,
    observers: u64,
    partitions: bool,
    crashes: bool,
    lossy: bool,
    snapshots: bool,
}

fn run_profile(profile: Profile, first_seed: u64, seeds: u64, steps: u64) {
    let ran = SeededRuns::profile("zab", profile.name, first_seed, seeds, steps)
        .run(|seed, steps| run_one(profile, seed, steps));
    let (runs, total) = (ran.runs(), ran.total(profile.name));
    // Guard against vacuous runs: leaders changed, writes committed, reads
    // served, faults bit.
    assert!(total.epochs_established >= runs && total.writes_acked >= runs);
    assert!(
        total.forwarded_acked > 0,
        "no learner answered a forwarded write"
    );
    assert!(total.reads_served > 0);
    assert!(
        total.learner_reads > 0,
        "no learner served a linearizable read"
    );
    assert!(total.writes_indefinite + total.writes_refused > 0);
    if profile.crashes || profile.snapshots {
        assert!(total.machine_restores > 0);
    }
    if profile.snapshots {
        assert!(total.snap_syncs > 0, "no SNAP sync was ever sent");
    }
    if profile.observers > 0 {
        assert!(total.observer_deliveries > 0, "observers learned nothing");
    }
}

/// What a run exercised, summed over seeds.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    epochs_established: u64,
    writes_acked: u64,
    /// Writes a learner forwarded and answered.
    forwarded_acked: u64,
    /// Linearizable reads a learner served after its leader's `sync`.
    learner_reads: u64,
    writes_refused: u64,
    writes_indefinite: u64,
    reads_served: u64,
    commands_delivered: u64,
    machine_restores: u64,
    snap_syncs: u64,
    trunc_syncs: u64,
    observer_deliveries: u64,
}

impl Tally for Stats {
    fn add(&mut self, o: &Stats) {
        self.epochs_established += o.epochs_established;
        self.writes_acked += o.writes_acked;
        self.forwarded_acked += o.forwarded_acked;
        self.learner_reads += o.learner_reads;
        self.writes_refused += o.writes_refused;
        self.writes_indefinite += o.writes_indefinite;
        self.reads_served += o.reads_served;
        self.commands_delivered += o.commands_delivered;
        self.machine_restores += o.machine_restores;
        self.snap_syncs += o.snap_syncs;
        self.trunc_syncs += o.trunc_syncs;
        self.observer_deliveries += o.observer_deliveries;
    }
}

/// The paper's properties, checked after every step.
struct Checker {
    seed: u64,
    step: u64,
    observers: BTreeSet<NodeId>,
    /// The longest delivered sequence seen anywhere: `(zxid, command)`.
    longest: Vec<(u64, Vec<u8>)>,
    cursor: BTreeMap<NodeId, usize>,
    /// Per established epoch: the leader and the last zxid of an earlier
    /// epoch in its history when it was first seen established.
    primaries: BTreeMap<u64, (NodeId, Zxid)>,
    /// Writes by request id: the command.
    writes: BTreeMap<u64, Vec<u8>>,
    /// Commands a client gave the established primary of each epoch itself,
    /// in the order it received them.
    proposed_in: BTreeMap<u64, Vec<Vec<u8>>>,
    /// What the primary of each epoch broadcast, in zxid order: its own
    /// clients' writes and those learners forwarded.
    broadcast_in: BTreeMap<u64, Vec<(Zxid, Vec<u8>)>>,
    refused: BTreeSet<Vec<u8>>,
    read_floor: BTreeMap<u64, u64>,
    acked_index: u64,
    answered: BTreeSet<(NodeId, u64)>,
    outcomes_seen: usize,
    stats: Stats,
}

impl Checker {
    fn ctx(&self) -> String {
        format!("seed {} step {}", self.seed, self.step)
    }

    fn check(&mut self, net: &Net) {
        for id in net.ids() {
            let delivered = &net.machine(id).applied;
            let mut c = self.cursor.get(&id).copied().unwrap_or(0);
            let still_prefix =
                c <= delivered.len() && (c == 0 || delivered[c - 1] == self.longest[c - 1]);
            if !still_prefix {
                c = 0;
                self.stats.machine_restores += 1;
            }
            for (k, (zxid, command)) in delivered.iter().enumerate().skip(c) {
                // Integrity: only proposed commands are delivered.
                assert!(
                    self.writes.values().any(|w| w == command),
                    "{}: node {id} delivered {command:?}, which nobody proposed",
                    self.ctx()
                );
                // Global primary order / total order: zxids increase.
                if k > 0 {
                    assert!(
                        delivered[k - 1].0 < *zxid,
                        "{}: zxids out of order",
                        self.ctx()
                    );
                }
                // Agreement: a prefix of one sequence.
                match self.longest.get(k) {
                    Some((z, cmd)) => assert!(
                        (z, cmd) == (zxid, command),
                        "{}: node {id} delivered {command:?} at {} as its {k}th command, \
                         another server delivered {cmd:?} at {}",
                        self.ctx(),
                        Zxid(*zxid),
                        Zxid(*z)
                    ),
                    None => self.longest.push((*zxid, command.clone())),
                }
                if self.observers.contains(&id) {
                    self.stats.observer_deliveries += 1;
                }
            }
            self.cursor.insert(id, delivered.len());
        }
        // One established primary per epoch; remember its initial history.
        for id in net.ids() {
            let Some(c) = net.core(id) else { continue };
            if !c.is_established_leader() {
                continue;
            }
            let epoch = c.current_epoch();
            match self.primaries.get(&epoch) {
                Some((other, _)) => {
                    assert_eq!(*other, id, "{}: two primaries of epoch {epoch}", self.ctx())
                }
                None => {
                    let first_own = Zxid::new(epoch as u32, 1);
                    let initial_last = c
                        .history()
                        .iter()
                        .map(|t| t.zxid)
                        .filter(|z| *z < first_own)
                        .max()
                        .unwrap_or(c.history_base())
                        .max(c.history_base().min(first_own.prev()));
                    self.primaries.insert(epoch, (id, initial_last));
                }
            }
            let seen = self.broadcast_in.entry(epoch).or_default();
            let after = seen.last().map_or(Zxid::ZERO, |(z, _)| *z);
            for t in c.history() {
                if u64::from(t.zxid.epoch()) == epoch && t.zxid > after {
                    seen.push((t.zxid, t.command.clone().unwrap_or_default()));
                }
            }
        }
        self.check_outcomes(net);
    }

    fn check_outcomes(&mut self, net: &Net) {
        let outcomes = net.outcomes();
        for (node, rid, outcome) in &outcomes[self.outcomes_seen..] {
            assert!(
                self.answered.insert((*node, rid.0)),
                "{}: request {} at {node} answered twice",
                self.ctx(),
                rid.0
            );
            match outcome {
                ClientOutcome::Applied { index } => {
                    let want = &self.writes[&rid.0];
                    let got = self.longest.iter().find(|(z, _)| z == index);
                    assert_eq!(
                        got.map(|(_, c)| c),
                        Some(want),
                        "{}: write {} acknowledged at {} with another command",
                        self.ctx(),
                        rid.0,
                        Zxid(*index)
                    );
                    self.acked_index = self.acked_index.max(*index);
                    self.stats.writes_acked += 1;
                    let epoch = u64::from(Zxid(*index).epoch());
                    if self.primaries.get(&epoch).is_some_and(|(p, _)| p != node) {
                        self.stats.forwarded_acked += 1;
                    }
                }
                ClientOutcome::ReadReady => {
                    let floor = self.read_floor[&rid.0];
                    let applied = net.machine(*node).applied_index;
                    assert!(
                        applied >= floor,
                        "{}: read {} served at {} before acknowledged write {}",
                        self.ctx(),
                        rid.0,
                        Zxid(applied),
                        Zxid(floor)
                    );
                    self.stats.reads_served += 1;
                    if net.core(*node).is_some_and(|c| !c.is_established_leader()) {
                        self.stats.learner_reads += 1;
                    }
                }
                ClientOutcome::Replied(Err(e)) => {
                    if let Some(cmd) = self.writes.get(&rid.0) {
                        if e.is_definite() {
                            self.refused.insert(cmd.clone());
                            self.stats.writes_refused += 1;
                        } else {
                            self.stats.writes_indefinite += 1;
                        }
                    }
                }
                ClientOutcome::Replied(Ok(_)) => {}
            }
        }
        self.outcomes_seen = outcomes.len();
    }

    fn check_end(&mut self) {
        let mut seen = BTreeSet::new();
        for (zxid, command) in &self.longest {
            assert!(
                seen.insert(command.clone()),
                "seed {}: {command:?} delivered twice",
                self.seed
            );
            assert!(
                !self.refused.contains(command),
                "seed {}: a write refused definitely was delivered at {}",
                self.seed,
                Zxid(*zxid)
            );
        }
        // Local primary order: per epoch, the delivered commands are a
        // prefix of what its primary broadcast, in the same order; and the
        // primary broadcast its own clients' writes in the order it
        // received them (it accepted every one it did not refuse).
        let mut by_epoch: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
        for (zxid, command) in &self.longest {
            by_epoch
                .entry(u64::from(Zxid(*zxid).epoch()))
                .or_default()
                .push(command.clone());
        }
        for (epoch, delivered) in &by_epoch {
            let broadcast: Vec<&Vec<u8>> = self
                .broadcast_in
                .get(epoch)
                .map(|b| b.iter().map(|(_, c)| c).collect())
                .unwrap_or_default();
            assert!(
                delivered.len() <= broadcast.len()
                    && delivered.iter().zip(&broadcast).all(|(d, b)| d == *b),
                "seed {}: epoch {epoch} delivered {delivered:?}, its primary broadcast {broadcast:?}",
                self.seed
            );
        }
        for (epoch, direct) in &self.proposed_in {
            let accepted: Vec<&Vec<u8>> = direct
                .iter()
                .filter(|c| !self.refused.contains(*c))
                .collect();
            let broadcast: Vec<&Vec<u8>> = self.broadcast_in[epoch]
                .iter()
                .map(|(_, c)| c)
                .filter(|c| direct.contains(c))
                .collect();
            assert_eq!(
                broadcast, accepted,
                "seed {}: epoch {epoch}'s primary broadcast its clients' writes out of order",
                self.seed
            );
        }
        // Primary integrity: the primary of epoch e held, when established,
        // every command of an earlier epoch that was ever delivered.
        for (epoch, (leader, initial_last)) in &self.primaries {
            for (zxid, _) in &self.longest {
                let z = Zxid(*zxid);
                if u64::from(z.epoch()) < *epoch {
                    assert!(
                        z <= *initial_last,
                        "seed {}: {} delivered, but primary {leader} of epoch {epoch} \
                         started with history only through {initial_last}",
                        self.seed,
                        z
                    );
                }
            }
        }
        self.stats.epochs_established = self.primaries.len() as u64;
        self.stats.commands_delivered = self.longest.len() as u64;
    }
}

fn pick(rng: &mut SeededRng, ids: &[NodeId]) -> NodeId {
    ids[rng.index(ids.len())]
}

fn run_one(profile: Profile, seed: u64, steps: u64) -> Stats {
    let opts = Opts {
        voters: profile.voters,
        observers: profile.observers,
        election_ticks: (6, 12),
        heartbeat_ticks: 2,
        snapshot_chunk_bytes: if profile.snapshots { 48 } else { 1 << 20 },
        diff_window_proposals: if profile.snapshots { 2 } else { 1000 },
        max_batch_proposals: 8,
        ..Opts::default()
    };
    let mut net = cluster(seed, opts.clone());
    if profile.snapshots {
        net.set_snapshot_every(Some(5));
    }
    let all = opts.all_ids();
    // Observers may all crash: only a minority of voters may be down.
    let mut chaos = Chaos::new(ChaosProfile {
        partitions: profile.partitions,
        crashes: profile.crashes,
        lossy: profile.lossy,
        max_loss: 0.3,
        max_duplicate: 0.1,
        crash_budget: CrashBudget::Voters {
            max_down: (profile.voters as usize - 1) / 2,
            voters: opts.voter_ids().into_iter().collect(),
        },
    });
    let mut rng = SeededRng::new(seed ^ 0x2AB_CAFE);
    let mut checker = Checker {
        seed,
        step: 0,
        observers: opts.observer_ids().into_iter().collect(),
        longest: Vec::new(),
        cursor: BTreeMap::new(),
        primaries: BTreeMap::new(),
        writes: BTreeMap::new(),
        proposed_in: BTreeMap::new(),
        broadcast_in: BTreeMap::new(),
        refused: BTreeSet::new(),
        read_floor: BTreeMap::new(),
        acked_index: 0,
        answered: BTreeSet::new(),
        outcomes_seen: 0,
        stats: Stats::default(),
    };
    let mut rid = 0u64;
    let mut propose = |net: &mut Net, checker: &mut Checker, at: NodeId, command: Vec<u8>| {
        rid += 1;
        checker.writes.insert(rid, command.clone());
        if let Some(c) = net.core(at) {
            if c.is_established_leader() {
                checker
                    .proposed_in
                    .entry(c.current_epoch())
                    .or_default()
                    .push(command.clone());
            }
        }
        write(net, at, rid, &command);
        // Seen in the primary's history before anything else happens (a
        // tick could depose it, and its successor deliver the write).
        checker.check(net);
        rid
    };
    let mut read_rid = 1u64 << 40;
    for step in 0..steps {
        checker.step = step;
        let roll = rng.unit();
        let leader = current_leader(&net).filter(|l| net.is_up(*l));
        let target = |rng: &mut SeededRng| match leader {
            Some(l) if rng.chance(0.7) => l,
            _ => pick(rng, &all),
        };
        if roll < 0.80 {
            if let Some(e) = net.in_flight().front() {
                if let ZabMessage::Sync { mode, .. } = &e.msg {
                    match mode {
                        SyncMode::Snap { .. } => checker.stats.snap_syncs += 1,
                        SyncMode::Trunc { .. } => checker.stats.trunc_syncs += 1,
                        SyncMode::Diff => {}
                    }
                }
            }
            net.step_random();
        } else if roll < 0.88 {
            let at = target(&mut rng);
            propose(
                &mut net,
                &mut checker,
                at,
                format!("s{seed}-w{step}").into_bytes(),
            );
        } else if roll < 0.91 {
            read_rid += 1;
            checker.read_floor.insert(read_rid, checker.acked_index);
            let at = target(&mut rng);
            read(&mut net, at, read_rid);
        } else if roll < 0.925 {
            chaos.step(&mut net, &mut rng);
        } else {
            net.tick(pick(&mut rng, &all));
        }
        checker.check(&net);
    }

    // Liveness: heal everything; a leader emerges and a new write reaches
    // every server, observers included.
    checker.step = steps;
    chaos.heal_all(&mut net);
    let mut done = false;
    for attempt in 0..10 {
        let leader = stable_leader_checked(&mut net, &mut checker, &all);
        let last = format!("s{seed}-final{attempt}").into_bytes();
        let id = propose(&mut net, &mut checker, leader, last.clone());
        for _ in 0..200 {
            run_checked(&mut net, &mut checker);
            if all.iter().all(|m| applied(&net, *m).last() == Some(&last)) {
                done = true;
                break;
            }
            if matches!(
                net.outcome(leader, RequestId(id)),
                Some(ClientOutcome::Replied(_))
            ) {
                break;
            }
        }
        if done {
            break;
        }
    }
    assert!(
        done,
        "seed {seed}: no write reached every server after heal: {:?}",
        net.statuses()
    );
    checker.check_end();
    checker.stats
}

/// One round (every node ticks, then the messages are delivered until
/// quiet), checked after every event: the checker must see each proposal
/// in its primary's history before a snapshot compacts it away.
fn run_checked(net: &mut Net, checker: &mut Checker) {
    for id in net.ids() {
        net.tick(id);
        checker.check(net);
    }
    for _ in 0..10_000 {
        if !net.deliver_next() {
            break;
        }
        checker.check(net);
    }
}

fn stable_leader_checked(net: &mut Net, checker: &mut Checker, all: &[NodeId]) -> NodeId {
    for _ in 0..600 {
        run_checked(net, checker);
        if let Some(l) = current_leader(net) {
            let epoch = core(net, l).current_epoch();
            if all.iter().all(|m| {
                core(net, *m).leader() == Some(l) && core(net, *m).current_epoch() == epoch
            }) {
                return l;
            }
        }
    }
    panic!(
        "seed {}: no leader after heal: {:?}",
        checker.seed,
        net.statuses()
    );
}

const STEPS: u64 = 3000;

#[test]
fn randomized_partitions_and_crashes() {
    let profile = Profile {
        name: "randomized_partitions_and_crashes",
        voters: 5,
        observers: 0,
        partitions: true,
        crashes: true,
        lossy: false,
        snapshots: false,
    };
    run_profile(profile, 1_000, 150, STEPS);
}

#[test]
fn randomized_loss_duplication_reordering() {
    let profile = Profile {
        name: "randomized_loss_duplication_reordering",
        voters: 3,
        observers: 1,
        partitions: true,
        crashes: false,
        lossy: true,
        snapshots: false,
    };
    run_profile(profile, 2_000, 150, STEPS);
}

#[test]
fn randomized_snapshots_observers_and_crashes() {
    let profile = Profile {
        name: "randomized_snapshots_observers_and_crashes",
        voters: 3,
        observers: 1,
        partitions: true,
        crashes: true,
        lossy: false,
        snapshots: true,
    };
    run_profile(profile, 3_000, 150, STEPS);
}

#[test]
fn randomized_everything_at_once() {
    let profile = Profile {
        name: "randomized_everything_at_once",
        voters: 5,
        observers: 1,
        partitions: true,
        crashes: true,
        lossy: true,
        snapshots: true,
    };
    run_profile(profile, 4_000, 150, STEPS);
}
