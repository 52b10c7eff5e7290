//! Synced appends per second on this machine's disk.
//!
//! ```text
//! cargo run --release -p synod-wal --example wal_bench [-- --dir DIR] [--rounds N] [--slice-ms MS]
//! ```
//!
//! Prints, for one 4 KiB record per `append` + `sync` and for 100 × 4 KiB
//! records per `append` + `sync`:
//!
//! - `raw`: the limit without any WAL: `pwrite` + `fdatasync` of the same
//!   bytes into a fresh `fallocate`d 64 MiB file (a new file whenever one is
//!   full, as the WAL does);
//! - `raw-overwrite`: the same into blocks already written once (no extent
//!   conversion to commit; the limit for a WAL that recycles segments);
//! - `FileStorage` with each [`Preallocate`] mode, recycling segments (the
//!   default), and `Fallocate` without recycling.
//!
//! Each `FileStorage` compacts everything but the active segment after
//! every sync: the steady state of a log whose prefix snapshots keep making
//! obsolete, where segments leave the front as fast as they are added. The
//! recycling ones are first run until they append into a reused segment,
//! so that both figures measure that steady state.
//!
//! The disk is shared and its speed moves a lot from second to second, so
//! the variants run in short interleaved slices (`--slice-ms`, default 250)
//! for `--rounds` rounds (default 8): each figure is the median over its
//! slices, and `vs raw` is the median of the ratios of neighbouring slices.
//! The directory is made in the system temp dir unless that is tmpfs (then
//! under `target/`), since fdatasync on tmpfs measures nothing.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use synod_core::{Storage, StoredRecord};
use synod_wal::{FileStorage, Preallocate, WalOptions};

const RECORD_BYTES: usize = 4096;
const FILE_BYTES: u64 = 64 << 20;
const TMPFS_MAGIC: i64 = 0x0102_1994;

