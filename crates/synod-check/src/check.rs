//! Checking a whole history for linearizability: split by key, search each
//! key, and join the verdicts.
//!
//! **P-compositionality** (Herlihy & Wing's locality, used for checking by
//! Horn & Kroening): a history of independent objects is linearizable iff
//! the sub-history of each object is. Operations carry an optional key, and
//! every key is one object, so the history is partitioned by key and each
//! partition is searched on its own: the search is exponential in the size
//! of a partition, so this turns one hopeless search into many small ones.
//! (`multi-register` transactions span registers and carry no key, so they
//! stay in one partition.)
//!
//! Partitions are searched in parallel, largest first, on at most
//! `threads` scoped threads, all drawing on one memory budget and one
//! deadline, in rounds of growing step budgets: a search that used up its
//! round's steps is resumed in the next. So one key that is quick to refute
//! ends the check (its verdict is false whatever the others say) even when
//! another key's search is long; those keys are then reported `unknown`,
//! with the reason, unless [`Options::check_all_keys`] asks for every key.
//! The history's verdict is the worst of its keys: `false` over `unknown`
//! over `true`. A key whose search ran out of time or memory is `unknown`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::history::{History, InputError, NilRead, Outcome as OpOutcome};
use crate::model::{self, Compiled, Model};
use crate::wgl::cache::MemoryBudget;
use crate::wgl::{Limits, Outcome, Problem, Resumable};

/// A checker's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Valid (linearizable, or every set element accounted for).
    True,
    /// Invalid: a counterexample exists.
    False,
    /// The budget (time or memory) ran out, or nothing could be judged.
    Unknown,
}

impl Verdict {
    /// The exit code of `synod-check`: 0 true, 1 false, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::True => 0,
            Verdict::False => 1,
            Verdict::Unknown => 2,
        }
    }

    /// The worse of two verdicts: false over unknown over true.
    pub fn worst(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::False, _) | (_, Verdict::False) => Verdict::False,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            _ => Verdict::True,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::True => "true",
            Verdict::False => "false",
            Verdict::Unknown => "unknown",
        })
    }
}

impl Serialize for Verdict {
    /// `true`, `false`, or `"unknown"`, as Jepsen writes `:valid?`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Verdict::True => s.serialize_bool(true),
            Verdict::False => s.serialize_bool(false),
            Verdict::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Verdict, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Verdict::True),
            Raw::Bool(false) => Ok(Verdict::False),
            Raw::Text(t) if t == "unknown" => Ok(Verdict::Unknown),
            Raw::Text(t) => Err(serde::de::Error::custom(format!("bad verdict {t:?}"))),
        }
    }
}

/// Budget and parallelism of a check.
#[derive(Clone, Debug)]
pub struct Options {
    /// Wall-clock limit for the whole check; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Bytes the memo tables of all searches may hold together.
    pub max_memory_bytes: usize,
    /// Threads for checking keys in parallel; 0 means the machine's
    /// available parallelism.
    pub threads: usize,
    /// Overrides what `nil` reads mean (default: the history's format's).
    pub nil_read: Option<NilRead>,
    /// Search every key to the end even once one key is known not to be
    /// linearizable. By default the check stops there (the verdict is
    /// already false) and reports the other unfinished keys as unknown.
    pub check_all_keys: bool,
}

impl Default for Options {
    /// No time limit, 4 GiB of memo, all cores, the format's `nil` reads.
    fn default() -> Options {
        Options {
            timeout: None,
            max_memory_bytes: 4 << 30,
            threads: 0,
            nil_read: None,
            check_all_keys: false,
        }
    }
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// One step of a counterexample's linearised prefix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrefixStep {
    /// Index of the operation in [`History::ops`].
    pub op: usize,
    /// The operation, described.
    pub op_text: String,
    /// The model state after it.
    pub state: String,
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Counterexample {
    /// The key whose sub-history fails.
    pub key: Option<String>,
    /// Index in [`History::ops`] of the operation that cannot be placed:
    /// the search could linearise everything before its completion, but not
    /// it.
    pub op: usize,
    /// That operation, described.
    pub op_text: String,
    /// The longest linearisable prefix the search found before it got stuck
    /// on `op`, in linearisation order.
    pub prefix: Vec<PrefixStep>,
    /// The model states `op` was tried against there, and refused (at most
    /// 16).
    pub tried_states: Vec<String>,
}

/// The result for one key (one partition).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyResult {
    /// The key (`None` for an unkeyed history).
    pub key: Option<String>,
    /// This key's verdict.
    pub valid: Verdict,
    /// Operations of this key given to the search (failed operations and
    /// indeterminate reads are not).
    pub ops: usize,
    /// Configurations the search memoised.
    pub configurations: usize,
    /// Why the verdict is unknown, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Wall-clock time of this key's search.
    #[serde(rename = "elapsed_secs", serialize_with = "secs")]
    pub elapsed: Duration,
    /// The counterexample, when the verdict is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
}

