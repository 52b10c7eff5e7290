//! [`WalWriter`]: one log shared by several threads, with group commit.
//!
//! # Batching design
//!
//! The classic leader/follower group commit (as in PostgreSQL's WAL writer
//! and RocksDB's write groups), built from one mutex and one condition
//! variable:
//!
//! ```text
//!   append(records)  ── lock ── encode into `pending` ── unlock   (memory only)
//!
//!   sync()           ── lock ── target = every record appended so far
//!        ┌─> synced >= target ?            ── yes ──> return
//!        │   a batch in flight ?           ── yes ──> wait on the condvar ─┐
//!        │   otherwise become the syncer:                                  │
//!        │     take `pending` (swap with a spare buffer), mark in flight   │
//!        │     unlock; ONE pwrite + ONE fdatasync; lock                    │
//!        │     synced = the batch's end; clear in flight; notify all       │
//!        └──────────────────────────────────────────────────────────────────┘
//! ```
//!
//! While one thread is inside `fdatasync`, the others keep appending into the
//! other buffer and then wait; when the sync returns, one of them takes
//! everything that piled up and syncs it at once. So records appended while a
//! sync is in flight ride the next sync, and N concurrent committers cost far
//! fewer than N fdatasyncs. Only one batch is ever in flight, so writes reach
//! the file in offset order (what recovery relies on). A thread whose records
//! were covered by someone else's sync returns without any I/O.
//!
//! Rolling to a new segment waits until no batch is in flight (it syncs the
//! old segment first). If more than [`WalOptions::max_pending_bytes`] are
//! pending, `append` syncs before returning: back-pressure instead of
//! unbounded memory.
//!
//! [`WalOptions::max_pending_bytes`]: crate::WalOptions::max_pending_bytes

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use synod_core::{Loaded, Snapshot, Storage, StorageError, StoredRecord};

use crate::log::Log;
use crate::meta::MetaFiles;
use crate::{FileStorage, WalOptions, WalStats};

/// A log sequence number: the number of records appended to the log over its
/// whole life at some point. `sync_to(lsn)` returns once every record below
/// it is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

/// A cloneable, thread-safe handle on one WAL with group commit (see the
/// module docs). It also implements [`Storage`], so one clone can be handed
/// to code that expects a `Storage` while others append and sync.
#[derive(Clone, Debug)]
pub struct WalWriter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    log: Mutex<Log>,
    synced: Condvar,
    meta: Mutex<MetaFiles>,
    opts: WalOptions,
    dir: PathBuf,
}

fn poisoned<T>(_: T) -> StorageError {
    StorageError::Failed("a thread panicked while holding the WAL lock".into())
}

impl WalWriter {
    /// Opens the WAL in `dir` (see [`FileStorage::open`]) as a shared writer.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<WalWriter, StorageError> {
        Ok(FileStorage::open(dir, opts)?.into_writer())
    }

    pub(crate) fn from_parts(log: Log, meta: MetaFiles) -> WalWriter {
        let opts = log.opts();
        let dir = log.dir().to_path_buf();
        WalWriter {
            shared: Arc::new(Shared {
                log: Mutex::new(log),
                synced: Condvar::new(),
                meta: Mutex::new(meta),
                opts,
                dir,
            }),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Log>, StorageError> {
        self.shared.log.lock().map_err(poisoned)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Log>) -> Result<MutexGuard<'a, Log>, StorageError> {
        self.shared.synced.wait(guard).map_err(poisoned)
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Appends records (not yet durable) and returns the LSN to pass to
    /// [`WalWriter::sync_to`] to wait for exactly these. The records of one
    /// call are contiguous in the log.
    pub fn append(&self, records: &[StoredRecord]) -> Result<Lsn, StorageError> {
        Log::check_sizes(&self.shared.opts, records)?;
        let mut log = self.lock()?;
        log.check()?;
        while log.in_flight() && log.would_roll(records) {
            log = self.wait(log)?;
            log.check()?;
        }
        log.append(records)?;
        let lsn = Lsn(log.next_seq());
        let over = log.pending_bytes() >= self.shared.opts.max_pending_bytes;
        drop(log);
        if over {
            self.sync_to(lsn)?;
        }
        Ok(lsn)
    }

    /// Makes every record appended so far (by any thread) durable.
    pub fn sync(&self) -> Result<(), StorageError> {
        let target = Lsn(self.lock()?.next_seq());
        self.sync_to(target)
    }

    /// Returns once every record below `lsn` is durable, syncing if no other
    /// thread's sync covers them.
    pub fn sync_to(&self, lsn: Lsn) -> Result<(), StorageError> {
        let mut log = self.lock()?;
        loop {
            log.check()?;
            if log.synced_seq() >= lsn.0 {
                return Ok(());
            }
            if log.in_flight() {
                log = self.wait(log)?;
                continue;
            }
            let Some(batch) = log.begin_batch(true)? else {
                return Ok(());
            };
            drop(log);
            let result = batch.run();
            log = self.lock()?;
            let ended = log.end_batch(batch, result);
            self.shared.synced.notify_all();
            ended?;
        }
    }

    /// Appends and waits until the records are durable.
    pub fn append_sync(&self, records: &[StoredRecord]) -> Result<Lsn, StorageError> {
        let lsn = self.append(records)?;
        self.sync_to(lsn)?;
        Ok(lsn)
    }

    /// Replaces the hard state atomically and durably (does not wait for
    /// appends).
    pub fn save_hard_state(&self, state: &[u8]) -> Result<(), StorageError> {
        self.lock()?.check()?;
        self.shared
            .meta
            .lock()
            .map_err(poisoned)?
            .save_hard_state(state)
    }

    /// Replaces the snapshot atomically and durably.
    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.lock()?.check()?;
        self.shared
            .meta
            .lock()
            .map_err(poisoned)?
            .save_snapshot(snapshot)
    }

    /// Deletes closed segments whose records all have positions
    /// `<= position`, oldest first (see [`Storage::compact`]).
    pub fn compact(&self, position: u64) -> Result<(), StorageError> {
        self.lock()?.compact(position)
    }

    /// Everything in the WAL (see [`Storage::load`]); waits for a batch in
    /// flight, and holds the log lock while it reads.
    pub fn load(&self) -> Result<Loaded, StorageError> {
        let mut log = self.lock()?;
        while log.in_flight() {
            log = self.wait(log)?;
        }
        log.check()?;
        let records = log.read_all()?;
        let repairs = log.repairs().to_vec();
        drop(log);
        let meta = self.shared.meta.lock().map_err(poisoned)?;
        Ok(Loaded {
            hard_state: meta.load_hard_state()?,
            snapshot: meta.load_snapshot()?,
            records,
            repairs,
        })
    }

    /// Counters of the I/O done so far.
    pub fn stats(&self) -> Result<WalStats, StorageError> {
        Ok(self.lock()?.stats())
    }
}

impl Storage for WalWriter {
    fn append(&mut self, records: &[StoredRecord]) -> Result<(), StorageError> {
        WalWriter::append(self, records).map(|_| ())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        WalWriter::sync(self)
    }

    fn save_hard_state(&mut self, state: &[u8]) -> Result<(), StorageError> {
        WalWriter::save_hard_state(self, state)
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        WalWriter::save_snapshot(self, snapshot)
    }

    fn compact(&mut self, position: u64) -> Result<(), StorageError> {
        WalWriter::compact(self, position)
    }

    fn load(&mut self) -> Result<Loaded, StorageError> {
        WalWriter::load(self)
    }
}
