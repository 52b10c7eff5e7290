//! Reading segments back, and telling a torn tail from corruption.
//!
//! A segment is read front to back, record by record, until the first
//! offset that does not hold a whole, valid record with the expected sequence
//! number: the *stop*. What the stop means depends on what follows it.
//!
//! - Only zeros from the stop to the end of the file: the clean end of the
//!   log (new segments are pre-allocated with zeros).
//! - In a *recycled* segment the bytes after the log's end are an older
//!   segment's, which fail every record check (the salt, see [`crate::format`]):
//!   that is the end of the log too, unless a valid record of this segment
//!   follows (damage, as below). A torn write there cannot be told from the
//!   old bytes and needs no repair: the next append overwrites it, and no
//!   byte of it can pass for a record of a later write.
//! - In a closed (not the last) new segment, anything else is corruption: a
//!   closed segment was synced before the next one was created, so a crash
//!   cannot have damaged it. (A closed segment of either kind must also
//!   hold exactly the records up to the next segment's first.)
//! - In the last segment, non-zero bytes after the stop are either the
//!   remains of a write the crash interrupted (a *torn tail*: repaired by
//!   zeroing them) or damage to data that was once whole. The two are told
//!   apart by looking for a valid record after the stop: every 8-byte
//!   aligned offset up to the last non-zero byte is tested with the 20-byte
//!   header checksum (cheap; a random match has odds of 2^-32) and, if that
//!   passes and the sequence number is one that could follow, the payload
//!   checksum. A torn write leaves a prefix of one write and then zeros, so
//!   it never has a valid record after the damage; finding one means a
//!   record in the middle of the log is damaged, which is reported as
//!   [`StorageError::Corrupt`] naming the file and offset, never skipped.
//!
//! Reads go through a [`Window`]: one buffered `pread` per megabyte, never
//! an allocation larger than the chunk or the configured maximum record, and
//! every length read from disk is checked against that maximum and against
//! the bytes left in the file before anything is read for it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::SeekFrom;
use rustix::io::Errno;
use synod_core::StorageError;

use crate::format::{
    decode_segment_header, RecordHeader, RECORD_ALIGN_BYTES, RECORD_HEADER_BYTES,
    SEGMENT_HEADER_BYTES,
};

/// How much a [`Window`] reads at once.
const CHUNK_BYTES: u64 = 1 << 20;

/// A buffered positional reader over one file: `get(offset, n)` returns the
/// bytes, reading a chunk of at least `n` bytes when they are not buffered.
pub(crate) struct Window<'f> {
    file: &'f File,
    file_len: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'f> Window<'f> {
    pub(crate) fn new(file: &'f File, file_len: u64) -> Self {
        Window {
            file,
            file_len,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// The `n` bytes at `offset`. The caller has checked that they lie
    /// inside the file (`offset + n <= file_len`).
    pub(crate) fn get(&mut self, offset: u64, n: u64) -> io::Result<&[u8]> {
        debug_assert!(offset + n <= self.file_len);
        let end = offset + n;
        if offset < self.start || end > self.start + self.buf.len() as u64 {
            let want = n.max(CHUNK_BYTES).min(self.file_len - offset) as usize;
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, offset)?;
            self.start = offset;
        }
        let at = (offset - self.start) as usize;
        Ok(&self.buf[at..at + n as usize])
    }
}

/// The first place a scan found no valid record.
#[derive(Clone, Debug)]
pub(crate) struct Stop {
    /// Offset of the first byte that is not a valid record.
    pub(crate) at: u64,
    /// Why it is not.
    pub(crate) reason: String,
}

/// What one pass over a segment found.
#[derive(Debug)]
pub(crate) struct Scan {
    /// The sequence number of the segment's first record (from its header).
    pub(crate) first_seq: u64,
    /// The segment's record salt (from its header).
    pub(crate) salt: u32,
    /// Whether the file is recycled (from its header).
    pub(crate) recycled: bool,
    /// Whole valid records found.
    pub(crate) records: u64,
    /// The highest position among them.
    pub(crate) max_position: Option<u64>,
    /// The offset just after the last valid record.
    pub(crate) end: u64,
    /// The file's length.
    pub(crate) file_len: u64,
    /// Where and why the scan stopped before the end of the file or the
    /// limit (`None`: it reached them exactly).
    pub(crate) stop: Option<Stop>,
}

/// What the bytes after a stop mean.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Only zeros: the clean end of the log.
    Clean,
    /// A recycled segment's old bytes (and maybe a torn write's remains):
    /// the end of the log, nothing to repair.
    Leftover,
    /// Non-zero bytes but no valid record among them: an interrupted write.
    /// `garbage_end` is one past the last non-zero byte.
    Torn { at: u64, garbage_end: u64 },
    /// A valid record follows the damage: corruption.
    Damaged { at: u64, reason: String },
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StorageError {
    let context = context.into();
    move |e| StorageError::io(context, e)
}

pub(crate) fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        file: path.display().to_string(),
        offset,
        reason: reason.into(),
    }
}

