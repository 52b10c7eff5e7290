//! The client protocol: what travels between a client and `synod-node`.
//!
//! Frames are the same as between peers (`u32` big-endian length, payload);
//! payloads are [`codec`](synod_core::codec)-encoded [`Request`]s and
//! [`Response`]s. Each request carries an id chosen by the client, echoed in
//! its response. A connection carries one request at a time from the client
//! library, but the server answers in order and matches ids, so pipelining
//! clients work too.

use serde::{Deserialize, Serialize};
use synod_core::{AdminRequest, ClientError, NodeStatus, ReadConsistency};

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Read a key.
    Read {
        /// The key.
        key: String,
    },
    /// Write a key.
    Write {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Compare-and-set a key (`from: None` means "absent").
    Cas {
        /// The key.
        key: String,
        /// Expected value.
        from: Option<Vec<u8>>,
        /// New value.
        to: Vec<u8>,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Add an element to a grow-only set.
    Add {
        /// The set.
        set: String,
        /// The element.
        element: Vec<u8>,
    },
    /// Read a set's elements.
    ReadSet {
        /// The set.
        set: String,
    },
    /// The node's role, term, leader, commit and applied index.
    Status,
    /// A membership or leadership change.
    Admin(AdminRequest),
}

impl Op {
    /// Whether the op only reads (and so may be served locally).
    pub fn is_read(&self) -> bool {
        matches!(self, Op::Read { .. } | Op::ReadSet { .. } | Op::Status)
    }
}

/// A client's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client; echoed in the response.
    pub id: u64,
    /// What to do.
    pub op: Op,
    /// For reads: linearizable (default) or local.
    pub consistency: ReadConsistency,
}

/// A successful result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// A key's value (`None`: absent).
    Value(Option<Vec<u8>>),
    /// A set's elements, sorted.
    Set(Vec<Vec<u8>>),
    /// A write, cas, delete, add or admin change took effect.
    Done,
    /// The node's status.
    Status(NodeStatus),
}

/// The server's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// The result or a (definite or indefinite) error.
    pub result: Result<OpResult, ClientError>,
}
