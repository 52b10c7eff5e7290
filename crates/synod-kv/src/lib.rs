//! # synod-kv
//!
//! The replicated key-value service that `synod-node` serves with any
//! protocol:
//!
//! - [`machine`]: the deterministic [`KvStore`] state machine (read, write,
//!   cas, delete, grow-only sets), with snapshot and restore;
//! - [`wire`]: the client protocol (length-prefixed frames of requests and
//!   responses, per-read consistency, the `status` admin request);
//! - [`client`]: the client library, which finds the leader, follows
//!   definite redirects, and reports timeouts as indefinite without ever
//!   retrying them.

pub mod client;
pub mod machine;
pub mod wire;

pub use client::{ClientConfig, Connection, KvClient};
pub use machine::{KvAnswer, KvCommand, KvOutput, KvQuery, KvStore};
pub use wire::{Op, OpResult, Request, Response};
