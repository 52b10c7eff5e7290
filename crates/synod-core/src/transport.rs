//! Moving protocol messages between replicas.
//!
//! A transport carries opaque byte payloads between nodes of one cluster. It is
//! allowed to lose, delay and reorder them — the protocols tolerate all of
//! that — but never to corrupt them or to deliver a payload attributed to the
//! wrong sender. Sending never blocks the protocol: a payload that cannot be
//! queued (peer unreachable, queue full) is dropped and counted.

use crate::ids::NodeId;
use async_trait::async_trait;
use std::sync::Arc;

/// The sending half of a transport, shareable across threads.
///
/// A driver hands it to whatever learns first that a message may leave: a
/// storage thread sends the messages of an output right after its sync,
/// without a trip back through the node loop.
pub trait PeerSender: Send + Sync + 'static {
    /// Queues `payload` for `to`; drops it if it cannot be queued.
    fn send(&self, to: NodeId, payload: Vec<u8>);

    /// Sends several payloads, in order per peer. A transport may write a
    /// peer's share in one go (one syscall for a burst of messages).
    fn send_many(&self, messages: Vec<(NodeId, Vec<u8>)>) {
        for (to, payload) in messages {
            self.send(to, payload);
        }
    }
}

/// Sends and receives byte payloads between the nodes of one cluster.
#[async_trait]
pub trait Transport: Send + 'static {
    /// Queues `payload` for `to`; drops it if it cannot be queued.
    fn send(&self, to: NodeId, payload: Vec<u8>);

    /// A handle that sends exactly like [`send`](Self::send), in the same
    /// per-peer order, from any thread.
    fn sender(&self) -> Arc<dyn PeerSender>;

    /// The next payload from any peer, or `None` once the transport is shut
    /// down.
    async fn recv(&mut self) -> Option<(NodeId, Vec<u8>)>;
}
