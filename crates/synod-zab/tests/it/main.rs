//! Integration tests of the ZAB core, one module per concern, named after
//! the rule each test checks. Scripted scenarios run on
//! `synod_core::harness::Network`; a few drive a single core by hand to
//! assert the exact effects it emits.

mod broadcast;
mod common;
mod election;
mod forward;
mod lazy_disk;
mod persistence;
mod randomized;
mod robustness;
mod sync;
