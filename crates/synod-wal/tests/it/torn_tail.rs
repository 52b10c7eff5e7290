//! Recovery: a torn tail is truncated and reported, damage before the tail
//! is `Corrupt` naming the file and offset. Every case opens a real
//! directory whose last segment was rewritten byte by byte.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use synod_core::{Loaded, Storage, StorageError, StoredRecord};
use synod_wal::format::{record_bytes, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use synod_wal::{FileStorage, Recovery, WalOptions};

use crate::common::{payload, rec, segments, small_opts};

/// Payload sizes; every low byte is non-zero so the first byte of each
/// record is non-zero.
const SIZES: [usize; 8] = [41, 17, 90, 9, 63, 27, 50, 77];

struct Log {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    records: Vec<StoredRecord>,
    /// (start, end) offset of each record in the (only) segment.
    spans: Vec<(u64, u64)>,
    segment: PathBuf,
    bytes: Vec<u8>,
}

/// A one-segment log of `SIZES` records, synced one by one or in one batch.
fn build(one_batch: bool) -> Log {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let records: Vec<_> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &n)| rec(i as u64 + 1, payload(i as u64, n)))
        .collect();
    let mut wal = FileStorage::open(&dir, small_opts()).unwrap();
    if one_batch {
        wal.append(&records).unwrap();
        wal.sync().unwrap();
    } else {
        for r in &records {
            wal.append(std::slice::from_ref(r)).unwrap();
            wal.sync().unwrap();
        }
    }
    drop(wal);
    let mut at = SEGMENT_HEADER_BYTES;
    let spans = SIZES
        .iter()
        .map(|&n| {
            let span = (at, at + record_bytes(n as u64));
            at = span.1;
            span
        })
        .collect();
    let segs = segments(&dir);
    assert_eq!(segs.len(), 1);
    let bytes = fs::read(&segs[0]).unwrap();
    Log {
        _tmp: tmp,
        segment: segs[0].clone(),
        dir,
        records,
        spans,
        bytes,
    }
}

fn open_load(dir: &Path, opts: WalOptions) -> Result<Loaded, StorageError> {
    FileStorage::open(dir, opts)?.load()
}

impl Log {
    fn last(&self) -> (u64, u64) {
        *self.spans.last().unwrap()
    }

    fn write(&self, bytes: &[u8]) {
        fs::write(&self.segment, bytes).unwrap();
    }

    /// Opens and expects every record but the last, with one repair
    /// naming the segment (or none if `clean`).
    fn expect_torn_tail(&self, case: &str, clean: bool) {
        let loaded = open_load(&self.dir, small_opts())
            .unwrap_or_else(|e| panic!("{case}: expected a torn tail, got {e}"));
        let n = self.records.len() - 1;
        assert_eq!(loaded.records, self.records[..n], "{case}: records");
        if clean {
            assert!(loaded.repairs.is_empty(), "{case}: {:?}", loaded.repairs);
        } else {
            assert_eq!(loaded.repairs.len(), 1, "{case}: repairs");
            let name = self.segment.file_name().unwrap().to_str().unwrap();
            assert!(
                loaded.repairs[0].contains(name),
                "{case}: {:?}",
                loaded.repairs
            );
        }
    }

    fn expect_corrupt_at(&self, offset: u64, case: &str) {
        match open_load(&self.dir, small_opts()) {
            Err(StorageError::Corrupt {
                file, offset: got, ..
            }) => {
                assert!(file.ends_with(self.segment.file_name().unwrap().to_str().unwrap()));
                assert_eq!(got, offset, "{case}: offset");
            }
            other => panic!("{case}: expected Corrupt at {offset}, got {other:?}"),
        }
    }
}

#[test]
fn truncating_the_last_record_at_any_byte_keeps_every_earlier_record() {
    let log = build(false);
    let (start, end) = log.last();
    for cut in start..end {
        log.write(&log.bytes[..cut as usize]);
        log.expect_torn_tail(&format!("truncated at {cut}"), cut == start);
    }
}

