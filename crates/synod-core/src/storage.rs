//! Durable storage: a log of records, a small hard state, snapshots.
//!
//! The contract, which the [conformance suite](crate::testing::storage_suite)
//! checks for any implementation:
//!
//! - `append` adds records at the end of the log, in order. They are durable
//!   once a later `sync` returns; records appended but not synced may be lost
//!   in a crash, but never reordered, and never half-kept (a record is whole
//!   or absent).
//! - `save_hard_state` and `save_snapshot` are atomic and durable on return:
//!   after a crash, `load` returns the old value or the new one, nothing in
//!   between.
//! - `compact(p)` may drop a prefix of the log whose records all have
//!   positions `<= p`; it never drops a record with a higher position, nor
//!   anything after one. (Dropping is allowed, not required: a file log drops
//!   whole segments.)
//! - `load` returns the newest hard state and snapshot and every record still
//!   present, in append order.
//!
//! Storage is blocking: the tokio runtime drives it from a dedicated thread,
//! the in-memory harness calls it directly.

use serde::{Deserialize, Serialize};

/// A snapshot of the state machine plus the protocol's own metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last log position the snapshot covers (its applied index).
    pub position: u64,
    /// Protocol metadata (Raft: last included term and membership).
    pub meta: Vec<u8>,
    /// The state machine's snapshot.
    pub data: Vec<u8>,
}

/// A record as storage sees it: a position for compaction and opaque bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The protocol's position of the record (see
    /// [`LogRecord::position`](crate::LogRecord::position)).
    pub position: u64,
    /// The encoded record.
    pub payload: Vec<u8>,
}

/// Everything `load` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The newest hard state.
    pub hard_state: Option<Vec<u8>>,
    /// The newest snapshot.
    pub snapshot: Option<Snapshot>,
    /// The records still in the log, in append order.
    pub records: Vec<StoredRecord>,
    /// What was repaired on open (a torn tail truncated), for the log.
    pub repairs: Vec<String>,
}

/// Why storage failed. Every variant is fatal for the node using it: a
/// replica that cannot trust its disk must stop rather than speak.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating system error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Data on disk is damaged somewhere a crash cannot explain.
    #[error("corrupt log: {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        file: String,
        /// The byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record or snapshot exceeds a configured limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The storage was closed or is in a failed state.
    #[error("storage unusable: {0}")]
    Failed(String),
}

impl StorageError {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A durable log plus hard state and snapshots. See the module docs for the
/// contract.
pub trait Storage: Send + 'static {
    /// Appends records at the end of the log (not yet durable).
    fn append(&mut self, records: &[StoredRecord]) -> Result<(), StorageError>;
    /// Makes every appended record durable.
    fn sync(&mut self) -> Result<(), StorageError>;
    /// Replaces the hard state, atomically and durably.
    fn save_hard_state(&mut self, state: &[u8]) -> Result<(), StorageError>;
    /// Replaces the snapshot, atomically and durably.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError>;
    /// Drops log records covered by a snapshot through `position` (see the
    /// module docs for what may be dropped).
    fn compact(&mut self, position: u64) -> Result<(), StorageError>;
    /// Everything durable (and whatever appended records survived).
    fn load(&mut self) -> Result<Loaded, StorageError>;
}

/// Storage in memory that models a disk: appended records stay volatile until
/// `sync`, and [`MemStorage::crash`] loses them. Used by tests and the
/// in-memory harness.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    durable: Vec<StoredRecord>,
    volatile: Vec<StoredRecord>,
    hard_state: Option<Vec<u8>>,
    snapshot: Option<Snapshot>,
    syncs: u64,
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a power loss: records appended since the last sync vanish.
    pub fn crash(&mut self) {
        self.volatile.clear();
    }

    /// How many times `sync` was called (for tests of batching).
    pub fn sync_count(&self) -> u64 {
        self.syncs
    }

    /// The number of records durable or pending.
    pub fn len(&self) -> usize {
        self.durable.len() + self.volatile.len()
    }

    /// Whether the log holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Storage for MemStorage {
    fn append(&mut self, records: &[StoredRecord]) -> Result<(), StorageError> {
        self.volatile.extend_from_slice(records);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.syncs += 1;
        self.durable.append(&mut self.volatile);
        Ok(())
    }

    fn save_hard_state(&mut self, state: &[u8]) -> Result<(), StorageError> {
        self.hard_state = Some(state.to_vec());
        Ok(())
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn compact(&mut self, position: u64) -> Result<(), StorageError> {
        let keep_from = self
            .durable
            .iter()
            .position(|r| r.position > position)
            .unwrap_or(self.durable.len());
        self.durable.drain(..keep_from);
        Ok(())
    }

    fn load(&mut self) -> Result<Loaded, StorageError> {
        let mut records = self.durable.clone();
        records.extend(self.volatile.iter().cloned());
        Ok(Loaded {
            hard_state: self.hard_state.clone(),
            snapshot: self.snapshot.clone(),
            records,
            repairs: Vec::new(),
        })
    }
}
