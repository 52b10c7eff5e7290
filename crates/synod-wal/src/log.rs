//! The segmented log itself: recovery on open, appends into a reused buffer,
//! write-out batches, segment rolls, compaction, and reading back.
//!
//! Invariants kept here (and relied on by recovery in [`crate::scan`]):
//!
//! 1. Bytes of a new segment past the end of its last record are zero on
//!    disk once that end is durable: new segments are pre-allocated with
//!    zeros, and a torn tail found on open is overwritten with zeros (and
//!    synced) before anything is appended after it. In a recycled segment
//!    they are the file's older contents, none of which passes as a record
//!    of the segment's salt (see [`crate::recycle`]).
//! 2. Writes to the active segment happen in offset order, one at a time,
//!    and each completes before the next starts; so a crash leaves a prefix
//!    of the last write, never a later write without an earlier one.
//! 3. A closed segment was written out and fdatasynced before the next
//!    segment file got its name (created as `.tmp`, synced, renamed, then the
//!    directory fsynced). So a crash can only tear the last segment.
//! 4. Compaction removes segment files oldest first (deleted, or renamed to
//!    spares), fsyncing the directory after each, so the segments left
//!    always hold a suffix of the log.
//! 5. After any failed write or sync, the log refuses all further work
//!    ([`StorageError::Failed`]): after a failed fdatasync the kernel may
//!    have dropped the dirty pages, so nothing about the file can be trusted
//!    without a reopen (the lesson of PostgreSQL's "fsyncgate").

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::mem;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use synod_core::{StorageError, StoredRecord};
use tracing::{debug, info, warn};

use crate::format::{
    encode_record, encode_segment_header, is_spare_file_name, parse_segment_file_name,
    record_bytes, segment_file_name, SegmentHeader, LOCK_FILE, SEGMENT_HEADER_BYTES,
};
use crate::meta::sync_dir;
use crate::prepare::{initial_zeroed_to, prepare, zero_ahead, zero_range, Prepared};
use crate::recycle::{keep_spares, new_salt, open_spare, retire};
use crate::scan::{classify_tail, corrupt, io_err, scan_segment, Scan, Tail};
use crate::{Recovery, WalOptions, WalStats};

/// Sequence numbers stay below this (2^62), so no sum of them overflows; a
/// segment name above it is corruption.
const MAX_SEQ: u64 = 1 << 62;

/// A segment that no longer receives appends.
#[derive(Debug)]
struct ClosedSegment {
    path: PathBuf,
    first_seq: u64,
    records: u64,
    max_position: Option<u64>,
}

/// The segment appends go to.
#[derive(Debug)]
struct Active {
    path: PathBuf,
    file: Arc<File>,
    first_seq: u64,
    /// Seeds the header CRC of every record in it.
    salt: u32,
    /// Records appended to it (written or still pending).
    records: u64,
    max_position: Option<u64>,
    /// Roll to a new segment before the tail would pass this offset.
    capacity: u64,
    /// Offset after every byte appended (pending included).
    tail: u64,
    /// Offset after every byte written to the file.
    written: u64,
    /// Offset after every byte made durable by fdatasync.
    durable: u64,
    /// Blocks below this offset are written ones (records, zeros, or an
    /// older life's bytes): appends past it zero ahead ([`zero_ahead`]).
    zeroed_to: u64,
}

/// One write-out: bytes to write at an offset of the active segment, then
/// optionally an fdatasync. Runs without any lock held.
#[derive(Debug)]
pub(crate) struct Batch {
    file: Arc<File>,
    path: PathBuf,
    offset: u64,
    buf: Vec<u8>,
    /// Zeros to write past the records (see [`crate::prepare`]).
    zeros: Range<u64>,
    sync: bool,
    end_seq: u64,
}

