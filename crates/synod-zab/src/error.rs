//! Errors of building a core: fatal, because a server that cannot trust its
//! configuration or its recovered state must not speak.

use crate::config::ConfigError;

/// Why [`ZabNode::try_new`](crate::ZabNode::try_new) refused to build a core.
#[derive(Debug, thiserror::Error)]
pub enum ZabError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The recovered hard state is inconsistent (`currentEpoch` above
    /// `acceptedEpoch`).
    #[error("recovered epochs are inconsistent: current {current} > accepted {accepted}")]
    Epochs {
        /// `currentEpoch`.
        current: u64,
        /// `acceptedEpoch`.
        accepted: u64,
    },
}
