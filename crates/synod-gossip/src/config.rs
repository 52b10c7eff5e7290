//! [`GossipConfig`]: a member's identity, the seed membership and every
//! tunable of the core, in ticks, peers and counts (never milliseconds: only
//! the driver knows how long a tick is; the node ticks every 10 ms by
//! default, so the defaults below are given in both).

use synod_core::NodeId;

/// How one gossip member behaves. Build it with [`GossipConfig::new`] and
/// change the fields you need; [`GossipNode::new`](crate::GossipNode::new)
/// validates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipConfig {
    /// This member's id. Never zero.
    pub id: NodeId,
    /// The seed members: the whole cluster as this node sees it on its
    /// command line (this node may or may not be listed). Members not listed
    /// here are accepted later when another member gossips about them.
    pub members: Vec<NodeId>,
    /// The SWIM protocol period: every this many ticks a member pings one
    /// other member, chosen in randomised round-robin order (default 10:
    /// 100 ms).
    pub protocol_period_ticks: u64,
    /// A ping not acknowledged within this many ticks is retried indirectly
    /// through `ping_req_k` other members (default 4). Must be below
    /// `protocol_period_ticks`: a probe that is still unanswered at the end of
    /// its period makes the target suspect.
    pub ping_timeout_ticks: u64,
    /// How many members are asked to ping a silent target on our behalf
    /// (SWIM's k; default 3).
    pub ping_req_k: usize,
    /// A member suspected for `suspicion_ticks · max(1, log₁₀ N)` ticks
    /// without refuting is declared dead (default 50: five protocol periods,
    /// 500 ms, for up to 10 members; twice that for 100, three times for
    /// 1,000). The log N factor (SWIM §4.2; memberlist's
    /// `SuspicionMult`) gives the refutation time to spread through a larger
    /// cluster before anyone's timer runs out.
    pub suspicion_ticks: u64,
    /// A rumour round runs every this many ticks: fresh data updates are
    /// pushed to `fanout` random members (default 2: 20 ms).
    pub gossip_ticks: u64,
    /// How many random members each rumour round pushes to (default 3).
    pub fanout: usize,
    /// λ in "each update is retransmitted λ·⌈log₁₀(N+1)⌉ times": data
    /// updates for that many rumour rounds, membership updates on that many
    /// piggybacks (default 3).
    pub retransmit_multiplier: u32,
    /// Every this many ticks a member runs a scuttlebutt push-pull exchange
    /// with one random member (default 50: 500 ms).
    pub anti_entropy_ticks: u64,
    /// At most this many membership updates ride on one message (default 16).
    pub max_piggyback: usize,
    /// At most this many data updates in one message (default 1024); the
    /// rest follow in later rounds.
    pub max_updates_per_message: usize,
    /// At most about this many bytes of updates in one message (default
    /// 4 MiB, half the node's 8 MiB frame limit); one update always fits.
    pub max_message_bytes: usize,
    /// At most this many fresh updates are being rumoured at once (default
    /// 65 536); beyond it the oldest rumour stops early and anti-entropy
    /// delivers it instead.
    pub max_rumours: usize,
}

impl GossipConfig {
    /// A configuration for member `id` of a cluster seeded with `members`,
    /// every tunable at its default.
    pub fn new(id: NodeId, members: Vec<NodeId>) -> Self {
        Self {
            id,
            members,
            protocol_period_ticks: 10,
            ping_timeout_ticks: 4,
            ping_req_k: 3,
            suspicion_ticks: 50,
            gossip_ticks: 2,
            fanout: 3,
            retransmit_multiplier: 3,
            anti_entropy_ticks: 50,
            max_piggyback: 16,
            max_updates_per_message: 1024,
            max_message_bytes: 4 << 20,
            max_rumours: 65_536,
        }
    }

    /// Checks the configuration for values the core cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == NodeId(0) || self.members.contains(&NodeId(0)) {
            return Err(ConfigError::ZeroId);
        }
        if self.ping_timeout_ticks == 0 || self.ping_timeout_ticks >= self.protocol_period_ticks {
            return Err(ConfigError::ProbeTicks {
                timeout: self.ping_timeout_ticks,
                period: self.protocol_period_ticks,
            });
        }
        let positive: [(&'static str, u64); 9] = [
            ("suspicion_ticks", self.suspicion_ticks),
            ("gossip_ticks", self.gossip_ticks),
            ("fanout", self.fanout as u64),
            (
                "retransmit_multiplier",
                u64::from(self.retransmit_multiplier),
            ),
            ("anti_entropy_ticks", self.anti_entropy_ticks),
            ("max_piggyback", self.max_piggyback as u64),
            (
                "max_updates_per_message",
                self.max_updates_per_message as u64,
            ),
            ("max_rumours", self.max_rumours as u64),
            ("max_message_bytes", self.max_message_bytes as u64),
        ];
        match synod_core::settings::first_zero(&positive) {
            Some(name) => Err(ConfigError::Zero(name)),
            None => Ok(()),
        }
    }

    /// How long a suspicion lasts before death in a cluster of `members`:
    /// `suspicion_ticks · max(1, log₁₀ members)`, rounded.
    pub fn suspicion_timeout(&self, members: usize) -> u64 {
        let factor = (members as f64).log10().max(1.0);
        (self.suspicion_ticks as f64 * factor).round() as u64
    }

    /// How many times an update is retransmitted in a cluster of `members`:
    /// `retransmit_multiplier · ⌈log₁₀(members + 1)⌉`, at least 1.
    pub fn retransmit_limit(&self, members: usize) -> u32 {
        let log = ((members as f64) + 1.0).log10().ceil().max(1.0) as u32;
        self.retransmit_multiplier.saturating_mul(log).max(1)
    }
}

/// Why a [`GossipConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Node id zero is reserved for "nobody".
    #[error("node id 0 is reserved; ids start at 1")]
    ZeroId,
    /// The probe timing cannot work.
    #[error("need 0 < ping_timeout_ticks < protocol_period_ticks, got {timeout} and {period}")]
    ProbeTicks {
        /// `ping_timeout_ticks`.
        timeout: u64,
        /// `protocol_period_ticks`.
        period: u64,
    },
    /// A setting that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let c = GossipConfig::new(NodeId(1), vec![NodeId(1), NodeId(2)]);
        assert_eq!((c.fanout, c.ping_req_k), (3, 3));
        c.validate().unwrap();
    }

    #[test]
    fn invalid_settings_are_refused() {
        let base = GossipConfig::new(NodeId(1), vec![NodeId(1)]);
        let mut c = base.clone();
        c.id = NodeId(0);
        assert_eq!(c.validate(), Err(ConfigError::ZeroId));
        let mut c = base.clone();
        c.ping_timeout_ticks = 10;
        assert!(matches!(c.validate(), Err(ConfigError::ProbeTicks { .. })));
        let mut c = base;
        c.fanout = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero("fanout")));
    }

    #[test]
    fn retransmissions_grow_with_log_of_cluster_size() {
        let c = GossipConfig::new(NodeId(1), vec![]);
        assert_eq!(c.retransmit_limit(1), 3);
        assert_eq!(c.retransmit_limit(10), 6);
        assert_eq!(c.retransmit_limit(100), 9);
        assert_eq!(c.retransmit_limit(1000), 12);
    }

    #[test]
    fn suspicion_lasts_longer_in_larger_clusters() {
        let c = GossipConfig::new(NodeId(1), vec![]);
        assert_eq!(c.suspicion_timeout(5), 50);
        assert_eq!(c.suspicion_timeout(100), 100);
        assert_eq!(c.suspicion_timeout(1000), 150);
    }
}
