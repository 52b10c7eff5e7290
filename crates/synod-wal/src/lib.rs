//! A file write-ahead log implementing [`synod_core::Storage`].
//!
//! One directory per node holds:
//!
//! ```text
//! wal-00000000000000000000.log   segment: header, then records (pre-allocated)
//! wal-00000000000000016384.log   named after the sequence number of its first record
//! spare-00000000000000000000.wal  a compacted segment kept for reuse (recycling)
//! hardstate                      term/vote/ballot, replaced atomically, CRC-checked
//! snapshot                       the newest snapshot, replaced atomically, CRC-checked
//! LOCK                           flock'd while open: one process at a time
//! ```
//!
//! # What it guarantees
//!
//! - **Durability.** Records are durable once [`Storage::sync`] returns: the
//!   pending records are written with one `pwrite` and made durable with one
//!   `fdatasync` of the active segment. Segments are pre-allocated
//!   ([`WalOptions::preallocate`]) and zeroed a megabyte ahead of the
//!   records, so that an fdatasync seldom has file-size or extent metadata
//!   to commit as well.
//! - **Whole records, in order.** Each record carries its length, a CRC32C
//!   over length, position and payload, its sequence number and a header
//!   CRC ([`format`] has the byte layout). A record is never split across
//!   segments. After a crash `load` returns a prefix of what was appended
//!   that includes everything synced.
//! - **Torn tails are repaired, corruption is reported.** On open the last
//!   segment may end in a write the crash interrupted: it is truncated to the
//!   last whole record (overwritten with zeros, synced), reported in
//!   [`Loaded::repairs`](synod_core::Loaded) and logged with `tracing::warn!`.
//!   Anything else (a damaged record followed by a valid one, damage in a
//!   closed segment, a missing or shortened segment, a bad header) is
//!   [`StorageError::Corrupt`] naming the file and byte offset. Never a
//!   silent skip, never a panic, never an allocation of a size read from
//!   disk before it is checked against the configured maximum and the bytes
//!   actually in the file. How the two are told apart is in the docs of the
//!   (private) `scan` module. In a reused segment a torn write cannot be
//!   told from the file's old bytes after the log's end; it needs no repair
//!   and is not reported.
//! - **Atomic hard state and snapshots.** Each is written to a `.tmp` file,
//!   fsynced, renamed over the old one, and the directory fsynced; a damaged
//!   file is an error; a leftover `.tmp` is ignored (and removed on open).
//! - **Compaction drops a prefix only.** [`Storage::compact`] removes whole
//!   closed segments from the front while every record in them has a
//!   position `<=` the given one, and never the active segment. Up to
//!   [`WalOptions::recycle_segments`] of them become spares that later
//!   rolls reuse, since overwriting blocks syncs faster than filling new
//!   ones; a per-segment salt in every record checksum keeps a reused
//!   file's old records from ever being read as new ones.
//!
//! # Two front ends
//!
//! [`FileStorage`] is the plain [`Storage`]: one owner (the runtime's storage
//! thread), `append` then `sync` costs one write and one fdatasync per batch.
//! [`WalWriter`] is a cloneable handle for several threads with group commit:
//! records appended while a sync is in flight ride the next one (see the
//! [`writer`] module docs for the design).
//!
//! ```
//! use synod_core::{Storage, StoredRecord};
//! use synod_wal::{FileStorage, WalOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let opts = WalOptions { segment_bytes: 1 << 20, ..WalOptions::default() };
//! let mut wal = FileStorage::open(dir.path(), opts).unwrap();
//! wal.append(&[StoredRecord { position: 1, payload: b"hello".to_vec() }]).unwrap();
//! wal.sync().unwrap(); // one pwrite, one fdatasync
//! drop(wal);
//!
//! let mut wal = FileStorage::open(dir.path(), opts).unwrap();
//! let loaded = wal.load().unwrap();
//! assert_eq!(loaded.records[0].payload, b"hello");
//! assert!(loaded.repairs.is_empty());
//! ```

pub mod format;
mod log;
mod meta;
mod prepare;
mod recycle;
mod scan;
mod storage;
pub mod writer;

pub use storage::FileStorage;
pub use writer::{Lsn, WalWriter};

use synod_core::StorageError;
#[cfg(doc)]
use synod_core::{Loaded, Storage};

