//! Conformance suites: tests any implementation of a synod trait can run
//! against itself.
//!
//! ```
//! use synod_core::testing::{storage_suite, StorageFixture};
//! use synod_core::MemStorage;
//!
//! struct Mem(MemStorage);
//! impl StorageFixture for Mem {
//!     type S = MemStorage;
//!     fn open(&mut self) -> MemStorage { self.0.clone() }
//!     fn close(&mut self, s: MemStorage) { self.0 = s; }
//! }
//! storage_suite(|| Mem(MemStorage::new()));
//! ```
//!
//! A suite panics (with the name of the rule broken) on the first failure, so
//! it is meant to be called from a `#[test]`.
//!
//! Also here, for the protocol crates' own tests:
//!
//! - [`drive`]: one core driven by hand (`tick`, `step`, `propose`) and the
//!   messages of an [`Output`](crate::Output);
//! - [`seeds`]: the driver of seeded randomised tests, with replay by seed
//!   and per-crate environment knobs;
//! - [`toy`]: a minimal protocol for testing drivers.

pub mod drive;
pub mod seeds;
mod state_machine_suite;
mod storage_suite;
pub mod toy;

pub use state_machine_suite::{state_machine_suite, StateMachineFixture};
pub use storage_suite::{storage_suite, StorageFixture};
