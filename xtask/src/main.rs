//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo
//! does.
//!
//! | command | what it does |
//! |---|---|
//! | `cargo xtask test-cluster [flags]` | one Jepsen-style run: real nodes, faults, a checked history |
//! | `cargo xtask analyze STORE_RUN_DIR` | re-check a stored run |
//! | `cargo xtask nightly [flags]` | the fault-injection matrix, with JSON and JUnit summaries |
//! | `cargo xtask ci` | exactly what CI runs: fmt check, clippy -D warnings, every test |
//! | `cargo xtask bench wal\|check\|cluster\|floor` | benchmarks (docs/performance.md) |
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
        "floor" => cargo(&[
            "run",
            "--release",
            "--quiet",
            "-p",
            "synod-harness",
            "--example",
            "floor_bench",
            "--",
            "--seconds",
            &args.cluster.seconds.to_string(),
            "--nodes",
            &args.cluster.nodes.to_string(),
        ]),
        other => Err(format!("unknown benchmark {other}")),
    }
}

/// Builds the nodes, then runs the load generator as a release build (see
/// `synod_harness::bench_cli` for why).
fn bench_cluster(args: &cli::BenchArgs) -> Result<(), String> {
    let node_binary = test_cluster::node_binary(args.cluster.node_bin.clone())?;
    let flags = args.cluster.to_flags(&node_binary);
    let mut cmd = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        "synod-harness",
        "--example",
        "cluster_bench",
        "--",
    ];
    cmd.extend(flags.iter().map(String::as_str));
    cargo(&cmd)
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
