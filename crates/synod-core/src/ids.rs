//! Newtype identifiers.
//!
//! Every id is its own type so that a node id can never be passed where a
//! request id is expected. They are plain `u64`s underneath, ordered, hashable
//! and serialisable, and print as their number.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                Self(v)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map(Self)
            }
        }
    };
}

id_type!(
    /// A replica's identity within a cluster (ZooKeeper's `myid`). Never zero
    /// in a valid configuration, so zero can mean "nobody" in wire formats.
    NodeId
);
id_type!(
    /// Identifies a cluster; a node refuses connections from another cluster.
    ClusterId
);
id_type!(
    /// Identifies one client request on one connection, so that a reply can be
    /// matched to its request.
    RequestId
);
