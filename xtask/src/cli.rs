//! The command line of `cargo xtask`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "synod project automation")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Format check, clippy (-D warnings) and every test: what CI runs.
    Ci,
    /// Run a benchmark and print its figures.
    Bench(BenchArgs),
    /// Run a cluster of real nodes under faults and check the history.
    TestCluster(TestClusterArgs),
    /// Re-check a stored run.
    Analyze {
        /// The run's directory (e.g. store/latest).
        dir: PathBuf,
    },
    /// The fault-injection matrix: protocols × nemeses × seeds.
    Nightly(NightlyArgs),
}

#[derive(Args, Clone, Debug)]
pub struct TestClusterArgs {
    /// raft, paxos, zab or gossip.
    #[arg(long, default_value = "raft", value_parser = ["raft", "paxos", "zab", "gossip"])]
    pub protocol: String,
    /// Cluster size.
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// register or set.
    #[arg(long, default_value = "register", value_parser = ["register", "set"])]
    pub workload: String,
    /// Seconds of workload and faults.
    #[arg(long, default_value_t = 30.0)]
    pub time_limit: f64,
    /// Target operations per second, over all workers.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Concurrent workers.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Keys of the register workload.
    #[arg(long, default_value_t = 8)]
    pub keys: usize,
    /// Faults: none|kill|pause|partition|packet|all, comma separated.
    #[arg(long, default_value = "kill,partition")]
    pub nemesis: String,
    /// Seconds between the starts of faults.
    #[arg(long, default_value_t = 5.0)]
    pub nemesis_interval: f64,
    /// Consistency of workload reads: linearizable or local.
    #[arg(long, default_value = "linearizable", value_parser = ["linearizable", "local"])]
    pub reads: String,
    /// Seed of the workload and nemesis schedule (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where runs are stored.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Use this synod-node binary instead of building one.
    #[arg(long, env = "SYNOD_NODE_BIN")]
    pub node_bin: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Clone, Debug)]
pub struct NightlyArgs {
    /// Seeds per cell of the matrix.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Seconds per run.
    #[arg(long, default_value_t = 60.0)]
    pub time_limit: f64,
    /// Protocols, comma separated.
    #[arg(long, default_value = "raft")]
    pub protocols: String,
    /// Nemeses, each one run on its own (comma separated; `kill+partition` combines).
    #[arg(long, default_value = "kill,pause,partition,packet")]
    pub nemeses: String,
    /// Where runs and the summaries are stored.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Use this synod-node binary instead of building one.
    #[arg(long, env = "SYNOD_NODE_BIN")]
    pub node_bin: Option<PathBuf>,
}

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// What to measure: wal (the log), check (the checker), cluster (writes
    /// to real nodes), floor (the same processes, disk and loopback with no
    /// protocol: the fastest a replicated write could be on this machine).
    #[arg(value_parser = ["wal", "check", "cluster", "floor"])]
    pub target: String,
    #[command(flatten)]
    pub cluster: synod_harness::bench_cli::ClusterBenchArgs,
}
