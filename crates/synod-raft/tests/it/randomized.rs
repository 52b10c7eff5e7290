//! Randomised runs on the seeded harness: partitions, loss, duplication,
//! reordering, crashes and restarts, snapshots and membership changes, with
//! Raft's safety properties checked after every step and liveness after the
//! faults heal.
//!
//! A failure prints its profile and seed; replay one seed with
//! `SYNOD_RAFT_SEED=<seed> cargo test -p synod-raft --test it <test name>`.
//! `SYNOD_RAFT_SEEDS` (seeds per profile) and `SYNOD_RAFT_STEPS` scale the
//! runs up for soak testing.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use synod_core::harness::chaos::{Chaos, ChaosProfile, CrashBudget};
use synod_core::harness::ClientOutcome;
use synod_core::testing::seeds::{SeededRuns, Tally};
use synod_core::{AdminRequest, NodeId, RequestId, SeededRng};
use synod_raft::{EntryPayload, RaftMessage, Role};

/// Which faults and features a run exercises.
#[derive(Clone, Copy, Debug)]
struct Profile {
    name: &'static str,
    nodes: u64,
    /// Initial voters: the first `voters` ids; the rest join later.
    voters: u64,
    partitions: bool,
    crashes: bool,
    lossy: bool,
    snapshots: bool,
    membership: bool,
}

/// Runs `seeds` seeds of `profile` (or the one in `SYNOD_RAFT_SEED`).
fn run_profile(profile: Profile, first_seed: u64, seeds: u64, steps: u64) {
    let ran = SeededRuns::profile("raft", profile.name, first_seed, seeds, steps)
        .run(|seed, steps| run_one(profile, seed, steps).0);
    let (runs, total) = (ran.runs(), ran.total(profile.name));
    // Guard against a vacuous run: things happened, faults bit.
    assert!(total.terms_with_leader >= runs && total.writes_acked >= runs);
    assert!(total.reads_served > 0 && total.writes_indefinite + total.writes_refused > 0);
    if profile.crashes || profile.snapshots {
        assert!(total.machine_restores > 0);
    }
    if profile.snapshots {
        assert!(
            total.snapshot_chunks_seen > 0,
            "no InstallSnapshot was ever sent"
        );
    }
}

/// Safety invariants, checked after every step.
struct Checker {
    seed: u64,
    step: u64,
    /// Every (term, leader) ever observed.
    leader_of_term: BTreeMap<u64, NodeId>,
    /// The longest applied command sequence seen anywhere: `(index, command)`
    /// and an upper bound on the term it was committed in.
    longest: Vec<(u64, Vec<u8>, u64)>,
    /// How much of each node's applied sequence was already compared.
    cursor: BTreeMap<NodeId, usize>,
    outcomes_seen: usize,
    /// Requests answered, to catch double answers.
    answered: BTreeSet<(NodeId, u64)>,
    /// Writes by request id: the command proposed.
    writes: BTreeMap<u64, Vec<u8>>,
    /// Writes refused with a definite error: must never be applied.
    refused: BTreeSet<Vec<u8>>,
    /// Reads by request id: every index acknowledged before it was issued.
    read_floor: BTreeMap<u64, u64>,
    /// Highest index of a write acknowledged so far.
    acked_index: u64,
    stats: Stats,
}

/// What a run exercised, summed over seeds, to show the runs are not vacuous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stats {
    terms_with_leader: u64,
    writes_acked: u64,
    writes_refused: u64,
    writes_indefinite: u64,
    reads_served: u64,
    commands_applied: u64,
    /// A node's state machine was replaced (restart, snapshot install).
    machine_restores: u64,
    /// Steps at which the next message to deliver was a snapshot chunk.
    snapshot_chunks_seen: u64,
    delivered: u64,
    lost: u64,
}

impl Tally for Stats {
    fn add(&mut self, o: &Stats) {
        self.terms_with_leader += o.terms_with_leader;
        self.writes_acked += o.writes_acked;
        self.writes_refused += o.writes_refused;
        self.writes_indefinite += o.writes_indefinite;
        self.reads_served += o.reads_served;
        self.commands_applied += o.commands_applied;
        self.machine_restores += o.machine_restores;
        self.snapshot_chunks_seen += o.snapshot_chunks_seen;
        self.delivered += o.delivered;
        self.lost += o.lost;
    }
}

