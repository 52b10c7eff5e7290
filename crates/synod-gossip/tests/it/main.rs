//! Integration tests of the gossip core, one module per concern, named
//! after the rule each test checks. `rules` and `membership` drive single
//! cores by hand and assert the exact effects; `convergence` and `failure_detection` run
//! seeded clusters on `synod_core::harness::Network`; `randomized` mixes
//! partitions, loss, duplication, reordering, crashes and snapshots and
//! checks the invariants after every step.

mod common;
mod convergence;
mod failure_detection;
mod membership;
mod randomized;
mod robustness;
mod rules;