/// Reads the records of the segment at `path` from the front, calling
/// `visit(position, payload)` for each valid one, up to `limit` (an offset
/// at a record boundary) or the first invalid record.
pub(crate) fn scan_segment(
    path: &Path,
    file: &File,
    limit: Option<u64>,
    max_record_bytes: u64,
    visit: &mut dyn FnMut(u64, &[u8]),
) -> Result<Scan, StorageError> {
    let name = path.display();
    let file_len = file
        .metadata()
        .map_err(io_err(format!("stat {name}")))?
        .len();
    if file_len < SEGMENT_HEADER_BYTES {
        return Err(corrupt(path, 0, "segment file is shorter than its header"));
    }
    let mut w = Window::new(file, file_len);
    let header = w
        .get(0, SEGMENT_HEADER_BYTES)
        .map_err(io_err(format!("read {name}")))?;
    let header = decode_segment_header(header).map_err(|r| corrupt(path, 0, r))?;
    let (first_seq, salt) = (header.first_seq, header.salt);
    let end_limit = limit.unwrap_or(file_len).min(file_len);

    let mut scan = Scan {
        first_seq,
        salt,
        recycled: header.recycled,
        records: 0,
        max_position: None,
        end: SEGMENT_HEADER_BYTES,
        file_len,
        stop: None,
    };
    loop {
        let at = scan.end;
        if at >= end_limit {
            break;
        }
        let seq = first_seq.wrapping_add(scan.records);
        let bad = |reason: String| Some(Stop { at, reason });
        if at + RECORD_HEADER_BYTES > file_len {
            scan.stop = bad("a record header would pass the end of the file".into());
            break;
        }
        let hb = w
            .get(at, RECORD_HEADER_BYTES)
            .map_err(io_err(format!("read {name}")))?;
        let Some(h) = RecordHeader::decode(hb, salt) else {
            scan.stop = if hb.iter().all(|&b| b == 0) {
                bad("zeros where a record header belongs".into())
            } else {
                bad(format!(
                    "record header checksum mismatch (record seq {seq})"
                ))
            };
            break;
        };
        if h.seq != seq as u32 {
            scan.stop = bad(format!(
                "record has sequence number {} (low 32 bits), expected {seq}",
                h.seq
            ));
            break;
        }
        if u64::from(h.len) > max_record_bytes {
            scan.stop = bad(format!(
                "record length {} exceeds the maximum {max_record_bytes}",
                h.len
            ));
            break;
        }
        let total = h.total_bytes();
        if at + total > file_len {
            scan.stop = bad(format!(
                "record of {} bytes would pass the end of the file",
                h.len
            ));
            break;
        }
        let rec = w.get(at, total).map_err(io_err(format!("read {name}")))?;
        let payload_end = (RECORD_HEADER_BYTES + u64::from(h.len)) as usize;
        let payload = &rec[RECORD_HEADER_BYTES as usize..payload_end];
        if !h.payload_matches(payload) {
            scan.stop = bad(format!(
                "record payload checksum mismatch (record seq {seq})"
            ));
            break;
        }
        if rec[payload_end..].iter().any(|&b| b != 0) {
            scan.stop = bad("non-zero record padding".into());
            break;
        }
        visit(h.position, payload);
        scan.records += 1;
        scan.max_position = scan.max_position.max(Some(h.position));
        scan.end = at + total;
    }
    Ok(scan)
}

