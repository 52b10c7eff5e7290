//! synod-core's Storage conformance suite, against both front ends.

use std::path::PathBuf;

use synod_core::testing::{storage_suite, StorageFixture};
use synod_wal::{FileStorage, Preallocate, WalOptions, WalWriter};

use crate::common::small_opts;

struct Dir<S> {
    _tmp: tempfile::TempDir,
    path: PathBuf,
    opts: WalOptions,
    _s: std::marker::PhantomData<S>,
}

impl<S> Dir<S> {
    fn new(opts: WalOptions) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("wal");
        Dir {
            _tmp: tmp,
            path,
            opts,
            _s: std::marker::PhantomData,
        }
    }
}

impl StorageFixture for Dir<FileStorage> {
    type S = FileStorage;
    fn open(&mut self) -> FileStorage {
        FileStorage::open(&self.path, self.opts).expect("open")
    }
}

impl StorageFixture for Dir<WalWriter> {
    type S = WalWriter;
    fn open(&mut self) -> WalWriter {
        WalWriter::open(&self.path, self.opts).expect("open")
    }
}

#[test]
fn file_storage_passes_the_storage_suite() {
    storage_suite(|| Dir::<FileStorage>::new(small_opts()));
}

#[test]
fn file_storage_with_default_options_passes_the_storage_suite() {
    storage_suite(|| Dir::<FileStorage>::new(WalOptions::default()));
}

#[test]
fn file_storage_without_preallocation_passes_the_storage_suite() {
    storage_suite(|| {
        Dir::<FileStorage>::new(WalOptions {
            preallocate: Preallocate::None,
            ..small_opts()
        })
    });
}

#[test]
fn wal_writer_passes_the_storage_suite() {
    storage_suite(|| Dir::<WalWriter>::new(small_opts()));
}