// `f_type`'s integer type differs between platforms.
#[allow(clippy::unnecessary_cast)]
fn is_tmpfs(st: &rustix::fs::StatFs) -> bool {
    st.f_type as i64 == TMPFS_MAGIC
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut rounds = 8usize;
    let mut slice_ms = 250u64;
    while let Some(a) = args.next() {
        let mut num = |d| args.next().and_then(|s| s.parse().ok()).unwrap_or(d);
        match a.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "--rounds" => rounds = num(rounds as u64) as usize,
            "--slice-ms" => slice_ms = num(slice_ms),
            other => {
                eprintln!("usage: wal_bench [--dir DIR] [--rounds N] [--slice-ms MS] ({other}?)");
                std::process::exit(254);
            }
        }
    }
    let base = dir.unwrap_or_else(bench_base_dir);
    fs::create_dir_all(&base).expect("create bench dir");
    let tmp = tempfile::Builder::new()
        .prefix("wal-bench-")
        .tempdir_in(&base)
        .expect("temp dir");
    let slice = Duration::from_millis(slice_ms);
    println!(
        "bench dir: {} ({rounds} rounds of {slice_ms} ms slices per variant)",
        tmp.path().display()
    );

    for per_sync in [1u64, 100] {
        let mut variants: Vec<Box<dyn Variant>> = vec![
            Box::new(Raw::new(tmp.path(), "raw", false, per_sync)),
            Box::new(Raw::new(tmp.path(), "raw-overwrite", true, per_sync)),
        ];
        for (how, recycle) in [
            (Preallocate::Fallocate, true),
            (Preallocate::Zeros, true),
            (Preallocate::None, true),
            (Preallocate::Fallocate, false),
        ] {
            variants.push(Box::new(Wal::new(tmp.path(), how, recycle, per_sync)));
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        for _ in 0..rounds {
            for (v, r) in variants.iter_mut().zip(&mut rates) {
                r.push(v.run(slice));
            }
        }
        println!(
            "\n{per_sync} x 4 KiB per sync ({}):",
            if per_sync == 1 {
                "syncs/s"
            } else {
                "records/s"
            }
        );
        for (v, r) in variants.iter().zip(&rates) {
            let ratios: Vec<f64> = r.iter().zip(&rates[0]).map(|(a, b)| a / b).collect();
            println!(
                "  {:<24} median {:>9.0}   (min {:>9.0}, max {:>9.0})   vs raw {:>5.1} %",
                v.name(),
                median(r),
                r.iter().cloned().fold(f64::INFINITY, f64::min),
                r.iter().cloned().fold(0.0, f64::max),
                100.0 * median(&ratios),
            );
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The system temp dir unless it is tmpfs (then `target/` of this
/// workspace, which is on the real disk).
fn bench_base_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    match rustix::fs::statfs(&tmp) {
        Ok(st) if !is_tmpfs(&st) => tmp,
        _ => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
            .join("wal-bench"),
    }
}

/// One way of making records durable; `run` goes for `slice` and returns
/// records made durable per second.
trait Variant {
    fn name(&self) -> String;
    fn run(&mut self, slice: Duration) -> f64;
}

struct Wal {
    how: Preallocate,
    recycle: bool,
    wal: FileStorage,
    batch: Vec<StoredRecord>,
}

impl Wal {
    fn new(base: &Path, how: Preallocate, recycle: bool, per_sync: u64) -> Wal {
        let defaults = WalOptions::default();
        let opts = WalOptions {
            preallocate: how,
            recycle_segments: if recycle {
                defaults.recycle_segments
            } else {
                0
            },
            ..defaults
        };
        let dir = base.join(format!("wal-{how:?}-{recycle}-{per_sync}"));
        let mut wal = FileStorage::open(dir, opts).unwrap();
        if recycle {
            warm_up(&mut wal);
        }
        let batch = (0..per_sync)
            .map(|i| StoredRecord {
                position: i,
                payload: vec![(i % 251) as u8; RECORD_BYTES],
            })
            .collect();
        Wal {
            how,
            recycle,
            wal,
            batch,
        }
    }
}

/// Runs the log until it appends into a reused segment (the steady state
/// of a long-running log), in large unsynced batches so it takes seconds.
fn warm_up(wal: &mut FileStorage) {
    let batch: Vec<StoredRecord> = (0..256)
        .map(|i| StoredRecord {
            position: i,
            payload: vec![1; RECORD_BYTES],
        })
        .collect();
    while wal.stats().segments_reused == 0 {
        wal.append(&batch).unwrap();
        wal.compact(u64::MAX).unwrap();
    }
    wal.sync().unwrap();
}

impl Variant for Wal {
    fn name(&self) -> String {
        let recycling = if self.recycle { "" } else { " no-recycle" };
        format!("FileStorage {:?}{recycling}", self.how)
    }

    fn run(&mut self, slice: Duration) -> f64 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < slice {
            self.wal.append(&self.batch).unwrap();
            self.wal.sync().unwrap();
            self.wal.compact(u64::MAX).unwrap();
            n += self.batch.len() as u64;
        }
        n as f64 / start.elapsed().as_secs_f64()
    }
}

struct Raw {
    name: &'static str,
    dir: PathBuf,
    overwrite: bool,
    file: File,
    files: u64,
    at: u64,
    buf: Vec<u8>,
    per_sync: u64,
}

impl Raw {
    fn new(base: &Path, name: &'static str, overwrite: bool, per_sync: u64) -> Raw {
        let dir = base.join(format!("{name}-{per_sync}"));
        fs::create_dir_all(&dir).unwrap();
        let file = Raw::fresh(&dir, 0, overwrite);
        Raw {
            name,
            dir,
            overwrite,
            file,
            files: 0,
            at: 0,
            buf: vec![7u8; (RECORD_BYTES + 24) * per_sync as usize],
            per_sync,
        }
    }

    /// A new pre-allocated file (written through once for `overwrite`).
    fn fresh(dir: &Path, n: u64, overwrite: bool) -> File {
        let path = dir.join(format!("raw-{n}"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, FILE_BYTES).unwrap();
        if overwrite {
            let zeros = vec![0u8; 1 << 20];
            for i in 0..FILE_BYTES >> 20 {
                file.write_all_at(&zeros, i << 20).unwrap();
            }
        }
        file.sync_all().unwrap();
        File::open(dir).unwrap().sync_all().unwrap();
        if n > 0 {
            fs::remove_file(dir.join(format!("raw-{}", n - 1))).ok();
        }
        file
    }
}

impl Variant for Raw {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn run(&mut self, slice: Duration) -> f64 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < slice {
            if self.at + self.buf.len() as u64 > FILE_BYTES {
                if self.overwrite {
                    self.at = 0;
                } else {
                    self.files += 1;
                    self.file = Raw::fresh(&self.dir, self.files, false);
                    self.at = 0;
                }
            }
            self.file.write_all_at(&self.buf, self.at).unwrap();
            self.file.sync_data().unwrap();
            self.at += self.buf.len() as u64;
            n += self.per_sync;
        }
        n as f64 / start.elapsed().as_secs_f64()
    }
}
