//! `cargo xtask test-cluster` and `cargo xtask analyze`.

use crate::cli::TestClusterArgs;
use crate::{cargo, workspace_root, EXIT_BAD_ARGS, EXIT_RUN_FAILED};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use synod_core::ReadConsistency;
use synod_harness::results::{FaultWindow, Liveness, RunResults};
use synod_harness::{NemesisKind, RunConfig, RunError, Workload};

/// Builds `synod-node` (release) unless a binary is given, and returns its path.
pub fn node_binary(given: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("no node binary at {}", p.display()))
        };
    }
    cargo(&["build", "--release", "-p", "synod-node"])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target.join("release").join("synod-node"))
}

/// A seed from the clock, for runs that were not given one.
pub fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_000
}

/// Turns the flags into a validated run configuration.
pub fn config_from(
    args: &TestClusterArgs,
    node_binary: PathBuf,
    seed: u64,
) -> Result<RunConfig, String> {
    let mut c = RunConfig::new(node_binary, seed);
    c.protocol = args.protocol.clone();
    c.nodes = args.nodes;
    c.workload = args.workload.parse::<Workload>()?;
    c.time_limit_secs = args.time_limit;
    c.rate = args.rate;
    c.concurrency = args.concurrency;
    c.keys = args.keys;
    c.nemeses = NemesisKind::parse_list(&args.nemesis)?;
    c.nemesis_interval_secs = args.nemesis_interval;
    c.reads = args.reads.parse::<ReadConsistency>()?;
    c.store = args.store.clone();
    c.validate()?;
    Ok(c)
}

/// Runs one configuration on a fresh tokio runtime, with Ctrl-C wired to
/// cancel it. Prints the outcome and returns the exit code.
pub fn run_config(config: RunConfig, progress: bool) -> (u8, Option<RunResults>) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xtask: cannot start tokio: {e}");
            return (EXIT_RUN_FAILED, None);
        }
    };
    let seed = config.seed;
    let outcome = rt.block_on(async move {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: stopping the nodes and writing the history so far");
                let _ = tx.send(true);
            }
        });
        synod_harness::run(config, rx, progress).await
    });
    match outcome {
        Ok(o) => {
            print_summary(&o.results, &o.dir);
            (o.results.exit_code() as u8, Some(o.results))
        }
        Err(RunError::Interrupted(dir)) => {
            eprintln!(
                "run interrupted (seed {seed}); history so far in {}",
                dir.display()
            );
            (EXIT_RUN_FAILED, None)
        }
        Err(e) => {
            eprintln!("the run itself failed (seed {seed}): {e}");
            (EXIT_RUN_FAILED, None)
        }
    }
}

fn print_summary(r: &RunResults, dir: &Path) {
    let verdict = match r.valid {
        synod_check::Verdict::True => "VALID",
        synod_check::Verdict::False => "INVALID",
        synod_check::Verdict::Unknown => "UNKNOWN",
    };
    println!(
        "{} {} on {} nodes, seed {}",
        r.protocol, r.workload, r.nodes, r.seed
    );
    for (f, s) in &r.stats {
        println!(
            "  {f:<9} ok {:>6}  fail {:>5}  info {:>5}  p50 {:>7.2} ms  p99 {:>7.2} ms",
            s.ok, s.fail, s.info, s.latency_ms.p50, s.latency_ms.p99
        );
    }
    println!("  faults: {}", r.faults.len());
    match r.liveness.recovered_after_secs {
        Some(s) => println!("  served again {s:.2} s after the heal"),
        None => println!(
            "  did NOT serve again within {} s of the heal",
            r.liveness.bound_secs
        ),
    }
    for e in &r.errors {
        println!("  error: {e}");
    }
    println!("verdict: {verdict}   ({:.0} ok ops/s)", r.ok_per_sec);
    println!("store: {}", dir.display());
}

/// `cargo xtask test-cluster`.
pub fn main(args: TestClusterArgs) -> ExitCode {
    let seed = args.seed.unwrap_or_else(fresh_seed);
    // Validate before the (slow) build.
    if let Err(e) = config_from(&args, PathBuf::new(), seed) {
        eprintln!("xtask test-cluster: {e}");
        return ExitCode::from(EXIT_BAD_ARGS);
    }
    let bin = match node_binary(args.node_bin.clone()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("xtask test-cluster: {e}");
            return ExitCode::from(EXIT_RUN_FAILED);
        }
    };
    let config = config_from(&args, bin, seed).expect("validated above");
    eprintln!(
        "test-cluster: {} × {} nodes, {} workload, {} s, nemesis {:?}, seed {seed}",
        config.protocol, config.nodes, config.workload, config.time_limit_secs, config.nemeses
    );
    ExitCode::from(run_config(config, !args.quiet).0)
}

/// Rebuilds the fault windows from the nemesis events of a history.
fn windows_from(events: &[synod_check::HistoryEvent]) -> Vec<FaultWindow> {
    let mut open: Vec<FaultWindow> = Vec::new();
    let mut done = Vec::new();
    for e in events {
        if e.process != synod_check::Process::Named("nemesis".into()) {
            continue;
        }
        let t = e.time as f64 / 1e9;
        let target = match &e.value {
            synod_check::Value::Str(s) => s.clone(),
            v => format!("{v:?}"),
        };
        match e.f.as_str() {
            "kill" | "pause" | "partition" | "packet" => open.push(FaultWindow {
                kind: e.f.clone(),
                target,
                start_secs: t,
                end_secs: None,
            }),
            "restart" | "resume" | "heal" | "packet-heal" => {
                if let Some(mut w) = open.pop() {
                    w.end_secs = Some(t);
                    done.push(w);
                }
            }
            _ => {}
        }
    }
    done.extend(open);
    done
}

/// `cargo xtask analyze DIR`.
pub fn analyze(dir: &Path) -> ExitCode {
    let load = || -> Result<(synod_harness::RunConfig, Vec<synod_check::HistoryEvent>, Option<Liveness>), String> {
        let config: RunConfig = serde_json::from_str(
            &std::fs::read_to_string(dir.join("config.json")).map_err(|e| format!("config.json: {e}"))?,
        )
        .map_err(|e| format!("config.json: {e}"))?;
        let text = std::fs::read_to_string(dir.join("history.jsonl"))
            .map_err(|e| format!("history.jsonl: {e}"))?;
        let mut events = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            events.push(
                serde_json::from_str(line).map_err(|e| format!("history.jsonl line {}: {e}", i + 1))?,
            );
        }
        let liveness = std::fs::read_to_string(dir.join("results.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<RunResults>(&t).ok())
            .map(|r| r.liveness);
        Ok((config, events, liveness))
    };
    let (config, events, liveness) = match load() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("xtask analyze: {}: {e}", dir.display());
            return ExitCode::from(EXIT_BAD_ARGS);
        }
    };
    let liveness = liveness.unwrap_or(Liveness {
        valid: true,
        recovered_after_secs: None,
        bound_secs: 0.0,
    });
    let results =
        synod_harness::runner::analyse(&config, &events, windows_from(&events), liveness, vec![]);
    if let Err(e) = synod_harness::runner::finish(dir, &events, &results) {
        eprintln!("xtask analyze: writing results: {e}");
        return ExitCode::from(EXIT_RUN_FAILED);
    }
    print_summary(&results, dir);
    ExitCode::from(results.exit_code() as u8)
}
