//! Compaction deletes whole closed segment files from the front, never one
//! holding a record above the position, never the active segment.

use synod_core::{Storage, StoredRecord};
use synod_wal::{FileStorage, WalOptions};

use crate::common::{payload, rec, segments, small_opts};

fn opts() -> WalOptions {
    WalOptions {
        segment_bytes: 4096,
        ..small_opts()
    }
}

/// Records of 500 bytes (7 per 4 KiB segment), positions from `positions`.
fn fill(wal: &mut FileStorage, positions: impl IntoIterator<Item = u64>) -> Vec<StoredRecord> {
    let mut all = Vec::new();
    for p in positions {
        let r = rec(p, payload(p, 500));
        wal.append(std::slice::from_ref(&r)).unwrap();
        all.push(r);
    }
    wal.sync().unwrap();
    all
}

/// What is left is a suffix of `all`, and everything dropped is `<= p`.
fn check_suffix(left: &[StoredRecord], all: &[StoredRecord], p: u64) -> usize {
    let dropped = all.len() - left.len();
    assert_eq!(left, &all[dropped..], "compaction must drop a prefix");
    assert!(all[..dropped].iter().all(|r| r.position <= p));
    dropped
}

#[test]
fn compaction_deletes_segment_files_covered_by_the_position() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    let all = fill(&mut wal, 1..=100);
    let before = segments(tmp.path());
    assert!(before.len() >= 14, "{}", before.len());
    assert_eq!(before, wal.segment_files());

    wal.compact(50).unwrap();
    let after = segments(tmp.path());
    assert!(after.len() < before.len());
    assert_eq!(after, wal.segment_files());
    assert_eq!(after[..], before[before.len() - after.len()..]);
    let dropped = check_suffix(&wal.load().unwrap().records, &all, 50);
    // Whole segments only, so some records <= 50 may stay; but only those
    // in the segment that also holds position 51.
    assert!(dropped >= 50 - 7, "dropped only {dropped}");
    assert_eq!(
        (wal.stats().segments_deleted + wal.stats().segments_kept) as usize,
        before.len() - after.len()
    );

    // Survives a reopen (the first segment now starts past seq 0).
    drop(wal);
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    check_suffix(&wal.load().unwrap().records, &all, 50);
    assert_eq!(segments(tmp.path()), after);
}

#[test]
fn compaction_never_deletes_the_active_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    let all = fill(&mut wal, 1..=30);
    wal.compact(u64::MAX).unwrap();
    let left = segments(tmp.path());
    assert_eq!(left.len(), 1);
    let records = wal.load().unwrap().records;
    assert!(!records.is_empty());
    check_suffix(&records, &all, u64::MAX);
    // Appends continue after it.
    let more = fill(&mut wal, [31]);
    drop(wal);
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    assert_eq!(wal.load().unwrap().records.last(), more.last());
}

#[test]
fn a_high_position_blocks_compaction_of_its_segment_and_all_after() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    // Positions are not monotonic: a record at 1000 early on, then low ones
    // (a Raft log overwritten at a lower index).
    let mut positions: Vec<u64> = (1..=10).collect();
    positions.push(1000);
    positions.extend(5..=60);
    let all = fill(&mut wal, positions);
    wal.compact(500).unwrap();
    let records = wal.load().unwrap().records;
    let dropped = check_suffix(&records, &all, 500);
    // The segment holding 1000 (the second one) and everything after stay.
    assert!(dropped <= 10, "dropped {dropped}");
    assert!(records.iter().any(|r| r.position == 1000));
    wal.compact(1000).unwrap();
    let records = wal.load().unwrap().records;
    check_suffix(&records, &all, 1000);
    assert!(records.len() <= 7, "{}", records.len());
}
