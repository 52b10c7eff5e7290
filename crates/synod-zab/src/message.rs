//! The vocabulary ZAB replicas exchange and persist: [`ZabMessage`] on the
//! wire (one variant per packet type of ZooKeeper's quorum protocol),
//! [`ZabRecord`] in the transaction log and [`ZabHardState`] beside it.

use crate::zxid::{Txn, Zxid};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use synod_core::{ClientError, LogRecord, NodeId};

/// A server's state, as ZooKeeper names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PeerState {
    /// Running Fast Leader Election.
    Looking,
    /// Following an elected leader (discovery, synchronisation or broadcast).
    Following,
    /// Leading (discovery, synchronisation or broadcast).
    Leading,
    /// A non-voting learner following the leader.
    Observing,
}

impl PeerState {
    /// The role name reported in [`ProtocolStatus`](synod_core::ProtocolStatus).
    pub fn name(self) -> &'static str {
        match self {
            PeerState::Looking => "looking",
            PeerState::Following => "following",
            PeerState::Leading => "leading",
            PeerState::Observing => "observing",
        }
    }
}

/// A Fast Leader Election vote: who should lead, and how up to date that
/// server's history is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The proposed leader.
    pub leader: NodeId,
    /// The proposed leader's last zxid.
    pub zxid: Zxid,
    /// The proposed leader's current epoch (`peerEpoch`).
    pub peer_epoch: u64,
}

impl Vote {
    /// FLE's `totalOrderPredicate`: votes compare by peer epoch, then zxid,
    /// then server id. A server switches to a vote that compares greater.
    pub fn order(&self, other: &Vote) -> Ordering {
        (self.peer_epoch, self.zxid, self.leader).cmp(&(other.peer_epoch, other.zxid, other.leader))
    }

    /// Whether `self` beats `other` (compares strictly greater).
    pub fn beats(&self, other: &Vote) -> bool {
        self.order(other) == Ordering::Greater
    }
}

/// What a follower holds, summarised for the leader's choice of DIFF, TRUNC
/// or SNAP: everything up to `base` (committed, covered by its snapshot), and
/// for each epoch present above `base`, the last zxid of that epoch.
///
/// Within one epoch every replica's transactions are a prefix of that
/// epoch's leader's proposals (one leader per epoch, FIFO delivery checked by
/// `prev`), so the last zxid per epoch says exactly which transactions of
/// that epoch the follower holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistorySummary {
    /// Everything at or below this zxid is held (committed, maybe only in
    /// the snapshot).
    pub base: Zxid,
    /// The last zxid of each epoch present above `base`, ascending.
    pub epoch_lasts: Vec<Zxid>,
}

impl HistorySummary {
    /// Whether the summarised history holds `zxid`.
    pub fn holds(&self, zxid: Zxid) -> bool {
        zxid <= self.base
            || self
                .epoch_lasts
                .iter()
                .any(|l| l.epoch() == zxid.epoch() && *l >= zxid)
    }

    /// The last zxid held.
    pub fn last(&self) -> Zxid {
        self.epoch_lasts.last().copied().unwrap_or(self.base)
    }
}

/// How a leader brings a follower's history in line with its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncMode {
    /// DIFF: the follower's history is a prefix of the leader's; append the
    /// proposals that follow.
    Diff,
    /// TRUNC: the follower holds proposals the leader does not (a deposed
    /// leader's uncommitted tail): drop everything after `after`, then
    /// append the proposals that follow.
    Trunc {
        /// The last zxid the follower keeps.
        after: Zxid,
    },
    /// SNAP: the follower lacks transactions the leader has compacted away:
    /// install the snapshot at `position` (sent before in
    /// [`ZabMessage::SnapChunk`]s), drop anything held after `truncate_after`
    /// (when set), then append the proposals that follow.
    Snap {
        /// The snapshot's zxid.
        position: Zxid,
        /// Drop the follower's own transactions after this zxid, if any.
        truncate_after: Option<Zxid>,
    },
}