impl Batch {
    /// Does the I/O: one positional write of the whole buffer (and of the
    /// zeros ahead of it, if due), then one fdatasync if asked.
    pub(crate) fn run(&self) -> io::Result<()> {
        if !self.zeros.is_empty() {
            zero_range(&self.file, self.zeros.start, self.zeros.end)?;
        }
        if !self.buf.is_empty() {
            self.file.write_all_at(&self.buf, self.offset)?;
        }
        if self.sync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// The log of one WAL directory. Not thread-safe by itself: `FileStorage`
/// owns one, `WalWriter` keeps one behind a mutex.
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    dir_file: File,
    _lock: File,
    opts: WalOptions,
    closed: VecDeque<ClosedSegment>,
    active: Active,
    pending: Vec<u8>,
    /// An empty buffer kept for the next batch (no allocation per batch).
    spare_buf: Vec<u8>,
    next_seq: u64,
    synced_seq: u64,
    in_flight: bool,
    failed: Option<String>,
    repairs: Vec<String>,
    stats: WalStats,
    /// The next segment file, being prepared once the active one is half
    /// full (when there is no spare to reuse).
    next_segment: Option<Prepared>,
    /// Compacted segment files kept for reuse by later rolls.
    spares: Vec<PathBuf>,
}

/// Where a new segment's file comes from.
enum Source {
    /// A spare, reused.
    Spare(PathBuf),
    /// The file prepared in the background.
    Prepared(Prepared),
    /// A file created and pre-allocated now.
    New,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering it.
    pub(crate) fn open(dir: &Path, opts: WalOptions) -> Result<(Log, File), StorageError> {
        opts.validate()?;
        let existed = dir.exists();
        fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        if !existed {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                if let Ok(p) = File::open(parent) {
                    sync_dir(&p, parent)?;
                }
            }
        }
        let dir_file = File::open(dir).map_err(io_err(format!("open {}", dir.display())))?;
        let lock = lock_dir(dir, opts.lock_wait_ms)?;

