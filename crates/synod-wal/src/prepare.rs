//! The next segment file, prepared in the background.
//!
//! Pre-allocating a segment costs a `fallocate` and an fdatasync, or, with
//! [`Preallocate::Zeros`], writing the whole segment once. Done at roll time
//! that would stall every append behind it. So once the active segment is
//! half full, a helper thread creates `wal-next.tmp`, pre-allocates it and
//! syncs it; the roll then only writes the header, syncs, renames the file
//! to its `wal-<seq>.log` name and syncs the directory. If the helper is not
//! done yet the roll waits for it; if it failed, the roll creates the file
//! itself.
//!
//! The file has no header and a `.tmp` name until the roll, so a crash at
//! any point leaves nothing recovery would read: leftover `.tmp` files are
//! removed on open.
//!
//! # Zeros ahead of the records
//!
//! `fallocate` reserves blocks as *unwritten* extents. The first write into
//! one makes the next fdatasync commit the extent's conversion as well: a
//! metadata write on top of the data. Under load a sync carries a few KiB,
//! so nearly every sync reaches new blocks and pays it (measured here: 4 KiB
//! to 8 KiB per sync from three writers, 30–50% fewer syncs per second than
//! into written blocks). So a segment pre-allocated with `fallocate` is
//! overwritten with zeros a megabyte ahead of its records, in the same batch
//! as the records ([`zero_ahead`]): one conversion per megabyte of log
//! instead of one per sync, for one extra megabyte written per megabyte.
//! Zeros after the last record are what a fresh segment reads as anyway, so
//! this changes nothing recovery sees.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};

use crate::Preallocate;

/// Name of the segment file being prepared.
pub(crate) const NEXT_SEGMENT_FILE: &str = "wal-next.tmp";

/// A segment file being made ready by a helper thread.
#[derive(Debug)]
pub(crate) struct Prepared {
    path: PathBuf,
    handle: Option<JoinHandle<io::Result<File>>>,
}

impl Prepared {
    /// Starts preparing `dir/wal-next.tmp` of `size` bytes; `None` if no
    /// thread could be started (the roll will then create the file itself).
    pub(crate) fn start(dir: &Path, size: u64, how: Preallocate) -> Option<Prepared> {
        let path = dir.join(NEXT_SEGMENT_FILE);
        let p = path.clone();
        let handle = thread::Builder::new()
            .name("synod-wal-prepare".into())
            .spawn(move || prepare(&p, size, how))
            .ok()?;
        Some(Prepared {
            path,
            handle: Some(handle),
        })
    }

    /// Waits for the file; returns it and its path.
    pub(crate) fn take(mut self) -> io::Result<(File, PathBuf)> {
        let handle = self.handle.take().expect("taken once");
        let file = handle
            .join()
            .map_err(|_| io::Error::other("the segment preparing thread panicked"))??;
        Ok((file, self.path.clone()))
    }
}

impl Drop for Prepared {
    /// Not used: wait for the helper, then remove its file.
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates `path` and pre-allocates `size` bytes as asked, then syncs it.
pub(crate) fn prepare(path: &Path, size: u64, how: Preallocate) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    preallocate(&file, size, how)?;
    file.sync_data()?;
    Ok(file)
}

fn preallocate(file: &File, size: u64, how: Preallocate) -> io::Result<()> {
    match how {
        Preallocate::None => Ok(()),
        Preallocate::Fallocate => {
            match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, size) {
                Ok(()) => Ok(()),
                // File systems without fallocate: write zeros instead.
                Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => {
                    zero_range(file, 0, size)
                }
                Err(e) => Err(e.into()),
            }
        }
        Preallocate::Zeros => zero_range(file, 0, size),
    }
}

/// Writes zeros over `from..to`, a megabyte at a time.
pub(crate) fn zero_range(file: &File, from: u64, to: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let zeros = vec![0u8; (to.saturating_sub(from)).min(1 << 20) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// How far past the records' end a fallocated segment is zeroed.
pub(crate) const ZERO_AHEAD_BYTES: u64 = 1 << 20;

/// What to overwrite with zeros along with a write that ends at `end`, in a
/// segment of `capacity` bytes whose blocks below `zeroed_to` are written
/// ones: nothing while the write stays below `zeroed_to`, else from the
/// later of the two up to [`ZERO_AHEAD_BYTES`] past `end` (page-aligned,
/// never past `capacity`).
pub(crate) fn zero_ahead(end: u64, zeroed_to: u64, capacity: u64) -> Range<u64> {
    if end <= zeroed_to {
        return end..end;
    }
    let to = (end.saturating_add(ZERO_AHEAD_BYTES) & !4095).min(capacity);
    end..to.max(end)
}

/// Where zeroing ahead starts in a segment whose records end at `end`:
/// right there for a segment pre-allocated with `fallocate`, nowhere for
/// one already zeroed, reused (its blocks hold an older life's bytes) or
/// left to grow.
pub(crate) fn initial_zeroed_to(how: Preallocate, recycled: bool, end: u64) -> u64 {
    match how {
        Preallocate::Fallocate if !recycled => end,
        _ => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_ahead_starts_only_when_a_write_passes_the_zeroed_blocks() {
        assert!(zero_ahead(100, 4096, 1 << 30).is_empty());
        assert!(zero_ahead(4096, 4096, 1 << 30).is_empty());
        assert_eq!(zero_ahead(4097, 4096, 1 << 30), 4097..(1 << 20) + 4096);
        assert!(zero_ahead(100, u64::MAX, 1 << 30).is_empty());
    }

    #[test]
    fn zero_ahead_never_passes_the_segment_capacity() {
        assert_eq!(zero_ahead(1000, 0, 8192), 1000..8192);
        // A record larger than the segment grew it: nothing left to zero.
        assert!(zero_ahead(10_000, 0, 8192).is_empty());
    }

    #[test]
    fn only_fresh_fallocated_segments_are_zeroed_ahead() {
        assert_eq!(initial_zeroed_to(Preallocate::Fallocate, false, 64), 64);
        assert_eq!(
            initial_zeroed_to(Preallocate::Fallocate, true, 64),
            u64::MAX
        );
        assert_eq!(initial_zeroed_to(Preallocate::Zeros, false, 64), u64::MAX);
        assert_eq!(initial_zeroed_to(Preallocate::None, false, 64), u64::MAX);
    }
}
