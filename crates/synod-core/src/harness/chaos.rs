//! Random faults for randomised tests.
//!
//! A randomised test interleaves three kinds of events on a [`Network`]:
//! messages arriving ([`Network::step_random`]), client requests, and
//! *faults*. This module is the last of these. Every choice is drawn from a
//! [`SeededRng`] the test owns, so a failing seed replays exactly; the
//! network's own RNG is not touched.
//!
//! Two levels are offered:
//!
//! - **building blocks**, for a test with its own fault table:
//!   [`split_in_two`], [`cut_random_link`], [`random_lossiness`],
//!   [`random_node`];
//! - **[`Chaos`]**, a ready-made fault step for consensus protocols: each
//!   call picks one of partition, one-way cut, crash, restart, lossy links or
//!   heal, as a [`ChaosProfile`] allows, and remembers which nodes it
//!   crashed so that at most a minority of voters is ever down and the end
//!   of the run can bring them all back ([`Chaos::heal_all`]).
//!
//! ```
//! use synod_core::harness::chaos::{Chaos, ChaosProfile, CrashBudget};
//! use synod_core::harness::Network;
//! use synod_core::testing::toy::Toy;
//! use synod_core::{NodeId, SeededRng};
//!
//! let ids: Vec<NodeId> = (1..=5).map(NodeId).collect();
//! let all = ids.clone();
//! let mut net: Network<Toy> = Network::new(
//!     &ids,
//!     7,
//!     Box::new(move |id, rec, _| Toy::new(id, all.clone(), rec)),
//! );
//! let mut rng = SeededRng::new(7);
//! let mut chaos = Chaos::new(ChaosProfile {
//!     partitions: true,
//!     crashes: true,
//!     lossy: true,
//!     max_loss: 0.3,
//!     max_duplicate: 0.1,
//!     crash_budget: CrashBudget::Nodes(2), // a minority of 5
//! });
//! for step in 0..1_000 {
//!     if step % 50 == 0 {
//!         chaos.step(&mut net, &mut rng);
//!     } else {
//!         net.step_random();
//!     }
//!     assert!(chaos.down().len() <= 2);
//!     // ... check the protocol's safety properties here ...
//! }
//! chaos.heal_all(&mut net); // every link up, every crashed node restarted
//! // ... check liveness here ...
//! ```

use super::Network;
use crate::ids::NodeId;
use crate::protocol::Protocol;
use crate::rng::SeededRng;
use std::collections::BTreeSet;

/// A uniformly random node of `net` (up or down).
pub fn random_node<P: Protocol>(net: &Network<P>, rng: &mut SeededRng) -> NodeId {
    let ids = net.ids();
    ids[rng.index(ids.len())]
}

/// Splits the nodes into two random non-empty groups and cuts every link
/// between them (on top of the faults already in place: heal first for a
/// clean split).
pub fn split_in_two<P: Protocol>(net: &mut Network<P>, rng: &mut SeededRng) {
    let mut shuffled = net.ids();
    rng.shuffle(&mut shuffled);
    let cut = 1 + rng.index(shuffled.len() - 1);
    let (a, b) = shuffled.split_at(cut);
    net.partition(&[a, b]);
}

/// Cuts one random directed link `a → b` (nothing when the two draws pick
/// the same node): an asymmetric failure, where `b` hears nothing from `a`
/// but `a` still hears `b`.
pub fn cut_random_link<P: Protocol>(net: &mut Network<P>, rng: &mut SeededRng) {
    let a = random_node(net, rng);
    let b = random_node(net, rng);
    if a != b {
        net.cut_one_way(a, b);
    }
}

/// Makes every link lossy: loss up to `max_loss`, duplication up to
/// `max_duplicate` (each drawn uniformly below its bound), and reordering
/// one time in two.
pub fn random_lossiness<P: Protocol>(
    net: &mut Network<P>,
    rng: &mut SeededRng,
    max_loss: f64,
    max_duplicate: f64,
) {
    net.set_loss(rng.unit() * max_loss);
    net.set_duplicate(rng.unit() * max_duplicate);
    net.set_reorder(rng.chance(0.5));
}

/// How many nodes [`Chaos`] may hold down at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrashBudget {
    /// At most this many nodes down, whatever their role. A crash drawn
    /// while the budget is spent heals the network instead.
    Nodes(usize),
    /// At most `max_down` of `voters` down; other nodes (observers,
    /// learners that never vote) may all be down too. A crash drawn while
    /// the budget is spent crashes its victim only if it is not a voter.
    Voters {
        /// The most voters down at once (a minority: `(voters - 1) / 2`).
        max_down: usize,
        /// The nodes that count.
        voters: BTreeSet<NodeId>,
    },
}

/// Which faults [`Chaos::step`] may inject.
#[derive(Clone, Debug, PartialEq)]
pub struct ChaosProfile {
    /// Random two-way partitions and one-way link cuts.
    pub partitions: bool,
    /// Crashes (within [`crash_budget`](Self::crash_budget)) and restarts.
    pub crashes: bool,
    /// Loss, duplication and reordering on every link.
    pub lossy: bool,
    /// Upper bound of the loss probability drawn for a lossy step.
    pub max_loss: f64,
    /// Upper bound of the duplication probability drawn for a lossy step.
    pub max_duplicate: f64,
    /// How many nodes may be down at once.
    pub crash_budget: CrashBudget,
}

/// A fault injector for one run: a [`ChaosProfile`] and the nodes it holds
/// down.
#[derive(Clone, Debug)]
pub struct Chaos {
    profile: ChaosProfile,
    down: BTreeSet<NodeId>,
}

