//! The node event loop: one protocol core, driven for real.
//!
//! The loop owns the core and the state machine; storage runs on its own
//! thread ([`persist`]); the transport runs its own tasks. Each input — a
//! tick every `tick`, a peer message, a client call — steps the core, and the
//! resulting [`Output`](synod_core::Output)s are carried out in the order
//! synod-core documents:
//!
//! ```text
//!  tick / message / call ──▶ core ──▶ Output ──▶ storage thread (append, one sync per batch)
//!                               │                      │ durable
//!                               │                      ├──▶ send messages (from that thread)
//!                               │                      ▼
//!                               │       node loop: apply committed, answer reads and replies
//!                               └──▶ eager messages leave at once
//! ```
//!
//! Every send is a direct non-blocking socket write when the link is idle
//! (see the transport), so a message leaves from whichever thread released
//! it, without waking another task first.
//!
//! Outputs produced back-to-back (a burst of client writes, a burst of
//! acknowledgements) are merged before they go to the storage thread, and the
//! storage thread merges whatever queued while it was syncing, so one
//! fdatasync covers many writes.

pub(crate) mod calls;
mod driver;
pub(crate) mod persist;

pub use calls::{ClientCall, NodeHandle, NodeStatus};
pub use driver::{recover, run_node, NodeConfig, NodeError};
