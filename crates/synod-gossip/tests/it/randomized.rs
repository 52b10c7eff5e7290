//! Randomised runs on the seeded harness: partitions, 10 % loss,
//! duplication, reordering, crashes and restarts, snapshots — with the
//! gossip invariants checked as the run goes, and convergence checked once
//! the faults heal.
//!
//! Invariants (checked every few steps and at the end):
//!
//! - no member applies an update twice, and nothing is applied that no
//!   client wrote;
//! - a member's applied index equals what its state machine applied;
//! - incarnations never decrease, across restarts too.
//!
//! After heal (every link up, every member restarted): every acknowledged
//! write is applied on every member, and every member sees every other one
//! alive.
//!
//! Replay one seed with `SYNOD_GOSSIP_SEED=<seed> cargo test -p
//! synod-gossip --test it randomized`; `SYNOD_GOSSIP_SEEDS` and
//! `SYNOD_GOSSIP_STEPS` scale the runs up for soak testing.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use synod_core::harness::chaos::{random_node, split_in_two};
use synod_core::testing::seeds::{SeededRuns, Tally};
use synod_core::{NodeId, Protocol, SeededRng};

#[derive(Default, Debug)]
struct Stats {
    writes_acked: u64,
    crashes: u64,
    partitions: u64,
    deaths_declared: u64,
    refutations: u64,
}

impl Tally for Stats {
    fn add(&mut self, s: &Stats) {
        self.writes_acked += s.writes_acked;
        self.crashes += s.crashes;
        self.partitions += s.partitions;
        self.deaths_declared += s.deaths_declared;
        self.refutations += s.refutations;
    }
}

struct Run {
    net: Net,
    rng: SeededRng,
    written: BTreeSet<Vec<u8>>,
    acked: BTreeSet<Vec<u8>>,
    incarnations: BTreeMap<NodeId, u64>,
    next_request: u64,
    stats: Stats,
    converged: bool,
}

impl Run {
    fn new(seed: u64, nodes: u64) -> Self {
        let mut net = cluster(nodes, seed);
        net.set_snapshot_every(Some(7));
        Self {
            net,
            rng: SeededRng::new(seed ^ 0x5EED),
            written: BTreeSet::new(),
            acked: BTreeSet::new(),
            incarnations: BTreeMap::new(),
            next_request: 1,
            stats: Stats::default(),
            converged: false,
        }
    }

    fn random_node(&mut self) -> NodeId {
        random_node(&self.net, &mut self.rng)
    }

    /// Faults pile up (a partition adds its cuts to those in place) until a
    /// heal; crashes are not budgeted: a gossip cluster must survive any.
    fn fault(&mut self) {
        match self.rng.range(0, 7) {
            0 => {
                split_in_two(&mut self.net, &mut self.rng);
                self.stats.partitions += 1;
            }
            1 => self.net.set_loss(0.10),
            2 => self.net.set_duplicate(0.05),
            3 => self.net.set_reorder(true),
            4 => {
                let node = self.random_node();
                if self.net.is_up(node) {
                    self.net.crash(node);
                    self.stats.crashes += 1;
                }
            }
            5 => {
                let node = self.random_node();
                self.net.restart(node);
            }
            _ => self.net.heal(),
        }
    }

    fn write(&mut self) {
        let node = self.random_node();
        let rid = self.next_request;
        self.next_request += 1;
        let command = format!("w{rid}").into_bytes();
        if write(&mut self.net, node, rid, &command) {
            self.written.insert(command.clone());
            if acked(&self.net, node, rid) {
                self.acked.insert(command);
                self.stats.writes_acked += 1;
            }
        }
    }

    fn check(&mut self) {
        for id in self.net.ids() {
            let Some(core) = self.net.core(id) else {
                continue;
            };
            let applied = applied_set(&self.net, id);
            assert!(
                applied.is_subset(&self.written),
                "{id} applied a write nobody made"
            );
            // A restarted core re-emits what its state machine lacks at its
            // first entry point; until then the machine may be behind.
            assert!(core.applied_index() >= self.net.machine(id).applied_index);
            if self.converged {
                assert_eq!(core.applied_index(), self.net.machine(id).applied_index);
            }
            let inc = core.incarnation();
            let seen = self.incarnations.entry(id).or_insert(0);
            assert!(
                inc >= *seen,
                "{id}'s incarnation went back from {seen} to {inc}"
            );
            *seen = inc;
        }
    }

    fn heal_and_converge(&mut self) {
        self.net.heal();
        for id in self.net.ids() {
            self.net.restart(id);
        }
        let everything: BTreeSet<Vec<u8>> = self.acked.clone();
        until_converged(&mut self.net, &everything, 400).unwrap_or_else(|| {
            let counts: Vec<_> = self
                .net
                .ids()
                .into_iter()
                .map(|id| (id, applied_set(&self.net, id).len()))
                .collect();
            panic!(
                "no convergence: {} acked, applied {counts:?}",
                everything.len()
            )
        });
        for _ in 0..200 {
            round(&mut self.net);
            let all_alive = self
                .net
                .ids()
                .into_iter()
                .all(|id| core(&self.net, id).status().voters == self.net.ids());
            if all_alive {
                break;
            }
        }
        for id in self.net.ids() {
            assert_eq!(
                core(&self.net, id).status().voters,
                self.net.ids(),
                "{id} sees every member alive after heal"
            );
            let s = core(&self.net, id).detector_stats();
            self.stats.deaths_declared += s.deaths_declared;
            self.stats.refutations += s.refutations;
        }
        self.converged = true;
        self.check();
    }
}

fn run_one(seed: u64, steps: u64) -> Stats {
    let mut run = Run::new(seed, 5);
    for step in 0..steps {
        let dice = run.rng.unit();
        if dice < 0.01 {
            run.fault();
        } else if dice < 0.06 {
            run.write();
        } else {
            run.net.step_random();
        }
        if step % 25 == 0 {
            run.check();
        }
    }
    run.check();
    run.heal_and_converge();
    run.stats
}

#[test]
fn randomized_faults_never_break_exactly_once_and_heal_converges() {
    let ran = SeededRuns {
        env_prefix: "SYNOD_GOSSIP".into(),
        package: "synod-gossip".into(),
        what: "gossip randomized run".into(),
        test: "randomized".into(),
        first_seed: 0,
        seeds: 64,
        steps: 6_000,
    }
    .run(run_one);
    let total = ran.total("gossip randomized");
    // Guard against a vacuous run: writes were acknowledged, faults bit.
    assert!(total.writes_acked > 0 && total.crashes > 0 && total.partitions > 0);
    assert!(total.deaths_declared > 0, "no failure was ever detected");
}
