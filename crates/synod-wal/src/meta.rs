//! The hard state and snapshot files: small (or at least whole) values
//! replaced atomically.
//!
//! A save writes `<name>.tmp`, fsyncs it, renames it over `<name>` and
//! fsyncs the directory. `rename` is atomic, so after a crash the file is
//! the old value or the new one, whole; the file fsync before the rename
//! makes sure the new name never points at unwritten data, and the directory
//! fsync after it makes the new name itself durable before the save returns.
//! A leftover `.tmp` (a crash before the rename) is ignored and removed when
//! the directory is opened.
//!
//! Each file carries a CRC32C over its header and body (layout in
//! [`crate::format`]); a damaged file is [`StorageError::Corrupt`], never a
//! silently older or empty value. Lengths are checked against the file's
//! real size and the configured maximum before anything is allocated.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use synod_core::{Snapshot, StorageError};

use crate::format::{
    decode_meta, encode_meta_header, HARD_STATE_FILE, HARD_STATE_MAGIC, META_HEADER_BYTES,
    SNAPSHOT_FILE, SNAPSHOT_MAGIC,
};
use crate::scan::{corrupt, io_err};

/// Reads and writes the metadata files of one WAL directory.
#[derive(Debug)]
pub(crate) struct MetaFiles {
    dir: PathBuf,
    dir_file: File,
    max_hard_state_bytes: u64,
    max_snapshot_bytes: u64,
}

impl MetaFiles {
    pub(crate) fn new(
        dir: PathBuf,
        dir_file: File,
        max_hard_state_bytes: u64,
        max_snapshot_bytes: u64,
    ) -> Self {
        MetaFiles {
            dir,
            dir_file,
            max_hard_state_bytes,
            max_snapshot_bytes,
        }
    }

    pub(crate) fn save_hard_state(&self, state: &[u8]) -> Result<(), StorageError> {
        if state.len() as u64 > self.max_hard_state_bytes {
            return Err(StorageError::TooLarge(format!(
                "hard state of {} bytes exceeds max_hard_state_bytes {}",
                state.len(),
                self.max_hard_state_bytes
            )));
        }
        self.write_atomically(HARD_STATE_FILE, HARD_STATE_MAGIC, &[state])
    }

    pub(crate) fn load_hard_state(&self) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(file) = self.read(HARD_STATE_FILE, self.max_hard_state_bytes)? else {
            return Ok(None);
        };
        let path = self.dir.join(HARD_STATE_FILE);
        let body = decode_meta(HARD_STATE_MAGIC, &file).map_err(|r| corrupt(&path, 0, r))?;
        Ok(Some(body.to_vec()))
    }

    pub(crate) fn save_snapshot(&self, snap: &Snapshot) -> Result<(), StorageError> {
        let size = 16 + snap.meta.len() as u64 + snap.data.len() as u64;
        if size > self.max_snapshot_bytes {
            return Err(StorageError::TooLarge(format!(
                "snapshot of {size} bytes exceeds max_snapshot_bytes {}",
                self.max_snapshot_bytes
            )));
        }
        let position = snap.position.to_le_bytes();
        let meta_len = (snap.meta.len() as u64).to_le_bytes();
        self.write_atomically(
            SNAPSHOT_FILE,
            SNAPSHOT_MAGIC,
            &[&position, &meta_len, &snap.meta, &snap.data],
        )
    }

    pub(crate) fn load_snapshot(&self) -> Result<Option<Snapshot>, StorageError> {
        let Some(mut file) = self.read(SNAPSHOT_FILE, self.max_snapshot_bytes)? else {
            return Ok(None);
        };
        let path = self.dir.join(SNAPSHOT_FILE);
        let body = decode_meta(SNAPSHOT_MAGIC, &file).map_err(|r| corrupt(&path, 0, r))?;
        let at = META_HEADER_BYTES;
        if body.len() < 16 {
            return Err(corrupt(&path, at, "snapshot body shorter than its fields"));
        }
        let position = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
        let meta_len = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
        if meta_len > body.len() as u64 - 16 {
            return Err(corrupt(
                &path,
                at + 8,
                format!("snapshot meta length {meta_len} passes the end of the file"),
            ));
        }
        let meta_start = (META_HEADER_BYTES + 16) as usize;
        let data_start = meta_start + meta_len as usize;
        let data = file.split_off(data_start);
        let meta = file[meta_start..].to_vec();
        Ok(Some(Snapshot {
            position,
            meta,
            data,
        }))
    }

    /// The whole file `name`, if it exists; its size is checked against
    /// `max_body` before it is read.
    fn read(&self, name: &str, max_body: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.dir.join(name);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(format!("open {}", path.display()), e)),
        };
        let len = file
            .metadata()
            .map_err(io_err(format!("stat {}", path.display())))?
            .len();
        if len > max_body.saturating_add(META_HEADER_BYTES) {
            return Err(corrupt(
                &path,
                0,
                format!("file of {len} bytes exceeds the configured maximum {max_body}"),
            ));
        }
        let mut buf = Vec::with_capacity(len as usize);
        (&mut file)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(io_err(format!("read {}", path.display())))?;
        Ok(Some(buf))
    }

    fn write_atomically(
        &self,
        name: &str,
        magic: [u8; 8],
        body: &[&[u8]],
    ) -> Result<(), StorageError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let header = encode_meta_header(magic, body);
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&header)?;
            for piece in body {
                f.write_all(piece)?;
            }
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            self.dir_file.sync_all()
        };
        write().map_err(io_err(format!("save {}", path.display())))
    }
}

/// Fsyncs a directory so the names created, renamed or removed in it are
/// durable.
pub(crate) fn sync_dir(dir_file: &File, dir: &Path) -> Result<(), StorageError> {
    dir_file
        .sync_all()
        .map_err(io_err(format!("fsync directory {}", dir.display())))
}
