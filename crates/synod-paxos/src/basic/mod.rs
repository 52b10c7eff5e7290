//! Basic Paxos (the Synod algorithm): choosing one value among proposers
//! that may fail, race and be delayed, with no clock.
//!
//! Three roles, each a small type usable on its own:
//! [`Proposer`], [`Acceptor`] (the only durable one) and [`Learner`]. One
//! process may play all three: [`SynodNode`] does, as a
//! [`Protocol`](synod_core::Protocol) that decides one value; use it to
//! pick a leader, a configuration, or any single value.
//!
//! ```text
//!  proposer                     acceptors (majority)              learners
//!   n := (round+1, id)
//!   Prepare(n) ───────────────▶ n > promised? promised := n
//!   ◀─────── Promise(n, highest accepted (m, v)) | Reject(promised)
//!   majority promised: value := v of the highest m, else own
//!   Accept(n, value) ─────────▶ n ≥ promised? accepted := (n, value)
//!                               Accepted(n, value) ───────────────▶ majority of
//!                                                                   the same n: learned
//! ```
//!
//! Safety (at most one value is chosen) needs only the acceptors' rules
//! and majorities that intersect. Liveness does not follow: two proposers
//! can pre-empt each other forever (duelling proposers); randomised
//! back-off after a pre-emption makes that vanishingly unlikely.

mod acceptor;
mod learner;
mod node;
mod proposer;

pub use acceptor::{Acceptor, AcceptorState};
pub use learner::Learner;
pub use node::{SynodConfig, SynodMessage, SynodNode, SynodRecord};
pub use proposer::Proposer;
