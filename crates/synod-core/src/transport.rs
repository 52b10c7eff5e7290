//! Moving protocol messages between replicas.
//!
//! A transport carries opaque byte payloads between nodes of one cluster. It is
//! allowed to lose, delay and reorder them — the protocols tolerate all of
//! that — but never to corrupt them or to deliver a payload attributed to the
//! wrong sender. Sending never blocks the protocol: a payload that cannot be
//! queued (peer unreachable, queue full) is dropped and counted.

use crate::ids::NodeId;
use async_trait::async_trait;

/// Sends and receives byte payloads between the nodes of one cluster.
#[async_trait]
pub trait Transport: Send + 'static {
    /// Queues `payload` for `to`; drops it if it cannot be queued.
    fn send(&self, to: NodeId, payload: Vec<u8>);

    /// The next payload from any peer, or `None` once the transport is shut
    /// down.
    async fn recv(&mut self) -> Option<(NodeId, Vec<u8>)>;
}
