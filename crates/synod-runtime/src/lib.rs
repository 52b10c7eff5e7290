//! # synod-runtime
//!
//! Runs a sans-IO [`Protocol`](synod_core::Protocol) core for real: a TCP
//! [`transport`] between replicas, a storage thread with group commit over
//! any [`Storage`](synod_core::Storage) (the file WAL of `synod-wal` in
//! production), and the [`node`] event loop that ticks the core, feeds it
//! messages and client calls, and carries out its outputs in the order
//! persist → send → apply → reply.

pub mod node;
pub mod transport;

pub use node::{recover, run_node, ClientCall, NodeConfig, NodeError, NodeHandle, NodeStatus};
pub use synod_wal as wal;
pub use transport::{TcpTransport, TransportConfig};
