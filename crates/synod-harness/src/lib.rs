//! # synod-harness
//!
//! The Jepsen-style test runner as a library.

pub mod cluster;
pub mod proxy;
