//! `cargo xtask nightly`: the fault-injection matrix.
//!
//! Every protocol × nemesis × seed runs once; `summary.json` and
//! `junit.xml` (one test case per run) land in the store. The exit code is
//! 1 if any run is invalid or failed, else 2 if any is unknown, else 0.

use crate::cli::{NightlyArgs, TestClusterArgs};
use crate::test_cluster::{config_from, fresh_seed, node_binary, run_config};
use crate::EXIT_BAD_ARGS;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Serialize)]
struct Cell {
    protocol: String,
    nemesis: String,
    seed: u64,
    exit_code: u8,
    valid: String,
    ok_per_sec: f64,
    elapsed_secs: f64,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `cargo xtask nightly`.
pub fn main(args: NightlyArgs) -> ExitCode {
    let protocols: Vec<&str> = args
        .protocols
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let nemeses: Vec<String> = args
        .nemeses
        .split(',')
        .map(|s| s.trim().replace('+', ","))
        .filter(|s| !s.is_empty())
        .collect();
    let bin = match node_binary(args.node_bin.clone()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("xtask nightly: {e}");
            return ExitCode::from(crate::EXIT_RUN_FAILED);
        }
    };
    let base_seed = fresh_seed();
    let mut cells = Vec::new();
    for protocol in &protocols {
        for nemesis in &nemeses {
            for s in 0..args.seeds {
                let seed = base_seed + s;
                let ta = TestClusterArgs {
                    protocol: protocol.to_string(),
                    nodes: 5,
                    workload: if *protocol == "gossip" {
                        "set".into()
                    } else {
                        "register".into()
                    },
                    time_limit: args.time_limit,
                    rate: 100.0,
                    concurrency: 10,
                    keys: 8,
                    nemesis: nemesis.clone(),
                    nemesis_interval: 5.0,
                    reads: "linearizable".into(),
                    seed: Some(seed),
                    store: args.store.clone(),
                    node_bin: None,
                    quiet: true,
                };
                let config = match config_from(&ta, bin.clone(), seed) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("xtask nightly: {e}");
                        return ExitCode::from(EXIT_BAD_ARGS);
                    }
                };
                eprintln!("nightly: {protocol} / {nemesis} / seed {seed}");
                let (code, results) = run_config(config, false);
                cells.push(Cell {
                    protocol: protocol.to_string(),
                    nemesis: nemesis.clone(),
                    seed,
                    exit_code: code,
                    valid: results.as_ref().map_or("run-failed".into(), |r| {
                        serde_json::to_value(r.valid)
                            .map(|v| v.to_string())
                            .unwrap_or_default()
                    }),
                    ok_per_sec: results.as_ref().map_or(0.0, |r| r.ok_per_sec),
                    elapsed_secs: results.as_ref().map_or(0.0, |r| r.elapsed_secs),
                });
            }
        }
    }
    let _ = std::fs::create_dir_all(&args.store);
    let summary = serde_json::to_string_pretty(&cells).unwrap_or_default();
    let _ = std::fs::write(args.store.join("summary.json"), summary + "\n");
    let failures = cells.iter().filter(|c| c.exit_code != 0).count();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"synod-nightly\" tests=\"{}\" failures=\"{failures}\">\n",
        cells.len()
    );
    for c in &cells {
        let name = xml_escape(&format!("{} {} seed {}", c.protocol, c.nemesis, c.seed));
        xml.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{name}\" time=\"{:.1}\">",
            xml_escape(&c.protocol),
            c.elapsed_secs
        ));
        if c.exit_code != 0 {
            xml.push_str(&format!(
                "<failure message=\"valid: {} (exit {})\"/>",
                xml_escape(&c.valid),
                c.exit_code
            ));
        }
        xml.push_str("</testcase>\n");
    }
    xml.push_str("</testsuite>\n");
    let _ = std::fs::write(args.store.join("junit.xml"), xml);
    println!(
        "nightly: {} runs, {failures} not valid; summary in {}",
        cells.len(),
        args.store.join("summary.json").display()
    );
    let code = if cells.iter().any(|c| c.exit_code == 1 || c.exit_code == 255) {
        1
    } else if cells.iter().any(|c| c.exit_code == 2) {
        2
    } else {
        0
    };
    ExitCode::from(code)
}