        let mut segments = Vec::new();
        let mut spares = Vec::new();
        let entries = fs::read_dir(dir).map_err(io_err(format!("list {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_err(format!("list {}", dir.display())))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") {
                debug!(file = name, "removing a leftover temporary file");
                fs::remove_file(entry.path())
                    .map_err(io_err(format!("remove {}", entry.path().display())))?;
            } else if let Some(first_seq) = parse_segment_file_name(name) {
                if first_seq > MAX_SEQ {
                    let why = "segment name's sequence number is out of range";
                    return Err(corrupt(&entry.path(), 0, why));
                }
                segments.push((first_seq, entry.path()));
            } else if is_spare_file_name(name) {
                spares.push(entry.path());
            }
        }
        segments.sort();
        let mut spares = keep_spares(spares, &opts)?;

        let max_record = u64::from(opts.max_record_bytes);
        let mut closed = VecDeque::new();
        let mut repairs = Vec::new();
        let mut stats = WalStats::default();
        let active = match segments.split_last() {
            None => {
                let source = spares.pop().map_or(Source::New, Source::Spare);
                create_segment(dir, &dir_file, 0, &opts, source, &mut stats)?
            }
            Some(((last_seq, last_path), older)) => {
                for (i, (first_seq, path)) in older.iter().enumerate() {
                    let next_first = segments[i + 1].0;
                    let scan = check_closed(path, *first_seq, next_first, max_record)?;
                    closed.push_back(ClosedSegment {
                        path: path.clone(),
                        first_seq: *first_seq,
                        records: scan.records,
                        max_position: scan.max_position,
                    });
                }
                recover_last(last_path, *last_seq, &opts, &mut repairs)?
            }
        };
        sync_dir(&dir_file, dir)?;
        let next_seq = active.first_seq + active.records;
        let total: u64 = closed.iter().map(|s| s.records).sum::<u64>() + active.records;
        info!(
            dir = %dir.display(),
            segments = closed.len() + 1,
            records = total,
            next_seq,
            repairs = repairs.len(),
            "opened write-ahead log"
        );
        let dir_for_meta = dir_file
            .try_clone()
            .map_err(io_err(format!("dup {}", dir.display())))?;
        let log = Log {
            dir: dir.to_path_buf(),
            dir_file,
            _lock: lock,
            closed,
            active,
            pending: Vec::new(),
            spare_buf: Vec::new(),
            next_seq,
            synced_seq: next_seq,
            in_flight: false,
            failed: None,
            repairs,
            stats,
            opts,
            next_segment: None,
            spares,
        };
        Ok((log, dir_for_meta))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn opts(&self) -> WalOptions {
        self.opts
    }

    pub(crate) fn stats(&self) -> WalStats {
        self.stats
    }

    pub(crate) fn repairs(&self) -> &[String] {
        &self.repairs
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(crate) fn synced_seq(&self) -> u64 {
        self.synced_seq
    }

    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn check(&self) -> Result<(), StorageError> {
        match &self.failed {
            Some(why) => Err(StorageError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: StorageError) -> StorageError {
        if self.failed.is_none() {
            self.failed = Some(format!("an earlier write or sync failed: {e}"));
        }
        e
    }

    /// Refuses a batch holding a record over the maximum (before any of it
    /// is appended).
    pub(crate) fn check_sizes(
        opts: &WalOptions,
        records: &[StoredRecord],
    ) -> Result<(), StorageError> {
        match records
            .iter()
            .find(|r| r.payload.len() as u64 > u64::from(opts.max_record_bytes))
        {
            Some(r) => Err(StorageError::TooLarge(format!(
                "record at position {} has {} bytes, max_record_bytes is {}",
                r.position,
                r.payload.len(),
                opts.max_record_bytes
            ))),
            None => Ok(()),
        }
    }

    /// Whether appending `records` would roll to a new segment.
    pub(crate) fn would_roll(&self, records: &[StoredRecord]) -> bool {
        let mut tail = self.active.tail;
        let mut empty = self.active.records == 0;
        for r in records {
            let size = record_bytes(r.payload.len() as u64);
            if tail + size > self.active.capacity && !empty {
                return true;
            }
            tail += size;
            empty = false;
        }
        false
    }

    /// Encodes `records` into the pending buffer, rolling to a new segment
    /// when one does not fit. Must not be called with a batch in flight if
    /// it would roll (see [`Log::would_roll`]). Sizes are checked by the
    /// caller ([`Log::check_sizes`]).
    pub(crate) fn append(&mut self, records: &[StoredRecord]) -> Result<(), StorageError> {
        self.check()?;
        for r in records {
            let size = record_bytes(r.payload.len() as u64);
            if self.active.tail + size > self.active.capacity && self.active.records > 0 {
                self.roll()?;
            }
            encode_record(
                &mut self.pending,
                self.active.salt,
                self.next_seq,
                r.position,
                &r.payload,
            );
            let a = &mut self.active;
            a.tail += size;
            a.capacity = a.capacity.max(a.tail);
            a.records += 1;
            a.max_position = a.max_position.max(Some(r.position));
            self.next_seq += 1;
        }
        self.stats.records_appended += records.len() as u64;
        let a = &self.active;
        if self.next_segment.is_none() && self.spares.is_empty() && a.tail >= a.capacity / 2 {
            self.next_segment =
                Prepared::start(&self.dir, self.opts.segment_bytes, self.opts.preallocate);
        }
        Ok(())
    }

    /// Takes the pending bytes as a batch to write (and sync if `sync`), or
    /// `None` when there is nothing to do. Marks a batch in flight until
    /// [`Log::end_batch`].
    pub(crate) fn begin_batch(&mut self, sync: bool) -> Result<Option<Batch>, StorageError> {
        self.check()?;
        debug_assert!(!self.in_flight);
        let a = &mut self.active;
        if self.pending.is_empty() && (!sync || a.written == a.durable) {
            if sync {
                self.synced_seq = self.next_seq;
            }
            return Ok(None);
        }
        let buf = mem::replace(&mut self.pending, mem::take(&mut self.spare_buf));
        let zeros = zero_ahead(a.written + buf.len() as u64, a.zeroed_to, a.capacity);
        a.zeroed_to = a.zeroed_to.max(zeros.end);
        self.in_flight = true;
        Ok(Some(Batch {
            file: Arc::clone(&a.file),
            path: a.path.clone(),
            offset: a.written,
            buf,
            zeros,
            sync,
            end_seq: self.next_seq,
        }))
    }

    /// Records the outcome of a batch from [`Log::begin_batch`].
    pub(crate) fn end_batch(
        &mut self,
        mut batch: Batch,
        result: io::Result<()>,
    ) -> Result<(), StorageError> {
        self.in_flight = false;
        if let Err(e) = result {
            let what = if batch.sync {
                "write and sync"
            } else {
                "write"
            };
            let e = StorageError::io(format!("{what} {}", batch.path.display()), e);
            return Err(self.fail(e));
        }
        let a = &mut self.active;
        a.written = batch.offset + batch.buf.len() as u64;
        self.stats.bytes_written += batch.buf.len() as u64;
        self.stats.bytes_zeroed += batch.zeros.end - batch.zeros.start;
        if !batch.buf.is_empty() {
            self.stats.writes += 1;
        }
        if batch.sync {
            a.durable = a.written;
            self.synced_seq = self.synced_seq.max(batch.end_seq);
            self.stats.fdatasyncs += 1;
        }
        batch.buf.clear();
        if batch.buf.capacity() <= self.opts.max_pending_bytes.max(1 << 20) * 2 {
            self.spare_buf = batch.buf;
        }
        Ok(())
    }

    /// Writes out and syncs everything appended, on the calling thread.
    pub(crate) fn sync_now(&mut self) -> Result<(), StorageError> {
        if let Some(batch) = self.begin_batch(true)? {
            let result = batch.run();
            self.end_batch(batch, result)?;
        }
        Ok(())
    }

    /// Writes out the pending bytes without a sync.
    pub(crate) fn write_out(&mut self) -> Result<(), StorageError> {
        if let Some(batch) = self.begin_batch(false)? {
            let result = batch.run();
            self.end_batch(batch, result)?;
        }
        Ok(())
    }

    /// Closes the active segment (written out and synced first, invariant 3)
    /// and starts a new one at the next sequence number.
    fn roll(&mut self) -> Result<(), StorageError> {
        assert!(!self.in_flight, "roll with a batch in flight");
        self.sync_now()?;
        let source = match (self.spares.pop(), self.next_segment.take()) {
            (Some(spare), prepared) => {
                self.next_segment = prepared;
                Source::Spare(spare)
            }
            (None, Some(prepared)) => Source::Prepared(prepared),
            (None, None) => Source::New,
        };
        let new = match create_segment(
            &self.dir,
            &self.dir_file,
            self.next_seq,
            &self.opts,
            source,
            &mut self.stats,
        ) {
            Ok(a) => a,
            Err(e) => return Err(self.fail(e)),
        };
        debug!(segment = %new.path.display(), "rolled to a new segment");
        let old = mem::replace(&mut self.active, new);
        self.closed.push_back(ClosedSegment {
            path: old.path,
            first_seq: old.first_seq,
            records: old.records,
            max_position: old.max_position,
        });
        Ok(())
    }

    /// Removes closed segments from the front while all their records have
    /// positions `<= position` (invariant 4), keeping some as spares for
    /// reuse ([`crate::recycle`]). The active segment stays.
    pub(crate) fn compact(&mut self, position: u64) -> Result<(), StorageError> {
        self.check()?;
        while let Some(front) = self.closed.front() {
            if front.max_position.is_some_and(|m| m > position) {
                break;
            }
            let kept = retire(
                &self.dir,
                &self.dir_file,
                &front.path,
                front.first_seq,
                &self.opts,
                &mut self.spares,
            )?;
            debug!(segment = %front.path.display(), position, kept, "compacted segment");
            self.closed.pop_front();
            if kept {
                self.stats.segments_kept += 1;
            } else {
                self.stats.segments_deleted += 1;
            }
        }
        Ok(())
    }

    /// Every record still in the log, in order, read back from the files
    /// (pending bytes are written out first). Must not be called with a
    /// batch in flight.
    pub(crate) fn read_all(&mut self) -> Result<Vec<StoredRecord>, StorageError> {
        self.write_out()?;
        let max_record = u64::from(self.opts.max_record_bytes);
        let mut out = Vec::new();
        let mut push = |position: u64, payload: &[u8]| {
            out.push(StoredRecord {
                position,
                payload: payload.to_vec(),
            })
        };
        let mut next_first = self.closed.iter().map(|s| s.first_seq).skip(1);
        for seg in &self.closed {
            let next = next_first.next().unwrap_or(self.active.first_seq);
            let file = open_read(&seg.path)?;
            let scan = scan_segment(&seg.path, &file, None, max_record, &mut push)?;
            expect_closed(&seg.path, &file, &scan, seg.first_seq, next, max_record)?;
        }
        let a = &self.active;
        let scan = scan_segment(&a.path, &a.file, Some(a.written), max_record, &mut push)?;
        if let Some(stop) = scan.stop {
            return Err(corrupt(&a.path, stop.at, stop.reason));
        }
        if scan.records != a.records || scan.end != a.written {
            return Err(corrupt(
                &a.path,
                scan.end,
                format!(
                    "active segment holds {} records, {} were appended",
                    scan.records, a.records
                ),
            ));
        }
        Ok(out)
    }

    /// The segment files, oldest first (for tests and tools).
    pub(crate) fn segment_paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.closed.iter().map(|s| s.path.clone()).collect();
        v.push(self.active.path.clone());
        v
    }
}

fn open_read(path: &Path) -> Result<File, StorageError> {
    File::open(path).map_err(io_err(format!("open {}", path.display())))
}

/// Takes an exclusive `flock` on `dir/LOCK`, released when the file closes
/// (also when the process dies). Retries for up to `wait_ms`: a process that
/// forks (to spawn a program) briefly shares the lock with its child until
/// the child's `exec` closes it.
fn lock_dir(dir: &Path, wait_ms: u64) -> Result<File, StorageError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err(format!("open {}", path.display())))?;
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(StorageError::Failed(format!(
                    "{} is in use by another open WAL (locked)",
                    dir.display()
                )))
            }
            Err(e) => {
                return Err(StorageError::io(
                    format!("lock {}", path.display()),
                    e.into(),
                ))
            }
        }
    }
}

