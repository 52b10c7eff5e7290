//! # synod-raft
//!
//! A sans-IO Raft core: [`RaftNode`] implements [`synod_core::Protocol`].
//! It never touches a socket, a file, a clock or a global RNG; the driver
//! (the tokio runtime, the in-memory [`Network`](synod_core::harness::Network))
//! ticks it, hands it peer messages and client proposals, and carries out the
//! [`Output`](synod_core::Output) it fills: persist, send, apply, answer.
//!
//! ## What Raft guarantees
//!
//! Raft keeps a replicated log. Every entry a replica hands the driver as
//! committed is at the same index on every replica that ever commits it, so
//! all state machines apply the same commands in the same order (**state
//! machine safety**), as long as a majority of voters eventually runs and
//! can talk. Concretely, the core keeps Figure 3 of the Raft paper:
//!
//! - **Election safety**: at most one leader per term.
//! - **Leader append-only**: a leader never overwrites or deletes its entries.
//! - **Log matching**: two logs with an entry of the same index and term are
//!   identical up to that index.
//! - **Leader completeness**: an entry committed in a term is in the log of
//!   every leader of a later term.
//! - **State machine safety**: no two replicas apply different entries at
//!   one index.
//!
//! Reads are linearizable through ReadIndex; writes are answered once applied
//! on the leader that accepted them, or with an error saying whether they may
//! still take effect ([`ClientError::LeadershipLost`](synod_core::ClientError)
//! is indefinite).
//!
//! ## Message flow
//!
//! ```text
//!   follower            pre-candidate / candidate                 leader
//!      │  election timeout   │                                      │
//!      │────────────────────▶│ RequestVote{pre_vote}  ──▶ voters    │
//!      │                     │ ◀── RequestVoteResponse (quorum)     │
//!      │                     │ term+1, vote self (hard_state)       │
//!      │                     │ RequestVote ──▶ voters               │
//!      │                     │ ◀── RequestVoteResponse (quorum) ───▶│ append no-op
//!      │                                                            │
//!      │ ◀── AppendEntries{prev index/term, entries, commit, read_seq}│ (heartbeat when empty)
//!      │ persist entries, then                                      │
//!      │ AppendEntriesResponse{success, index | conflict hint} ───▶ │ match/next; commit when a
//!      │                                                            │ quorum holds an entry of
//!      │ ◀── InstallSnapshot{chunk, offset, done}  (log compacted)  │ the current term
//!      │ InstallSnapshotResponse{next_offset, done} ──────────────▶ │
//!      │ ◀── TimeoutNow (leadership transfer)                       │
//!
//!   client ─Write──▶ leader: append, persist, replicate ... Committed{reply_to}
//!   client ─Read───▶ leader: read_index = commit, quorum echoes read_seq, applied ≥ read_index ─▶ reads
//!   admin  ─Admin──▶ leader: one config entry at a time (takes effect when appended) / TimeoutNow
//! ```
//!
//! ## Invariants the code keeps
//!
//! - **Persist before you speak.** Term and vote changes land in
//!   `out.hard_state` of the same output as the messages that rely on them
//!   (one place: `RaftNode::finish`, run at the end of every entry point).
//!   A follower's new entries are `out.records` (synced) in the same output
//!   as its acknowledgement. A leader counts its own copy toward a quorum
//!   only after [`on_persisted`](synod_core::Protocol::on_persisted), and
//!   sends AppendEntries as `eager_messages` (followers persist in parallel)
//!   only once its term's no-op is durable.
//! - **Terms only grow**; a message of a higher term turns any role into a
//!   follower (except (pre-)votes ignored under the leader lease and
//!   granted pre-votes, which carry a term nobody is in yet).
//! - **One vote per term**, first come first served, only for a log at least
//!   as up to date as ours (last term, then last index).
//! - **Commit by counting only entries of the current term** (Figure 8); each
//!   leader appends a no-op at the start of its term so that it can.
//! - **Committed entries are never truncated**: a follower asserts it, and
//!   never checks consistency below its commit index (committed entries
//!   match the leader's by leader completeness).
//! - **Every committed entry is emitted once per incarnation, in order**
//!   (`applied` only grows; a snapshot install moves it to the snapshot).
//! - **Config entries take effect when appended**, one change at a time,
//!   only after the leader committed an entry of its term; only voters of
//!   the latest configuration count, in elections and commitment.
//! - **Determinism**: only `BTreeMap`/sorted iteration and the `SeededRng`
//!   handed in; no clocks.
//! - **A peer's message never panics the core** (whatever its numbers; no
//!   Byzantine safety is claimed): indexes and terms from the wire are used
//!   with checked arithmetic or clamped to the log; no log holds index
//!   `u64::MAX` (entries and snapshots past `u64::MAX - 1` are dropped, and a
//!   log that ends there takes no writes and runs no election); a replica
//!   pushed to term `u64::MAX` never campaigns again; a snapshot is assembled
//!   from one sender's chunks. `tests/it/robustness.rs` checks it.
//!
//! ## The log on disk
//!
//! Storage holds [`RaftRecord`]s. Replaying them in append order with "a
//! record at position `p` replaces `p` and drops everything after it" gives
//! the log back; entries the recovered snapshot covers are skipped. See
//! [`RaftRecord::Truncate`] for the one case that needs more than entries.
//!
//! See `README.md` beside this crate for the full walk-through mapped to the
//! code.

#![deny(missing_docs)]

mod config;
mod election;
mod error;
mod log;
mod membership;
mod message;
mod node;
mod progress;
mod read_index;
mod replication;
mod snapshot;
mod transfer;

pub use config::{ConfigError, RaftConfig};
pub use error::RaftError;
pub use membership::Membership;
pub use message::{Entry, EntryPayload, RaftHardState, RaftMessage, RaftRecord, SnapshotMeta};
pub use node::{RaftNode, Role};
