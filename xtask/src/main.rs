//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo
//! does.
//!
//! | command | what it does |
//! |---|---|
//! | `cargo xtask test-cluster [flags]` | one Jepsen-style run: real nodes, faults, a checked history |
//! | `cargo xtask analyze STORE_RUN_DIR` | re-check a stored run |
//! | `cargo xtask nightly [flags]` | the fault-injection matrix, with JSON and JUnit summaries |
//! | `cargo xtask ci` | exactly what CI runs: fmt check, clippy -D warnings, every test |
//! | `cargo xtask bench wal\|check` | benchmarks |
//!
//! Exit codes of the runner commands are Jepsen's: 0 valid, 1 invalid, 2
//! unknown, 254 bad arguments, 255 the run itself failed.

mod cli;
mod nightly;
mod test_cluster;

use clap::Parser;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Exit code for bad arguments.
pub const EXIT_BAD_ARGS: u8 = 254;
/// Exit code when the run itself failed.
pub const EXIT_RUN_FAILED: u8 = 255;

/// The workspace root (xtask lives in `<root>/xtask`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Runs `cargo` with `args` in the workspace root.
pub fn cargo(args: &[&str]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])
}

fn bench(args: &cli::BenchArgs) -> Result<(), String> {
    match args.target.as_str() {
        "wal" => cargo(&[
            "run",
            "--release",
            "-p",
            "synod-wal",
            "--example",
            "wal_bench",
        ]),
        "check" => cargo(&[
            "run",
            "--release",
            "-p",
            "synod-check",
            "--example",
            "timing",
        ]),
        "cluster" => bench_cluster(args),
        other => Err(format!("unknown benchmark {other}")),
    }
}

fn bench_cluster(args: &cli::BenchArgs) -> Result<(), String> {
    let node_binary = test_cluster::node_binary(args.node_bin.clone())?;
    let dir = std::env::temp_dir().join(format!("synod-bench-{}", std::process::id()));
    let config = synod_harness::bench::BenchConfig {
        node_binary,
        protocol: args.protocol.clone(),
        nodes: args.nodes as usize,
        seconds: args.seconds,
        clients: args.clients.clone(),
        conns: args.conns.map(|c| c as usize),
        dir: dir.clone(),
    };
    // The clients share one thread, as each node runs on one: a response
    // then wakes its client by a task switch, not a wakeup of another
    // thread, and the measured latency is the cluster's, not the scheduler's.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let phases = rt.block_on(synod_harness::bench::bench_cluster(&config));
    let _ = std::fs::remove_dir_all(&dir);
    let phases = phases?;
    println!(
        "{} x {} nodes on loopback (direct links), fsync on, {} s per phase",
        args.protocol, args.nodes, args.seconds
    );
    for p in &phases {
        println!(
            "  {:>3} clients / {:>2} conns: {:>8.0} writes/s  p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms  ({} errors)",
            p.clients, p.conns, p.writes_per_sec, p.latency_ms.p50, p.latency_ms.p95, p.latency_ms.p99, p.errors
        );
        if let Some(e) = &p.first_error {
            println!("       first error: {e}");
        }
    }
    Ok(())
}

fn simple(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_BAD_ARGS } else { 0 });
        }
    };
    match cli.command {
        cli::Cmd::Ci => simple(ci()),
        cli::Cmd::Bench(args) => simple(bench(&args)),
        cli::Cmd::TestCluster(args) => test_cluster::main(args),
        cli::Cmd::Analyze { dir } => test_cluster::analyze(&dir),
        cli::Cmd::Nightly(args) => nightly::main(args),
    }
}
