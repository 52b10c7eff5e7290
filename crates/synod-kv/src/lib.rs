//! # synod-kv
//!
//! The replicated key-value service that `synod-node` serves with any
//! protocol:
//!
//! - [`machine`]: the deterministic [`KvStore`] state machine (read, write,
//!   cas, delete, grow-only sets), with snapshot and restore;
//! - [`crdt`]: [`CrdtKv`], the convergent variant (last-writer-wins map,
//!   grow-only sets) for leaderless replication;
//! - [`wire`]: the client protocol (length-prefixed frames of requests and
//!   responses, per-read consistency, the `status` admin request);
//! - [`client`]: the client library, which finds the leader, follows
//!   definite redirects, and reports timeouts as indefinite without ever
//!   retrying them;
//! - [`shared`]: [`SharedConnection`], one connection that many concurrent
//!   callers pipeline their requests through (how a load generator or a
//!   busy service talks to a node without a socket per caller).

pub mod client;
pub mod crdt;
pub mod machine;
pub mod shared;
pub mod wire;

pub use client::{ClientConfig, Connection, KvClient};
pub use crdt::CrdtKv;
pub use machine::{KvAnswer, KvCommand, KvOutput, KvQuery, KvStore};
pub use shared::SharedConnection;
pub use wire::{Op, OpResult, Request, Response};

/// A state machine that serves the key-value client protocol: it answers
/// [`KvQuery`]s and turns a client's [`KvCommand`] into its own command type
/// (or refuses it, definitely, before anything is proposed).
pub trait KvMachine:
    synod_core::StateMachine<Output = KvOutput, Query = KvQuery, QueryOutput = KvAnswer>
{
    /// The command to propose for a client's `command`.
    fn command(command: KvCommand) -> Result<Self::Command, synod_core::ClientError>;
}