impl Chaos {
    /// An injector that has crashed nothing yet.
    pub fn new(profile: ChaosProfile) -> Self {
        Self {
            profile,
            down: BTreeSet::new(),
        }
    }

    /// The profile.
    pub fn profile(&self) -> &ChaosProfile {
        &self.profile
    }

    /// The nodes this injector crashed and has not restarted.
    pub fn down(&self) -> &BTreeSet<NodeId> {
        &self.down
    }

    /// One fault, or the end of the faults. Draws one of eight outcomes:
    ///
    /// | draw | with | effect |
    /// |---|---|---|
    /// | 0, 1 | `partitions` | heal, then [`split_in_two`] |
    /// | 2 | `partitions` | [`cut_random_link`] |
    /// | 3 | `crashes` | crash a random node, within the [`CrashBudget`] |
    /// | 4 | `crashes` | restart one node this injector crashed |
    /// | 5 | `lossy` | [`random_lossiness`] |
    /// | otherwise | | [`heal`](Network::heal) (crashed nodes stay down) |
    ///
    /// A draw whose fault the profile leaves out heals, so the profile also
    /// sets how long faults last.
    pub fn step<P: Protocol>(&mut self, net: &mut Network<P>, rng: &mut SeededRng) {
        let p = &self.profile;
        match rng.index(8) {
            0 | 1 if p.partitions => {
                net.heal();
                split_in_two(net, rng);
            }
            2 if p.partitions => cut_random_link(net, rng),
            3 if p.crashes && self.may_draw_crash() => {
                let victim = random_node(net, rng);
                if self.may_crash(victim) && self.down.insert(victim) {
                    net.crash(victim);
                }
            }
            4 if p.crashes => {
                let k = rng.index(self.down.len().max(1));
                if let Some(&back) = self.down.iter().nth(k) {
                    self.down.remove(&back);
                    net.restart(back);
                }
            }
            5 if p.lossy => random_lossiness(net, rng, p.max_loss, p.max_duplicate),
            _ => net.heal(),
        }
    }

    /// Whether a crash draw crashes anyone (else it heals).
    fn may_draw_crash(&self) -> bool {
        match &self.profile.crash_budget {
            CrashBudget::Nodes(max) => self.down.len() < *max,
            CrashBudget::Voters { .. } => true,
        }
    }

    /// Whether `victim` may go down now.
    fn may_crash(&self, victim: NodeId) -> bool {
        match &self.profile.crash_budget {
            CrashBudget::Nodes(_) => true,
            CrashBudget::Voters { max_down, voters } => {
                let voters_down = self.down.iter().filter(|d| voters.contains(d)).count();
                !voters.contains(&victim) || voters_down < *max_down
            }
        }
    }

    /// The end of the faults: every link works again and every node this
    /// injector crashed is restarted.
    pub fn heal_all<P: Protocol>(&mut self, net: &mut Network<P>) {
        net.heal();
        for id in std::mem::take(&mut self.down) {
            net.restart(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::toy::Toy;

    fn net(n: u64) -> Network<Toy> {
        let ids: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let all = ids.clone();
        Network::new(
            &ids,
            1,
            Box::new(move |id, rec, _| Toy::new(id, all.clone(), rec)),
        )
    }

    fn profile(crash_budget: CrashBudget) -> ChaosProfile {
        ChaosProfile {
            partitions: true,
            crashes: true,
            lossy: true,
            max_loss: 0.3,
            max_duplicate: 0.1,
            crash_budget,
        }
    }

    #[test]
    fn node_budget_keeps_a_majority_up_and_heal_all_restarts() {
        let mut net = net(5);
        let mut rng = SeededRng::new(3);
        let mut chaos = Chaos::new(profile(CrashBudget::Nodes(2)));
        let mut most_down = 0;
        for _ in 0..2_000 {
            chaos.step(&mut net, &mut rng);
            let down = net.ids().into_iter().filter(|i| !net.is_up(*i)).count();
            assert_eq!(down, chaos.down().len());
            assert!(down <= 2);
            most_down = most_down.max(down);
        }
        assert_eq!(most_down, 2, "the budget was reached");
        chaos.heal_all(&mut net);
        assert!(net.ids().into_iter().all(|i| net.is_up(i)));
        assert!(chaos.down().is_empty());
    }

    #[test]
    fn voter_budget_lets_non_voters_down() {
        let mut net = net(4);
        let mut rng = SeededRng::new(5);
        let voters: BTreeSet<NodeId> = (1..=3).map(NodeId).collect();
        let mut chaos = Chaos::new(profile(CrashBudget::Voters {
            max_down: 1,
            voters: voters.clone(),
        }));
        let mut observer_down = false;
        for _ in 0..2_000 {
            chaos.step(&mut net, &mut rng);
            let voters_down = voters.iter().filter(|v| !net.is_up(**v)).count();
            assert!(voters_down <= 1);
            observer_down |= !net.is_up(NodeId(4));
        }
        assert!(observer_down);
    }

    #[test]
    fn a_seed_replays_the_same_faults() {
        let run = |seed| {
            let mut net = net(5);
            let mut rng = SeededRng::new(seed);
            let mut chaos = Chaos::new(profile(CrashBudget::Nodes(2)));
            let mut trace = Vec::new();
            for _ in 0..200 {
                chaos.step(&mut net, &mut rng);
                trace.push(chaos.down().clone());
            }
            trace
        };
        assert_eq!(run(9), run(9));
    }
}