/// A message between ZAB servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZabMessage {
    /// Fast Leader Election notification.
    Notification {
        /// The sender's current vote.
        vote: Vote,
        /// The sender's logical clock (election epoch).
        election_epoch: u64,
        /// The sender's state.
        state: PeerState,
    },
    /// Discovery, follower → prospective leader: "I follow you; the highest
    /// epoch I have accepted is `accepted_epoch`".
    FollowerInfo {
        /// The follower's `acceptedEpoch`.
        accepted_epoch: u64,
    },
    /// Discovery, leader → follower: the new epoch, above every accepted
    /// epoch of a quorum.
    LeaderInfo {
        /// The new epoch.
        epoch: u64,
    },
    /// Discovery, follower → leader: "I accepted `epoch`; here is my
    /// history".
    AckEpoch {
        /// The epoch acknowledged.
        epoch: u64,
        /// The follower's `currentEpoch`.
        current_epoch: u64,
        /// What the follower holds.
        history: HistorySummary,
    },
    /// Synchronisation: one chunk of the leader's snapshot (SNAP).
    SnapChunk {
        /// The leader's epoch.
        epoch: u64,
        /// The snapshot's zxid.
        position: Zxid,
        /// Byte offset of `data` in the snapshot.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
        /// Whether this is the last chunk.
        done: bool,
    },
    /// Synchronisation: DIFF, TRUNC or SNAP, with the proposals that follow.
    Sync {
        /// The leader's epoch.
        epoch: u64,
        /// The follower's last zxid this sync was computed against; a
        /// follower whose history moved since ignores it.
        for_last: Zxid,
        /// DIFF, TRUNC or SNAP.
        mode: SyncMode,
        /// The leader's proposals the follower lacks, in zxid order.
        proposals: Vec<Txn>,
    },
    /// Synchronisation: the follower now holds the leader's history through
    /// `last`; it adopts `epoch` as its current epoch and acknowledges.
    NewLeader {
        /// The new epoch.
        epoch: u64,
        /// The leader's last zxid at the time of the sync.
        last: Zxid,
    },
    /// Synchronisation, follower → leader: acknowledgement of NEWLEADER.
    AckNewLeader {
        /// The epoch.
        epoch: u64,
        /// The follower's last zxid.
        last: Zxid,
    },
    /// Synchronisation: a quorum acknowledged NEWLEADER; everything through
    /// `committed` is committed and the follower may serve.
    UpToDate {
        /// The epoch.
        epoch: u64,
        /// The leader's commit point.
        committed: Zxid,
    },
    /// Broadcast: a new proposal. `prev` is the leader's zxid before it, so
    /// a follower detects a lost or reordered message instead of logging a
    /// history with a hole.
    Proposal {
        /// The epoch.
        epoch: u64,
        /// The zxid the follower must hold last to accept it.
        prev: Zxid,
        /// The transaction.
        txn: Txn,
    },
    /// Broadcast: "I have logged every proposal through `zxid`" (cumulative).
    Ack {
        /// The epoch.
        epoch: u64,
        /// The follower's last logged zxid.
        zxid: Zxid,
    },
    /// Broadcast: every proposal through `zxid` is committed.
    Commit {
        /// The epoch.
        epoch: u64,
        /// The commit point.
        zxid: Zxid,
    },
    /// Broadcast to observers: a committed transaction.
    Inform {
        /// The epoch.
        epoch: u64,
        /// The committed zxid before it.
        prev: Zxid,
        /// The transaction.
        txn: Txn,
    },
    /// Leader → learner heartbeat, carrying the commit point and the
    /// sequence number of the latest linearizable read round.
    Ping {
        /// The epoch.
        epoch: u64,
        /// The leader's commit point.
        committed: Zxid,
        /// The read round to echo.
        read_seq: u64,
    },
    /// Learner → leader answer to a ping.
    PingAck {
        /// The epoch.
        epoch: u64,
        /// The read round echoed.
        read_seq: u64,
        /// The learner's last logged zxid.
        last: Zxid,
    },
    /// Learner → leader: a client's write, forwarded (ZooKeeper's REQUEST).
    /// The leader proposes it with the learner as its origin.
    Request {
        /// The epoch.
        epoch: u64,
        /// The learner's incarnation.
        incarnation: u64,
        /// The learner's request number.
        request: u64,
        /// The client's encoded command.
        command: Vec<u8>,
    },
    /// Learner → leader: a client's linearizable read at the learner
    /// (ZooKeeper's `sync`). The leader confirms it with a ping round.
    SyncRequest {
        /// The epoch.
        epoch: u64,
        /// The learner's incarnation.
        incarnation: u64,
        /// The learner's request number.
        request: u64,
    },
    /// Leader → learner: the `sync` is confirmed; the learner serves the
    /// read once it has applied `zxid`.
    SyncReply {
        /// The epoch.
        epoch: u64,
        /// The learner's incarnation the request came from.
        incarnation: u64,
        /// The learner's request number.
        request: u64,
        /// The leader's commit point when the `sync` arrived.
        zxid: Zxid,
    },
    /// Leader → learner: a forwarded write the leader did not propose, and
    /// why (a definite error).
    Refused {
        /// The epoch.
        epoch: u64,
        /// The learner's incarnation the request came from.
        incarnation: u64,
        /// The learner's request number.
        request: u64,
        /// The answer for the client.
        error: ClientError,
    },
}

