//! Single-threaded check time on Porcupine's benchmark histories, parsing
//! excluded and included:
//!
//! - the 102 etcd logs of `porcupine/expected.tsv` (cas-register, initial
//!   nil), all of them per iteration (Porcupine: 0.45 s in total);
//! - `kv/c50-ok.txt`, split by key (Porcupine: 0.29 s).
//!
//! `cargo bench -p synod-check`; for a quick table, `cargo run --release
//! -p synod-check --example timing`.

#[path = "support/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use corpus::{etcd_files, porcupine_dir};
use criterion::{criterion_main, Criterion};
use synod_check::{
    check_linearizable, parse_file, parse_str, Format, History, Model, Options, Value,
};

fn options() -> Options {
    Options {
        threads: 1,
        ..Options::default()
    }
}

fn bench_set(c: &mut Criterion, name: &str, files: &[PathBuf], format: Format, model: &Model) {
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect();
    let parsed: Vec<History> = files
        .iter()
        .map(|f| parse_file(f, format).expect("parse"))
        .collect();
    let options = options();
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("check", |b| {
        b.iter(|| {
            for h in &parsed {
                black_box(check_linearizable(h, model, &options).expect("check").valid);
            }
        })
    });
    group.bench_function("parse+check", |b| {
        b.iter(|| {
            for text in &texts {
                let h = parse_str(text, format, "bench").expect("parse");
                black_box(
                    check_linearizable(&h, model, &options)
                        .expect("check")
                        .valid,
                );
            }
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let cas = Model::CasRegister {
        initial: Value::Nil,
    };
    bench_set(c, "etcd-102", &etcd_files(), Format::PorcupineEtcd, &cas);
    let kv = Model::Kv {
        initial: Value::Str(String::new()),
    };
    bench_set(
        c,
        "c50-ok",
        &[porcupine_dir().join("kv/c50-ok.txt")],
        Format::PorcupineKv,
        &kv,
    );
}

/// The group, in a module so the macro's undocumented function can be
/// allowed without allowing missing docs elsewhere.
mod group {
    #![allow(missing_docs)]
    use super::benches;
    criterion::criterion_group!(check, benches);
}

criterion_main!(group::check);
