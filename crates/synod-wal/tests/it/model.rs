//! Property tests: the WAL against a model with MemStorage's semantics, and
//! arbitrary bytes on disk never panic nor invent records.

use std::fs;

use proptest::prelude::*;
use synod_core::{Storage, StoredRecord};
use synod_wal::format::{
    decode_segment_header, encode_record, encode_segment_header, segment_file_name, SegmentHeader,
};
use synod_wal::{FileStorage, WalOptions};

use crate::common::payload;

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<(u64, usize)>),
    Sync,
    Compact(u64),
    /// Drop without sync and open again (a process crash for everything
    /// not yet written).
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0u64..60, 0usize..700), 1..6).prop_map(Op::Append),
        3 => Just(Op::Sync),
        1 => (0u64..70).prop_map(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn opts() -> WalOptions {
    WalOptions {
        segment_bytes: 4096,
        ..WalOptions::default()
    }
}

/// MemStorage's semantics, plus the freedoms the contract gives a file
/// log: compaction may drop less, and records appended but not synced may
/// survive a crash (a roll syncs what came before it).
#[derive(Default)]
struct Model {
    /// Every record appended and not lost, in order.
    all: Vec<StoredRecord>,
    /// How many of `all` the WAL has compacted away.
    dropped: usize,
    /// How many of `all` are durable.
    durable: usize,
}

impl Model {
    /// Checks `loaded` against the model after `op` and returns the new
    /// `dropped`.
    fn check(&mut self, loaded: &[StoredRecord], op: &Op) -> Result<(), TestCaseError> {
        if let Op::Reopen = op {
            // Kept: everything durable and a prefix of the rest.
            let kept = self.dropped + loaded.len();
            prop_assert!(kept >= self.durable && kept <= self.all.len(), "{op:?}");
            self.all.truncate(kept);
            self.durable = kept;
        }
        prop_assert!(loaded.len() <= self.all.len() - self.dropped);
        let d = self.all.len() - loaded.len();
        prop_assert_eq!(loaded, &self.all[d..], "not a suffix after {:?}", op);
        if let Op::Compact(p) = op {
            let newly = &self.all[self.dropped..d];
            prop_assert!(newly.iter().all(|r| r.position <= *p), "dropped above {p}");
        } else {
            prop_assert_eq!(d, self.dropped, "records vanished after {:?}", op);
        }
        self.dropped = d;
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn wal_agrees_with_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let tmp = tempfile::tempdir().unwrap();
        let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
        let mut model = Model::default();
        let mut n = 0u64;
        for op in &ops {
            match op {
                Op::Append(recs) => {
                    let recs: Vec<_> = recs
                        .iter()
                        .map(|&(position, len)| {
                            n += 1;
                            StoredRecord { position, payload: payload(n, len) }
                        })
                        .collect();
                    wal.append(&recs).unwrap();
                    model.all.extend(recs);
                }
                Op::Sync => {
                    wal.sync().unwrap();
                    model.durable = model.all.len();
                }
                Op::Compact(p) => wal.compact(*p).unwrap(),
                Op::Reopen => {
                    drop(wal);
                    wal = FileStorage::open(tmp.path(), opts()).unwrap();
                }
            }
            let loaded = wal.load().unwrap();
            prop_assert!(loaded.repairs.is_empty(), "{:?}", loaded.repairs);
            model.check(&loaded.records, op)?;
        }
    }

    #[test]
    fn random_bytes_as_a_segment_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..6000),
        with_header in any::<bool>(),
        recycled in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let header = SegmentHeader { first_seq: 0, salt: 1, recycled };
        let mut file = if with_header { encode_segment_header(header).to_vec() } else { Vec::new() };
        file.extend_from_slice(&bytes);
        fs::write(tmp.path().join(segment_file_name(0)), &file).unwrap();
        if let Ok(mut wal) = FileStorage::open(tmp.path(), opts()) {
            let _ = wal.load();
        }
    }

    #[test]
    fn damaged_logs_load_a_prefix_of_the_truth_or_fail(
        sizes in prop::collection::vec(0usize..900, 1..20),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
        garbage_seq in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let truth: Vec<StoredRecord> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| StoredRecord { position: i as u64, payload: payload(i as u64, len) })
            .collect();
        {
            let mut wal = FileStorage::open(tmp.path(), opts()).unwrap();
            for r in &truth {
                wal.append(std::slice::from_ref(r)).unwrap();
                wal.sync().unwrap();
            }
        }
        let mut segs: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        segs.sort();
        // Damage one segment: flips, an optional cut, and maybe a valid
        // record with a wrong sequence number written over the zeros.
        let target = &segs[damage[0].0.index(segs.len())];
        let mut b = fs::read(target).unwrap();
        for (at, x) in &damage {
            let i = at.index(b.len());
            b[i] ^= x | 1;
        }
        if garbage_seq {
            let mut r = Vec::new();
            let salt = decode_segment_header(&b).map(|h| h.salt).unwrap_or(0);
            encode_record(&mut r, salt, 999_999, 5, b"stale");
            let at = b.len() - 64;
            b[at..at + r.len()].copy_from_slice(&r);
        }
        if let Some(cut) = cut {
            b.truncate(cut.index(b.len() + 1));
        }
        fs::write(target, &b).unwrap();
        if let Ok(mut wal) = FileStorage::open(tmp.path(), opts()) {
            if let Ok(loaded) = wal.load() {
                prop_assert!(loaded.records.len() <= truth.len());
                prop_assert_eq!(&loaded.records[..], &truth[..loaded.records.len()]);
            }
        }
    }
}
