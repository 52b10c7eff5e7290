//! The configuration of one run, as given on the command line and stored in
//! the run's `config.json`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use synod_core::ReadConsistency;

/// What the clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Reads, writes and compare-and-sets over a few keys; checked for
    /// linearizability per key.
    Register,
    /// Adds of unique elements to a set, then a final read from every node;
    /// checked with set-full.
    Set,
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "register" => Ok(Self::Register),
            "set" => Ok(Self::Set),
            o => Err(format!("unknown workload {o:?} (register|set)")),
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Workload::Register => "register",
            Workload::Set => "set",
        })
    }
}

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NemesisKind {
    /// SIGKILL, then a restart on the same data directory.
    Kill,
    /// SIGSTOP, then SIGCONT.
    Pause,
    /// Links cut between groups of nodes.
    Partition,
    /// Delay, loss, duplication and reordering of messages.
    Packet,
}

impl NemesisKind {
    /// Parses `none|kill|pause|partition|packet|all` as a comma list.
    pub fn parse_list(s: &str) -> Result<Vec<NemesisKind>, String> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "none" => {}
                "kill" => v.push(Self::Kill),
                "pause" => v.push(Self::Pause),
                "partition" => v.push(Self::Partition),
                "packet" => v.push(Self::Packet),
                "all" => v.extend([Self::Kill, Self::Pause, Self::Partition, Self::Packet]),
                o => {
                    return Err(format!(
                        "unknown nemesis {o:?} (none|kill|pause|partition|packet|all)"
                    ))
                }
            }
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// The name used in histories and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::Partition => "partition",
            Self::Packet => "packet",
        }
    }
}

/// Everything that defines a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    /// `--protocol` of every node.
    pub protocol: String,
    /// Cluster size.
    pub nodes: usize,
    /// What the clients do.
    pub workload: Workload,
    /// Seconds of workload and faults.
    pub time_limit_secs: f64,
    /// Target operations per second over all workers.
    pub rate: f64,
    /// Concurrent workers (Jepsen's processes).
    pub concurrency: usize,
    /// Keys of the register workload.
    pub keys: usize,
    /// Faults to inject.
    pub nemeses: Vec<NemesisKind>,
    /// Seconds between the starts of faults.
    pub nemesis_interval_secs: f64,
    /// Consistency of workload reads.
    pub reads: ReadConsistency,
    /// The seed of the workload and the nemesis schedule.
    pub seed: u64,
    /// Where runs are stored.
    pub store: PathBuf,
    /// The `synod-node` binary.
    pub node_binary: PathBuf,
    /// Client timeout per operation, in milliseconds.
    pub op_timeout_ms: u64,
    /// How long the cluster may take to serve again after the heal.
    pub recovery_bound_secs: f64,
    /// Budget of the linearizability check, in seconds.
    pub check_timeout_secs: f64,
    /// Extra flags for every node.
    pub node_args: Vec<String>,
}

impl RunConfig {
    /// The defaults of `cargo xtask test-cluster` for `node_binary`.
    pub fn new(node_binary: PathBuf, seed: u64) -> Self {
        Self {
            protocol: "raft".into(),
            nodes: 5,
            workload: Workload::Register,
            time_limit_secs: 30.0,
            rate: 100.0,
            concurrency: 10,
            keys: 8,
            nemeses: vec![NemesisKind::Kill, NemesisKind::Partition],
            nemesis_interval_secs: 5.0,
            reads: ReadConsistency::Linearizable,
            seed,
            store: PathBuf::from("store"),
            node_binary,
            op_timeout_ms: 1000,
            recovery_bound_secs: 30.0,
            check_timeout_secs: 300.0,
            node_args: Vec::new(),
        }
    }

    /// Checks ranges; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=15).contains(&self.nodes) {
            return Err(format!("--nodes must be 1..=15 (got {})", self.nodes));
        }
        if !(self.time_limit_secs > 0.0 && self.time_limit_secs <= 86_400.0) {
            return Err("--time-limit must be in (0, 86400] seconds".into());
        }
        if !(self.rate > 0.0 && self.rate <= 100_000.0) {
            return Err("--rate must be in (0, 100000] ops/s".into());
        }
        if !(1..=1000).contains(&self.concurrency) {
            return Err(format!(
                "--concurrency must be 1..=1000 (got {})",
                self.concurrency
            ));
        }
        if !(1..=10_000).contains(&self.keys) {
            return Err(format!("--keys must be 1..=10000 (got {})", self.keys));
        }
        if !(self.nemesis_interval_secs >= 0.5 && self.nemesis_interval_secs <= 3600.0) {
            return Err("--nemesis-interval must be in [0.5, 3600] seconds".into());
        }
        Ok(())
    }

    /// Seconds of workload as a duration.
    pub fn time_limit(&self) -> Duration {
        Duration::from_secs_f64(self.time_limit_secs)
    }

    /// The model the register workload is checked against.
    pub fn is_cp(&self) -> bool {
        self.protocol != "gossip"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nemesis_lists_parse_with_all_and_none() {
        assert_eq!(NemesisKind::parse_list("none").unwrap(), vec![]);
        assert_eq!(
            NemesisKind::parse_list("partition,kill,kill").unwrap(),
            vec![NemesisKind::Kill, NemesisKind::Partition]
        );
        assert_eq!(NemesisKind::parse_list("all").unwrap().len(), 4);
        assert!(NemesisKind::parse_list("flood").is_err());
    }

    #[test]
    fn out_of_range_flags_are_refused() {
        let mut c = RunConfig::new("x".into(), 1);
        assert!(c.validate().is_ok());
        c.nodes = 0;
        assert!(c.validate().unwrap_err().contains("--nodes"));
    }
}
