//! The vocabulary Raft replicas exchange and persist: [`RaftMessage`] on the
//! wire, [`Entry`] in the log, [`RaftRecord`] in storage, [`RaftHardState`]
//! and [`SnapshotMeta`] beside it.

use crate::error::RaftError;
use crate::membership::Membership;
use serde::{Deserialize, Serialize};
use synod_core::{codec, LogRecord, NodeId};

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryPayload {
    /// The entry every new leader appends at the start of its term, so that
    /// it can commit (Figure 8) and serve ReadIndex reads.
    Noop,
    /// A client command, opaque to Raft.
    Command(Vec<u8>),
    /// A new membership. It takes effect on every replica as soon as it is
    /// appended to that replica's log (single-server change, dissertation
    /// §4.1), and is undone if the entry is truncated.
    Config(Membership),
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, from 1.
    pub index: u64,
    /// Term of the leader that created the entry.
    pub term: u64,
    /// What the entry carries.
    pub payload: EntryPayload,
}

impl Entry {
    /// Approximate wire size, for the in-flight byte budget.
    pub fn size_bytes(&self) -> u64 {
        let payload = match &self.payload {
            EntryPayload::Noop => 0,
            EntryPayload::Command(c) => c.len() as u64,
            EntryPayload::Config(m) => 8 * (m.voters.len() + m.learners.len()) as u64,
        };
        24 + payload
    }
}

/// A record of the durable log.
///
/// Replay rule (what [`RaftNode::new`](crate::RaftNode::new) does with
/// `Recovered::records`): records are applied in append order; a record at
/// position `p` replaces whatever the log held at `p` and drops everything
/// after it. Records at or below the recovered snapshot's index are dropped
/// at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftRecord {
    /// A log entry (appended by a leader, or accepted by a follower).
    Entry(Entry),
    /// The log after `last_kept` is empty. Written by a follower about to
    /// install a snapshot that conflicts with its log (it holds a different
    /// entry at the snapshot's index), so that the conflicting suffix is
    /// durably gone before the snapshot is saved. Its position is
    /// `last_kept + 1`: by the replay rule it drops every older record past
    /// `last_kept`. Ordinary conflicts need no such record, since the
    /// leader's entry at the conflicting index overwrites it.
    Truncate {
        /// The last index that survives.
        last_kept: u64,
    },
}

impl LogRecord for RaftRecord {
    fn position(&self) -> u64 {
        match self {
            RaftRecord::Entry(e) => e.index,
            RaftRecord::Truncate { last_kept } => last_kept + 1,
        }
    }
}

/// The small durable state, written atomically before any message that
/// depends on it leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftHardState {
    /// The latest term this replica has seen.
    pub term: u64,
    /// The candidate this replica voted for in `term`, if any.
    pub voted_for: Option<NodeId>,
}

/// What `Snapshot::meta` holds for Raft: the last entry the snapshot covers
/// and the membership as of that entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Index of the last entry covered.
    pub last_included_index: u64,
    /// Term of the last entry covered.
    pub last_included_term: u64,
    /// The membership in force at `last_included_index`.
    pub membership: Membership,
}

impl SnapshotMeta {
    /// Encodes the metadata for `Snapshot::meta`.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self).expect("snapshot metadata always encodes")
    }

    /// Decodes `Snapshot::meta`.
    pub fn decode(bytes: &[u8]) -> Result<Self, RaftError> {
        codec::decode(bytes).map_err(|e| RaftError::SnapshotMeta(e.to_string()))
    }
}

