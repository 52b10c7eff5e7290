//! Reusing compacted segment files instead of deleting them (recycling).
//!
//! **Why.** Overwriting blocks a file already holds is the cheapest write
//! a disk does: the fdatasync after it commits data only. The first write
//! into a fresh `fallocate`d extent also has to commit the extent's
//! conversion from "unwritten" in the file system's journal, and writing
//! zeros ahead ([`Preallocate::Zeros`](crate::Preallocate)) makes the disk
//! write every byte twice. A log in its steady state drops segments at the
//! front (compaction after a snapshot) about as fast as it adds them at the
//! back, so compaction keeps up to
//! [`WalOptions::recycle_segments`](crate::WalOptions) of them as *spares*
//! (`spare-<old first seq>.wal`), and the next roll turns a spare into the
//! new segment: a new header, fdatasync, rename, directory fsync.
//!
//! **Why it is safe.** A reused file still holds its old records after the
//! new header. Every life of a file gets a new random salt that seeds each
//! record's header CRC, and its header is flagged *recycled*; so recovery
//! reads the old records as what they are, bytes after the end of the log,
//! never as records of the new segment (see `scan`).
//!
//! **Crash safety.** Both steps are a rename followed by a directory fsync.
//! If the crash comes before the compaction's rename is durable, the file is
//! still a valid closed segment at the front of the log (as if compaction
//! had not run). If it comes while a spare is reused, the header was synced
//! before the rename, so the file is either still a spare (whose header
//! nobody reads) or a complete new segment with no records yet.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use synod_core::StorageError;
use tracing::{debug, warn};

use crate::format::{decode_segment_header, spare_file_name, SEGMENT_HEADER_BYTES};
use crate::meta::sync_dir;
use crate::scan::io_err;
use crate::WalOptions;

/// A salt that differs from `avoid` (the file's previous salt, if any).
///
/// `RandomState` is seeded from the operating system's randomness once per
/// thread and every `RandomState::new()` gets different keys, so hashing a
/// constant gives a fresh random value each time.
pub(crate) fn new_salt(avoid: Option<u32>) -> u32 {
    let s = RandomState::new().hash_one(0u8) as u32;
    if Some(s) == avoid {
        !s
    } else {
        s
    }
}

/// Whether a compacted segment of `len` bytes is worth keeping as a spare
/// when `spares` are kept already: there is room (fewer than
/// `opts.recycle_segments`) and it is no larger than a normal segment (one
/// grown for a huge record is not).
fn worth_keeping(len: u64, spares: usize, opts: &WalOptions) -> bool {
    spares < opts.recycle_segments && (SEGMENT_HEADER_BYTES..=opts.segment_bytes).contains(&len)
}

/// The spares among `found` (paths of `spare-*.wal` files seen on open)
/// worth keeping, at most `opts.recycle_segments`; the others are deleted.
pub(crate) fn keep_spares(
    mut found: Vec<PathBuf>,
    opts: &WalOptions,
) -> Result<Vec<PathBuf>, StorageError> {
    found.sort();
    let mut kept = Vec::new();
    for path in found {
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if worth_keeping(len, kept.len(), opts) {
            kept.push(path);
        } else {
            debug!(file = %path.display(), "removing a spare segment file not needed");
            fs::remove_file(&path).map_err(io_err(format!("remove {}", path.display())))?;
        }
    }
    Ok(kept)
}

/// Takes the compacted segment at `path` (first seq `first_seq`) out of the
/// log: renamed to a spare if `spares` has room and the file is reusable,
/// else deleted; then the directory is fsynced. Returns whether it was kept.
pub(crate) fn retire(
    dir: &Path,
    dir_file: &File,
    path: &Path,
    first_seq: u64,
    opts: &WalOptions,
    spares: &mut Vec<PathBuf>,
) -> Result<bool, StorageError> {
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StorageError::io(format!("stat {}", path.display()), e)),
    };
    let keep = worth_keeping(len, spares.len(), opts);
    if keep {
        let spare = dir.join(spare_file_name(first_seq));
        fs::rename(path, &spare).map_err(io_err(format!(
            "rename {} to {}",
            path.display(),
            spare.display()
        )))?;
        spares.push(spare);
    } else {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(format!("remove {}", path.display()), e)),
        }
    }
    sync_dir(dir_file, dir)?;
    Ok(keep)
}

/// Opens a spare for reuse; returns it with its old salt (to pick a
/// different one), or `None` if it cannot be used (then it is removed).
pub(crate) fn open_spare(path: &Path) -> Option<(File, Option<u32>)> {
    let opened = OpenOptions::new().read(true).write(true).open(path);
    match opened {
        Ok(file) => {
            let mut h = [0u8; SEGMENT_HEADER_BYTES as usize];
            let old_salt = file
                .read_exact_at(&mut h, 0)
                .ok()
                .and_then(|()| decode_segment_header(&h).ok())
                .map(|h| h.salt);
            Some((file, old_salt))
        }
        Err(e) => {
            warn!(file = %path.display(), error = %e, "cannot reuse a spare segment; creating one");
            let _ = fs::remove_file(path);
            None
        }
    }
}
