//! Recycling: compaction keeps segment files as spares, rolls reuse them,
//! and nothing a reused file held before is ever read back as a record.

use std::fs;
use std::path::{Path, PathBuf};

use synod_core::{Storage, StorageError, StoredRecord};
use synod_wal::format::{
    decode_segment_header, encode_record, encode_segment_header, is_spare_file_name, record_bytes,
    segment_file_name, SegmentHeader, SEGMENT_HEADER_BYTES,
};
use synod_wal::{FileStorage, WalOptions};

use crate::common::{files_named, payload, rec, segments, small_opts};

fn opts() -> WalOptions {
    WalOptions {
        segment_bytes: 4096,
        recycle_segments: 2,
        ..small_opts()
    }
}

/// The spare files in `dir`, sorted by name.
fn spares(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, is_spare_file_name)
}

/// Appends records `positions` of 500 bytes (7 per 4 KiB segment), synced.
fn fill(wal: &mut FileStorage, positions: impl IntoIterator<Item = u64>) -> Vec<StoredRecord> {
    fill_sized(wal, positions, 500)
}

fn fill_sized(
    wal: &mut FileStorage,
    positions: impl IntoIterator<Item = u64>,
    len: usize,
) -> Vec<StoredRecord> {
    let mut all = Vec::new();
    for p in positions {
        let r = rec(p, payload(p, len));
        wal.append(std::slice::from_ref(&r)).unwrap();
        all.push(r);
    }
    wal.sync().unwrap();
    all
}

/// The offset just after `records` records of `len` bytes.
fn records_end(records: usize, len: u64) -> usize {
    (SEGMENT_HEADER_BYTES + records as u64 * record_bytes(len)) as usize
}

#[test]
fn compaction_keeps_spares_that_later_rolls_reuse() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    let all = fill(&mut wal, 1..=100);
    let before = segments(tmp.path()).len();
    wal.compact(60).unwrap();
    let stats = wal.stats();
    assert_eq!(stats.segments_kept, 2);
    assert_eq!(
        (stats.segments_kept + stats.segments_deleted) as usize,
        before - segments(tmp.path()).len()
    );
    assert_eq!(spares(tmp.path()).len(), 2);

    // The next two rolls take the spares; the third makes a new file.
    // Larger records (5 per segment) end before the old ones did.
    let created = stats.segments_created;
    let more = fill_sized(&mut wal, 101..=130, 700);
    let stats = wal.stats();
    assert!(stats.segments_created >= created + 3, "{stats:?}");
    assert_eq!(stats.segments_reused, 2);
    assert!(spares(tmp.path()).is_empty());

    // Every reused file is flagged, and still holds old bytes after its
    // records; none of them is read back.
    let mut reused = 0;
    for seg in segments(tmp.path()) {
        let bytes = fs::read(&seg).unwrap();
        if decode_segment_header(&bytes).unwrap().recycled {
            reused += 1;
            let end = records_end(5, 700);
            assert!(bytes[end..].iter().any(|&b| b != 0), "old bytes expected");
        }
    }
    assert_eq!(reused, 2);
    drop(wal);
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    let loaded = wal.load().unwrap();
    assert!(loaded.repairs.is_empty(), "{:?}", loaded.repairs);
    let want: Vec<_> = all.iter().chain(&more).cloned().collect();
    let dropped = want.len() - loaded.records.len();
    assert_eq!(loaded.records, want[dropped..]);
    assert!(want[..dropped].iter().all(|r| r.position <= 60));
}

#[test]
fn a_reused_active_segment_reopens_at_its_last_record_after_every_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    fill(&mut wal, 1..=40);
    wal.compact(u64::MAX).unwrap();
    // 36..=42 fill the active segment; 43 and 44 go to a reused one.
    let kept = fill(&mut wal, 41..=44);
    assert_eq!(wal.stats().segments_reused, 1);
    drop(wal);
    let last = segments(tmp.path()).pop().unwrap();
    let bytes = fs::read(&last).unwrap();
    assert!(decode_segment_header(&bytes).unwrap().recycled);
    let start = records_end(1, 500);
    let end = records_end(2, 500);
    for cut in start..end {
        // A tear is cut short (the file ends) or leaves old bytes after it.
        for truncate in [true, false] {
            let mut b = bytes.clone();
            if truncate {
                b.truncate(cut);
            } else {
                b[cut..end].copy_from_slice(&payload(cut as u64, end - cut));
            }
            fs::write(&last, &b).unwrap();
            let loaded = FileStorage::open(tmp.path(), opts())
                .and_then(|mut w| w.load())
                .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            // Records 36..=43: all but the torn last one.
            let positions: Vec<u64> = loaded.records.iter().map(|r| r.position).collect();
            assert_eq!(positions, (36..=43).collect::<Vec<_>>(), "cut at {cut}");
            assert_eq!(loaded.records.last(), kept.get(2), "cut at {cut}");
            assert!(loaded.repairs.is_empty(), "cut at {cut}");
        }
    }
}