#[test]
fn zeroing_the_last_record_from_any_byte_keeps_every_earlier_record() {
    for one_batch in [false, true] {
        let log = build(one_batch);
        let (start, _) = log.last();
        // Up to the end of the payload (the padding is zeros already).
        let end = start + RECORD_HEADER_BYTES + *SIZES.last().unwrap() as u64;
        for cut in start..end {
            let mut b = log.bytes.clone();
            b[cut as usize..end as usize].fill(0);
            log.write(&b);
            log.expect_torn_tail(&format!("zeroed from {cut}"), cut == start);
        }
    }
}

#[test]
fn flipping_any_byte_of_the_last_record_truncates_it_as_a_torn_tail() {
    let log = build(false);
    let (start, end) = log.last();
    for at in start..end {
        let mask = [0x01u8, 0x80, 0xff][at as usize % 3];
        let mut b = log.bytes.clone();
        b[at as usize] ^= mask;
        log.write(&b);
        log.expect_torn_tail(&format!("byte {at} ^ {mask:#x}"), false);
    }
}

#[test]
fn flipping_any_byte_of_a_middle_record_is_corruption_at_that_record() {
    // Synced record by record, or all in one batch: either way a record
    // after the damage was whole, so the damage cannot be a torn write.
    let logs = [build(false), build(true)];
    let spans = logs[0].spans.clone();
    for &(start, end) in &spans[..spans.len() - 1] {
        for at in start..end {
            let log = &logs[at as usize % 2];
            let mut b = log.bytes.clone();
            b[at as usize] ^= [0x04u8, 0x80, 0xff][at as usize % 3];
            log.write(&b);
            log.expect_corrupt_at(start, &format!("flip at {at}"));
        }
    }
}

