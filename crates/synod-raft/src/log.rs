//! The in-memory Raft log: a snapshot base (index, term, membership) and the
//! entries after it, plus the rebuild of that log from recovered records.

use crate::error::RaftError;
use crate::membership::Membership;
use crate::message::{Entry, EntryPayload, RaftRecord, SnapshotMeta};
use std::collections::{BTreeMap, VecDeque};

/// The highest index a log may hold: one below `u64::MAX`, so that the
/// index after any entry (`last_index() + 1`, a next index, a `Truncate`
/// record's position) never overflows. Entries and snapshots a peer sends
/// past it are dropped, and a leader whose log reaches it takes no more
/// writes.
pub(crate) const MAX_INDEX: u64 = u64::MAX - 1;

/// The log after the last snapshot. `entries[k].index == snapshot_index + 1 + k`.
#[derive(Clone, Debug)]
pub(crate) struct RaftLog {
    snapshot_index: u64,
    snapshot_term: u64,
    /// The membership in force at `snapshot_index` (the bootstrap membership
    /// when there is no snapshot).
    base_membership: Membership,
    entries: VecDeque<Entry>,
    /// Config entries still in `entries`, by index.
    configs: BTreeMap<u64, Membership>,
}

impl RaftLog {
    /// An empty log over the bootstrap membership.
    pub(crate) fn new(bootstrap: Membership) -> Self {
        Self {
            snapshot_index: 0,
            snapshot_term: 0,
            base_membership: bootstrap,
            entries: VecDeque::new(),
            configs: BTreeMap::new(),
        }
    }

    /// Rebuilds the log from what storage recovered: the snapshot's
    /// metadata (if any) and every record in append order, applying the
    /// replay rule of [`RaftRecord`].
    pub(crate) fn replay(
        bootstrap: Membership,
        snapshot: Option<&SnapshotMeta>,
        records: Vec<RaftRecord>,
    ) -> Result<Self, RaftError> {
        let mut replayed: BTreeMap<u64, Entry> = BTreeMap::new();
        for record in records {
            match record {
                RaftRecord::Entry(e) => {
                    replayed.split_off(&e.index);
                    replayed.insert(e.index, e);
                }
                RaftRecord::Truncate { last_kept } => {
                    replayed.split_off(&(last_kept + 1));
                }
            }
        }
        let mut log = Self::new(bootstrap);
        if let Some(meta) = snapshot {
            log.reset(
                meta.last_included_index,
                meta.last_included_term,
                meta.membership.clone(),
            );
        }
        let after = replayed.split_off(&(log.snapshot_index + 1));
        for (index, entry) in after {
            let expected = log.last_index() + 1;
            if index != expected {
                return Err(RaftError::LogGap {
                    expected,
                    found: index,
                });
            }
            log.append(entry);
        }
        Ok(log)
    }

    pub(crate) fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    pub(crate) fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    /// Whether the log has reached its last index: nothing more fits.
    pub(crate) fn is_full(&self) -> bool {
        self.last_index() >= MAX_INDEX
    }

    pub(crate) fn last_term(&self) -> u64 {
        self.entries.back().map_or(self.snapshot_term, |e| e.term)
    }

