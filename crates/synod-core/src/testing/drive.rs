//! Driving one core by hand, without a harness.
//!
//! A sans-IO core is a plain value: a unit test can build one, feed it a
//! tick, a message or a proposal, and look at the [`Output`] it answers
//! with — no network, no storage, nothing carried out. These helpers wrap the
//! [`Protocol`] entry points so each input is one expression returning that
//! output, and [`sent`] / [`sent_to`] read the messages out of it (eager
//! ones first, as a driver sends them).
//!
//! ```
//! use synod_core::testing::drive::{propose, sent, step, tick};
//! use synod_core::testing::toy::Toy;
//! use synod_core::{NodeId, Proposal, Recovered, RequestId};
//!
//! let peers = vec![NodeId(1), NodeId(2), NodeId(3)];
//! let mut primary = Toy::new(NodeId(1), peers.clone(), Recovered::default());
//! let out = propose(
//!     &mut primary,
//!     Proposal::Write { id: RequestId(1), command: b"x".to_vec() },
//! );
//! assert_eq!(out.records.len(), 1, "the write is persisted first");
//! let mut backup = Toy::new(NodeId(2), peers, Recovered::default());
//! for (to, msg) in sent(&out) {
//!     if to == NodeId(2) {
//!         let answer = step(&mut backup, 1, msg);
//!         assert_eq!(answer.records.len(), 1);
//!     }
//! }
//! assert!(tick(&mut backup).is_empty());
//! ```
//!
//! The sender of [`step`] is a bare number, so that hand-written tests read
//! `step(&mut core, 2, msg)`.

use crate::client::Proposal;
use crate::ids::NodeId;
use crate::protocol::{Output, Protocol};

/// One tick of `core`; returns what it asks for.
pub fn tick<P: Protocol>(core: &mut P) -> Output<P> {
    let mut out = Output::new();
    core.tick(&mut out);
    out
}

/// Delivers `msg` from node `from` to `core`; returns what it asks for.
pub fn step<P: Protocol>(core: &mut P, from: u64, msg: P::Message) -> Output<P> {
    let mut out = Output::new();
    core.step(NodeId(from), msg, &mut out);
    out
}

/// Hands `proposal` to `core`; returns what it asks for.
pub fn propose<P: Protocol>(core: &mut P, proposal: Proposal) -> Output<P> {
    let mut out = Output::new();
    core.propose(proposal, &mut out);
    out
}

/// Every message in `out`, eager or not, with its destination (eager ones
/// first).
pub fn sent<P: Protocol>(out: &Output<P>) -> Vec<(NodeId, P::Message)> {
    out.eager_messages
        .iter()
        .chain(out.messages.iter())
        .cloned()
        .collect()
}

/// The messages in `out` (eager and ordinary) to node `to`.
pub fn sent_to<P: Protocol>(out: &Output<P>, to: u64) -> Vec<P::Message> {
    out.eager_messages
        .iter()
        .chain(out.messages.iter())
        .filter(|(t, _)| *t == NodeId(to))
        .map(|(_, m)| m.clone())
        .collect()
}
