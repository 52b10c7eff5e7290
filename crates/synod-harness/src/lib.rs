//! # synod-harness
//!
//! The Jepsen-style test runner as a library: it starts real `synod-node`
//! processes behind a [fault proxy](proxy) on every link, drives concurrent
//! [clients](workload), injects faults with a seeded [`nemesis`], records a
//! [history](recorder), [checks](check) it with synod-check, and writes a
//! [store](store) directory with the history, `results.json` and a
//! self-contained [report].
//!
//! `cargo xtask test-cluster` is a thin command line over [`runner::run`].

pub mod bench;
pub mod bench_cli;
pub mod check;
pub mod cluster;
pub mod config;
pub mod nemesis;
pub mod progress;
pub mod proxy;
pub mod recorder;
pub mod report;
pub mod results;
pub mod runner;
pub mod store;
pub mod workload;

pub use config::{NemesisKind, RunConfig, Workload};
pub use results::RunResults;
pub use runner::{run, RunError, RunOutcome};
