//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo
//! does.
//!
//! - `cargo xtask ci`: exactly what CI runs — formatting check, clippy with
//!   warnings denied, and the whole test suite.
//! - `cargo xtask bench wal`: the write-ahead log benchmark.

use clap::{Parser, Subcommand};
use std::process::{Command, ExitCode};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "synod project automation")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Format check, clippy (-D warnings) and every test: what CI runs.
    Ci,
    /// Run a benchmark and print its figures.
    Bench {
        /// What to measure.
        #[arg(value_parser = ["wal", "check"])]
        target: String,
    },
}

fn cargo(args: &[&str]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
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

fn bench(target: &str) -> Result<(), String> {
    match target {
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
        other => Err(format!("unknown benchmark {other}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Ci => ci(),
        Cmd::Bench { target } => bench(&target),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
