//! # synod-paxos
//!
//! Paxos as sans-IO cores on [`synod_core::Protocol`]:
//!
//! - [`basic`]: Basic Paxos (the Synod algorithm), one value decided by
//!   proposers, acceptors and learners; [`basic::SynodNode`] plays all three.
//! - [`PaxosNode`]: Multi-Paxos, a replicated log of instances (slots) with
//!   a distinguished leader that runs phase 1 once for every slot from its
//!   first unchosen one, then only phase 2 per command.
//!
//! Neither touches a socket, a file, a clock or a global RNG: the driver
//! ticks them, hands them messages and proposals, and carries out the
//! [`Output`](synod_core::Output) they fill (persist, send, apply, answer).
//!
//! ## What Multi-Paxos guarantees
//!
//! - **At most one value is chosen per slot**: a value is chosen when a
//!   majority accepted it under one ballot; a leader adopts, in every slot,
//!   the value of the highest ballot a majority of promises reports.
//! - **Commands apply in slot order**, the same command at the same slot
//!   everywhere (`Committed.index` is the slot); gaps a new leader finds are
//!   filled with no-ops.
//! - **Persist before you speak**: a promise is hard state and an accepted
//!   value a synced record in the same output as the reply relying on them;
//!   a leader counts its own acceptance only after
//!   [`on_persisted`](synod_core::Protocol::on_persisted).
//! - Writes are answered once applied on the leader that proposed them, or
//!   with `LeadershipLost` (indefinite) when it loses leadership first.
//!   Reads are linearizable through the leader, confirmed by a quorum round.
//!
//! ## Message flow
//!
//! ```text
//!  follower (timeout)        acceptors                  leader            client
//!   Prepare{b, first_slot} ─▶ promised := b
//!   ◀── Promise{b, reports}   (or Reject{promised})
//!   majority: leader; re-propose reported values, no-ops in gaps, own no-op
//!                             ◀── Accept{b, slots, values, commit} ◀── Write
//!                             AcceptAck{b, slots} ──▶  majority: chosen, applied, answered
//!                             ◀── Commit{b, commit, read_seq}  (heartbeat)
//!                             CommitAck{b, read_seq} ──▶       reads confirmed
//!   behind: CatchUp{from_slot} ──▶ any peer ──▶ Decisions | SnapshotChunk
//! ```
//!
//! ## Durable state
//!
//! Hard state is the promised ballot ([`PaxosHardState`]); the log holds
//! [`PaxosRecord`]s (accepted proposals, learned decisions, commit points)
//! whose position is the slot, so a snapshot at slot `s` compacts them.
//!
//! See `docs/paxos.md` for the walk-through mapped to the code and a
//! comparison with Raft and ZAB.

#![deny(missing_docs)]

mod ballot;
pub mod basic;
mod catchup;
mod config;
mod election;
mod log;
mod message;
mod node;
mod protocol;
mod read;
mod replication;

pub use ballot::Ballot;
pub use config::{ConfigError, PaxosConfig};
pub use message::{PaxosHardState, PaxosMessage, PaxosRecord, SlotReport, Value};
pub use node::{PaxosNode, Role};
