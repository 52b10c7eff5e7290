//! [`FileStorage`]: the WAL as a plain, single-owner [`Storage`].

use std::path::{Path, PathBuf};

use synod_core::{Loaded, Snapshot, Storage, StorageError, StoredRecord};

use crate::log::Log;
use crate::meta::MetaFiles;
use crate::{WalOptions, WalStats, WalWriter};

/// A file write-ahead log in one directory, implementing [`Storage`].
///
/// `append` only encodes records into an in-memory buffer (reused, so no
/// allocation per record); `sync` writes the whole buffer with one
/// positional write and makes it durable with one `fdatasync`. So a driver
/// that appends a batch of records and then syncs pays one write and one
/// fdatasync for the batch, whatever its size. If more than
/// [`WalOptions::max_pending_bytes`] pile up between syncs they are written
/// out early (not synced), to bound memory.
///
/// Dropping a `FileStorage` without `sync` (or [`FileStorage::close`]) loses
/// the records appended since the last sync, exactly as a crash would.
///
/// For several threads sharing one log with group commit, see
/// [`FileStorage::into_writer`] and [`WalWriter`].
#[derive(Debug)]
pub struct FileStorage {
    log: Log,
    meta: MetaFiles,
}

impl FileStorage {
    /// Opens the WAL in `dir` (created if missing), recovering it: a torn
    /// tail is truncated (see [`Loaded::repairs`] and
    /// [`FileStorage::repairs`]); damage anywhere else is
    /// [`StorageError::Corrupt`]. Everything recovered is fdatasynced before
    /// this returns, so whatever `load` then shows is durable. A directory
    /// already open (in this process or another) is refused with
    /// [`StorageError::Failed`].
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<FileStorage, StorageError> {
        let dir = dir.as_ref();
        let (log, dir_file) = Log::open(dir, opts)?;
        let meta = MetaFiles::new(
            dir.to_path_buf(),
            dir_file,
            opts.max_hard_state_bytes,
            opts.max_snapshot_bytes,
        );
        Ok(FileStorage { log, meta })
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        self.log.dir()
    }

    /// Counters of the I/O done so far.
    pub fn stats(&self) -> WalStats {
        self.log.stats()
    }

    /// What recovery repaired when the WAL was opened.
    pub fn repairs(&self) -> &[String] {
        self.log.repairs()
    }

    /// The segment files, oldest first.
    pub fn segment_files(&self) -> Vec<PathBuf> {
        self.log.segment_paths()
    }

    /// The sequence number the next appended record will get (records are
    /// numbered 0, 1, 2, ... over the life of the log).
    pub fn next_seq(&self) -> u64 {
        self.log.next_seq()
    }

    /// Syncs and closes, reporting any error that a plain drop would hide.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.log.sync_now()
    }

    /// Turns this storage into a [`WalWriter`], a handle that several
    /// threads can share, with group commit.
    pub fn into_writer(self) -> WalWriter {
        WalWriter::from_parts(self.log, self.meta)
    }
}

impl Storage for FileStorage {
    fn append(&mut self, records: &[StoredRecord]) -> Result<(), StorageError> {
        Log::check_sizes(&self.opts(), records)?;
        self.log.append(records)?;
        if self.log.pending_bytes() >= self.opts().max_pending_bytes {
            self.log.write_out()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.log.sync_now()
    }

    fn save_hard_state(&mut self, state: &[u8]) -> Result<(), StorageError> {
        self.log.check()?;
        self.meta.save_hard_state(state)
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.log.check()?;
        self.meta.save_snapshot(snapshot)
    }

    fn compact(&mut self, position: u64) -> Result<(), StorageError> {
        self.log.compact(position)
    }

    fn load(&mut self) -> Result<Loaded, StorageError> {
        self.log.check()?;
        let records = self.log.read_all()?;
        Ok(Loaded {
            hard_state: self.meta.load_hard_state()?,
            snapshot: self.meta.load_snapshot()?,
            records,
            repairs: self.log.repairs().to_vec(),
        })
    }
}

impl FileStorage {
    fn opts(&self) -> WalOptions {
        self.log.opts()
    }
}
