//! The cluster benchmark's load generator, built with `--release`: `cargo
//! xtask bench cluster` builds the nodes and runs this (see
//! `synod_harness::bench_cli`).

use clap::Parser;
use std::process::ExitCode;
use synod_harness::bench_cli::ClusterBenchArgs;

#[derive(Parser)]
#[command(about = "Measure writes to a cluster of real synod-node processes")]
struct Cli {
    #[command(flatten)]
    args: ClusterBenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(node) = cli.args.node_bin.clone() else {
        eprintln!("cluster_bench: --node-bin is required (cargo xtask bench cluster builds one)");
        return ExitCode::from(2);
    };
    match cli.args.run(node) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
