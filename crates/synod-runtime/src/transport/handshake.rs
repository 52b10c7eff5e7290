//! The first frame on every peer connection.
//!
//! A connection is one-way: the dialling node sends, the listening node
//! receives. The dialler opens with a [`Hello`] naming the cluster, itself and
//! the node it believes it is talking to. The listener refuses (closes, with a
//! logged reason) a wrong magic or version, another cluster, an unknown
//! sender, or a hello addressed to someone else — so a misconfigured node or
//! a stray client can never inject messages.

use serde::{Deserialize, Serialize};
use synod_core::{ClusterId, NodeId};

/// Identifies synod peer connections ("SYND").
pub const MAGIC: u32 = 0x5359_4E44;
/// The peer protocol version.
pub const VERSION: u16 = 1;

/// The opening frame of a peer connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must be [`MAGIC`].
    pub magic: u32,
    /// Must be [`VERSION`].
    pub version: u16,
    /// The sender's cluster.
    pub cluster: ClusterId,
    /// The sender.
    pub from: NodeId,
    /// The node the sender meant to reach.
    pub to: NodeId,
}

impl Hello {
    /// A hello from `from` to `to` in `cluster`.
    pub fn new(cluster: ClusterId, from: NodeId, to: NodeId) -> Self {
        Self {
            magic: MAGIC,
            version: VERSION,
            cluster,
            from,
            to,
        }
    }

    /// Checks a received hello against the listener's view; the error is the
    /// reason to log when closing.
    pub fn validate(
        &self,
        cluster: ClusterId,
        me: NodeId,
        is_peer: impl Fn(NodeId) -> bool,
    ) -> Result<(), String> {
        if self.magic != MAGIC {
            return Err(format!("bad magic {:#x}", self.magic));
        }
        if self.version != VERSION {
            return Err(format!("unsupported version {}", self.version));
        }
        if self.cluster != cluster {
            return Err(format!(
                "cluster id {} is not ours ({cluster})",
                self.cluster
            ));
        }
        if self.to != me {
            return Err(format!("hello addressed to node {}, we are {me}", self.to));
        }
        if !is_peer(self.from) {
            return Err(format!("unknown node id {}", self.from));
        }
        Ok(())
    }
}