/// Checks a closed segment: valid records to its end, zeros after them, and
/// exactly as many records as the gap to the next segment's first sequence.
fn check_closed(
    path: &Path,
    first_seq: u64,
    next_first: u64,
    max_record: u64,
) -> Result<Scan, StorageError> {
    let file = open_read(path)?;
    let scan = scan_segment(path, &file, None, max_record, &mut |_, _| {})?;
    expect_closed(path, &file, &scan, first_seq, next_first, max_record)?;
    Ok(scan)
}

/// The segment's header names the same first sequence number as its file.
fn expect_first_seq(path: &Path, scan: &Scan, first_seq: u64) -> Result<(), StorageError> {
    if scan.first_seq != first_seq {
        return Err(corrupt(
            path,
            0,
            format!(
                "header says first seq {}, name says {first_seq}",
                scan.first_seq
            ),
        ));
    }
    Ok(())
}

fn expect_closed(
    path: &Path,
    file: &File,
    scan: &Scan,
    first_seq: u64,
    next_first: u64,
    max_record: u64,
) -> Result<(), StorageError> {
    expect_first_seq(path, scan, first_seq)?;
    match &scan.stop {
        // What follows the records of a recycled segment is its old
        // contents; the record count below is the check.
        Some(_) if scan.recycled => {}
        Some(stop) => {
            let tail = classify_tail(path, file, scan, stop, max_record)?;
            if tail != Tail::Clean {
                return Err(corrupt(
                    path,
                    stop.at,
                    format!("{} in a closed segment (not the log's tail)", stop.reason),
                ));
            }
        }
        None => {}
    }
    let expected = next_first - first_seq;
    if scan.records != expected {
        return Err(corrupt(
            path,
            scan.end,
            format!(
                "closed segment holds {} records but the next segment starts at seq \
                 {next_first}, {expected} records after this one's first",
                scan.records
            ),
        ));
    }
    Ok(())
}

