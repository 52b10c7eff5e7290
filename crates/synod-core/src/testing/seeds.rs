//! The driver of seeded randomised tests: many seeds, one replay command.
//!
//! A randomised test is a function `run_one(seed, steps)` that builds a
//! cluster on the [`harness`](crate::harness), injects faults drawn from a
//! [`SeededRng`](crate::SeededRng) seeded with `seed`, checks invariants and
//! panics on the first violation. [`SeededRuns::run`] calls it for a range
//! of seeds and, when one panics, prints which seed failed and the command
//! that replays only that seed, then lets the panic go on.
//!
//! Three environment variables, named after a per-crate prefix such as
//! `SYNOD_RAFT`, tune a run without editing the test:
//!
//! | variable | effect |
//! |---|---|
//! | `<PREFIX>_SEEDS` | how many seeds to run (soak testing) |
//! | `<PREFIX>_STEPS` | steps per seed |
//! | `<PREFIX>_SEED` | run this one seed only (replay) |
//!
//! ```
//! use synod_core::testing::seeds::SeededRuns;
//!
//! let runs = SeededRuns {
//!     env_prefix: "SYNOD_DOCTEST".into(),
//!     package: "synod-core".into(),
//!     what: "doctest randomized run".into(),
//!     test: "my_test".into(),
//!     first_seed: 100,
//!     seeds: 3,
//!     steps: 50,
//! };
//! let ran = runs.run(|seed, steps| seed + steps); // a real run_one checks
//! assert_eq!(ran.results, vec![150, 151, 152]);   // invariants and panics
//! assert_eq!((ran.runs(), ran.steps), (3, 50));
//! ```
//!
//! When `run_one` returns counts of what happened (a [`Tally`]),
//! [`Ran::total`] sums and prints them, for the test to assert that the
//! faults bit and the protocol made progress.
//!
//! A failure prints, before the panic propagates:
//!
//! ```text
//! *** doctest randomized run FAILED at seed 101 (50 steps); replay: SYNOD_DOCTEST_SEED=101 cargo test -p synod-core --test it my_test
//! ```

use std::fmt::Debug;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// The value of the environment variable `name` as a number, or `default`
/// when it is unset or not a number.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A batch of seeded runs of one randomised test, and how to replay one.
#[derive(Clone, Debug)]
pub struct SeededRuns {
    /// Prefix of the environment variables: `SYNOD_RAFT` reads
    /// `SYNOD_RAFT_SEEDS`, `SYNOD_RAFT_STEPS` and `SYNOD_RAFT_SEED`.
    pub env_prefix: String,
    /// The cargo package of the test, for the replay command.
    pub package: String,
    /// What runs, for the failure line (e.g. ``raft randomized profile `x` ``).
    pub what: String,
    /// The test name filter of the replay command.
    pub test: String,
    /// The first seed; seeds `first_seed..first_seed + seeds` run.
    pub first_seed: u64,
    /// How many seeds run, unless `<PREFIX>_SEEDS` says otherwise.
    pub seeds: u64,
    /// Steps per seed, unless `<PREFIX>_STEPS` says otherwise.
    pub steps: u64,
}

/// What [`SeededRuns::run`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran<T> {
    /// Steps per seed, after the environment had its say.
    pub steps: u64,
    /// What each seed's run returned, in seed order.
    pub results: Vec<T>,
}

impl<T> Ran<T> {
    /// How many seeds ran.
    pub fn runs(&self) -> u64 {
        self.results.len() as u64
    }
}

/// What one seeded run counted (leaders elected, writes acknowledged,
/// faults that bit...), so that a batch can be summed and checked for
/// vacuity: a test whose faults never fire proves nothing.
pub trait Tally: Default + Debug {
    /// Adds `other`'s counts to these.
    fn add(&mut self, other: &Self);
}

impl<T: Tally> Ran<T> {
    /// The sum over every seed, after printing it to stderr as
    /// `<label>: <runs> seeds x <steps> steps: <total>` (shown with
    /// `--nocapture`).
    pub fn total(&self, label: &str) -> T {
        let mut total = T::default();
        for r in &self.results {
            total.add(r);
        }
        eprintln!(
            "{label}: {} seeds x {} steps: {total:?}",
            self.runs(),
            self.steps
        );
        total
    }
}