/// Classifies the bytes from the stop of `scan` to the end of the file:
/// zeros only, a recycled segment's leftovers, a torn write, or damage
/// followed by a valid record.
pub(crate) fn classify_tail(
    path: &Path,
    file: &File,
    scan: &Scan,
    stop: &Stop,
    max_record_bytes: u64,
) -> Result<Tail, StorageError> {
    let file_len = scan.file_len;
    // The sequence number the record at the stop should have had.
    let next_seq = scan.first_seq.wrapping_add(scan.records);
    let mut w = Window::new(file, file_len);
    let read = io_err(format!("read {}", path.display()));
    let Some(last_nonzero) = last_nonzero_byte(&mut w, stop.at, file_len).map_err(read)? else {
        return Ok(Tail::Clean);
    };
    let read = io_err(format!("read {}", path.display()));
    let salt = scan.salt;
    let found = find_record_after(
        &mut w,
        stop.at,
        last_nonzero,
        salt,
        next_seq,
        max_record_bytes,
    )
    .map_err(read)?;
    Ok(match found {
        Some((offset, seq)) => Tail::Damaged {
            at: stop.at,
            reason: format!(
                "{}, yet a valid later record (seq {seq}) follows at offset {offset}",
                stop.reason
            ),
        },
        None if scan.recycled => Tail::Leftover,
        None => Tail::Torn {
            at: stop.at,
            garbage_end: last_nonzero + 1,
        },
    })
}

/// The offset of the last non-zero byte in `from..file_len`, if any.
///
/// Only the file's data regions are read (`SEEK_DATA`/`SEEK_HOLE`): holes,
/// and on ext4 and XFS the unwritten extents of a `fallocate`d segment, read
/// as zeros by definition, so the untouched rest of a pre-allocated segment
/// costs nothing to check (and a huge sparse file cannot stall the open).
pub(crate) fn last_nonzero_byte(
    w: &mut Window<'_>,
    from: u64,
    file_len: u64,
) -> io::Result<Option<u64>> {
    let mut last = None;
    let mut pos = from;
    while pos < file_len {
        let (start, end) = match rustix::fs::seek(w.file, SeekFrom::Data(pos)) {
            Ok(d) if d >= file_len => break,
            Ok(d) => {
                let hole = rustix::fs::seek(w.file, SeekFrom::Hole(d)).unwrap_or(file_len);
                (d, hole.clamp(d + 1, file_len))
            }
            Err(Errno::NXIO) => break,
            // No SEEK_DATA here: read it all.
            Err(_) => (pos, file_len),
        };
        if let Some(z) = last_nonzero_in(w, start, end)? {
            last = Some(z);
        }
        pos = end;
    }
    Ok(last)
}

/// The offset of the last non-zero byte in `from..to`, reading backwards.
fn last_nonzero_in(w: &mut Window<'_>, from: u64, to: u64) -> io::Result<Option<u64>> {
    let mut end = to;
    while end > from {
        let start = end.saturating_sub(CHUNK_BYTES).max(from);
        let buf = w.get(start, end - start)?;
        // OR-fold 4 KiB blocks (vectorises well); look inside only the last
        // non-zero one.
        let mut block_end = buf.len();
        for block in buf.rchunks(4096) {
            if block.iter().fold(0u8, |a, &b| a | b) != 0 {
                let i = block.iter().rposition(|&b| b != 0).expect("non-zero");
                return Ok(Some(start + (block_end - block.len() + i) as u64));
            }
            block_end -= block.len();
        }
        end = start;
    }
    Ok(None)
}

/// The first valid record (offset, sequence number) under `salt` starting
/// after `stop` and at or before `last_nonzero`, whose sequence number could
/// follow `next_seq`.
fn find_record_after(
    w: &mut Window<'_>,
    stop: u64,
    last_nonzero: u64,
    salt: u32,
    next_seq: u64,
    max_record_bytes: u64,
) -> io::Result<Option<(u64, u64)>> {
    let file_len = w.file_len;
    // A later record's sequence number is above the damaged one's, by at most
    // the number of records that fit in the file.
    let max_gap = file_len / RECORD_HEADER_BYTES;
    let mut at = stop + RECORD_ALIGN_BYTES;
    while at <= last_nonzero && at + RECORD_HEADER_BYTES <= file_len {
        if let Some(h) = RecordHeader::decode(w.get(at, RECORD_HEADER_BYTES)?, salt) {
            let gap = u64::from(h.seq.wrapping_sub(next_seq as u32));
            let total = h.total_bytes();
            if (1..=max_gap).contains(&gap)
                && u64::from(h.len) <= max_record_bytes
                && at + total <= file_len
            {
                let rec = w.get(at, total)?;
                let payload_end = (RECORD_HEADER_BYTES + u64::from(h.len)) as usize;
                if h.payload_matches(&rec[RECORD_HEADER_BYTES as usize..payload_end]) {
                    return Ok(Some((at, next_seq.wrapping_add(gap))));
                }
            }
        }
        at += RECORD_ALIGN_BYTES;
    }
    Ok(None)
}