/// Recovers the last segment: classifies what follows its last valid record
/// and repairs a torn tail by zeroing it. Returns it as the active segment.
fn recover_last(
    path: &Path,
    first_seq: u64,
    opts: &WalOptions,
    repairs: &mut Vec<String>,
) -> Result<Active, StorageError> {
    let max_record = u64::from(opts.max_record_bytes);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(format!("open {}", path.display())))?;
    let scan = scan_segment(path, &file, None, max_record, &mut |_, _| {})?;
    expect_first_seq(path, &scan, first_seq)?;
    if let Some(stop) = &scan.stop {
        let next_seq = first_seq + scan.records;
        let tail = classify_tail(path, &file, &scan, stop, max_record)?;
        let (at, garbage_end, note) = match tail {
            Tail::Clean | Tail::Leftover => (0, 0, None),
            Tail::Torn { at, garbage_end } => (at, garbage_end, Some(String::new())),
            Tail::Damaged { at, reason } => match opts.recovery {
                Recovery::Strict => return Err(corrupt(path, at, reason)),
                Recovery::TruncateTail => {
                    let end = scan.file_len;
                    let note = format!(" (Recovery::TruncateTail discarded damage: {reason})");
                    (at, end, Some(note))
                }
            },
        };
        if let Some(note) = note {
            zero_range(&file, at, garbage_end)
                .and_then(|()| file.sync_data())
                .map_err(io_err(format!("repair {}", path.display())))?;
            let msg = format!(
                "{}: truncated a torn tail at offset {at}: {} bytes after record seq {} \
                 (the last whole one) discarded ({}){note}",
                path.display(),
                garbage_end - at,
                next_seq.wrapping_sub(1),
                stop.reason,
            );
            warn!("{msg}");
            repairs.push(msg);
        }
    }
    file.sync_data()
        .map_err(io_err(format!("fdatasync {}", path.display())))?;
    Ok(Active {
        path: path.to_path_buf(),
        file: Arc::new(file),
        first_seq,
        salt: scan.salt,
        records: scan.records,
        max_position: scan.max_position,
        capacity: scan.file_len.max(opts.segment_bytes),
        tail: scan.end,
        written: scan.end,
        durable: scan.end,
        zeroed_to: initial_zeroed_to(opts.preallocate, false, scan.end),
    })
}