impl Checker {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            step: 0,
            leader_of_term: BTreeMap::new(),
            longest: Vec::new(),
            cursor: BTreeMap::new(),
            outcomes_seen: 0,
            answered: BTreeSet::new(),
            writes: BTreeMap::new(),
            refused: BTreeSet::new(),
            read_floor: BTreeMap::new(),
            acked_index: 0,
            stats: Stats::default(),
        }
    }

    fn ctx(&self) -> String {
        format!("seed {} step {}", self.seed, self.step)
    }

    fn check(&mut self, net: &Net) {
        let max_term = net
            .ids()
            .into_iter()
            .filter_map(|id| net.core(id))
            .map(|c| c.term())
            .max()
            .unwrap_or(0);
        // State machine safety: every node applied a prefix of one sequence,
        // so committed entries never change.
        for id in net.ids() {
            let applied = &net.machine(id).applied;
            let mut c = self.cursor.get(&id).copied().unwrap_or(0);
            let still_prefix = c <= applied.len()
                && (c == 0
                    || (applied[c - 1].0, &applied[c - 1].1)
                        == (self.longest[c - 1].0, &self.longest[c - 1].1));
            if !still_prefix {
                c = 0; // restored from a snapshot or restarted: re-check all
                self.stats.machine_restores += 1;
            }
            for (k, (index, command)) in applied.iter().enumerate().skip(c) {
                match self.longest.get(k) {
                    Some((i, cmd, _)) => assert!(
                        (i, cmd) == (index, command),
                        "{}: node {id} applied {command:?} at {index} as its {k}th command, \
                         another node applied {cmd:?} at {i}",
                        self.ctx()
                    ),
                    None => self.longest.push((*index, command.clone(), max_term)),
                }
            }
            self.cursor.insert(id, applied.len());
        }
        // Election safety, and leader completeness for each new leader.
        for id in net.ids() {
            let Some(c) = net.core(id) else { continue };
            if c.role() != Role::Leader {
                continue;
            }
            let term = c.term();
            match self.leader_of_term.get(&term) {
                Some(&other) => assert_eq!(
                    other,
                    id,
                    "{}: two leaders in term {term}: {other} and {id}",
                    self.ctx()
                ),
                None => {
                    self.leader_of_term.insert(term, id);
                    for (index, command, bound) in &self.longest {
                        // Committed in a term at most `bound`: a leader of a
                        // later term must hold it.
                        if *bound < term && *index > c.snapshot_index() {
                            assert_eq!(
                                c.entry(*index).map(|e| &e.payload),
                                Some(&EntryPayload::Command(command.clone())),
                                "{}: leader {id} of term {term} lacks committed index {index}",
                                self.ctx()
                            );
                        }
                    }
                }
            }
        }
        // Client outcomes.
        let outcomes = net.outcomes();
        for (node, rid, outcome) in &outcomes[self.outcomes_seen..] {
            assert!(
                self.answered.insert((*node, rid.0)),
                "{}: request {} at node {node} answered twice",
                self.ctx(),
                rid.0
            );
            match outcome {
                ClientOutcome::Applied { index } => {
                    let want = &self.writes[&rid.0];
                    let got = self.longest.iter().find(|(i, _, _)| i == index);
                    assert_eq!(
                        got.map(|(_, c, _)| c),
                        Some(want),
                        "{}: write {} acknowledged at {index} with another command",
                        self.ctx(),
                        rid.0
                    );
                    self.acked_index = self.acked_index.max(*index);
                    self.stats.writes_acked += 1;
                }
                ClientOutcome::ReadReady => {
                    let floor = self.read_floor[&rid.0];
                    let applied = net.machine(*node).applied_index;
                    assert!(
                        applied >= floor,
                        "{}: read {} at node {node} served at applied index {applied}, \
                         but index {floor} was acknowledged before the read began",
                        self.ctx(),
                        rid.0
                    );
                    self.stats.reads_served += 1;
                }
                ClientOutcome::Replied(Err(e)) if e.is_definite() => {
                    if let Some(cmd) = self.writes.get(&rid.0) {
                        self.refused.insert(cmd.clone());
                        self.stats.writes_refused += 1;
                    }
                }
                ClientOutcome::Replied(Err(_)) => {
                    if self.writes.contains_key(&rid.0) {
                        self.stats.writes_indefinite += 1;
                    }
                }
                ClientOutcome::Replied(Ok(_)) => {}
            }
        }
        self.outcomes_seen = outcomes.len();
    }

    fn check_end(&self, net: &Net) {
        let mut seen = BTreeSet::new();
        for (index, command, _) in &self.longest {
            assert!(
                seen.insert(command.clone()),
                "seed {}: command {command:?} applied twice (again at {index})",
                self.seed
            );
            assert!(
                !self.refused.contains(command),
                "seed {}: a write refused definitely was applied at {index}",
                self.seed
            );
        }
        // Log matching between every pair of live nodes.
        let live: Vec<NodeId> = net.ids().into_iter().filter(|&i| net.is_up(i)).collect();
        for (k, &a) in live.iter().enumerate() {
            for &b in &live[k + 1..] {
                let (ca, cb) = (core(net, a), core(net, b));
                let lo = ca.snapshot_index().max(cb.snapshot_index()) + 1;
                let hi = ca.last_log_index().min(cb.last_log_index());
                let Some(top) = (lo..=hi)
                    .rev()
                    .find(|&i| ca.entry(i).map(|e| e.term) == cb.entry(i).map(|e| e.term))
                else {
                    continue;
                };
                for i in lo..=top {
                    assert_eq!(
                        ca.entry(i),
                        cb.entry(i),
                        "seed {}: log matching broken between {a} and {b} at {i}",
                        self.seed
                    );
                }
            }
        }
    }
}

