//! [`PaxosConfig`]: a replica's identity, its voters and the tunables of the
//! core, in ticks, slots and bytes (only the driver knows how long a tick is).

use synod_core::NodeId;

/// How one Multi-Paxos replica behaves. Build it with [`PaxosConfig::new`]
/// and change the fields you need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosConfig {
    /// This replica's id. Never zero.
    pub id: NodeId,
    /// Every acceptor of the cluster (the same list on every member).
    pub voters: Vec<NodeId>,
    /// Shortest randomised timeout, in ticks, after which a follower that
    /// has not heard a leader runs phase 1 (default 15).
    pub election_ticks_min: u64,
    /// Longest such timeout, inclusive (default 30).
    pub election_ticks_max: u64,
    /// A leader sends a heartbeat (`Commit`) every this many ticks (default
    /// 3). Must be below `election_ticks_min`.
    pub heartbeat_ticks: u64,
    /// At most this many slots in one `Accept`, `Decisions` or `Promise`
    /// retransmission (default 256).
    pub max_batch_slots: usize,
    /// At most about this many value bytes in one `Accept` or
    /// `Decisions` message (default 1 MiB); one value always fits, however
    /// large.
    pub max_batch_bytes: usize,
    /// A leader refuses writes (definite `Unavailable`) while this many slots
    /// are proposed but not chosen (default 10 000).
    pub max_inflight_slots: usize,
    /// Size of one snapshot chunk, in bytes (default 1 MiB; frames are
    /// limited to 8 MiB).
    pub snapshot_chunk_bytes: usize,
}

impl PaxosConfig {
    /// A configuration for replica `id` of a cluster of `voters`, with every
    /// tunable at its default.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Self {
        Self {
            id,
            voters,
            election_ticks_min: 15,
            election_ticks_max: 30,
            heartbeat_ticks: 3,
            max_batch_slots: 256,
            max_batch_bytes: 1 << 20,
            max_inflight_slots: 10_000,
            snapshot_chunk_bytes: 1 << 20,
        }
    }

    /// Checks the configuration for values the core cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == NodeId(0) || self.voters.contains(&NodeId(0)) {
            return Err(ConfigError::ZeroId);
        }
        if !self.voters.contains(&self.id) {
            return Err(ConfigError::NotAVoter(self.id));
        }
        synod_core::timing::check_ticks(
            self.heartbeat_ticks,
            self.election_ticks_min,
            self.election_ticks_max,
        )?;
        let positive = [
            ("max_batch_slots", self.max_batch_slots as u64),
            ("max_batch_bytes", self.max_batch_bytes as u64),
            ("max_inflight_slots", self.max_inflight_slots as u64),
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes as u64),
        ];
        if let Some(name) = synod_core::settings::first_zero(&positive) {
            return Err(ConfigError::Zero(name));
        }
        Ok(())
    }
}

/// Why a [`PaxosConfig`] (or a [`SynodConfig`](crate::basic::SynodConfig))
/// was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Node id zero is reserved for "nobody".
    #[error("node id 0 is reserved; ids start at 1")]
    ZeroId,
    /// The replica is not among the voters.
    #[error("node {0} is not in the voter list")]
    NotAVoter(NodeId),
    /// The tick settings cannot work.
    #[error(transparent)]
    Ticks(#[from] synod_core::timing::TickError),
    /// A Basic Paxos proposer's back-off range is empty.
    #[error("backoff_ticks_min {min} exceeds backoff_ticks_max {max}")]
    Backoff {
        /// `backoff_ticks_min`.
        min: u64,
        /// `backoff_ticks_max`.
        max: u64,
    },
    /// A limit that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_raft_and_validate() {
        let c = PaxosConfig::new(NodeId(1), vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!((c.election_ticks_min, c.election_ticks_max), (15, 30));
        assert_eq!(c.heartbeat_ticks, 3);
        c.validate().unwrap();
    }

    #[test]
    fn invalid_settings_are_refused() {
        let base = PaxosConfig::new(NodeId(1), vec![NodeId(1), NodeId(2)]);
        let mut c = base.clone();
        c.heartbeat_ticks = 15;
        assert!(matches!(c.validate(), Err(ConfigError::Ticks(_))));
        let mut c = base.clone();
        c.id = NodeId(0);
        assert_eq!(c.validate(), Err(ConfigError::ZeroId));
        let mut c = base.clone();
        c.id = NodeId(7);
        assert_eq!(c.validate(), Err(ConfigError::NotAVoter(NodeId(7))));
        let mut c = base;
        c.max_batch_slots = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero("max_batch_slots")));
    }
}