impl SeededRuns {
    /// The runs of profile `name` of a protocol crate's randomised tests,
    /// laid out as the synod crates do: package `synod-<protocol>`,
    /// variables `SYNOD_<PROTOCOL>_*`, and a test function named after the
    /// profile.
    ///
    /// ```
    /// use synod_core::testing::seeds::SeededRuns;
    ///
    /// let runs = SeededRuns::profile("raft", "randomized_with_snapshots", 3_000, 200, 4_000);
    /// assert_eq!(runs.env_prefix, "SYNOD_RAFT");
    /// assert_eq!(runs.package, "synod-raft");
    /// assert_eq!(runs.what, "raft randomized profile `randomized_with_snapshots`");
    /// ```
    pub fn profile(protocol: &str, name: &str, first_seed: u64, seeds: u64, steps: u64) -> Self {
        Self {
            env_prefix: format!("SYNOD_{}", protocol.to_uppercase()),
            package: format!("synod-{protocol}"),
            what: format!("{protocol} randomized profile `{name}`"),
            test: name.to_string(),
            first_seed,
            seeds,
            steps,
        }
    }

    /// The seeds to run: `<PREFIX>_SEED` alone if set, else `<PREFIX>_SEEDS`
    /// (or [`seeds`](Self::seeds)) seeds from [`first_seed`](Self::first_seed).
    ///
    /// # Panics
    ///
    /// If `<PREFIX>_SEED` is set but not a number.
    pub fn seed_list(&self) -> Vec<u64> {
        let seeds = env_u64(&format!("{}_SEEDS", self.env_prefix), self.seeds);
        let var = format!("{}_SEED", self.env_prefix);
        match std::env::var(&var) {
            Ok(s) => vec![s
                .parse()
                .unwrap_or_else(|e| panic!("{var} is a number: {e:?}"))],
            Err(_) => (self.first_seed..self.first_seed + seeds).collect(),
        }
    }

    /// Steps per seed: `<PREFIX>_STEPS`, or [`steps`](Self::steps).
    pub fn step_count(&self) -> u64 {
        env_u64(&format!("{}_STEPS", self.env_prefix), self.steps)
    }

    /// Calls `one(seed, steps)` for every seed of [`seed_list`](Self::seed_list).
    /// When a run panics, prints the failing seed and the command that
    /// replays it, then resumes the panic (so the test fails with the
    /// original message).
    pub fn run<T>(&self, mut one: impl FnMut(u64, u64) -> T) -> Ran<T> {
        let steps = self.step_count();
        let list = self.seed_list();
        let mut results = Vec::with_capacity(list.len());
        for seed in list {
            match catch_unwind(AssertUnwindSafe(|| one(seed, steps))) {
                Ok(r) => results.push(r),
                Err(panic) => {
                    eprintln!(
                        "\n*** {} FAILED at seed {seed} ({steps} steps); replay: \
                         {}_SEED={seed} cargo test -p {} --test it {}\n",
                        self.what, self.env_prefix, self.package, self.test
                    );
                    resume_unwind(panic);
                }
            }
        }
        Ran { steps, results }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(prefix: &str) -> SeededRuns {
        SeededRuns {
            env_prefix: prefix.into(),
            package: "synod-core".into(),
            what: "unit".into(),
            test: "t".into(),
            first_seed: 10,
            seeds: 4,
            steps: 7,
        }
    }

    #[test]
    fn runs_every_seed_in_order_with_the_steps() {
        let ran = runs("SYNOD_CORE_SEEDS_TEST_A").run(|seed, steps| (seed, steps));
        assert_eq!(ran.results, vec![(10, 7), (11, 7), (12, 7), (13, 7)]);
        assert_eq!(ran.runs(), 4);
    }

    #[test]
    fn a_failing_seed_propagates_its_panic() {
        let r = catch_unwind(|| {
            runs("SYNOD_CORE_SEEDS_TEST_B").run(|seed, _| assert_ne!(seed, 12, "boom"))
        });
        let msg = r.unwrap_err();
        let text = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("boom"), "{text}");
    }

    #[derive(Default, Debug, PartialEq)]
    struct Count(u64);

    impl Tally for Count {
        fn add(&mut self, other: &Self) {
            self.0 += other.0;
        }
    }

    #[test]
    fn total_sums_the_seeds() {
        let ran = runs("SYNOD_CORE_SEEDS_TEST_C").run(|seed, _| Count(seed));
        assert_eq!(ran.total("unit"), Count(10 + 11 + 12 + 13));
    }

    #[test]
    fn unset_or_garbage_env_falls_back_to_the_default() {
        assert_eq!(env_u64("SYNOD_CORE_SEEDS_TEST_UNSET", 5), 5);
    }
}