#[test]
fn a_zeroed_sector_before_the_last_record_is_corruption() {
    let log = build(true);
    let (start, _) = log.spans[2];
    let mut b = log.bytes.clone();
    b[start as usize..start as usize + 16].fill(0);
    log.write(&b);
    log.expect_corrupt_at(start, "zeroed header of record 2");
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail_and_is_zeroed() {
    let log = build(false);
    let (_, end) = log.spans[log.spans.len() - 1];
    let mut b = log.bytes.clone();
    let garbage = payload(99, 3000);
    b[end as usize..end as usize + garbage.len()].copy_from_slice(&garbage);
    log.write(&b);
    let loaded = open_load(&log.dir, small_opts()).unwrap();
    assert_eq!(loaded.records, log.records);
    assert_eq!(loaded.repairs.len(), 1);
    // Repaired for good: the garbage is zeros now, a second open is clean.
    let after = fs::read(&log.segment).unwrap();
    assert!(after[end as usize..].iter().all(|&x| x == 0));
    assert!(open_load(&log.dir, small_opts())
        .unwrap()
        .repairs
        .is_empty());
}

#[test]
fn appends_after_a_repair_overwrite_the_torn_part() {
    let log = build(false);
    let (start, end) = log.last();
    log.write(&log.bytes[..(start + (end - start) / 2) as usize]);
    let mut wal = FileStorage::open(&log.dir, small_opts()).unwrap();
    assert_eq!(wal.repairs().len(), 1);
    let extra = rec(1000, payload(1000, 20));
    wal.append(std::slice::from_ref(&extra)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let loaded = open_load(&log.dir, small_opts()).unwrap();
    let mut want = log.records[..log.records.len() - 1].to_vec();
    want.push(extra);
    assert_eq!(loaded.records, want);
    assert!(loaded.repairs.is_empty());
}

#[test]
fn a_torn_multi_record_write_keeps_the_records_before_the_tear() {
    let log = build(true);
    // Tear inside record 5 of the single batch: 0..=4 survive.
    let (start, end) = log.spans[5];
    let mut b = log.bytes.clone();
    b[((start + end) / 2) as usize..].fill(0);
    log.write(&b);
    let loaded = open_load(&log.dir, small_opts()).unwrap();
    assert_eq!(loaded.records, log.records[..5]);
    assert_eq!(loaded.repairs.len(), 1);
}

#[test]
fn truncate_tail_recovery_discards_damage_followed_by_records_on_request() {
    let log = build(false);
    let (start, _) = log.spans[3];
    let mut b = log.bytes.clone();
    b[start as usize + 30] ^= 1;
    log.write(&b);
    log.expect_corrupt_at(start, "strict");
    let opts = WalOptions {
        recovery: Recovery::TruncateTail,
        ..small_opts()
    };
    let loaded = open_load(&log.dir, opts).unwrap();
    assert_eq!(loaded.records, log.records[..3]);
    assert_eq!(loaded.repairs.len(), 1);
}

/// A log of several segments (tiny ones) for damage to closed segments.
fn multi_segment() -> (tempfile::TempDir, PathBuf, Vec<PathBuf>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let opts = WalOptions {
        segment_bytes: 4096,
        ..small_opts()
    };
    let mut wal = FileStorage::open(&dir, opts).unwrap();
    for i in 0..60u64 {
        wal.append(&[rec(i, payload(i, 300))]).unwrap();
        wal.sync().unwrap();
    }
    drop(wal);
    let segs = segments(&dir);
    assert!(segs.len() >= 4, "{segs:?}");
    (tmp, dir, segs)
}

fn corrupt_file(r: Result<Loaded, StorageError>) -> (String, u64) {
    match r {
        Err(StorageError::Corrupt { file, offset, .. }) => (file, offset),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

fn tiny() -> WalOptions {
    WalOptions {
        segment_bytes: 4096,
        ..small_opts()
    }
}

#[test]
fn damage_anywhere_in_a_closed_segment_is_corruption() {
    let (_tmp, dir, segs) = multi_segment();
    let original = fs::read(&segs[1]).unwrap();
    // Its last record: flip a byte of it. No valid record follows inside the
    // segment, but it is not the log's tail.
    let used = original.iter().rposition(|&b| b != 0).unwrap();
    let mut b = original.clone();
    b[used - 5] ^= 1;
    fs::write(&segs[1], &b).unwrap();
    let (file, _) = corrupt_file(open_load(&dir, tiny()));
    assert!(file.ends_with(segs[1].file_name().unwrap().to_str().unwrap()));
    // Truncated (shortened by a record): the next segment's first sequence
    // number no longer follows.
    let mut b = original.clone();
    b[used - 300..].fill(0);
    fs::write(&segs[1], &b).unwrap();
    let (file, _) = corrupt_file(open_load(&dir, tiny()));
    assert!(file.ends_with(segs[1].file_name().unwrap().to_str().unwrap()));
    // A damaged segment header.
    let mut b = original.clone();
    b[3] ^= 1;
    fs::write(&segs[1], &b).unwrap();
    assert_eq!(corrupt_file(open_load(&dir, tiny())).1, 0);
    fs::write(&segs[1], &original).unwrap();
    assert!(open_load(&dir, tiny()).is_ok());
}

#[test]
fn a_missing_middle_segment_is_corruption() {
    let (_tmp, dir, segs) = multi_segment();
    fs::remove_file(&segs[2]).unwrap();
    let (file, _) = corrupt_file(open_load(&dir, tiny()));
    assert!(file.ends_with(segs[1].file_name().unwrap().to_str().unwrap()));
}

#[test]
fn a_segment_file_shorter_than_its_header_is_corruption() {
    let (_tmp, dir, segs) = multi_segment();
    let last = segs.last().unwrap();
    OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(10)
        .unwrap();
    assert_eq!(corrupt_file(open_load(&dir, tiny())).1, 0);
}

#[test]
fn a_huge_sparse_segment_opens_without_reading_its_holes() {
    let log = build(false);
    // 1 TiB, almost all hole: recovery must only read the data regions.
    OpenOptions::new()
        .write(true)
        .open(&log.segment)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let started = std::time::Instant::now();
    let loaded = open_load(&log.dir, small_opts()).unwrap();
    assert_eq!(loaded.records, log.records);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
