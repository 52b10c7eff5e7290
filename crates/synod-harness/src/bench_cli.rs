//! The cluster benchmark's command line, shared by `cargo xtask bench
//! cluster` and the `cluster_bench` example it runs.
//!
//! The load generator runs as a release build, like the nodes it drives:
//! the clients share the machine's cores with the cluster, so a client
//! built for debugging would take cycles the nodes need and measure itself
//! as much as them. `cargo xtask` is a debug build, so it only builds the
//! nodes and starts `cargo run --release --example cluster_bench`.

use crate::bench::{bench_cluster, BenchConfig, BenchPhase};
use std::path::{Path, PathBuf};

/// What `cargo xtask bench cluster` takes.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterBenchArgs {
    /// Protocol of the cluster benchmark.
    #[arg(long, default_value = "raft", value_parser = ["raft", "paxos", "zab", "gossip"])]
    pub protocol: String,
    /// Seconds per phase of the cluster benchmark.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    pub seconds: f64,
    /// Client counts of the cluster benchmark, one phase each.
    #[arg(long, default_value = "1,64", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub clients: Vec<u64>,
    /// Connections the clients of a phase share, requests pipelined (as
    /// etcd's benchmark shares --conns among --clients); by default every
    /// client has its own connection.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub conns: Option<u64>,
    /// Nodes of the cluster benchmark (1 measures the node without
    /// replication, a baseline for the cost of consensus).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub nodes: u64,
    /// Use this synod-node binary instead of building one.
    #[arg(long, env = "SYNOD_NODE_BIN")]
    pub node_bin: Option<PathBuf>,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in (0, 3600]")),
    }
}

impl ClusterBenchArgs {
    /// The same options as flags, with `node_bin` as the node binary.
    pub fn to_flags(&self, node_bin: &Path) -> Vec<String> {
        let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let mut flags = vec![
            format!("--protocol={}", self.protocol),
            format!("--seconds={}", self.seconds),
            format!("--clients={}", list(&self.clients)),
            format!("--nodes={}", self.nodes),
            format!("--node-bin={}", node_bin.display()),
        ];
        if let Some(c) = self.conns {
            flags.push(format!("--conns={c}"));
        }
        flags
    }

    /// Runs the benchmark on a single-threaded runtime in a fresh data
    /// directory (removed afterwards) and prints the figures.
    pub fn run(&self, node_binary: PathBuf) -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("synod-bench-{}", std::process::id()));
        let config = BenchConfig {
            node_binary,
            protocol: self.protocol.clone(),
            nodes: self.nodes as usize,
            seconds: self.seconds,
            clients: self.clients.iter().map(|&c| c as usize).collect(),
            conns: self.conns.map(|c| c as usize),
            dir: dir.clone(),
        };
        // The clients share one thread, as each node runs on one: a response
        // then wakes its client by a task switch, not a wakeup of another
        // thread, and the measured latency is the cluster's, not the
        // scheduler's.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let phases = rt.block_on(bench_cluster(&config));
        let _ = std::fs::remove_dir_all(&dir);
        self.print(&phases?);
        Ok(())
    }

    fn print(&self, phases: &[BenchPhase]) {
        println!(
            "{} x {} nodes on loopback (direct links), fsync on, {} s per phase",
            self.protocol, self.nodes, self.seconds
        );
        for p in phases {
            println!(
                "  {:>3} clients / {:>2} conns: {:>8.0} writes/s  p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms  ({} errors)",
                p.clients, p.conns, p.writes_per_sec, p.latency_ms.p50, p.latency_ms.p95, p.latency_ms.p99, p.errors
            );
            if let Some(e) = &p.first_error {
                println!("       first error: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ClusterBenchArgs,
    }

    #[test]
    fn flags_parse_back_to_the_same_options() {
        let a = Cli::try_parse_from(["x", "--clients", "1,64,256", "--conns", "8"])
            .unwrap()
            .args;
        let flags = a.to_flags(Path::new("/bin/node"));
        let b = Cli::try_parse_from(std::iter::once("x".to_string()).chain(flags))
            .unwrap()
            .args;
        assert_eq!(b.clients, vec![1, 64, 256]);
        assert_eq!(b.conns, Some(8));
        assert_eq!(b.node_bin.as_deref(), Some(Path::new("/bin/node")));
        assert_eq!(
            (b.protocol, b.nodes, b.seconds),
            (a.protocol, a.nodes, a.seconds)
        );
    }

    #[test]
    fn bad_numbers_are_refused() {
        for bad in [
            &["x", "--seconds", "0"][..],
            &["x", "--seconds", "nan"],
            &["x", "--clients", "0"],
            &["x", "--conns", "0"],
            &["x", "--nodes", "10"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} accepted");
        }
    }
}