/// Runs rounds until some leader has committed in its term and no member of
/// its configuration is in a later term. Nodes outside its configuration
/// (removed ones that never learned it) may be in any term.
fn wait_for_leader(net: &mut Net, checker: &mut Checker) -> NodeId {
    for _ in 0..400 {
        net.run(1);
        checker.check(net);
        for (id, term) in leaders(net) {
            let c = core(net, id);
            let members_term = c
                .membership()
                .members()
                .iter()
                .filter_map(|m| net.core(*m))
                .map(|m| m.term())
                .max()
                .unwrap_or(0);
            if c.log_term(c.commit_index()) == Some(term) && term >= members_term {
                return id;
            }
        }
    }
    panic!(
        "seed {}: no leader after heal: {:?}",
        checker.seed,
        net.statuses()
    );
}

fn pick(rng: &mut SeededRng, ids: &[NodeId]) -> NodeId {
    ids[rng.index(ids.len())]
}

fn run_one(profile: Profile, seed: u64, steps: u64) -> (Stats, Vec<Vec<u8>>) {
    let opts = Opts {
        pre_vote: seed % 3 != 0,
        check_quorum: seed % 4 != 0,
        election_ticks: (6, 12),
        heartbeat_ticks: 2,
        snapshot_chunk_bytes: if profile.snapshots { 48 } else { 1 << 20 },
        max_append_entries: 8,
        max_inflight_bytes: 512,
        voters: Some(ids(profile.voters)),
        learners: Vec::new(),
    };
    let mut net = cluster(profile.nodes, seed, opts);
    if profile.snapshots {
        net.set_snapshot_every(Some(5));
    }
    let all = ids(profile.nodes);
    // A minority of the initial voters may be down, whichever nodes they
    // are: with membership changes, any node may be a voter by then.
    let max_down = (profile.voters as usize - 1) / 2;
    let mut chaos = Chaos::new(ChaosProfile {
        partitions: profile.partitions,
        crashes: profile.crashes,
        lossy: profile.lossy,
        max_loss: 0.3,
        max_duplicate: 0.1,
        crash_budget: CrashBudget::Nodes(max_down),
    });
    let mut rng = SeededRng::new(seed ^ 0x5EED_CAFE);
    let mut checker = Checker::new(seed);
    let mut rid = 0u64;
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
                if matches!(e.msg, RaftMessage::InstallSnapshot { .. }) {
                    checker.stats.snapshot_chunks_seen += 1;
                }
            }
            net.step_random();
        } else if roll < 0.88 {
            rid += 1;
            let command = format!("s{seed}-w{rid}").into_bytes();
            checker.writes.insert(rid, command.clone());
            let at = target(&mut rng);
            write(&mut net, at, rid, &command);
        } else if roll < 0.91 {
            rid += 1;
            checker.read_floor.insert(rid, checker.acked_index);
            let at = target(&mut rng);
            read(&mut net, at, rid);
        } else if roll < 0.92 && profile.membership {
            rid += 1;
            let node = pick(&mut rng, &all);
            let request = match rng.index(4) {
                0 => AdminRequest::AddVoter { node },
                1 => AdminRequest::AddLearner { node },
                2 => AdminRequest::RemoveNode { node },
                _ => AdminRequest::TransferLeader { to: node },
            };
            let at = target(&mut rng);
            admin(&mut net, at, rid, request);
        } else if roll < 0.935 {
            // A fault, or the end of the faults.
            chaos.step(&mut net, &mut rng);
        } else {
            net.tick(pick(&mut rng, &all));
        }
        checker.check(&net);
    }

    // Heal everything; a leader must emerge and commit a new write.
    checker.step = steps;
    chaos.heal_all(&mut net);
    // Liveness: a leader emerges and a new write reaches every member. A
    // write may be lost to one more election (with pre-vote and
    // check-quorum off, a healed node can still depose the leader): retry.
    let mut committed = None;
    for attempt in 0..10 {
        let leader = wait_for_leader(&mut net, &mut checker);
        rid += 1;
        let last = format!("s{seed}-final{attempt}").into_bytes();
        checker.writes.insert(rid, last.clone());
        write(&mut net, leader, rid, &last);
        for _ in 0..200 {
            net.run(1);
            checker.check(&net);
            let members = core(&net, leader).membership().members();
            if members
                .iter()
                .all(|m| applied(&net, *m).last() == Some(&last))
            {
                committed = Some(leader);
                break;
            }
            if matches!(
                net.outcome(leader, RequestId(rid)),
                Some(ClientOutcome::Replied(_))
            ) {
                break;
            }
        }
        if committed.is_some() {
            break;
        }
    }
    let leader = committed.unwrap_or_else(|| {
        panic!(
            "seed {seed}: no write committed on every member after heal: {:?}",
            net.statuses()
        )
    });
    checker.check_end(&net);
    let (delivered, lost) = net.message_counts();
    let mut stats = checker.stats;
    stats.delivered = delivered;
    stats.lost = lost;
    stats.terms_with_leader = checker.leader_of_term.len() as u64;
    stats.commands_applied = checker.longest.len() as u64;
    (stats, applied(&net, leader))
}

