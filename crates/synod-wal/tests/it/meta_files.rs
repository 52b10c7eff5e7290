//! Hard state and snapshot files: atomic replacement, damage is an error,
//! a leftover `.tmp` is ignored.

use std::fs;

use synod_core::{Snapshot, Storage, StorageError};
use synod_wal::format::{encode_meta_header, SNAPSHOT_MAGIC};
use synod_wal::{FileStorage, WalOptions};

use crate::common::small_opts;

fn open(dir: &std::path::Path) -> FileStorage {
    FileStorage::open(dir, small_opts()).unwrap()
}

fn expect_corrupt(r: Result<synod_core::Loaded, StorageError>, file: &str, case: &str) {
    match r {
        Err(StorageError::Corrupt { file: f, .. }) => assert!(f.ends_with(file), "{case}: {f}"),
        other => panic!("{case}: expected Corrupt in {file}, got {other:?}"),
    }
}

#[test]
fn a_damaged_hard_state_is_an_error_not_a_missing_value() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = open(tmp.path());
    wal.save_hard_state(b"term=7,vote=2").unwrap();
    drop(wal);
    let path = tmp.path().join("hardstate");
    let good = fs::read(&path).unwrap();
    for at in 0..good.len() {
        let mut b = good.clone();
        b[at] ^= 0x20;
        fs::write(&path, &b).unwrap();
        expect_corrupt(open(tmp.path()).load(), "hardstate", &format!("flip {at}"));
    }
    for len in 0..good.len() {
        fs::write(&path, &good[..len]).unwrap();
        expect_corrupt(open(tmp.path()).load(), "hardstate", &format!("cut {len}"));
    }
    fs::write(&path, &good).unwrap();
    let loaded = open(tmp.path()).load().unwrap();
    assert_eq!(loaded.hard_state.as_deref(), Some(&b"term=7,vote=2"[..]));
}

#[test]
fn a_damaged_snapshot_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = open(tmp.path());
    let snap = Snapshot {
        position: 9,
        meta: vec![1, 2, 3],
        data: (0..5000u32).map(|i| i as u8).collect(),
    };
    wal.save_snapshot(&snap).unwrap();
    drop(wal);
    let path = tmp.path().join("snapshot");
    let good = fs::read(&path).unwrap();
    for at in (0..good.len()).step_by(37).chain([good.len() - 1]) {
        let mut b = good.clone();
        b[at] ^= 1;
        fs::write(&path, &b).unwrap();
        expect_corrupt(open(tmp.path()).load(), "snapshot", &format!("flip {at}"));
    }
    fs::write(&path, &good[..good.len() - 1]).unwrap();
    expect_corrupt(open(tmp.path()).load(), "snapshot", "cut");
    fs::write(&path, &good).unwrap();
    assert_eq!(open(tmp.path()).load().unwrap().snapshot, Some(snap));
}

#[test]
fn a_snapshot_claiming_more_meta_than_the_file_holds_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    // A well-formed file (checksum right) whose meta length is absurd.
    let position = 1u64.to_le_bytes();
    let meta_len = (u64::MAX / 2).to_le_bytes();
    let body: [&[u8]; 3] = [&position, &meta_len, b"tiny"];
    let mut file = encode_meta_header(SNAPSHOT_MAGIC, &body).to_vec();
    for p in body {
        file.extend_from_slice(p);
    }
    fs::write(tmp.path().join("snapshot"), file).unwrap();
    expect_corrupt(open(tmp.path()).load(), "snapshot", "meta length");
}

#[test]
fn leftover_tmp_files_are_ignored_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = open(tmp.path());
    wal.save_hard_state(b"old").unwrap();
    let snap = Snapshot {
        position: 3,
        meta: vec![],
        data: vec![7; 10],
    };
    wal.save_snapshot(&snap).unwrap();
    drop(wal);
    // A crash between writing the temporary files and renaming them.
    fs::write(
        tmp.path().join("hardstate.tmp"),
        b"half-written new hard st",
    )
    .unwrap();
    fs::write(tmp.path().join("snapshot.tmp"), b"garbage").unwrap();
    fs::write(
        tmp.path().join("wal-00000000000000000099.log.tmp"),
        b"a segment never renamed",
    )
    .unwrap();
    let loaded = open(tmp.path()).load().unwrap();
    assert_eq!(loaded.hard_state.as_deref(), Some(&b"old"[..]));
    assert_eq!(loaded.snapshot, Some(snap));
    assert!(loaded.repairs.is_empty());
    for name in [
        "hardstate.tmp",
        "snapshot.tmp",
        "wal-00000000000000000099.log.tmp",
    ] {
        assert!(!tmp.path().join(name).exists(), "{name} left behind");
    }
}

#[test]
fn only_the_newest_snapshot_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wal = open(tmp.path());
    for p in 1..=3u64 {
        wal.save_snapshot(&Snapshot {
            position: p,
            meta: vec![],
            data: vec![p as u8; 100],
        })
        .unwrap();
    }
    let snaps: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("snapshot"))
        .collect();
    assert_eq!(snaps, ["snapshot"]);
    assert_eq!(wal.load().unwrap().snapshot.unwrap().position, 3);
}

#[test]
fn oversized_hard_state_and_snapshot_are_too_large() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        max_hard_state_bytes: 16,
        max_snapshot_bytes: 100,
        ..small_opts()
    };
    let mut wal = FileStorage::open(tmp.path(), opts).unwrap();
    assert!(matches!(
        wal.save_hard_state(&[0; 17]),
        Err(StorageError::TooLarge(_))
    ));
    let big = Snapshot {
        position: 1,
        meta: vec![],
        data: vec![0; 100],
    };
    assert!(matches!(
        wal.save_snapshot(&big),
        Err(StorageError::TooLarge(_))
    ));
    assert_eq!(wal.load().unwrap().hard_state, None);
}
