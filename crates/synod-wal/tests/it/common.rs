//! Helpers shared by the integration tests.

use std::fs;
use std::path::{Path, PathBuf};

use synod_core::StoredRecord;
use synod_wal::format::parse_segment_file_name;
use synod_wal::WalOptions;

/// Small segments so tests roll and compact often and open quickly.
pub fn small_opts() -> WalOptions {
    WalOptions {
        segment_bytes: 64 << 10,
        ..WalOptions::default()
    }
}

pub fn rec(position: u64, payload: Vec<u8>) -> StoredRecord {
    StoredRecord { position, payload }
}

/// A payload of `len` bytes that is different for every `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The files in `dir` whose names satisfy `keep`, sorted by path.
pub fn files_named(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| keep(p.file_name().unwrap().to_str().unwrap()))
        .collect();
    v.sort();
    v
}

/// The segment files in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, |n| parse_segment_file_name(n).is_some())
}
