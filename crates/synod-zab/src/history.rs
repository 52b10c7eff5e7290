//! [`History`]: a server's transaction history in memory, and the leader's
//! choice of DIFF, TRUNC or SNAP for a follower ([`plan_sync`]).
//!
//! A history is a base zxid (everything at or below it is committed and
//! covered by the snapshot, the transactions themselves may be gone) and the
//! transactions above it, in strictly increasing zxid order.
//!
//! # Choosing DIFF, TRUNC or SNAP
//!
//! Within one epoch there is one leader, and every server's transactions of
//! that epoch are a prefix of what that leader proposed (followers accept a
//! proposal only on top of its predecessor). So a follower's
//! [`HistorySummary`] — its base and its last zxid per epoch — tells the
//! leader exactly which of its transactions the follower holds, and which of
//! the follower's transactions it does not hold. The first zxid where the
//! two histories differ is the *cut*: the follower keeps everything below
//! it (TRUNC drops what it holds from the cut on), and the leader sends
//! everything it holds from the cut on. When the follower lacks a
//! transaction the leader has compacted away, the leader sends its snapshot
//! first (SNAP).

use crate::message::{HistorySummary, SyncMode, ZabRecord};
use crate::zxid::{Txn, Zxid};

/// A server's history: committed base plus the transactions above it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct History {
    base: Zxid,
    entries: Vec<Txn>,
}

impl History {
    /// Rebuilds the history from the log records (see [`ZabRecord`] for the
    /// replay rule), on top of a snapshot at `base`.
    pub(crate) fn replay(base: Zxid, records: impl IntoIterator<Item = ZabRecord>) -> History {
        let mut h = History::default();
        for record in records {
            match record {
                ZabRecord::Proposal(txn) => {
                    h.truncate_after(txn.zxid.prev());
                    h.entries.push(txn);
                }
                ZabRecord::Truncate { after } => h.truncate_after(after),
            }
        }
        h.install_base(base);
        h
    }

    /// Everything at or below this zxid is committed and covered by the
    /// snapshot.
    pub(crate) fn base(&self) -> Zxid {
        self.base
    }

    /// The last zxid held (the base when nothing is above it).
    pub(crate) fn last(&self) -> Zxid {
        self.entries.last().map_or(self.base, |t| t.zxid)
    }

    /// The transactions above the base.
    pub(crate) fn entries(&self) -> &[Txn] {
        &self.entries
    }

    /// The transaction `zxid`, if held above the base.
    pub(crate) fn get(&self, zxid: Zxid) -> Option<&Txn> {
        self.entries
            .binary_search_by_key(&zxid, |t| t.zxid)
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Whether `zxid` is the base or a held transaction.
    pub(crate) fn holds(&self, zxid: Zxid) -> bool {
        zxid == self.base || self.get(zxid).is_some()
    }

    /// Transactions above `zxid`, at most `limit` of them.
    pub(crate) fn after(&self, zxid: Zxid, limit: usize) -> &[Txn] {
        let from = self.entries.partition_point(|t| t.zxid <= zxid);
        let to = from.saturating_add(limit).min(self.entries.len());
        &self.entries[from..to]
    }

    /// The zxid held just before `zxid` (the base if none above it).
    pub(crate) fn prev_of(&self, zxid: Zxid) -> Zxid {
        let i = self.entries.partition_point(|t| t.zxid < zxid);
        if i == 0 {
            self.base
        } else {
            self.entries[i - 1].zxid
        }
    }

    /// Appends a transaction above the last one. Returns `false` (and does
    /// nothing) if it would not keep the order.
    pub(crate) fn append(&mut self, txn: Txn) -> bool {
        if txn.zxid <= self.last() {
            return false;
        }
        self.entries.push(txn);
        true
    }

    /// Drops every transaction above `after` (never the base).
    pub(crate) fn truncate_after(&mut self, after: Zxid) {
        let keep = self.entries.partition_point(|t| t.zxid <= after);
        self.entries.truncate(keep);
    }

    /// Moves the base up to `zxid` (a snapshot was installed or recovered):
    /// transactions at or below it are dropped.
    pub(crate) fn install_base(&mut self, zxid: Zxid) {
        if zxid > self.base {
            let drop = self.entries.partition_point(|t| t.zxid <= zxid);
            self.entries.drain(..drop);
            self.base = zxid;
        }
    }

    /// After a snapshot at `snapshot_at`, forgets transactions it covers
    /// except the last `keep` of them (the DIFF window for lagging
    /// followers).
    pub(crate) fn compact(&mut self, snapshot_at: Zxid, keep: usize) {
        let covered = self.entries.partition_point(|t| t.zxid <= snapshot_at);
        let drop = covered.saturating_sub(keep);
        if drop > 0 {
            self.base = self.entries[drop - 1].zxid;
            self.entries.drain(..drop);
        }
    }

    /// The summary a follower sends in ACKEPOCH.
    pub(crate) fn summary(&self) -> HistorySummary {
        let mut epoch_lasts: Vec<Zxid> = Vec::new();
        for t in &self.entries {
            match epoch_lasts.last_mut() {
                Some(l) if l.epoch() == t.zxid.epoch() => *l = t.zxid,
                _ => epoch_lasts.push(t.zxid),
            }
        }
        HistorySummary {
            base: self.base,
            epoch_lasts,
        }
    }

    /// The last zxid of `epoch` held at or below `until`, if any.
    fn last_of_epoch(&self, epoch: u32, until: Zxid) -> Option<Zxid> {
        let bound = Zxid::new(epoch, u32::MAX).min(until);
        let i = self.entries.partition_point(|t| t.zxid <= bound);
        let last = if i == 0 {
            self.base
        } else {
            self.entries[i - 1].zxid
        };
        (last.epoch() == epoch).then_some(last)
    }
}

/// What the leader sends a follower to synchronise it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyncPlan {
    /// DIFF, TRUNC or SNAP.
    pub(crate) mode: SyncMode,
    /// Send the leader's transactions above this zxid (up to the view's
    /// limit).
    pub(crate) send_after: Zxid,
}

