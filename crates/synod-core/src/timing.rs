//! Election and heartbeat timing, in ticks, for the leader-based protocols.
//!
//! Raft, Multi-Paxos and ZAB share one shape of timing: a leader sends a
//! heartbeat every `heartbeat` ticks, and a follower that hears nothing for a
//! randomised timeout drawn from `election_min..=election_max` ticks starts
//! an election. It only works if a heartbeat fits inside the shortest
//! timeout — otherwise followers depose a healthy leader between two of its
//! heartbeats — so every protocol checks the same rule with [`check_ticks`].

/// Tick settings that cannot work: the rule is
/// `0 < heartbeat < election_min <= election_max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "need 0 < heartbeat_ticks < election_ticks_min <= election_ticks_max, \
     got heartbeat {heartbeat}, election {min}..={max}"
)]
pub struct TickError {
    /// The heartbeat period given.
    pub heartbeat: u64,
    /// The shortest election timeout given.
    pub min: u64,
    /// The longest election timeout given.
    pub max: u64,
}

/// Checks `0 < heartbeat < election_min <= election_max`.
pub fn check_ticks(heartbeat: u64, election_min: u64, election_max: u64) -> Result<(), TickError> {
    if heartbeat == 0 || heartbeat >= election_min || election_max < election_min {
        return Err(TickError {
            heartbeat,
            min: election_min,
            max: election_max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_must_fit_inside_the_shortest_election_timeout() {
        assert!(check_ticks(3, 15, 30).is_ok());
        assert!(check_ticks(3, 15, 15).is_ok());
        assert!(check_ticks(0, 15, 30).is_err());
        assert!(check_ticks(15, 15, 30).is_err());
        assert!(check_ticks(3, 15, 14).is_err());
    }
}