/// A message between Raft replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftMessage {
    /// A candidate asks for a vote (or, with `pre_vote`, asks whether it
    /// would get one, without anybody changing term).
    RequestVote {
        /// The candidate's term; for a pre-vote, the term it would campaign in.
        term: u64,
        /// Index of the candidate's last log entry.
        last_log_index: u64,
        /// Term of the candidate's last log entry.
        last_log_term: u64,
        /// A pre-vote: nobody changes term or records a vote.
        pre_vote: bool,
        /// The election follows a TimeoutNow: voters skip the leader lease.
        leadership_transfer: bool,
    },
    /// The answer to [`RaftMessage::RequestVote`].
    RequestVoteResponse {
        /// The voter's term (for a granted pre-vote: the term asked about).
        term: u64,
        /// Whether the vote (or pre-vote) is granted.
        granted: bool,
        /// Answers a pre-vote.
        pre_vote: bool,
    },
    /// Log replication, and the heartbeat when `entries` is empty.
    AppendEntries {
        /// The leader's term.
        term: u64,
        /// Index of the entry just before `entries`.
        prev_log_index: u64,
        /// Term of that entry: the consistency check.
        prev_log_term: u64,
        /// Entries to store, in index order (may be empty).
        entries: Vec<Entry>,
        /// The leader's commit index.
        leader_commit: u64,
        /// The leader's latest ReadIndex round, echoed in the response.
        read_seq: u64,
    },
    /// The answer to [`RaftMessage::AppendEntries`].
    AppendEntriesResponse {
        /// The follower's term.
        term: u64,
        /// Whether the consistency check passed.
        success: bool,
        /// On success, the last index known to match the leader's log; on
        /// failure, the `prev_log_index` that was rejected.
        index: u64,
        /// On failure, the fast back-off hint: the largest index at or below
        /// the rejected one whose term is at most `prev_log_term`...
        conflict_index: u64,
        /// ...and the follower's term there (`None` when the follower cannot
        /// tell, because the index is compacted or the message was stale).
        conflict_term: Option<u64>,
        /// The `read_seq` of the message answered.
        read_seq: u64,
    },
    /// One chunk of the leader's snapshot, for a follower whose next entry
    /// the leader has compacted away.
    InstallSnapshot {
        /// The leader's term.
        term: u64,
        /// Index of the last entry the snapshot covers.
        last_included_index: u64,
        /// Term of that entry.
        last_included_term: u64,
        /// The membership as of `last_included_index`.
        membership: Membership,
        /// Byte offset of `data` in the snapshot.
        offset: u64,
        /// The chunk.
        data: Vec<u8>,
        /// This is the last chunk.
        done: bool,
        /// The leader's latest ReadIndex round, echoed in the response.
        read_seq: u64,
    },
    /// The answer to [`RaftMessage::InstallSnapshot`].
    InstallSnapshotResponse {
        /// The follower's term.
        term: u64,
        /// The snapshot answered.
        last_included_index: u64,
        /// The offset of the next chunk the follower expects.
        next_offset: u64,
        /// The follower now holds the snapshot (installed it, or already had
        /// everything it covers).
        done: bool,
        /// The `read_seq` of the message answered.
        read_seq: u64,
    },
    /// Leadership transfer: the leader tells a caught-up voter to start an
    /// election at once.
    TimeoutNow {
        /// The leader's term.
        term: u64,
    },
}

impl RaftMessage {
    /// The term the message carries.
    pub fn term(&self) -> u64 {
        match self {
            RaftMessage::RequestVote { term, .. }
            | RaftMessage::RequestVoteResponse { term, .. }
            | RaftMessage::AppendEntries { term, .. }
            | RaftMessage::AppendEntriesResponse { term, .. }
            | RaftMessage::InstallSnapshot { term, .. }
            | RaftMessage::InstallSnapshotResponse { term, .. }
            | RaftMessage::TimeoutNow { term } => *term,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_positions_follow_the_replay_rule() {
        let e = RaftRecord::Entry(Entry {
            index: 7,
            term: 2,
            payload: EntryPayload::Noop,
        });
        assert_eq!(e.position(), 7);
        assert_eq!(RaftRecord::Truncate { last_kept: 9 }.position(), 10);
    }

    #[test]
    fn snapshot_meta_round_trips_and_garbage_is_an_error() {
        let m = SnapshotMeta {
            last_included_index: 5,
            last_included_term: 3,
            membership: Membership::new([NodeId(1), NodeId(2)], [NodeId(3)]),
        };
        assert_eq!(SnapshotMeta::decode(&m.encode()).unwrap(), m);
        assert!(SnapshotMeta::decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn messages_round_trip_through_the_codec() {
        let msg = RaftMessage::AppendEntries {
            term: 3,
            prev_log_index: 4,
            prev_log_term: 2,
            entries: vec![Entry {
                index: 5,
                term: 3,
                payload: EntryPayload::Command(b"x".to_vec()),
            }],
            leader_commit: 4,
            read_seq: 9,
        };
        let back: RaftMessage = codec::decode(&codec::encode(&msg).unwrap()).unwrap();
        assert_eq!(back, msg);
        assert_eq!(back.term(), 3);
    }
}
