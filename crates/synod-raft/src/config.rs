//! [`RaftConfig`]: a replica's identity, its bootstrap membership and every
//! tunable of the core, in ticks, entries and bytes (never milliseconds: only
//! the driver knows how long a tick is).

use synod_core::NodeId;

/// How one Raft replica behaves. Build it with [`RaftConfig::new`] and change
/// the fields you need; [`RaftNode::new`](crate::RaftNode::new) validates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// This replica's id. Never zero.
    pub id: NodeId,
    /// The voters of the bootstrap configuration: every member of a new
    /// cluster gets the same list. A node that joins a running cluster is
    /// built with an empty list and learns the membership from the leader's
    /// log or snapshot (it never campaigns while it is not a voter).
    pub voters: Vec<NodeId>,
    /// The learners of the bootstrap configuration (they receive the log but
    /// never campaign, and their votes and acknowledgements never count).
    pub learners: Vec<NodeId>,
    /// The shortest randomised election timeout, in ticks (default 15: 150 ms
    /// at a 10 ms tick). Also the check-quorum window of a leader and the
    /// length of the leader lease during which a follower ignores (pre-)votes.
    pub election_ticks_min: u64,
    /// The longest randomised election timeout, in ticks, inclusive
    /// (default 30). Each timeout is drawn uniformly from
    /// `election_ticks_min..=election_ticks_max` with the core's seeded RNG.
    pub election_ticks_max: u64,
    /// A leader sends heartbeats (empty AppendEntries) every this many ticks
    /// (default 3). Must be below `election_ticks_min`.
    pub heartbeat_ticks: u64,
    /// At most this many entries in one AppendEntries (default 256).
    pub max_append_entries: usize,
    /// Bound on the entry bytes sent to one follower and not yet acknowledged
    /// (the pipeline window; default 4 MiB). One message is always allowed,
    /// however large, so a big entry cannot stall replication.
    pub max_inflight_bytes: u64,
    /// A leader refuses new writes (definite `Unavailable`) while this many
    /// entries are appended but not committed (default 10 000): the bound on
    /// what an isolated leader accumulates.
    pub max_uncommitted_entries: u64,
    /// Size of one InstallSnapshot chunk, in bytes (default 1 MiB).
    pub snapshot_chunk_bytes: usize,
    /// Run a pre-vote round before a real election (default `true`), so a
    /// node that cannot win never raises the cluster's term.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within the last
    /// `election_ticks_min` ticks steps down, and a node that heard from a
    /// live leader within `election_ticks_min` ticks (or leads) ignores
    /// (pre-)votes of higher terms (default `true`).
    pub check_quorum: bool,
}

impl RaftConfig {
    /// A configuration for replica `id` of a cluster bootstrapped with
    /// `voters`, with every tunable at its default.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Self {
        Self {
            id,
            voters,
            learners: Vec::new(),
            election_ticks_min: 15,
            election_ticks_max: 30,
            heartbeat_ticks: 3,
            max_append_entries: 256,
            max_inflight_bytes: 4 << 20,
            max_uncommitted_entries: 10_000,
            snapshot_chunk_bytes: 1 << 20,
            pre_vote: true,
            check_quorum: true,
        }
    }

    /// Checks the configuration for values the core cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == NodeId(0) {
            return Err(ConfigError::ZeroId);
        }
        if self.voters.contains(&NodeId(0)) || self.learners.contains(&NodeId(0)) {
            return Err(ConfigError::ZeroId);
        }
        if let Some(both) = self.voters.iter().find(|v| self.learners.contains(v)) {
            return Err(ConfigError::VoterAndLearner(*both));
        }
        synod_core::timing::check_ticks(
            self.heartbeat_ticks,
            self.election_ticks_min,
            self.election_ticks_max,
        )?;
        let positive = [
            ("max_append_entries", self.max_append_entries as u64),
            ("max_inflight_bytes", self.max_inflight_bytes),
            ("max_uncommitted_entries", self.max_uncommitted_entries),
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes as u64),
        ];
        if let Some(name) = synod_core::settings::first_zero(&positive) {
            return Err(ConfigError::Zero(name));
        }
        Ok(())
    }
}

/// Why a [`RaftConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Node id zero is reserved for "nobody".
    #[error("node id 0 is reserved; ids start at 1")]
    ZeroId,
    /// A node is listed both as voter and learner.
    #[error("node {0} is listed both as voter and as learner")]
    VoterAndLearner(NodeId),
    /// The tick settings cannot work.
    #[error(transparent)]
    Ticks(#[from] synod_core::timing::TickError),
    /// A limit that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values_and_validate() {
        let c = RaftConfig::new(NodeId(1), vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!((c.election_ticks_min, c.election_ticks_max), (15, 30));
        assert_eq!(c.heartbeat_ticks, 3);
        assert_eq!(c.snapshot_chunk_bytes, 1 << 20);
        assert!(c.pre_vote && c.check_quorum);
        c.validate().unwrap();
    }

    #[test]
    fn invalid_settings_are_refused() {
        let base = RaftConfig::new(NodeId(1), vec![NodeId(1)]);
        let mut c = base.clone();
        c.heartbeat_ticks = 15;
        assert!(matches!(c.validate(), Err(ConfigError::Ticks(_))));
        let mut c = base.clone();
        c.election_ticks_max = 10;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.learners = vec![NodeId(1)];
        assert_eq!(c.validate(), Err(ConfigError::VoterAndLearner(NodeId(1))));
        let mut c = base.clone();
        c.id = NodeId(0);
        assert_eq!(c.validate(), Err(ConfigError::ZeroId));
        let mut c = base;
        c.snapshot_chunk_bytes = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero("snapshot_chunk_bytes")));
    }
}
