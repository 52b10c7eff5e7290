//! Batching: one fdatasync per sync whatever the batch size; concurrent
//! committers share fdatasyncs; limits and the directory lock.

use std::sync::Barrier;
use std::thread;

use synod_core::{Storage, StorageError};
use synod_wal::{FileStorage, WalOptions, WalWriter};

use crate::common::{payload, rec, segments, small_opts};

#[test]
fn appending_many_then_one_sync_costs_one_write_and_one_fdatasync() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = FileStorage::open(tmp.path(), WalOptions::default()).unwrap();
    let batch: Vec<_> = (0..100).map(|i| rec(i, payload(i, 4096))).collect();
    wal.append(&batch).unwrap();
    assert_eq!(wal.stats().fdatasyncs, 0);
    wal.sync().unwrap();
    let s = wal.stats();
    assert_eq!((s.writes, s.fdatasyncs), (1, 1));
    // Nothing new: no I/O at all.
    wal.sync().unwrap();
    assert_eq!(wal.stats().fdatasyncs, 1);
    assert_eq!(wal.load().unwrap().records, batch);
}

#[test]
fn concurrent_committers_share_fdatasyncs_and_keep_their_order() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = WalWriter::open(tmp.path(), small_opts()).unwrap();
    const THREADS: u64 = 8;
    const EACH: u64 = 100;
    let barrier = Barrier::new(THREADS as usize);
    thread::scope(|s| {
        for t in 0..THREADS {
            let wal = wal.clone();
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..EACH {
                    // position encodes (thread, index)
                    wal.append_sync(&[rec(t * 1000 + i, payload(i, 200))])
                        .unwrap();
                }
            });
        }
    });
    let stats = wal.stats().unwrap();
    let syncs_asked = THREADS * EACH;
    eprintln!(
        "group commit: {syncs_asked} append_sync calls -> {} fdatasyncs",
        stats.fdatasyncs
    );
    assert!(stats.fdatasyncs < syncs_asked, "{stats:?}");
    drop(wal);
    let mut wal = FileStorage::open(tmp.path(), small_opts()).unwrap();
    let records = wal.load().unwrap().records;
    assert_eq!(records.len() as u64, syncs_asked);
    for t in 0..THREADS {
        let mine: Vec<u64> = records
            .iter()
            .map(|r| r.position)
            .filter(|p| p / 1000 == t)
            .collect();
        assert_eq!(mine, (0..EACH).map(|i| t * 1000 + i).collect::<Vec<_>>());
    }
}

#[test]
fn a_record_over_the_maximum_is_too_large_and_its_batch_is_not_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        max_record_bytes: 1000,
        ..small_opts()
    };
    let mut wal = FileStorage::open(tmp.path(), opts).unwrap();
    let batch = [rec(1, vec![1; 10]), rec(2, vec![2; 1001])];
    assert!(matches!(wal.append(&batch), Err(StorageError::TooLarge(_))));
    wal.sync().unwrap();
    assert!(wal.load().unwrap().records.is_empty());
    // Still usable.
    wal.append(&batch[..1]).unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.load().unwrap().records, batch[..1]);
}

#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        segment_bytes: 4096,
        ..small_opts()
    };
    let mut wal = FileStorage::open(tmp.path(), opts).unwrap();
    let batch = [
        rec(1, payload(1, 100)),
        rec(2, payload(2, 20_000)),
        rec(3, payload(3, 100)),
    ];
    wal.append(&batch).unwrap();
    wal.sync().unwrap();
    assert_eq!(segments(tmp.path()).len(), 3);
    drop(wal);
    let mut wal = FileStorage::open(tmp.path(), opts).unwrap();
    assert_eq!(wal.load().unwrap().records, batch);
}

#[test]
fn a_directory_is_opened_by_one_wal_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = FileStorage::open(tmp.path(), small_opts()).unwrap();
    let no_wait = WalOptions {
        lock_wait_ms: 0,
        ..small_opts()
    };
    assert!(matches!(
        FileStorage::open(tmp.path(), no_wait),
        Err(StorageError::Failed(_))
    ));
    drop(wal);
    FileStorage::open(tmp.path(), small_opts()).unwrap();
}

#[test]
fn unsynced_records_are_lost_on_drop_like_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = FileStorage::open(tmp.path(), small_opts()).unwrap();
    wal.append(&[rec(1, vec![1])]).unwrap();
    wal.sync().unwrap();
    wal.append(&[rec(2, vec![2])]).unwrap();
    drop(wal);
    let mut wal = FileStorage::open(tmp.path(), small_opts()).unwrap();
    assert_eq!(wal.load().unwrap().records, [rec(1, vec![1])]);
    // And close() syncs.
    wal.append(&[rec(3, vec![3])]).unwrap();
    wal.close().unwrap();
    let mut wal = FileStorage::open(tmp.path(), small_opts()).unwrap();
    assert_eq!(wal.load().unwrap().records.len(), 2);
}
