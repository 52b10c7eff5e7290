//! Errors of building a core: fatal, because a replica that cannot trust its
//! configuration or its recovered state must not speak.

use crate::config::ConfigError;

/// Why [`RaftNode::try_new`](crate::RaftNode::try_new) refused to build a core.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The recovered snapshot's metadata cannot be decoded, or disagrees with
    /// the snapshot's position.
    #[error("recovered snapshot metadata is unusable: {0}")]
    SnapshotMeta(String),
    /// The recovered log has a hole after the snapshot: the storage lost
    /// records that were acknowledged.
    #[error("recovered log is not contiguous: expected index {expected}, found {found}")]
    LogGap {
        /// The index that should come next.
        expected: u64,
        /// The index found instead.
        found: u64,
    },
}
