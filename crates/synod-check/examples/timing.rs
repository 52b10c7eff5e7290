//! Prints how long the checker takes on Porcupine's benchmark histories,
//! single-threaded, to compare with Porcupine's own figures:
//!
//! ```text
//! cargo run --release -p synod-check --example timing
//! ```
//!
//! Sets: the 102 etcd logs of `porcupine/expected.tsv` (cas-register,
//! initial nil), and `kv/c50-ok.txt` split by key. Each set is timed with
//! parsing excluded and included; the figure is the best of several runs.

#[path = "../benches/support/corpus.rs"]
mod corpus;

use corpus::{etcd_files, porcupine_dir};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use synod_check::{check_linearizable, parse_file, Format, History, Model, Options, Value};

const RUNS: usize = 15;

fn best<F: FnMut() -> Duration>(mut f: F) -> Duration {
    (0..RUNS).map(|_| f()).min().unwrap_or_default()
}

fn time_set(name: &str, files: &[PathBuf], format: Format, model: &Model) {
    let options = Options {
        threads: 1,
        ..Options::default()
    };
    let parsed: Vec<History> = files
        .iter()
        .map(|f| parse_file(f, format).expect("parse"))
        .collect();
    let mut per_file = vec![Duration::MAX; files.len()];
    let check_only = best(|| {
        let start = Instant::now();
        for (i, h) in parsed.iter().enumerate() {
            let t = Instant::now();
            check_linearizable(h, model, &options).expect("check");
            per_file[i] = per_file[i].min(t.elapsed());
        }
        start.elapsed()
    });
    let with_parse = best(|| {
        let start = Instant::now();
        for f in files {
            let h = parse_file(f, format).expect("parse");
            check_linearizable(&h, model, &options).expect("check");
        }
        start.elapsed()
    });
    let (slowest, took) = per_file
        .iter()
        .enumerate()
        .max_by_key(|(_, d)| **d)
        .map(|(i, d)| {
            (
                files[i].file_name().unwrap_or_default().to_string_lossy(),
                *d,
            )
        })
        .unwrap_or_default();
    println!(
        "{name:<24} {:>3} files  check {:>8.4} s  parse+check {:>8.4} s  slowest {} ({:.2} ms)",
        files.len(),
        check_only.as_secs_f64(),
        with_parse.as_secs_f64(),
        slowest,
        took.as_secs_f64() * 1e3,
    );
}

fn main() {
    let cas = Model::CasRegister {
        initial: Value::Nil,
    };
    time_set(
        "etcd (porcupine 0.45 s)",
        &etcd_files(),
        Format::PorcupineEtcd,
        &cas,
    );
    let kv = Model::Kv {
        initial: Value::Str(String::new()),
    };
    let dir = porcupine_dir();
    time_set(
        "c50-ok (porcupine 0.29 s)",
        &[dir.join("kv/c50-ok.txt")],
        Format::PorcupineKv,
        &kv,
    );
    time_set(
        "c50-bad",
        &[dir.join("kv/c50-bad.txt")],
        Format::PorcupineKv,
        &kv,
    );
}
