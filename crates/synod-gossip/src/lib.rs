//! # synod-gossip
//!
//! A sans-IO gossip core — the AP member of synod's protocol family:
//! [`GossipNode`] implements [`synod_core::Protocol`]. It never touches a
//! socket, a file, a clock or a global RNG; the driver (the tokio runtime,
//! the in-memory [`Network`](synod_core::harness::Network)) ticks it, hands
//! it peer messages and client proposals, and carries out the
//! [`Output`](synod_core::Output) it fills: persist, send, apply, answer.
//!
//! ## What gossip guarantees (and what it does not)
//!
//! Every member accepts writes and serves reads on its own, whatever the
//! network does: no leader, no quorum, no refusal (**availability** under
//! partition, the A and P of CAP). What it promises instead of
//! linearizability is **convergence**: every update accepted anywhere
//! reaches every member that stays up or comes back, exactly once per
//! member, once messages flow again; state machines built on
//! last-writer-wins stamps ([`LwwMap`]) or grow-only sets ([`GSet`]) then
//! hold the same state, whatever order the updates arrived in. Reads may be
//! stale; two members may answer the same read differently for a while.
//!
//! ## The parts
//!
//! - **Membership and failure detection** (SWIM): each protocol period a
//!   member pings one other, in randomised round-robin order; a silent
//!   target is pinged indirectly through `k` others; still silent, it is
//!   *suspected*, and declared *dead* when the suspicion is not refuted in
//!   time. Incarnation numbers order the news: a live member refutes a
//!   suspicion by announcing a higher incarnation (durable first), and a
//!   dead member stays dead until it does. Membership news rides piggyback
//!   on every message, each item `≈ λ·log N` times.
//! - **Rumours**: a fresh update is pushed to `fanout` random members per
//!   round, for `≈ λ·log N` rounds at every member that learns it.
//! - **Anti-entropy** (scuttlebutt): every few periods a push-pull exchange
//!   of version vectors with one random member — dead ones included, so
//!   healed partitions and restarted members are found again — sends each
//!   side only the updates the other lacks.
//! - **CRDTs**: [`GSet`] and [`LwwMap`], the states that converge whatever
//!   the delivery order (proptests check the semilattice laws).
//!
//! ## Message flow
//!
//! ```text
//!  every protocol period (SWIM)          every gossip round        every anti-entropy period
//!  A ── Ping{probe, news} ──▶ T          A ── Rumour{updates,      A ── SyncRequest{digest_A, table} ──▶ B
//!  A ◀── Ack{probe, T, news} ── T             news} ──▶ fanout     A ◀── SyncReply{digest_B, what A lacks, table} ── B
//!  (no ack in ping_timeout_ticks)             random members      A ── SyncPush{what B lacks} ──▶ B
//!  A ── PingReq{probe, T} ──▶ k members
//!       each: Ping ──▶ T, Ack ──▶ A
//!  (no ack by period end) T suspect ── suspicion_ticks ──▶ T dead
//!
//!  client ─Write──▶ any member: stamp (Lamport clock, id), seq+1, persist, Committed{reply_to}, rumour
//!  client ─Read───▶ any member: out.reads at once (local state, may be stale)
//! ```
//!
//! ## Invariants the code keeps
//!
//! - **Persist before you speak.** A write is an `out.records` record
//!   (synced) in the same output as its `Committed` answer; an update from a
//!   peer is recorded in the output that emits it; a new incarnation is in
//!   `out.hard_state` of the output whose messages first carry it.
//! - **Exactly once per member.** Updates are named `(origin, seq)` and
//!   deduplicated by the store; `Committed.index` is the member-local count
//!   of updates applied, strictly increasing. It is *not* the same index on
//!   every member (each applies in its own arrival order): the state machine
//!   must be order-insensitive, which stamps make it.
//! - **Stamps are unique and totally ordered**: `(Lamport clock, origin)`,
//!   the clock above every stamp seen, so a later write at any member that
//!   saw an earlier one wins over it.
//! - **Membership is a join semilattice**: per member, the greatest
//!   `(incarnation, Alive < Suspect < Dead)` heard wins, so it converges too.
//! - **Never panic on a peer's message**: malformed updates, updates in
//!   this member's own name (it holds every one it issued), unknown
//!   members, stale or forged acks are ignored; incarnations saturate at
//!   `u64::MAX`.
//! - **Determinism**: `BTreeMap`s and sorted iteration, the [`SeededRng`]
//!   handed in, no clocks.
//!
//! ## On disk
//!
//! Storage holds one [`GossipRecord`] per update applied, at its local
//! position, and [`GossipHardState`] holds the incarnation. The log is
//! never compacted: anti-entropy serves peers the updates themselves.
//! Snapshots the driver takes are saved (so the state machine restarts
//! fast) and a restart re-emits the records above the snapshot.
//!
//! See `docs/gossip.md` in the repository for the walk-through, the CAP
//! notes and the measured figures.
//!
//! [`SeededRng`]: synod_core::SeededRng

#![deny(missing_docs)]

mod config;
pub mod crdt;
mod members;
mod message;
mod node;
mod spread;
mod store;
mod swim;

pub use config::{ConfigError, GossipConfig};
pub use crdt::{GSet, LwwMap};
pub use members::DetectorStats;
pub use message::{
    Digest, GossipHardState, GossipMessage, GossipRecord, MemberState, MemberUpdate, Update,
};
pub use node::GossipNode;
pub use swim::MAX_RELAYS;
