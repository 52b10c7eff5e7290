//! Integration tests of synod-paxos on the in-memory harness, one module per
//! property.

mod basic;
mod common;
mod phase1;
mod phase2;
mod randomized;
mod reads;
mod recovery;
mod robustness;