/// Chooses DIFF, TRUNC or SNAP for a follower holding `follower`, against
/// the leader's history viewed up to `until` (the last zxid for a follower,
/// the commit point for an observer), with the leader's snapshot at
/// `snapshot` if it holds one. `None` when the follower needs a snapshot the
/// leader does not hold.
pub(crate) fn plan_sync(
    leader: &History,
    until: Zxid,
    snapshot: Option<Zxid>,
    follower: &HistorySummary,
) -> Option<SyncPlan> {
    let needs_snap = leader.base() > follower.base && !follower.holds(leader.base());
    let snap_at = if needs_snap {
        Some(snapshot.filter(|s| *s >= leader.base())?)
    } else {
        None
    };
    let lo = snap_at.unwrap_or(leader.base().max(follower.base));
    let first_missing = leader
        .entries()
        .iter()
        .take_while(|t| t.zxid <= until)
        .filter(|t| t.zxid > lo)
        .find(|t| !follower.holds(t.zxid))
        .map(|t| t.zxid);
    let first_extra = follower
        .epoch_lasts
        .iter()
        .filter(|l| **l > lo)
        .filter_map(|l| {
            let held = leader
                .last_of_epoch(l.epoch(), until)
                .unwrap_or(Zxid::new(l.epoch(), 0))
                .max(lo);
            (*l > held).then(|| held.next())
        })
        .min();
    let cut = match (first_missing, first_extra) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let truncate = cut.filter(|c| follower.last() >= *c).map(Zxid::prev);
    let send_after = cut.map_or(until.max(lo), |c| c.prev().max(lo));
    let mode = match (snap_at, truncate) {
        (Some(position), truncate_after) => SyncMode::Snap {
            position,
            truncate_after,
        },
        (None, Some(after)) => SyncMode::Trunc { after },
        (None, None) => SyncMode::Diff,
    };
    Some(SyncPlan { mode, send_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(epoch: u32, counter: u32) -> Txn {
        Txn {
            zxid: Zxid::new(epoch, counter),
            command: Some(format!("{epoch}:{counter}").into_bytes()),
            origin: None,
        }
    }

    fn history(base: Zxid, zxids: &[(u32, u32)]) -> History {
        let mut h = History {
            base,
            entries: Vec::new(),
        };
        for &(e, c) in zxids {
            assert!(h.append(txn(e, c)));
        }
        h
    }

    #[test]
    fn trunc_drops_a_deposed_leaders_uncommitted_proposal() {
        // The old leader of epoch 1 logged 1:3 alone; the new leader of
        // epoch 2 never saw it and moved on.
        let leader = history(Zxid::ZERO, &[(1, 1), (1, 2), (2, 1)]);
        let deposed = history(Zxid::ZERO, &[(1, 1), (1, 2), (1, 3)]);
        let plan = plan_sync(&leader, leader.last(), None, &deposed.summary()).unwrap();
        assert_eq!(
            plan.mode,
            SyncMode::Trunc {
                after: Zxid::new(1, 2)
            }
        );
        assert_eq!(plan.send_after, Zxid::new(1, 2));
        let sent: Vec<_> = leader.after(plan.send_after, 100).to_vec();
        assert_eq!(sent, vec![txn(2, 1)]);
    }

    #[test]
    fn diff_sends_proposals_committed_by_the_old_leader_but_missing_here() {
        // The follower missed 1:3 and 1:4, which the old leader committed
        // with the new leader's ack.
        let leader = history(Zxid::ZERO, &[(1, 1), (1, 2), (1, 3), (1, 4)]);
        let follower = history(Zxid::ZERO, &[(1, 1), (1, 2)]);
        let plan = plan_sync(&leader, leader.last(), None, &follower.summary()).unwrap();
        assert_eq!(plan.mode, SyncMode::Diff);
        assert_eq!(
            leader.after(plan.send_after, 100).to_vec(),
            vec![txn(1, 3), txn(1, 4)]
        );
    }

    #[test]
    fn snap_when_the_follower_is_older_than_the_committed_log_window() {
        let mut leader = history(Zxid::ZERO, &[(1, 1), (1, 2), (1, 3), (1, 4), (1, 5)]);
        leader.compact(Zxid::new(1, 4), 1);
        assert_eq!(leader.base(), Zxid::new(1, 3));
        let follower = history(Zxid::ZERO, &[(1, 1)]);
        let plan = plan_sync(
            &leader,
            leader.last(),
            Some(Zxid::new(1, 4)),
            &follower.summary(),
        )
        .unwrap();
        assert_eq!(
            plan.mode,
            SyncMode::Snap {
                position: Zxid::new(1, 4),
                truncate_after: None
            }
        );
        assert_eq!(leader.after(plan.send_after, 100).to_vec(), vec![txn(1, 5)]);
        // Without a snapshot to send, no plan.
        assert_eq!(
            plan_sync(&leader, leader.last(), None, &follower.summary()),
            None
        );
    }

    #[test]
    fn a_follower_inside_the_window_gets_a_diff_not_a_snap() {
        let mut leader = history(Zxid::ZERO, &[(1, 1), (1, 2), (1, 3), (1, 4)]);
        leader.compact(Zxid::new(1, 4), 2);
        let follower = history(Zxid::ZERO, &[(1, 1), (1, 2)]);
        let plan = plan_sync(
            &leader,
            leader.last(),
            Some(Zxid::new(1, 4)),
            &follower.summary(),
        );
        assert_eq!(plan.map(|p| p.mode), Some(SyncMode::Diff));
    }

    #[test]
    fn identical_histories_need_an_empty_diff() {
        let leader = history(Zxid::ZERO, &[(1, 1), (2, 1)]);
        let plan = plan_sync(&leader, leader.last(), None, &leader.summary()).unwrap();
        assert_eq!(plan.mode, SyncMode::Diff);
        assert!(leader.after(plan.send_after, 100).is_empty());
    }

    #[test]
    fn trunc_then_diff_when_an_old_epoch_tail_hides_a_newer_epoch() {
        // Follower kept 1:2 (never committed); leader's epoch 2 dropped it
        // and the leader of epoch 3 holds 1:1, 2:1, 3:1.
        let leader = history(Zxid::ZERO, &[(1, 1), (2, 1), (3, 1)]);
        let follower = history(Zxid::ZERO, &[(1, 1), (1, 2)]);
        let plan = plan_sync(&leader, leader.last(), None, &follower.summary()).unwrap();
        assert_eq!(
            plan.mode,
            SyncMode::Trunc {
                after: Zxid::new(1, 1)
            }
        );
        assert_eq!(
            leader.after(plan.send_after, 100).to_vec(),
            vec![txn(2, 1), txn(3, 1)]
        );
    }

    #[test]
    fn replay_applies_truncations_and_skips_what_the_snapshot_covers() {
        let records = vec![
            ZabRecord::Proposal(txn(1, 1)),
            ZabRecord::Proposal(txn(1, 2)),
            ZabRecord::Proposal(txn(1, 3)),
            ZabRecord::Truncate {
                after: Zxid::new(1, 2),
            },
            ZabRecord::Proposal(txn(2, 1)),
        ];
        let h = History::replay(Zxid::new(1, 1), records);
        assert_eq!(h.base(), Zxid::new(1, 1));
        assert_eq!(h.entries().to_vec(), vec![txn(1, 2), txn(2, 1)]);
    }
}
