//! The `Storage` conformance suite.

use crate::storage::{Snapshot, Storage, StoredRecord};

/// How the suite opens and reopens one backing store (a directory, a shared
/// buffer).
pub trait StorageFixture {
    /// The storage under test.
    type S: Storage;
    /// Opens the backing store, recovering whatever it holds.
    fn open(&mut self) -> Self::S;
    /// Closes a storage cleanly (dropping it is enough for most).
    fn close(&mut self, storage: Self::S) {
        drop(storage);
    }
}

fn rec(position: u64, tag: u8, len: usize) -> StoredRecord {
    StoredRecord {
        position,
        payload: vec![tag; len],
    }
}

fn reopen<F: StorageFixture>(fixture: &mut F, s: F::S) -> F::S {
    fixture.close(s);
    fixture.open()
}

/// Runs every storage rule against fresh fixtures made by `make`. Each rule
/// gets its own fixture.
pub fn storage_suite<F: StorageFixture>(mut make: impl FnMut() -> F) {
    empty_store_loads_nothing(&mut make());
    synced_records_survive_reopen_in_order(&mut make());
    records_of_many_sizes_round_trip(&mut make());
    hard_state_is_replaced_atomically(&mut make());
    snapshot_survives_reopen(&mut make());
    compaction_keeps_every_record_above_the_position(&mut make());
    appends_after_reopen_follow_old_records(&mut make());
}

fn empty_store_loads_nothing<F: StorageFixture>(f: &mut F) {
    let mut s = f.open();
    let l = s.load().expect("load of empty storage");
    assert!(
        l.hard_state.is_none(),
        "empty_store_loads_nothing: hard state"
    );
    assert!(l.snapshot.is_none(), "empty_store_loads_nothing: snapshot");
    assert!(l.records.is_empty(), "empty_store_loads_nothing: records");
    f.close(s);
}

fn synced_records_survive_reopen_in_order<F: StorageFixture>(f: &mut F) {
    let mut s = f.open();
    let batch: Vec<_> = (1..=50).map(|i| rec(i, i as u8, 10 + i as usize)).collect();
    s.append(&batch[..20]).unwrap();
    s.sync().unwrap();
    s.append(&batch[20..]).unwrap();
    s.sync().unwrap();
    let mut s = reopen(f, s);
    let l = s.load().unwrap();
    assert_eq!(l.records, batch, "synced_records_survive_reopen_in_order");
    f.close(s);
}

fn records_of_many_sizes_round_trip<F: StorageFixture>(f: &mut F) {
    let mut s = f.open();
    let sizes = [0usize, 1, 7, 4096, 65_537, 1 << 20];
    let batch: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| rec(i as u64, 0xA5, n))
        .collect();
    s.append(&batch).unwrap();
    s.sync().unwrap();
    assert_eq!(
        s.load().unwrap().records,
        batch,
        "records_of_many_sizes_round_trip (before reopen)"
    );
    let mut s = reopen(f, s);
    assert_eq!(
        s.load().unwrap().records,
        batch,
        "records_of_many_sizes_round_trip"
    );
    f.close(s);
}

fn hard_state_is_replaced_atomically<F: StorageFixture>(f: &mut F) {
    let mut s = f.open();
    s.save_hard_state(b"term=1").unwrap();
    s.save_hard_state(b"term=2,vote=3").unwrap();
    let mut s = reopen(f, s);
    assert_eq!(
        s.load().unwrap().hard_state.as_deref(),
        Some(&b"term=2,vote=3"[..]),
        "hard_state_is_replaced_atomically"
    );
    f.close(s);
}

fn snapshot_survives_reopen<F: StorageFixture>(f: &mut F) {
    let mut s = f.open();
    let snap = Snapshot {
        position: 42,
        meta: vec![1, 2],
        data: vec![9; 100_000],
    };
    s.save_snapshot(&Snapshot {
        position: 10,
        meta: vec![],
        data: vec![1],
    })
    .unwrap();
    s.save_snapshot(&snap).unwrap();
    let mut s = reopen(f, s);
    assert_eq!(
        s.load().unwrap().snapshot,
        Some(snap),
        "snapshot_survives_reopen"
    );
    f.close(s);
}

fn compaction_keeps_every_record_above_the_position<F: StorageFixture>(f: &mut F) {
    let mut s = f.open();
    // Positions are not monotonic in general (a Raft entry overwritten at a
    // lower index): 1..=300, then 250..=400.
    let mut all: Vec<_> = (1..=300).map(|i| rec(i, 1, 2000)).collect();
    all.extend((250..=400).map(|i| rec(i, 2, 2000)));
    for chunk in all.chunks(17) {
        s.append(chunk).unwrap();
        s.sync().unwrap();
    }
    s.compact(260).unwrap();
    let check = |records: &[StoredRecord], through: u64, when: &str| {
        // What remains is a suffix of what was written ...
        let dropped = all.len() - records.len();
        assert_eq!(
            records,
            &all[dropped..],
            "compaction drops only a prefix ({when})"
        );
        // ... and every dropped record is at or below the position.
        assert!(
            all[..dropped].iter().all(|r| r.position <= through),
            "compaction dropped a record above the position ({when})"
        );
    };
    check(&s.load().unwrap().records, 260, "before reopen");
    let mut s = reopen(f, s);
    check(&s.load().unwrap().records, 260, "after reopen");
    s.compact(1000).unwrap();
    check(
        &s.load().unwrap().records,
        1000,
        "after compacting everything",
    );
    f.close(s);
}

fn appends_after_reopen_follow_old_records<F: StorageFixture>(f: &mut F) {
    let mut s = f.open();
    s.append(&[rec(1, 1, 5), rec(2, 2, 5)]).unwrap();
    s.sync().unwrap();
    let mut s = reopen(f, s);
    let _ = s.load().unwrap();
    s.append(&[rec(3, 3, 5)]).unwrap();
    s.sync().unwrap();
    let mut s = reopen(f, s);
    let got: Vec<u64> = s
        .load()
        .unwrap()
        .records
        .iter()
        .map(|r| r.position)
        .collect();
    assert_eq!(
        got,
        vec![1, 2, 3],
        "appends_after_reopen_follow_old_records"
    );
    f.close(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemStorage;

    struct Mem(MemStorage);
    impl StorageFixture for Mem {
        type S = MemStorage;
        fn open(&mut self) -> MemStorage {
            self.0.clone()
        }
        fn close(&mut self, s: MemStorage) {
            self.0 = s;
        }
    }

    #[test]
    fn mem_storage_passes_the_suite() {
        storage_suite(|| Mem(MemStorage::new()));
    }

    #[test]
    fn mem_storage_loses_unsynced_records_on_crash() {
        let mut s = MemStorage::new();
        s.append(&[rec(1, 1, 1)]).unwrap();
        s.sync().unwrap();
        s.append(&[rec(2, 2, 1)]).unwrap();
        s.crash();
        assert_eq!(s.load().unwrap().records, vec![rec(1, 1, 1)]);
    }
}
