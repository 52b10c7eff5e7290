//! # synod-zab
//!
//! ZooKeeper Atomic Broadcast as a sans-IO core: [`ZabNode`] implements
//! [`synod_core::Protocol`]. It follows the protocol as ZooKeeper runs it and
//! as Junqueira, Reed and Serafini describe it ("Zab: High-performance
//! broadcast for primary-backup systems", DSN 2011): Fast Leader Election,
//! then discovery, synchronisation and broadcast. It never touches a socket,
//! a file, a clock or a global RNG; the driver ticks it, hands it peer
//! messages and client proposals, and carries out the
//! [`Output`](synod_core::Output) it fills: persist, send, apply, answer.
//!
//! ## What ZAB guarantees
//!
//! Every server delivers transactions in zxid order, and the sequences two
//! servers deliver are prefixes of one another (**total order**,
//! **agreement**). A primary's transactions are delivered in the order it
//! proposed them (**local primary order**), all transactions of an earlier
//! epoch before any of a later one (**global primary order**), and a primary
//! starts broadcasting only once it holds every transaction of earlier
//! epochs that anyone will ever deliver (**primary integrity**). A
//! transaction committed anywhere is committed everywhere; one never
//! committed is discarded by the next leader's synchronisation.
//!
//! Writes are answered once delivered on the server the client asked: the
//! leader, or a learner that forwarded the write to it (ZooKeeper's
//! REQUEST; see `forward.rs`). Otherwise they are answered with an error
//! saying whether they may still take effect
//! ([`ClientError::LeadershipLost`](synod_core::ClientError) is indefinite).
//! Linearizable reads go through a quorum-confirmed ping round at the
//! leader, ZooKeeper's `sync` followed by a read, whether the leader or a
//! learner serves them; `local` reads never reach
//! the core and may be stale, which is ZooKeeper's default.
//!
//! ## Message flow
//!
//! ```text
//!   LOOKING ──Notification{vote=(peer epoch, zxid, id), election epoch, state}──▶ voters
//!      │ quorum of recvset agrees (+ finalize wait), or a quorum FOLLOWING/LEADING one leader
//!      ▼
//!   follower / observer                                   leader
//!      │ FOLLOWERINFO{acceptedEpoch} ───────────────────────▶│ quorum → e = max(acceptedEpoch) + 1
//!      │ ◀─────────────────────────────────── LEADERINFO{e}   │ (acceptedEpoch := e, persisted)
//!      │ acceptedEpoch := e; ACKEPOCH{currentEpoch, history}─▶│ quorum → currentEpoch := e
//!      │ ◀── [SNAPCHUNK…] SYNC{DIFF | TRUNC | SNAP, proposals}│
//!      │ ◀─────────────────────────────── NEWLEADER{e, last}  │
//!      │ currentEpoch := e; ACK(NEWLEADER) ──────────────────▶│ quorum → whole history committed
//!      │ ◀──────────────────────────────── UPTODATE{commit}   │
//!      │ ◀──────────────────────────── PROPOSAL{prev, txn}    │ client write: zxid = (e, n+1)
//!      │ log it; ACK{zxid} ──────────────────────────────────▶│ quorum of voters → deliver
//!      │ ◀──────────── COMMIT{zxid}  (observers: INFORM{txn}) │
//!      │ REQUEST{incarnation, request, command} ─────────────▶│ a client's write at a learner
//!      │ SYNCREQUEST ──▶ ping round ──▶ ◀── SYNCREPLY{zxid}   │ a linearizable read at a learner
//!      │ ◀─────────── PING{commit, read round} / PINGACK ────▶│ lost quorum → LOOKING
//! ```
//!
//! ## Invariants the code keeps
//!
//! - **Persist before you speak.** `acceptedEpoch` and `currentEpoch` are
//!   the hard state, written by `ZabNode::finish` at the end of every entry
//!   point, so a LEADERINFO, ACKEPOCH or NEWLEADER acknowledgement never
//!   leaves before the epoch it announces is durable. A learner logs a
//!   proposal (a synced [`ZabRecord`]) in the output that sends its ACK. The
//!   leader sends PROPOSALs eagerly (followers log in parallel) and counts
//!   its own copy only after [`on_persisted`](synod_core::Protocol::on_persisted).
//! - **Epochs only grow**: a server never accepts a LEADERINFO below its
//!   `acceptedEpoch`, and a leader picks an epoch above every accepted epoch
//!   of a quorum.
//! - **No holes**: a learner logs a proposal only on top of its predecessor
//!   (`prev`), so within one epoch its history is a prefix of the leader's;
//!   what the network loses is retransmitted from the learner's last ACK.
//! - **Commit in zxid order**, by counting cumulative ACKs of voters only;
//!   observers never count, in elections or quorums.
//! - **Committed transactions are never truncated**: a learner refuses a
//!   TRUNC below its commit point.
//! - **`Committed.index` is the zxid**: it strictly increases on every
//!   server and names the same transaction everywhere.
//! - **Determinism**: only `BTreeMap`/sorted iteration and the `SeededRng`
//!   handed in; no clocks.
//!
//! ## The log on disk
//!
//! Storage holds [`ZabRecord`]s: proposals by zxid, and truncations (TRUNC
//! is itself a record, since the log is append-only). Replaying them in
//! append order rebuilds the history; transactions at or below the
//! recovered snapshot are skipped.
//!
//! See `docs/zab.md` in the repository for the full walk-through mapped to
//! the code, and a comparison of zxids with Raft's and Paxos's positions.

#![deny(missing_docs)]

mod broadcast;
mod config;
mod election;
mod error;
mod follower;
mod forward;
mod history;
mod leader;
mod message;
mod node;
mod sync;
mod zxid;

pub use config::{ConfigError, ZabConfig};
pub use error::ZabError;
pub use message::{HistorySummary, PeerState, SyncMode, Vote, ZabHardState, ZabMessage, ZabRecord};
pub use node::ZabNode;
pub use zxid::{Origin, Txn, Zxid};