    /// The term of the entry at `index`: known for the snapshot's last entry
    /// and everything after it up to the last index, `None` otherwise.
    pub(crate) fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if it is in the log (not compacted).
    pub(crate) fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.snapshot_index {
            return None;
        }
        self.entries
            .get(usize::try_from(index - self.snapshot_index - 1).ok()?)
    }

    /// Up to `max_count` entries from `from`, stopping before `max_bytes`
    /// is exceeded (but always at least one entry when there is one).
    pub(crate) fn slice(&self, from: u64, max_count: usize, max_bytes: u64) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut index = from;
        while out.len() < max_count {
            let Some(e) = self.entry(index) else { break };
            let size = e.size_bytes();
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(e.clone());
            index += 1;
        }
        out
    }

    /// Appends `entry`, which must come right after the last one.
    pub(crate) fn append(&mut self, entry: Entry) {
        assert_eq!(
            entry.index,
            self.last_index() + 1,
            "raft log append out of order"
        );
        if let EntryPayload::Config(m) = &entry.payload {
            self.configs.insert(entry.index, m.clone());
        }
        self.entries.push_back(entry);
    }

    /// Drops the entry at `index` and everything after it.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        assert!(index > self.snapshot_index, "truncating into the snapshot");
        let keep = (index - self.snapshot_index - 1) as usize;
        self.entries.truncate(keep);
        self.configs.split_off(&index);
    }

    /// Drops every entry up to and including `index`, which becomes the
    /// snapshot base (`index` must be in the log).
    pub(crate) fn compact_to(&mut self, index: u64) {
        if index <= self.snapshot_index {
            return;
        }
        let term = self.term(index).expect("compacting past the last entry");
        self.base_membership = self.membership_at(index).clone();
        let drop = (index - self.snapshot_index) as usize;
        self.entries.drain(..drop);
        self.configs = self.configs.split_off(&(index + 1));
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Discards the whole log in favour of a snapshot.
    pub(crate) fn reset(&mut self, index: u64, term: u64, membership: Membership) {
        self.entries.clear();
        self.configs.clear();
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.base_membership = membership;
    }

    /// The membership in force: the last config entry in the log, else the
    /// snapshot's (or the bootstrap) membership.
    pub(crate) fn membership(&self) -> &Membership {
        self.configs
            .values()
            .next_back()
            .unwrap_or(&self.base_membership)
    }

    /// The membership in force at `index`.
    pub(crate) fn membership_at(&self, index: u64) -> &Membership {
        self.configs
            .range(..=index)
            .next_back()
            .map_or(&self.base_membership, |(_, m)| m)
    }

    /// Index of the last config entry still in the log (0 if none).
    pub(crate) fn last_config_index(&self) -> u64 {
        self.configs.keys().next_back().copied().unwrap_or(0)
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours if
    /// its last term is higher, or equal with an index at least ours.
    pub(crate) fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// The fast back-off search (etcd `findConflictByTerm`): the largest
    /// index at or below `index` (clamped to the last index) whose term is at
    /// most `term`, with that term; `None` as the term when the search
    /// reaches compacted entries.
    pub(crate) fn find_conflict_by_term(&self, index: u64, term: u64) -> (u64, Option<u64>) {
        let mut i = index.min(self.last_index());
        loop {
            match self.term(i) {
                Some(t) if t <= term => return (i, Some(t)),
                Some(_) if i > 0 => i -= 1,
                Some(t) => return (0, Some(t)),
                None => return (i, None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use synod_core::NodeId;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            payload: EntryPayload::Command(vec![index as u8, term as u8]),
        }
    }

    fn log_of(terms: &[u64]) -> RaftLog {
        let mut log = RaftLog::new(Membership::new([NodeId(1)], []));
        for (i, t) in terms.iter().enumerate() {
            log.append(entry(i as u64 + 1, *t));
        }
        log
    }

    #[test]
    fn terms_and_bounds_around_a_snapshot() {
        let mut log = log_of(&[1, 1, 2, 3, 3]);
        log.compact_to(2);
        assert_eq!(log.snapshot_index(), 2);
        assert_eq!(log.term(1), None);
        assert_eq!(log.term(2), Some(1));
        assert_eq!(log.term(5), Some(3));
        assert_eq!(log.term(6), None);
        assert_eq!(log.slice(3, 10, u64::MAX).len(), 3);
        assert_eq!(log.slice(3, 2, u64::MAX).len(), 2);
        assert_eq!(log.slice(3, 10, 1).len(), 1, "one entry even over budget");
    }

    #[test]
    fn find_conflict_by_term_steps_back_over_higher_terms() {
        let log = log_of(&[1, 1, 2, 2, 4, 4]);
        assert_eq!(log.find_conflict_by_term(6, 3), (4, Some(2)));
        assert_eq!(log.find_conflict_by_term(6, 4), (6, Some(4)));
        assert_eq!(log.find_conflict_by_term(9, 1), (2, Some(1)));
        assert_eq!(log.find_conflict_by_term(6, 0), (0, Some(0)));
    }

    #[test]
    fn config_entries_take_effect_on_append_and_revert_on_truncate() {
        let boot = Membership::new([NodeId(1)], []);
        let mut log = RaftLog::new(boot.clone());
        log.append(entry(1, 1));
        let two = Membership::new([NodeId(1), NodeId(2)], []);
        log.append(Entry {
            index: 2,
            term: 1,
            payload: EntryPayload::Config(two.clone()),
        });
        assert_eq!(log.membership(), &two);
        assert_eq!(log.membership_at(1), &boot);
        log.truncate_from(2);
        assert_eq!(log.membership(), &boot);
    }

    #[test]
    fn replay_honours_overwrites_truncations_and_the_snapshot() {
        // 1..=5 at term 1, then 3..=4 overwritten at term 2, then a snapshot
        // at 3 (term 3) conflicts: truncate after 2, install, append 4.
        let records = vec![
            RaftRecord::Entry(entry(1, 1)),
            RaftRecord::Entry(entry(2, 1)),
            RaftRecord::Entry(entry(3, 1)),
            RaftRecord::Entry(entry(4, 1)),
            RaftRecord::Entry(entry(5, 1)),
            RaftRecord::Entry(entry(3, 2)),
            RaftRecord::Entry(entry(4, 2)),
            RaftRecord::Truncate { last_kept: 2 },
            RaftRecord::Entry(entry(4, 3)),
        ];
        let meta = SnapshotMeta {
            last_included_index: 3,
            last_included_term: 3,
            membership: Membership::new([NodeId(1)], []),
        };
        let log = RaftLog::replay(Membership::default(), Some(&meta), records).unwrap();
        assert_eq!(log.snapshot_index(), 3);
        assert_eq!(log.last_index(), 4);
        assert_eq!(log.term(4), Some(3));
    }

    #[test]
    fn replay_refuses_a_hole() {
        let records = vec![
            RaftRecord::Entry(entry(1, 1)),
            RaftRecord::Entry(entry(3, 1)),
        ];
        let err = RaftLog::replay(Membership::default(), None, records).unwrap_err();
        assert!(matches!(
            err,
            RaftError::LogGap {
                expected: 2,
                found: 3
            }
        ));
    }

    /// A naive model of the durable log: a plain vector rewritten by every
    /// record.
    fn model(records: &[RaftRecord]) -> Vec<Entry> {
        let mut v: Vec<Entry> = Vec::new();
        for r in records {
            match r {
                RaftRecord::Entry(e) => {
                    v.truncate(e.index as usize - 1);
                    v.push(e.clone());
                }
                RaftRecord::Truncate { last_kept } => v.truncate(*last_kept as usize),
            }
        }
        v
    }

    proptest! {
        /// Differential test: replaying any sequence of appends, overwrites
        /// and resets, with a storage-style prefix compaction, gives the same
        /// log after the snapshot as the naive model.
        #[test]
        fn replay_matches_the_naive_model(
            ops in proptest::collection::vec((0u8..4, 1u64..6), 1..40),
            compact_at in 0usize..40,
        ) {
            let mut records: Vec<RaftRecord> = Vec::new();
            let mut len = 0u64;
            let mut term = 1u64;
            for (op, k) in ops {
                match op {
                    0 | 1 => {
                        len += 1;
                        records.push(RaftRecord::Entry(entry(len, term)));
                    }
                    2 if len > 0 => {
                        term += 1;
                        len = len.saturating_sub(k) + 1;
                        records.push(RaftRecord::Entry(entry(len, term)));
                    }
                    _ => {
                        records.push(RaftRecord::Truncate { last_kept: len.saturating_sub(k) });
                        len = len.saturating_sub(k);
                    }
                }
            }
            let full = model(&records);
            // Snapshot at some prefix of the final log, then drop a storage
            // prefix of records whose positions are all <= that index.
            let snap = (compact_at as u64).min(full.len() as u64);
            let drop = records.iter().position(|r| {
                use synod_core::LogRecord;
                r.position() > snap
            }).unwrap_or(records.len());
            let kept = records[drop..].to_vec();
            let meta = SnapshotMeta {
                last_included_index: snap,
                last_included_term: if snap == 0 { 0 } else { full[snap as usize - 1].term },
                membership: Membership::default(),
            };
            let log = RaftLog::replay(Membership::default(), Some(&meta), kept).unwrap();
            prop_assert_eq!(log.last_index(), full.len() as u64);
            for e in &full[snap as usize..] {
                prop_assert_eq!(log.entry(e.index), Some(e));
            }
        }
    }
}
