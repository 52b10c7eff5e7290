//! [`Zxid`]: ZooKeeper's transaction id, and [`Txn`], one transaction of the
//! history.
//!
//! A zxid packs the epoch of the leader that proposed a transaction (high 32
//! bits) and a counter within that epoch (low 32 bits). The counter restarts
//! at 1 with every epoch, so comparing two zxids as plain `u64`s orders them
//! first by epoch and then by position within the epoch — the total order in
//! which every replica delivers transactions. It is Raft's `(term, index)`
//! and Multi-Paxos's `(ballot, slot)` folded into one number, except that
//! the position restarts with each epoch instead of running on across terms.

use serde::{Deserialize, Serialize};
use std::fmt;
use synod_core::NodeId;

/// A transaction id: epoch in the high 32 bits, counter in the low 32.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Zxid(pub u64);

impl Zxid {
    /// The zxid before any transaction: epoch 0, counter 0.
    pub const ZERO: Zxid = Zxid(0);

    /// The zxid of the `counter`th transaction of `epoch`.
    pub fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid((u64::from(epoch) << 32) | u64::from(counter))
    }

    /// The epoch of the leader that proposed the transaction.
    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The transaction's position within its epoch (from 1).
    pub fn counter(self) -> u32 {
        self.0 as u32
    }

    /// The next zxid (`self + 1`), saturating at the maximum.
    pub fn next(self) -> Zxid {
        Zxid(self.0.saturating_add(1))
    }

    /// The previous zxid (`self - 1`), saturating at zero.
    pub fn prev(self) -> Zxid {
        Zxid(self.0.saturating_sub(1))
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}:{}", self.epoch(), self.counter())
    }
}

/// One transaction of the replicated history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// Its place in the total order.
    pub zxid: Zxid,
    /// The client's encoded command; `None` for a protocol no-op (never
    /// produced by this core today, kept so the format can carry one).
    pub command: Option<Vec<u8>>,
    /// The learner that forwarded the write, if one did: it answers its
    /// client when it delivers the transaction.
    pub origin: Option<Origin>,
}

impl Txn {
    /// Approximate encoded size in bytes, for message and batch budgets.
    pub fn size_bytes(&self) -> usize {
        let origin = if self.origin.is_some() { 24 } else { 0 };
        16 + origin + self.command.as_ref().map_or(0, Vec::len)
    }
}

/// Where a forwarded write came from: the learner, which life of it
/// (`incarnation`, durable and raised at every start, since request numbers
/// start over), and its request number. ZooKeeper's transaction header
/// carries the session id and cxid for the same purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Origin {
    /// The learner that forwarded the write.
    pub server: NodeId,
    /// The learner's incarnation when it forwarded it.
    pub incarnation: u64,
    /// The learner's request number.
    pub request: u64,
}

impl Origin {
    /// Request `request` of `server`'s life `incarnation`.
    pub fn new(server: NodeId, incarnation: u64, request: u64) -> Self {
        Self {
            server,
            incarnation,
            request,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_packs_epoch_high_and_counter_low() {
        let z = Zxid::new(3, 7);
        assert_eq!(z.0, (3u64 << 32) | 7);
        assert_eq!((z.epoch(), z.counter()), (3, 7));
    }

    #[test]
    fn any_zxid_of_a_later_epoch_orders_after_every_zxid_of_an_earlier_one() {
        assert!(Zxid::new(2, 1) > Zxid::new(1, u32::MAX));
        assert!(Zxid::new(1, 2) > Zxid::new(1, 1));
        assert_eq!(Zxid::new(1, 0).next(), Zxid::new(1, 1));
    }
}
