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

use std::fs::{self, File, OpenOptions};
use std::io;
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
