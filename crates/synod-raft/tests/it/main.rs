//! Integration tests of the Raft core, one module per concern, named after
//! the rule each test checks (etcd `raft_paper_test.go` style). Scripted
//! scenarios run on `synod_core::harness::Network`; a few drive a single
//! core by hand to assert the exact effects it emits.

mod common;
mod election;
mod membership;
mod persistence;
mod randomized;
mod read_index;
mod replication;
mod robustness;
mod safety;
mod snapshot;
