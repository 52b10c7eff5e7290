//! Stamped commands: how a leaderless protocol hands writes to a state
//! machine that must converge whatever the order of delivery.
//!
//! A consensus protocol applies every command in one agreed order, so the
//! state machine may be order-sensitive. A gossip protocol cannot promise an
//! order: two replicas may apply the same two writes in opposite orders. It
//! therefore wraps each client command in a [`Stamped`] carrying a [`Stamp`]
//! — a logical clock and the origin node — that is totally ordered and
//! identical on every replica. A last-writer-wins state machine keeps, per
//! key, the write with the greatest stamp, which makes its state a function of
//! the *set* of commands it has seen, not of their order.

use crate::ids::NodeId;
use serde::{Deserialize, Serialize};

/// A totally ordered write timestamp: a logical clock, ties broken by the
/// node that issued it. Two different writes never share a stamp as long as
/// each node's clock strictly increases.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Stamp {
    /// The logical (Lamport or hybrid logical) clock value.
    pub clock: u64,
    /// The node that issued the write.
    pub node: NodeId,
}

/// A client command with the stamp its origin gave it.
///
/// The contract between a stamping protocol and its driver: the driver
/// proposes the [`codec`](crate::codec) encoding of a `Stamped` whose stamp
/// is a placeholder (`Stamp::default()`); the protocol's origin replica
/// decodes it, fills in the real stamp, and emits the re-encoded struct in
/// [`Committed::command`](crate::Committed::command) on every replica. The
/// state machine's command type is `Stamped` itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped {
    /// Where the command sits in the last-writer-wins order.
    pub stamp: Stamp,
    /// The client's encoded command, untouched.
    pub command: Vec<u8>,
}

impl Stamped {
    /// What a driver proposes: `command` with the placeholder stamp, for the
    /// origin replica to fill in.
    pub fn unstamped(command: Vec<u8>) -> Self {
        Self {
            stamp: Stamp::default(),
            command,
        }
    }

    /// The encoded proposal for `command` (see [`Stamped::unstamped`]).
    pub fn proposal(command: Vec<u8>) -> Vec<u8> {
        crate::codec::encode(&Self::unstamped(command)).expect("a Stamped always encodes")
    }
}