#[test]
fn a_damaged_record_before_the_tail_of_a_reused_segment_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    fill(&mut wal, 1..=40);
    wal.compact(u64::MAX).unwrap();
    // 43..=49 and 50..=52 go to the two reused segments.
    fill(&mut wal, 41..=52);
    assert_eq!(wal.stats().segments_reused, 2);
    drop(wal);
    let last = segments(tmp.path()).pop().unwrap();
    let mut bytes = fs::read(&last).unwrap();
    let second = records_end(1, 500);
    bytes[second + 40] ^= 0x20;
    fs::write(&last, &bytes).unwrap();
    match FileStorage::open(tmp.path(), opts()) {
        Err(StorageError::Corrupt { offset, .. }) => assert_eq!(offset, second as u64),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A record left by a file's earlier life, with exactly the sequence
/// number and offset the new segment expects next, is not read: only its
/// salt differs.
#[test]
fn an_old_record_fails_the_new_salt_even_where_the_next_record_belongs() {
    for (old_salt, read) in [(7u32, false), (9, true)] {
        let tmp = tempfile::tempdir().unwrap();
        let header = SegmentHeader {
            first_seq: 0,
            salt: 9,
            recycled: true,
        };
        let mut file = encode_segment_header(header).to_vec();
        encode_record(&mut file, old_salt, 0, 5, b"from an earlier life");
        file.resize(4096, 0xA5);
        fs::write(tmp.path().join(segment_file_name(0)), &file).unwrap();
        let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
        let loaded = wal.load().unwrap();
        assert_eq!(
            loaded.records.len(),
            usize::from(read),
            "old salt {old_salt}"
        );
        assert!(loaded.repairs.is_empty());
    }
}

#[test]
fn spares_past_the_limit_are_deleted_and_zero_keeps_none() {
    let tmp = tempfile::tempdir().unwrap();
    let none = WalOptions {
        recycle_segments: 0,
        ..opts()
    };
    let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
    fill(&mut wal, 1..=60);
    wal.compact(u64::MAX).unwrap();
    assert_eq!(spares(tmp.path()).len(), 2);
    drop(wal);
    // Reopened with no room for spares: they go.
    let mut wal = FileStorage::open(tmp.path(), none).unwrap();
    assert!(spares(tmp.path()).is_empty());
    fill(&mut wal, 61..=120);
    wal.compact(u64::MAX).unwrap();
    assert!(spares(tmp.path()).is_empty());
    assert_eq!(wal.stats().segments_kept, 0);
    assert!(wal.stats().segments_deleted > 0);
}

/// A fresh `fallocate`d segment gets zeros written a megabyte ahead of its
/// records, once per megabyte and again after a reopen; a zero-filled one
/// never (and a reused one never: see the old bytes found above).
#[test]
fn fresh_fallocated_segments_are_zeroed_ahead_of_their_records() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        segment_bytes: 4 << 20,
        ..small_opts()
    };
    let mut wal = FileStorage::open(tmp.path(), opts).unwrap();
    let mut all = fill_sized(&mut wal, 1..=10, 100);
    let first = wal.stats().bytes_zeroed;
    assert!(
        (1 << 20) - 4096 < first && first <= 1 << 20,
        "zeroed {first} bytes"
    );
    all.extend(fill_sized(&mut wal, 11..=20, 100));
    assert_eq!(wal.stats().bytes_zeroed, first, "zeroed again too soon");
    // Passing the zeroed megabyte zeroes the next one.
    all.extend(fill_sized(&mut wal, 21..=22, 600 << 10));
    assert!(wal.stats().bytes_zeroed > first);
    drop(wal);

    let mut wal = FileStorage::open(tmp.path(), opts).unwrap();
    assert_eq!(wal.load().unwrap().records, all);
    all.extend(fill_sized(&mut wal, 23..=23, 100));
    assert!(wal.stats().bytes_zeroed > 0, "no zeros after a reopen");
    drop(wal);
    let mut wal = FileStorage::open(tmp.path(), opts).unwrap();
    assert_eq!(wal.load().unwrap().records, all);

    let zeroed = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        preallocate: synod_wal::Preallocate::Zeros,
        ..opts
    };
    let mut wal = FileStorage::open(zeroed.path(), opts).unwrap();
    fill_sized(&mut wal, 1..=10, 100);
    assert_eq!(wal.stats().bytes_zeroed, 0);
}