/// Creates segment `first_seq` (invariant 3) from `source`: a spare
/// (reused, [`crate::recycle`]), the prepared file, or a new `.tmp`
/// pre-allocated here; then the header is written and fdatasynced, the file
/// renamed into place and the directory fsynced.
fn create_segment(
    dir: &Path,
    dir_file: &File,
    first_seq: u64,
    opts: &WalOptions,
    source: Source,
    stats: &mut WalStats,
) -> Result<Active, StorageError> {
    let name = segment_file_name(first_seq);
    let path = dir.join(&name);
    let make = || -> io::Result<(File, SegmentHeader)> {
        // (file, its current path, the salt of its previous life, reused?)
        let fresh = || -> io::Result<(File, PathBuf, Option<u32>, bool)> {
            let tmp = dir.join(format!("{name}.tmp"));
            Ok((
                prepare(&tmp, opts.segment_bytes, opts.preallocate)?,
                tmp,
                None,
                false,
            ))
        };
        let (file, from, old_salt, recycled) = match source {
            Source::Spare(spare) => match open_spare(&spare) {
                Some((file, old_salt)) => (file, spare, old_salt, true),
                None => fresh()?,
            },
            Source::Prepared(p) => match p.take() {
                Ok((file, path)) => (file, path, None, false),
                Err(e) => {
                    warn!(error = %e, "preparing the next segment failed; creating it now");
                    fresh()?
                }
            },
            Source::New => fresh()?,
        };
        let header = SegmentHeader {
            first_seq,
            salt: new_salt(old_salt),
            recycled,
        };
        file.write_all_at(&encode_segment_header(header), 0)?;
        file.sync_data()?;
        fs::rename(&from, &path)?;
        Ok((file, header))
    };
    let (file, header) = make().map_err(io_err(format!("create segment {}", path.display())))?;
    sync_dir(dir_file, dir)?;
    stats.segments_created += 1;
    if header.recycled {
        stats.segments_reused += 1;
    }
    Ok(Active {
        path,
        file: Arc::new(file),
        first_seq,
        salt: header.salt,
        records: 0,
        max_position: None,
        capacity: opts.segment_bytes,
        tail: SEGMENT_HEADER_BYTES,
        written: SEGMENT_HEADER_BYTES,
        durable: SEGMENT_HEADER_BYTES,
        zeroed_to: initial_zeroed_to(opts.preallocate, header.recycled, SEGMENT_HEADER_BYTES),
    })
}
