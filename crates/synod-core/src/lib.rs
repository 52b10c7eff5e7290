//! # synod-core
//!
//! The vocabulary every synod protocol speaks, and nothing else: no tokio, no
//! sockets, no files.
//!
//! - [`Protocol`]: a consensus (or gossip) replica as a pure state machine.
//!   It is stepped with ticks, peer messages and client proposals, and
//!   answers with an [`Output`] of effects that the driver carries out in a
//!   fixed order: persist, send, apply, reply.
//! - [`Storage`], [`Transport`], [`StateMachine`]: what a driver needs from
//!   a disk, a network and the replicated application.
//! - [`testing`]: conformance suites for those traits.
//! - [`harness`]: an in-memory, seeded, fault-injecting network that drives
//!   many cores in one test.
//!
//! ```text
//!             tick / step / propose
//!   driver ─────────────────────────▶ Protocol core (sans-IO)
//!     ▲                                    │
//!     │   Output { hard_state, records,    │
//!     └──── messages, committed, replies } ◀┘
//!   1. persist (Storage)  2. send (Transport)  3. apply (StateMachine)  4. reply
//! ```

pub mod client;
pub mod codec;
pub mod frame;
pub mod harness;
pub mod ids;
pub mod protocol;
pub mod quorum;
pub mod read_queue;
pub mod rng;
pub mod settings;
pub mod stamp;
pub mod state_machine;
pub mod storage;
pub mod testing;
pub mod timing;
pub mod transport;

pub use client::{AdminRequest, Certainty, ClientError, Proposal, ReadConsistency};
pub use ids::{ClusterId, NodeId, RequestId};
pub use protocol::{
    Committed, LogRecord, NodeStatus, Output, Protocol, ProtocolStatus, Recovered, Reply,
    SnapshotAction,
};
pub use read_queue::ReadQueue;
pub use rng::SeededRng;
pub use stamp::{Stamp, Stamped};
pub use state_machine::{RestoreError, StateMachine};
pub use storage::{Loaded, MemStorage, Snapshot, Storage, StorageError, StoredRecord};
pub use transport::{PeerSender, Transport};