/// The result of checking one history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    /// The verdict: the worst over keys.
    pub valid: Verdict,
    /// The model, with its initial value (`cas-register(0)`).
    pub model: String,
    /// Client operations in the history.
    pub ops: usize,
    /// One result per key, in key order.
    pub keys: Vec<KeyResult>,
    /// The counterexample of the first failing key.
    pub counterexample: Option<Counterexample>,
    /// Wall-clock time of the check (parsing excluded).
    #[serde(rename = "elapsed_secs", serialize_with = "secs")]
    pub elapsed: Duration,
}

/// One key's search, resumed round after round.
struct Job<'b> {
    key: Option<String>,
    /// For each operation of the search, its index in the history.
    ops: Vec<usize>,
    search: Box<dyn Resumable + 'b>,
    /// Search time spent on this key so far, over rounds.
    elapsed: Duration,
}

/// Checks that `history` is linearizable with respect to `model`.
///
/// Returns an [`InputError`] when an operation does not fit the model (an
/// unknown `f`, a malformed value); a budget that runs out gives
/// [`Verdict::Unknown`], never an error.
pub fn check_linearizable(
    history: &History,
    model: &Model,
    options: &Options,
) -> Result<CheckResult, InputError> {
    let start = Instant::now();
    let nil_read = options.nil_read.unwrap_or(history.nil_read);
    let mut partitions: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        let part = partitions.entry(op.key.as_deref()).or_default();
        if op.outcome != OpOutcome::Fail {
            part.push(i);
        }
    }
    let budget = MemoryBudget::new(options.max_memory_bytes);
    let mut jobs = Vec::with_capacity(partitions.len());
    for (key, ops) in &partitions {
        let input = model::Input {
            history,
            ops,
            nil_read,
        };
        let compiled = model::compile(model, &input)?;
        let problem = Problem {
            calls: compiled
                .ops
                .iter()
                .map(|&i| history.ops[i].invoke.pos)
                .collect(),
            returns: compiled
                .ops
                .iter()
                .map(|&i| {
                    let op = &history.ops[i];
                    if op.outcome.is_definite() {
                        op.complete.map(|c| c.pos)
                    } else {
                        None
                    }
                })
                .collect(),
        };
        let Compiled { spec, ops } = compiled;
        jobs.push(Job {
            key: key.map(str::to_owned),
            ops,
            search: spec.into_search(&problem, &budget),
            elapsed: Duration::ZERO,
        });
    }
    let deadline = options.timeout.map(|t| start + t);
    let keys = run_jobs(history, jobs, deadline, options);
    let valid = keys.iter().fold(Verdict::True, |v, k| v.worst(k.valid));
    let counterexample = keys.iter().find_map(|k| k.counterexample.clone());
    Ok(CheckResult {
        valid,
        model: model.to_string(),
        ops: history.ops.len(),
        keys,
        counterexample,
        elapsed: start.elapsed(),
    })
}

/// Steps the first round gives each key; each later round gives 4 times
/// more.
const FIRST_ROUND_STEPS: u64 = 1 << 16;