const STEPS: u64 = 4000;

#[test]
fn randomized_partitions_and_crashes() {
    let profile = Profile {
        name: "randomized_partitions_and_crashes",
        nodes: 5,
        voters: 5,
        partitions: true,
        crashes: true,
        lossy: false,
        snapshots: false,
        membership: false,
    };
    run_profile(profile, 1_000, 200, STEPS);
}

#[test]
fn randomized_loss_duplication_reordering() {
    let profile = Profile {
        name: "randomized_loss_duplication_reordering",
        nodes: 3,
        voters: 3,
        partitions: true,
        crashes: true,
        lossy: true,
        snapshots: false,
        membership: false,
    };
    run_profile(profile, 2_000, 200, STEPS);
}

#[test]
fn randomized_with_snapshots() {
    let profile = Profile {
        name: "randomized_with_snapshots",
        nodes: 5,
        voters: 5,
        partitions: true,
        crashes: true,
        lossy: true,
        snapshots: true,
        membership: false,
    };
    run_profile(profile, 3_000, 200, STEPS);
}

#[test]
fn randomized_membership_changes() {
    let profile = Profile {
        name: "randomized_membership_changes",
        nodes: 5,
        voters: 3,
        partitions: true,
        crashes: true,
        lossy: true,
        snapshots: true,
        membership: true,
    };
    run_profile(profile, 4_000, 200, STEPS);
}

/// The harness and the core are deterministic: a seed replays exactly.
#[test]
fn randomized_runs_replay_by_seed() {
    let profile = Profile {
        name: "randomized_runs_replay_by_seed",
        nodes: 5,
        voters: 3,
        partitions: true,
        crashes: true,
        lossy: true,
        snapshots: true,
        membership: true,
    };
    let a = run_one(profile, 77, 1500);
    let b = run_one(profile, 77, 1500);
    assert_eq!(a, b);
}
