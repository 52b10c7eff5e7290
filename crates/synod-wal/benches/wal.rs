//! Criterion benchmarks of the WAL (`cargo bench -p synod-wal`).
//!
//! - `append_sync/1x4KiB`, `append_sync/100x4KiB`: one `append` + `sync`
//!   (one pwrite + one fdatasync) on a real disk; throughput in bytes.
//! - `encode/100x4KiB`: the CPU part alone (framing and CRC32C into the
//!   reused buffer), to show it is small next to the fdatasync.
//! - `group_commit/4_threads`: four threads each `append_sync` one 4 KiB
//!   record; reports time per record.
//! - `recover/open_64MiB_segment`: open (recovery scan) of a full segment.
//!
//! The WAL directory is made in the system temp dir unless that is tmpfs
//! (then under `target/`), as fdatasync on tmpfs measures nothing.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use synod_core::{Storage, StoredRecord};
use synod_wal::format::encode_record;
use synod_wal::{FileStorage, WalOptions, WalWriter};

const RECORD_BYTES: usize = 4096;
const TMPFS_MAGIC: i64 = 0x0102_1994;

// `f_type`'s integer type differs between platforms.
#[allow(clippy::unnecessary_cast)]
fn is_tmpfs(st: &rustix::fs::StatFs) -> bool {
    st.f_type as i64 == TMPFS_MAGIC
}

fn bench_dir() -> tempfile::TempDir {
    let tmp = std::env::temp_dir();
    let base = match rustix::fs::statfs(&tmp) {
        Ok(st) if !is_tmpfs(&st) => tmp,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wal-bench"),
    };
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

fn records(n: u64) -> Vec<StoredRecord> {
    (0..n)
        .map(|i| StoredRecord {
            position: i,
            payload: vec![i as u8; RECORD_BYTES],
        })
        .collect()
}

fn append_sync(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_sync");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for n in [1u64, 100] {
        let dir = bench_dir();
        let mut wal = FileStorage::open(dir.path(), WalOptions::default()).unwrap();
        let batch = records(n);
        g.throughput(Throughput::Bytes(n * RECORD_BYTES as u64));
        g.bench_function(format!("{n}x4KiB"), |b| {
            b.iter(|| {
                wal.append(&batch).unwrap();
                wal.sync().unwrap();
            })
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let batch = records(100);
    let mut buf = Vec::with_capacity(110 * RECORD_BYTES);
    g.throughput(Throughput::Bytes(100 * RECORD_BYTES as u64));
    g.bench_function("100x4KiB", |b| {
        b.iter(|| {
            buf.clear();
            for (seq, r) in batch.iter().enumerate() {
                encode_record(&mut buf, 0, seq as u64, r.position, &r.payload);
            }
            buf.len()
        })
    });
    g.finish();
}

fn group_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("group_commit");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let dir = bench_dir();
    let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
    let rec = records(1);
    const THREADS: u64 = 4;
    g.throughput(Throughput::Elements(THREADS));
    g.bench_function("4_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Barrier::new(THREADS as usize);
            let start = Instant::now();
            thread::scope(|s| {
                for _ in 0..THREADS {
                    let (wal, rec, barrier) = (wal.clone(), &rec, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        for _ in 0..iters {
                            wal.append_sync(rec).unwrap();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    g.finish();
}

fn recover(c: &mut Criterion) {
    let mut g = c.benchmark_group("recover");
    g.sample_size(10);
    let dir = bench_dir();
    {
        let mut wal = FileStorage::open(dir.path(), WalOptions::default()).unwrap();
        let batch = records(100);
        for _ in 0..150 {
            wal.append(&batch).unwrap();
        }
        wal.sync().unwrap();
    }
    g.bench_function("open_64MiB_segment", |b| {
        b.iter_batched(
            || (),
            |()| FileStorage::open(dir.path(), WalOptions::default()).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, append_sync, encode, group_commit, recover);
criterion_main!(benches);