/// Searches the partitions. Unless every key must be searched, keys are
/// searched in rounds of growing step budgets, so that one key that is
/// quick to refute ends the check even when another key's search is long.
/// A search that used up its round's steps is resumed where it stopped in
/// the next round, with 4 times more: no work is lost. When one key is
/// left, or every key must be searched, there is one round with no step
/// budget.
fn run_jobs(
    history: &History,
    jobs: Vec<Job<'_>>,
    deadline: Option<Instant>,
    options: &Options,
) -> Vec<KeyResult> {
    let count = jobs.len();
    let mut results: Vec<Option<KeyResult>> = vec![None; count];
    // Largest partitions first, so one big key does not start last.
    let mut pending: Vec<(usize, Job<'_>)> = jobs.into_iter().enumerate().collect();
    pending.sort_by_key(|(_, job)| std::cmp::Reverse(job.ops.len()));
    let mut steps = FIRST_ROUND_STEPS;
    while !pending.is_empty() {
        let max_steps = (pending.len() > 1 && !options.check_all_keys).then_some(steps);
        let round = Limits {
            deadline,
            max_steps,
        };
        let finished = run_round(
            history,
            std::mem::take(&mut pending),
            &round,
            options.threads,
        );
        for (index, outcome) in finished {
            match outcome {
                Ok(result) => results[index] = Some(result),
                Err(job) => pending.push((index, job)),
            }
        }
        let failed = results.iter().flatten().find(|r| r.valid == Verdict::False);
        if let (Some(failed), false) = (failed, options.check_all_keys) {
            let reason = format!(
                "not searched to the end: key {} is not linearizable",
                failed.key.as_deref().unwrap_or("(none)")
            );
            for (index, job) in pending.drain(..) {
                results[index] = Some(KeyResult {
                    key: job.key,
                    valid: Verdict::Unknown,
                    ops: job.ops.len(),
                    configurations: job.search.stats().configurations,
                    reason: Some(reason.clone()),
                    elapsed: job.elapsed,
                    counterexample: None,
                });
            }
        }
        pending.sort_by_key(|(_, job)| std::cmp::Reverse(job.ops.len()));
        steps = steps.saturating_mul(4);
    }
    results.into_iter().flatten().collect()
}

/// Runs one round on up to `threads` threads. A job that ran out of steps
/// comes back as `Err(job)`.
fn run_round<'b>(
    history: &History,
    jobs: Vec<(usize, Job<'b>)>,
    limits: &Limits,
    threads: usize,
) -> Vec<(usize, Result<KeyResult, Job<'b>>)> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(jobs.len())
    .max(1);
    if threads == 1 {
        return jobs
            .into_iter()
            .map(|(index, job)| (index, run_job(history, job, limits)))
            .collect();
    }
    let queue = Mutex::new(jobs.into_iter());
    let done = Mutex::new(Vec::new());
    let work = || loop {
        let next = match queue.lock() {
            Ok(mut queue) => queue.next(),
            Err(_) => None,
        };
        let Some((index, job)) = next else { break };
        let outcome = run_job(history, job, limits);
        if let Ok(mut done) = done.lock() {
            done.push((index, outcome));
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(work);
        }
    });
    done.into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs one slice of a key's search; a search that used up its steps comes
/// back as `Err(job)`, to be resumed.
fn run_job<'b>(history: &History, mut job: Job<'b>, limits: &Limits) -> Result<KeyResult, Job<'b>> {
    let start = Instant::now();
    let outcome = job.search.run(limits);
    job.elapsed += start.elapsed();
    if outcome == Outcome::OutOfSteps {
        return Err(job);
    }
    let stats = job.search.stats();
    let ops = &job.ops;
    let spec = &job.search;
    let (valid, reason, counterexample) = match outcome {
        Outcome::Linearizable => (Verdict::True, None, None),
        Outcome::Unknown(reason) => (Verdict::Unknown, Some(reason), None),
        Outcome::NotLinearizable(frontier) => {
            let op = ops[frontier.blocked_op];
            let cex = Counterexample {
                key: job.key.clone(),
                op,
                op_text: history.ops[op].describe(),
                prefix: frontier
                    .prefix
                    .iter()
                    .map(|&(local, state)| PrefixStep {
                        op: ops[local],
                        op_text: history.ops[ops[local]].describe(),
                        state: spec.show_state(state),
                    })
                    .collect(),
                tried_states: frontier
                    .tried_states
                    .iter()
                    .map(|&s| spec.show_state(s))
                    .collect(),
            };
            (Verdict::False, None, Some(cex))
        }
        Outcome::OutOfSteps => (Verdict::Unknown, Some("step budget reached".into()), None),
    };
    Ok(KeyResult {
        key: job.key.clone(),
        valid,
        ops: ops.len(),
        configurations: stats.configurations,
        reason,
        elapsed: job.elapsed,
        counterexample,
    })
}
