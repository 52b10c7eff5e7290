//! `results.json`: the verdict of a run and every figure behind it.
//!
//! The verdict composes the checks the way Jepsen does: **false** over
//! **unknown** over **true**. A run whose history is linearizable but whose
//! cluster never served again after the faults ended is not valid.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use synod_check::Verdict;

/// Latency and outcome counts of one kind of operation (`f`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpStats {
    /// Completed `ok`.
    pub ok: u64,
    /// Completed `fail` (certainly not executed).
    pub fail: u64,
    /// Completed `info` or never completed (indeterminate).
    pub info: u64,
    /// Latency quantiles of `ok` operations, in milliseconds.
    pub latency_ms: Quantiles,
}

/// Latency quantiles in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Quantiles {
    /// Quantiles of `samples` (any order); zeros when empty.
    pub fn of(samples: &mut [f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
        Self {
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
            max: samples[samples.len() - 1],
        }
    }
}

/// One fault, from its start to its end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// `kill`, `pause`, `partition` or `packet`.
    pub kind: String,
    /// What it hit, in words (`n1 n3`, `{1,2} | {3,4,5}`).
    pub target: String,
    /// Seconds since the start of the run.
    pub start_secs: f64,
    /// Seconds since the start; `None` if it lasted until the heal.
    pub end_secs: Option<f64>,
}

/// Whether the cluster served again after every fault ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Liveness {
    /// `true` when a write succeeded within the bound after the heal.
    pub valid: bool,
    /// Seconds from the heal to the first successful write.
    pub recovered_after_secs: Option<f64>,
    /// The bound, in seconds.
    pub bound_secs: f64,
}

/// Everything a run found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// The composed verdict.
    pub valid: Verdict,
    /// Protocol run.
    pub protocol: String,
    /// Workload run.
    pub workload: String,
    /// Nodes in the cluster.
    pub nodes: usize,
    /// The seed of the workload and nemesis schedule.
    pub seed: u64,
    /// Seconds of workload and faults.
    pub time_limit_secs: f64,
    /// Wall-clock seconds of the whole run.
    pub elapsed_secs: f64,
    /// Client operations invoked.
    pub ops: u64,
    /// Operations completed `ok` per second of workload.
    pub ok_per_sec: f64,
    /// Outcome counts and latency per `f`.
    pub stats: BTreeMap<String, OpStats>,
    /// The faults injected.
    pub faults: Vec<FaultWindow>,
    /// The linearizability check (register workload), as synod-check reports it.
    pub linearizability: Option<serde_json::Value>,
    /// The set-full check (set workload).
    pub set: Option<serde_json::Value>,
    /// Liveness after the heal.
    pub liveness: Liveness,
    /// Problems of the run itself (a node that would not restart, ...).
    pub errors: Vec<String>,
}

impl RunResults {
    /// The process exit code for this verdict (Jepsen's: 0 valid, 1
    /// invalid, 2 unknown).
    pub fn exit_code(&self) -> i32 {
        match self.valid {
            Verdict::True => 0,
            Verdict::False => 1,
            Verdict::Unknown => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_ranked_samples() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let q = Quantiles::of(&mut v);
        assert_eq!((q.p50, q.p99, q.max), (51.0, 99.0, 100.0));
        assert_eq!(Quantiles::of(&mut []), Quantiles::default());
    }
}
