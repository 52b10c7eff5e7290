//! [`ZabConfig`]: a server's identity (`myid`), the ensemble's voters and
//! observers, and every tunable of the core, in ticks, proposals and bytes
//! (never milliseconds: only the driver knows how long a tick is).

use synod_core::NodeId;

/// How one ZAB server behaves. Build it with [`ZabConfig::new`] and change
/// the fields you need; [`ZabNode::new`](crate::ZabNode::new) validates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZabConfig {
    /// This server's id (ZooKeeper's `myid`). Never zero.
    pub id: NodeId,
    /// The voting servers (participants). Quorums are majorities of them.
    pub voters: Vec<NodeId>,
    /// The observers: they learn every committed transaction (INFORM) but
    /// never vote in elections and never count toward a quorum. A server
    /// whose own id is listed here is an observer.
    pub observers: Vec<NodeId>,
    /// The shortest randomised election timeout, in ticks (default 15). A
    /// follower that hears nothing from its leader for a timeout goes back
    /// to LOOKING; a leader that has not heard from a quorum within
    /// `election_ticks_min` ticks gives up leadership; a LOOKING server
    /// re-sends its vote after a timeout without a decision.
    pub election_ticks_min: u64,
    /// The longest randomised election timeout, in ticks, inclusive
    /// (default 30).
    pub election_ticks_max: u64,
    /// The leader pings its learners every this many ticks (default 3).
    /// Must be below `election_ticks_min`.
    pub heartbeat_ticks: u64,
    /// FLE's finalize wait, in ticks (default 2): once a quorum agrees with
    /// its vote, a server still waits this long for a better vote before it
    /// decides (ZooKeeper's `finalizeWait`), unless every voter agrees.
    pub finalize_ticks: u64,
    /// A leader that is not established (quorum ACK of NEWLEADER) this many
    /// ticks after it was elected goes back to LOOKING (ZooKeeper's
    /// `initLimit`; default 60).
    pub establish_ticks: u64,
    /// At most this many proposals in one retransmission batch or one SYNC
    /// message (default 1024).
    pub max_batch_proposals: usize,
    /// A leader refuses new writes (definite `Unavailable`) while this many
    /// proposals are not yet committed (default 10 000).
    pub max_uncommitted_proposals: u64,
    /// Size of one snapshot chunk in a SNAP, in bytes (default 1 MiB).
    pub snapshot_chunk_bytes: usize,
    /// Proposals kept in memory below the latest snapshot, so that a
    /// follower slightly behind gets a DIFF rather than a SNAP (ZooKeeper's
    /// committed-log window; default 1000).
    pub diff_window_proposals: usize,
    /// A write a learner forwarded to its leader and has not seen delivered
    /// within this many ticks is answered `Timeout` (indefinite; default
    /// 100). Losing the leader answers it sooner, `LeadershipLost`.
    pub forward_timeout_ticks: u64,
}

impl ZabConfig {
    /// A configuration for server `id` of an ensemble of `voters`, no
    /// observers, every tunable at its default.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Self {
        Self {
            id,
            voters,
            observers: Vec::new(),
            election_ticks_min: 15,
            election_ticks_max: 30,
            heartbeat_ticks: 3,
            finalize_ticks: 2,
            establish_ticks: 60,
            max_batch_proposals: 1024,
            max_uncommitted_proposals: 10_000,
            snapshot_chunk_bytes: 1 << 20,
            diff_window_proposals: 1000,
            forward_timeout_ticks: 100,
        }
    }

    /// Whether this server is an observer.
    pub fn is_observer(&self) -> bool {
        self.observers.contains(&self.id)
    }

    /// Checks the configuration for values the core cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = NodeId(0);
        if self.id == zero || self.voters.contains(&zero) || self.observers.contains(&zero) {
            return Err(ConfigError::ZeroId);
        }
        if self.voters.is_empty() {
            return Err(ConfigError::NoVoters);
        }
        if let Some(both) = self.voters.iter().find(|v| self.observers.contains(v)) {
            return Err(ConfigError::VoterAndObserver(*both));
        }
        if !self.voters.contains(&self.id) && !self.observers.contains(&self.id) {
            return Err(ConfigError::NotAMember(self.id));
        }
        synod_core::timing::check_ticks(
            self.heartbeat_ticks,
            self.election_ticks_min,
            self.election_ticks_max,
        )?;
        let positive = [
            ("establish_ticks", self.establish_ticks),
            ("max_batch_proposals", self.max_batch_proposals as u64),
            ("max_uncommitted_proposals", self.max_uncommitted_proposals),
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes as u64),
            ("forward_timeout_ticks", self.forward_timeout_ticks),
        ];
        if let Some(name) = synod_core::settings::first_zero(&positive) {
            return Err(ConfigError::Zero(name));
        }
        Ok(())
    }
}

/// Why a [`ZabConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Server id zero is reserved for "nobody".
    #[error("server id 0 is reserved; ids start at 1")]
    ZeroId,
    /// The ensemble has no voter.
    #[error("the ensemble needs at least one voter")]
    NoVoters,
    /// A server is listed both as voter and as observer.
    #[error("server {0} is listed both as voter and as observer")]
    VoterAndObserver(NodeId),
    /// This server is neither a voter nor an observer.
    #[error("server {0} is neither a voter nor an observer")]
    NotAMember(NodeId),
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
        let c = ZabConfig::new(NodeId(1), vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!((c.election_ticks_min, c.election_ticks_max), (15, 30));
        assert_eq!(c.heartbeat_ticks, 3);
        assert!(!c.is_observer());
        c.validate().unwrap();
    }

    #[test]
    fn invalid_settings_are_refused() {
        let base = ZabConfig::new(NodeId(1), vec![NodeId(1), NodeId(2)]);
        let mut c = base.clone();
        c.heartbeat_ticks = 15;
        assert!(matches!(c.validate(), Err(ConfigError::Ticks(_))));
        let mut c = base.clone();
        c.observers = vec![NodeId(2)];
        assert_eq!(c.validate(), Err(ConfigError::VoterAndObserver(NodeId(2))));
        let mut c = base.clone();
        c.id = NodeId(9);
        assert_eq!(c.validate(), Err(ConfigError::NotAMember(NodeId(9))));
        let mut c = base;
        c.max_batch_proposals = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero("max_batch_proposals")));
    }
}