impl ZabMessage {
    /// The leader epoch the message belongs to (`None` for notifications and
    /// FOLLOWERINFO, which precede the epoch).
    pub fn epoch(&self) -> Option<u64> {
        use ZabMessage::*;
        match self {
            Notification { .. } | FollowerInfo { .. } => None,
            LeaderInfo { epoch }
            | AckEpoch { epoch, .. }
            | SnapChunk { epoch, .. }
            | Sync { epoch, .. }
            | NewLeader { epoch, .. }
            | AckNewLeader { epoch, .. }
            | UpToDate { epoch, .. }
            | Proposal { epoch, .. }
            | Ack { epoch, .. }
            | Commit { epoch, .. }
            | Inform { epoch, .. }
            | Ping { epoch, .. }
            | PingAck { epoch, .. }
            | Request { epoch, .. }
            | SyncRequest { epoch, .. }
            | SyncReply { epoch, .. }
            | Refused { epoch, .. } => Some(*epoch),
        }
    }
}

/// A record of the durable transaction log.
///
/// Replay rule (what [`ZabNode::new`](crate::ZabNode::new) does with
/// `Recovered::records`): records are applied in append order; a proposal
/// whose zxid is not above the last one held first drops every held zxid at
/// or above it; a truncation drops every zxid above `after`. Transactions at
/// or below the recovered snapshot's zxid are then dropped.
///
/// The log is append-only, so TRUNC is itself a record rather than an
/// in-place deletion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZabRecord {
    /// A proposal logged (by its leader, or by a follower before its ACK).
    Proposal(Txn),
    /// Everything after `after` is gone (TRUNC, or the divergent tail under
    /// a SNAP). Its position is `after + 1`, so compaction keeps it while a
    /// record it cancels is kept.
    Truncate {
        /// The last zxid kept.
        after: Zxid,
    },
}

impl LogRecord for ZabRecord {
    fn position(&self) -> u64 {
        match self {
            ZabRecord::Proposal(t) => t.zxid.0,
            ZabRecord::Truncate { after } => after.0.saturating_add(1),
        }
    }
}

/// The small durable state: ZAB's two epochs, and how many times the
/// server has started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZabHardState {
    /// `acceptedEpoch`: the highest epoch this server accepted in a
    /// LEADERINFO (or proposed, as leader). It never promises to follow an
    /// older one.
    pub accepted_epoch: u64,
    /// `currentEpoch`: the epoch whose NEWLEADER this server last
    /// acknowledged (or sent, as leader). Votes compare it first.
    pub current_epoch: u64,
    /// Raised at every start, before the server forwards a write: tells a
    /// forwarded write of this life from one of an earlier life with the
    /// same request number (see [`Origin`](crate::Origin)).
    pub incarnation: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(leader: u64, zxid: Zxid, peer_epoch: u64) -> Vote {
        Vote {
            leader: NodeId(leader),
            zxid,
            peer_epoch,
        }
    }

    #[test]
    fn vote_ordering_compares_peer_epoch_then_zxid_then_server_id() {
        let base = vote(1, Zxid::new(1, 5), 1);
        // A higher peer epoch wins even with an older zxid and lower id.
        assert!(vote(1, Zxid::new(1, 1), 2).beats(&vote(3, Zxid::new(1, 9), 1)));
        // Same epoch: the higher zxid wins even with a lower id.
        assert!(vote(1, Zxid::new(1, 6), 1).beats(&vote(3, Zxid::new(1, 5), 1)));
        // Same epoch and zxid: the higher server id wins.
        assert!(vote(2, Zxid::new(1, 5), 1).beats(&base));
        assert!(!base.beats(&base));
    }

    #[test]
    fn summary_holds_each_epoch_through_its_last_zxid() {
        let s = HistorySummary {
            base: Zxid::new(1, 3),
            epoch_lasts: vec![Zxid::new(1, 5), Zxid::new(3, 2)],
        };
        assert!(s.holds(Zxid::new(1, 1)) && s.holds(Zxid::new(1, 5)));
        assert!(!s.holds(Zxid::new(1, 6)) && !s.holds(Zxid::new(2, 1)));
        assert!(s.holds(Zxid::new(3, 2)) && !s.holds(Zxid::new(3, 3)));
        assert_eq!(s.last(), Zxid::new(3, 2));
    }

    #[test]
    fn truncate_record_sits_just_after_the_last_zxid_it_keeps() {
        let t = ZabRecord::Truncate {
            after: Zxid::new(2, 4),
        };
        assert_eq!(t.position(), Zxid::new(2, 5).0);
    }
}