/// How segment files are pre-allocated when they are created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Preallocate {
    /// `fallocate(2)` the whole segment (falls back to writing zeros where
    /// the file system does not support it). Fast to create; the blocks are
    /// reserved, so appends never extend the file. The log writes zeros a
    /// megabyte ahead of its records, so that an fdatasync seldom has an
    /// extent conversion to commit.
    #[default]
    Fallocate,
    /// Write zeros over the whole segment when it is created. Costs a full
    /// segment of writes per roll, but later fdatasyncs have no extent
    /// conversion to commit.
    Zeros,
    /// Let the file grow as records are written (each fdatasync then also
    /// commits the new file size).
    None,
}

/// What to do when the last segment holds a damaged record followed by a
/// valid one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recovery {
    /// Report [`StorageError::Corrupt`] and refuse to open (the default: a
    /// record after the damage may have been acknowledged as durable).
    #[default]
    Strict,
    /// Truncate the last segment at the first damaged record anyway, and
    /// report it in the repairs. For an operator after a power loss on a
    /// disk that may have persisted an unsynced later page without an
    /// earlier one; it may discard records that were synced. Damage in a
    /// closed segment is still an error.
    TruncateTail,
}

/// Configuration of a WAL directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Size each segment file is pre-allocated to, and the point at which
    /// appends roll to a new segment (default 64 MiB). A record larger than
    /// a whole segment gets a segment of its own, grown to fit.
    pub segment_bytes: u64,
    /// The largest record payload accepted; larger ones are
    /// [`StorageError::TooLarge`] (default 64 MiB). Recovery also refuses
    /// to read a length above it, so do not lower it below records already
    /// written.
    pub max_record_bytes: u32,
    /// Appended bytes buffered in memory before they are written out
    /// without waiting for `sync` (default 8 MiB).
    pub max_pending_bytes: usize,
    /// The largest hard state accepted (default 1 MiB).
    pub max_hard_state_bytes: u64,
    /// The largest snapshot accepted, and read back (default 4 GiB).
    pub max_snapshot_bytes: u64,
    /// How segment files are pre-allocated.
    pub preallocate: Preallocate,
    /// What recovery does with a damaged record followed by a valid one in
    /// the last segment.
    pub recovery: Recovery,
    /// How long `open` waits for the directory lock held by another open
    /// WAL before failing (default 1000 ms).
    pub lock_wait_ms: u64,
    /// How many compacted segment files are kept as spares for later rolls
    /// to reuse instead of pre-allocating new ones (default 2; 0 deletes
    /// them). Reused blocks sync faster than fresh ones; each spare holds
    /// up to `segment_bytes` of disk.
    pub recycle_segments: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 << 20,
            max_record_bytes: 64 << 20,
            max_pending_bytes: 8 << 20,
            max_hard_state_bytes: 1 << 20,
            max_snapshot_bytes: 4 << 30,
            preallocate: Preallocate::Fallocate,
            recovery: Recovery::Strict,
            lock_wait_ms: 1000,
            recycle_segments: 2,
        }
    }
}

impl WalOptions {
    /// The smallest accepted [`WalOptions::segment_bytes`].
    pub const MIN_SEGMENT_BYTES: u64 = 4096;

    /// Checks the options make sense.
    pub fn validate(&self) -> Result<(), StorageError> {
        let bad = |why: String| Err(StorageError::Failed(format!("invalid WalOptions: {why}")));
        if self.segment_bytes < Self::MIN_SEGMENT_BYTES || self.segment_bytes > 1 << 40 {
            return bad(format!(
                "segment_bytes {} is outside 4 KiB ..= 1 TiB",
                self.segment_bytes
            ));
        }
        if self.max_record_bytes > u32::MAX - 64 {
            return bad(format!(
                "max_record_bytes {} is too large",
                self.max_record_bytes
            ));
        }
        if self.max_pending_bytes == 0 {
            return bad("max_pending_bytes is 0".into());
        }
        Ok(())
    }
}

/// Counters of the work a WAL has done since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records appended.
    pub records_appended: u64,
    /// `pwrite` batches issued to segment files.
    pub writes: u64,
    /// Bytes of records written to segment files by those batches.
    pub bytes_written: u64,
    /// Bytes of zeros written ahead of the records into `fallocate`d blocks
    /// by those batches (one extent conversion per megabyte instead of one
    /// per sync).
    pub bytes_zeroed: u64,
    /// `fdatasync` calls on the active segment for `sync` (segment creation
    /// and recovery syncs not counted).
    pub fdatasyncs: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Segment files deleted by compaction.
    pub segments_deleted: u64,
    /// Segment files compaction kept as spares instead of deleting them.
    pub segments_kept: u64,
    /// Segments created by reusing a spare (counted in `segments_created`
    /// too).
    pub segments_reused: u64,
}
