//! What a client asks of a replicated service, and what it gets back.
//!
//! Every error says whether the request **certainly did not** take effect
//! ([`Certainty::Definite`]) or **may have** ([`Certainty::Indefinite`]). A
//! test runner records the first as `fail` and the second as `info`; a client
//! library may retry the first freely but must never retry the second on its
//! own, or it could apply a write twice. When in doubt, an error is
//! indefinite: claiming "did not happen" for something that did is exactly
//! the kind of lie a linearizability checker exists to catch.

use crate::ids::{NodeId, RequestId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReadConsistency {
    /// The read reflects every write that completed before it was issued
    /// (Raft ReadIndex, a quorum-confirmed leader read).
    #[default]
    Linearizable,
    /// Served from the replica's own applied state: fast, possibly stale
    /// (etcd's serializable read, ZooKeeper's default read).
    Local,
}

impl fmt::Display for ReadConsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadConsistency::Linearizable => "linearizable",
            ReadConsistency::Local => "local",
        })
    }
}

impl std::str::FromStr for ReadConsistency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linearizable" => Ok(Self::Linearizable),
            "local" => Ok(Self::Local),
            other => Err(format!(
                "unknown read consistency {other:?} (linearizable|local)"
            )),
        }
    }
}

/// Whether a failed request may still have taken effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Certainty {
    /// Certainly not executed: safe to report as failed and to retry.
    Definite,
    /// May or may not have executed.
    Indefinite,
}

/// Why a request did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ClientError {
    /// This node is not the leader; `leader` is its best guess of who is.
    /// Definite: the request was not proposed.
    #[error("not the leader (leader hint: {leader:?})")]
    NotLeader {
        /// The leader this node believes in, if any.
        leader: Option<NodeId>,
    },
    /// The service cannot take the request now (no quorum known, shutting
    /// down, queue full) and did not propose it. Definite.
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What is missing.
        reason: String,
    },
    /// The request could not be decoded or is invalid. Definite.
    #[error("malformed request: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: String,
    },
    /// A compare-and-set found another value. Definite: nothing changed.
    #[error("compare-and-set mismatch")]
    CasMismatch,
    /// The key does not exist (for operations that require it). Definite.
    #[error("key not found")]
    NotFound,
    /// The request was proposed, but this node lost leadership (or the entry
    /// was overwritten) before learning its fate. Indefinite.
    #[error("leadership lost before the outcome was known")]
    LeadershipLost,
    /// No answer in time. Indefinite.
    #[error("timed out")]
    Timeout,
    /// The connection broke after the request was sent. Indefinite.
    #[error("connection lost: {reason}")]
    ConnectionLost {
        /// What the transport reported.
        reason: String,
    },
}

impl ClientError {
    /// Whether the request may have taken effect despite this error.
    pub fn certainty(&self) -> Certainty {
        match self {
            ClientError::NotLeader { .. }
            | ClientError::Unavailable { .. }
            | ClientError::Malformed { .. }
            | ClientError::CasMismatch
            | ClientError::NotFound => Certainty::Definite,
            ClientError::LeadershipLost
            | ClientError::Timeout
            | ClientError::ConnectionLost { .. } => Certainty::Indefinite,
        }
    }

    /// Shorthand for `certainty() == Definite`.
    pub fn is_definite(&self) -> bool {
        self.certainty() == Certainty::Definite
    }

    /// A short machine-readable name, used as the `error` field of histories.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::NotLeader { .. } => "not-leader",
            ClientError::Unavailable { .. } => "unavailable",
            ClientError::Malformed { .. } => "malformed",
            ClientError::CasMismatch => "cas-mismatch",
            ClientError::NotFound => "not-found",
            ClientError::LeadershipLost => "leadership-lost",
            ClientError::Timeout => "timeout",
            ClientError::ConnectionLost { .. } => "connection-lost",
        }
    }
}

/// A change to the cluster's membership or leadership, asked of a protocol.
/// Protocols that do not support a change answer it with a definite error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Add a voting member.
    AddVoter {
        /// The new member.
        node: NodeId,
    },
    /// Add a non-voting member that receives the log but never counts toward
    /// a quorum (Raft learner, ZAB observer).
    AddLearner {
        /// The new member.
        node: NodeId,
    },
    /// Remove a member (voter or learner).
    RemoveNode {
        /// The member to remove.
        node: NodeId,
    },
    /// Hand leadership to another voter.
    TransferLeader {
        /// The voter that should lead.
        to: NodeId,
    },
}

/// What the driver asks a protocol core to do for a client.
///
/// Local reads never reach the core: the driver serves them from its own
/// state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proposal {
    /// Replicate `command` (opaque to the protocol) and apply it everywhere.
    Write {
        /// The request to answer once the command is applied.
        id: RequestId,
        /// The encoded state machine command.
        command: Vec<u8>,
    },
    /// Confirm a point at which a linearizable read may be served; the core
    /// lists the request in [`Output::reads`](crate::Output::reads) once this
    /// replica may serve it from its state machine.
    Read {
        /// The request to answer.
        id: RequestId,
    },
    /// Change membership or leadership.
    Admin {
        /// The request to answer.
        id: RequestId,
        /// The change.
        request: AdminRequest,
    },
}

impl Proposal {
    /// The request this proposal answers.
    pub fn id(&self) -> RequestId {
        match self {
            Proposal::Write { id, .. } | Proposal::Read { id } | Proposal::Admin { id, .. } => *id,
        }
    }
}
