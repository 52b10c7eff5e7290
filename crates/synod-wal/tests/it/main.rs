//! Integration tests of synod-wal, in one binary (one link, shared helpers).

mod common;
mod compaction;
mod crash;
mod group_commit;
mod meta_files;
mod model;
mod recycle;
mod suite;
mod torn_tail;
