//! Log replication (Raft §5.3) and commitment (§5.4.2).
//!
//! ```text
//!  leader                                            follower
//!    │ AppendEntries{prev_log_index, prev_log_term,     │
//!    │               entries, leader_commit, read_seq}  │
//!    ├─────────────────────────────────────────────────▶│ consistency check on (prev index, prev term)
//!    │                                                  │ drop a conflicting suffix, append the rest,
//!    │                                                  │ persist (records in the same output)
//!    │ AppendEntriesResponse{success, index, hint}      │
//!    │◀─────────────────────────────────────────────────┤
//!    │ match/next update; commit = the highest index a  │
//!    │ quorum holds, if that entry is of the leader's   │
//!    │ own term; fast back-off of next on a rejection   │
//! ```
//!
//! Followers are probed one message at a time until their log agrees, then
//! replicated to with a pipeline bounded by `max_inflight_bytes`. A
//! follower whose next entry was compacted gets the snapshot
//! (`snapshot.rs`). The leader's own copy counts toward a quorum only once
//! `on_persisted` reported it durable.

use crate::log::MAX_INDEX;
use crate::message::{Entry, RaftMessage, RaftRecord};
use crate::node::{RaftNode, Role};
use crate::progress::{Progress, ReplState};
use synod_core::{NodeId, Output};

impl RaftNode {
    /// Every member the leader replicates to, in id order.
    pub(crate) fn peers(&self) -> Vec<NodeId> {
        self.lead
            .as_ref()
            .map(|l| l.progress.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The members the leader replicates to whose progress satisfies
    /// `pred`, in id order.
    fn peers_where(&self, pred: impl Fn(&Progress) -> bool) -> Vec<NodeId> {
        self.lead
            .as_ref()
            .map(|l| {
                l.progress
                    .iter()
                    .filter(|(_, p)| pred(p))
                    .map(|(&id, _)| id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Queues a leader's message: eagerly (it may leave before this output is
    /// persisted, so followers write in parallel with the leader, Raft
    /// dissertation §10.2.1) once the term's no-op is durable; before that,
    /// as an ordinary message, because the new term itself may still be on
    /// its way to disk (a single voter wins in the step that raises it).
    pub(crate) fn leader_send(&self, to: NodeId, msg: RaftMessage, out: &mut Output<Self>) {
        let settled = self
            .lead
            .as_ref()
            .is_some_and(|l| self.durable_match() >= l.term_start);
        if settled {
            out.send_eager(to, msg);
        } else {
            out.send(to, msg);
        }
    }

    /// Sends the new entries to every follower with nothing in flight.
    pub(crate) fn send_to_idle_peers(&mut self, out: &mut Output<Self>) {
        let idle = self.peers_where(|p| match p.state {
            ReplState::Replicate => p.inflight.is_empty(),
            ReplState::Probe => !p.probe_sent,
            ReplState::Snapshot { .. } => false,
        });
        for to in idle {
            self.send_pending(to, out);
        }
    }

    /// Sends `to` the entries its progress allows (an empty AppendEntries if
    /// there are none and `allow_empty`). Returns whether a message left.
    pub(crate) fn send_append(
        &mut self,
        to: NodeId,
        allow_empty: bool,
        out: &mut Output<Self>,
    ) -> bool {
        let max_entries = self.cfg.max_append_entries;
        let max_bytes = self.cfg.max_inflight_bytes;
        let (term, commit) = (self.term, self.commit);
        let Some(lead) = self.lead.as_mut() else {
            return false;
        };
        let read_seq = lead.reads.round();
        let Some(pr) = lead.progress.get_mut(&to) else {
            return false;
        };
        match pr.state {
            ReplState::Snapshot { .. } => return false,
            ReplState::Probe if pr.probe_sent => return false,
            ReplState::Replicate if pr.inflight_full(max_bytes) => return false,
            _ => {}
        }
        let prev_log_index = pr.next_index - 1;
        let Some(prev_log_term) = self.log.term(prev_log_index) else {
            // The entries this follower needs are compacted away.
            return self.start_snapshot(to, out);
        };
        let budget = max_bytes.saturating_sub(pr.inflight_bytes);
        let entries = self.log.slice(pr.next_index, max_entries, budget);
        if entries.is_empty() && !allow_empty {
            return false;
        }
        match pr.state {
            ReplState::Replicate => {
                if let Some(last) = entries.last() {
                    pr.sent(last.index, entries.iter().map(Entry::size_bytes).sum());
                }
            }
            _ => pr.probe_sent = true,
        }
        pr.commit_sent = commit;
        let msg = RaftMessage::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: commit,
            read_seq,
        };
        self.leader_send(to, msg, out);
        true
    }

    /// Sends `to` everything the window allows; returns whether anything left.
    pub(crate) fn send_pending(&mut self, to: NodeId, out: &mut Output<Self>) -> bool {
        let mut sent = false;
        while self.send_append(to, false, out) {
            sent = true;
            let replicating = self
                .lead
                .as_ref()
                .and_then(|l| l.progress.get(&to))
                .is_some_and(|p| p.state == ReplState::Replicate);
            if !replicating {
                break;
            }
        }
        sent
    }

    /// Pending entries if there are any, else an empty AppendEntries.
    fn send_pending_or_heartbeat(&mut self, to: NodeId, out: &mut Output<Self>) {
        if !self.send_pending(to, out) {
            self.send_heartbeat(to, out);
        }
    }

    /// An empty AppendEntries that changes no progress: a heartbeat, a
    /// carrier of the commit index and of a ReadIndex round.
    pub(crate) fn send_heartbeat(&mut self, to: NodeId, out: &mut Output<Self>) {
        let (term, commit) = (self.term, self.commit);
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let read_seq = lead.reads.round();
        let Some(pr) = lead.progress.get_mut(&to) else {
            return;
        };
        pr.commit_sent = commit;
        let prev_log_index =
            (pr.next_index - 1).clamp(self.log.snapshot_index(), self.log.last_index());
        let prev_log_term = self
            .log
            .term(prev_log_index)
            .expect("terms from the snapshot index to the last index are known");
        let msg = RaftMessage::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries: Vec::new(),
            leader_commit: commit,
            read_seq,
        };
        self.leader_send(to, msg, out);
    }

    /// Every `heartbeat_ticks`: re-probe, send what is pending or a plain
    /// heartbeat, nudge snapshot transfers.
    pub(crate) fn broadcast_heartbeat(&mut self, out: &mut Output<Self>) {
        for to in self.peers() {
            self.heartbeat_peer(to, out);
        }
    }

    /// One follower's share of a heartbeat: a probe in probe state, pending
    /// entries or an empty AppendEntries in replicate state (which also
    /// uncovers lost messages: a follower missing `next - 1` rejects it), a
    /// heartbeat and maybe a chunk re-send in snapshot state.
    pub(crate) fn heartbeat_peer(&mut self, to: NodeId, out: &mut Output<Self>) {
        let state = self
            .lead
            .as_mut()
            .and_then(|l| l.progress.get_mut(&to))
            .map(|pr| {
                pr.probe_sent = false;
                pr.state
            });
        match state {
            Some(ReplState::Probe) => {
                self.send_append(to, true, out);
            }
            Some(ReplState::Replicate) => self.send_pending_or_heartbeat(to, out),
            Some(ReplState::Snapshot { .. }) => {
                self.send_heartbeat(to, out);
                self.snapshot_heartbeat(to, out);
            }
            None => {}
        }
    }

    /// Once per tick: an empty AppendEntries to every replicating follower
    /// that has not been sent the current commit index. Announcing each
    /// commit at once would cost every follower a wakeup and an answer per
    /// commit, and the leader as many; under load the next entries carry
    /// it anyway. So a follower's applied state lags by at most a tick.
    pub(crate) fn send_commit_notices(&mut self, out: &mut Output<Self>) {
        let commit = self.commit;
        let behind =
            self.peers_where(|p| p.state == ReplState::Replicate && p.commit_sent < commit);
        for to in behind {
            self.send_heartbeat(to, out);
        }
    }

    /// Sends every peer the entries appended since the last send (after
    /// `on_persisted`: proposals made in between travel together).
    pub(crate) fn flush_appends(&mut self, out: &mut Output<Self>) {
        for to in self.peers() {
            self.send_pending(to, out);
        }
    }

    /// `from` leads our term: follow it and reset the election timer.
    pub(crate) fn follow_leader(&mut self, from: NodeId, out: &mut Output<Self>) {
        if self.role != Role::Follower {
            let term = self.term;
            self.become_follower(term, Some(from), out);
        }
        self.leader_id = Some(from);
        self.election_elapsed = 0;
    }

    /// Follower side of AppendEntries (the message's term equals ours).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_append_entries(
        &mut self,
        from: NodeId,
        prev_log_index: u64,
        prev_log_term: u64,
        mut entries: Vec<Entry>,
        leader_commit: u64,
        read_seq: u64,
        out: &mut Output<Self>,
    ) {
        if self.role == Role::Leader {
            // Two leaders in one term cannot happen; never obey one.
            return;
        }
        // Entries at `prev_log_index + 1, + 2, ...`, none past the last
        // index a log may hold (checked: a peer's indexes may be anything).
        let contiguous = entries.iter().zip(1u64..).all(|(e, k)| {
            prev_log_index
                .checked_add(k)
                .is_some_and(|i| e.index == i && i <= MAX_INDEX)
        });
        if !contiguous {
            // Not something a leader sends: drop it rather than corrupt the log.
            return;
        }
        self.follow_leader(from, out);

        // Entries up to our commit index are committed, hence identical to
        // the leader's: skip them, and check consistency at the commit index.
        let (mut prev, mut prev_term) = (prev_log_index, prev_log_term);
        if prev < self.commit {
            let skip = entries
                .iter()
                .take_while(|e| e.index <= self.commit)
                .count();
            entries.drain(..skip);
            prev = self.commit;
            prev_term = self
                .log
                .term(self.commit)
                .expect("the commit index is at or after the snapshot");
        }
        if self.log.term(prev) != Some(prev_term) {
            let (conflict_index, conflict_term) = self.log.find_conflict_by_term(prev, prev_term);
            out.send(
                from,
                RaftMessage::AppendEntriesResponse {
                    term: self.term,
                    success: false,
                    index: prev_log_index,
                    conflict_index,
                    conflict_term,
                    read_seq,
                },
            );
            return;
        }

        let last_new = prev + entries.len() as u64;
        let first_new = entries
            .iter()
            .position(|e| self.log.term(e.index) != Some(e.term));
        if let Some(k) = first_new {
            let at = entries[k].index;
            if at <= self.log.last_index() {
                assert!(
                    at > self.commit,
                    "raft safety: leader {from} overwrites committed index {at}"
                );
                self.log.truncate_from(at);
            }
            for e in entries.into_iter().skip(k) {
                self.log.append(e.clone());
                self.emit_record(RaftRecord::Entry(e), out);
            }
        }
        let new_commit = leader_commit.min(last_new);
        if new_commit > self.commit {
            self.commit = new_commit;
            self.apply_committed(out);
        }
        // Acknowledged in the same output as the records: the driver syncs
        // them before this leaves.
        out.send(
            from,
            RaftMessage::AppendEntriesResponse {
                term: self.term,
                success: true,
                index: last_new,
                conflict_index: 0,
                conflict_term: None,
                read_seq,
            },
        );
    }

    /// Leader side: a follower answered an AppendEntries of our term.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_append_response(
        &mut self,
        from: NodeId,
        success: bool,
        index: u64,
        conflict_index: u64,
        conflict_term: Option<u64>,
        read_seq: u64,
        out: &mut Output<Self>,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let last = self.log.last_index();
        let snapshot_index = self.log.snapshot_index();
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let Some(pr) = lead.progress.get_mut(&from) else {
            return;
        };
        pr.idle_ticks = 0;
        pr.read_ack = pr.read_ack.max(read_seq);
        if success {
            let index = index.min(last);
            pr.match_index = pr.match_index.max(index);
            pr.free_through(index);
            match pr.state {
                ReplState::Probe => pr.become_replicate(),
                ReplState::Replicate => pr.next_index = pr.next_index.max(pr.match_index + 1),
                ReplState::Snapshot { .. } => {
                    // The follower's log already reaches past our snapshot.
                    if pr.match_index >= snapshot_index {
                        pr.become_replicate();
                    }
                }
            }
            self.maybe_commit(out);
            self.maybe_send_timeout_now(from, out);
            self.send_pending(from, out);
        } else {
            let stale = index < pr.match_index
                || matches!(pr.state, ReplState::Snapshot { .. })
                || (pr.state == ReplState::Probe && index.checked_add(1) != Some(pr.next_index));
            if !stale {
                // Fast back-off: skip every entry that cannot match.
                let probe = match conflict_term {
                    Some(t) => self.log.find_conflict_by_term(conflict_index, t).0,
                    None => conflict_index,
                };
                // Never past our own log's end, whatever the hint says.
                let next = probe.saturating_add(1).min(index.max(1)).min(last + 1);
                if let Some(pr) = self.lead.as_mut().and_then(|l| l.progress.get_mut(&from)) {
                    pr.become_probe(next);
                }
                self.send_append(from, true, out);
            }
        }
        self.confirm_reads(out);
    }

    /// Raft §5.4.2: commit the highest index a quorum of voters holds, but
    /// only if that entry is of the current term (Figure 8); earlier entries
    /// commit with it. The leader's own copy counts once durable.
    pub(crate) fn maybe_commit(&mut self, out: &mut Output<Self>) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let Some(lead) = self.lead.as_ref() else {
            return false;
        };
        let me = self.cfg.id;
        let own = self.durable_match();
        let n = self.log.membership().quorum_value(|v| {
            if v == me {
                own
            } else {
                lead.progress.get(&v).map_or(0, |p| p.match_index)
            }
        });
        if n <= self.commit || self.log.term(n) != Some(self.term) {
            return false;
        }
        let config_committed =
            self.log.last_config_index() > self.commit && self.log.last_config_index() <= n;
        self.commit = n;
        self.apply_committed(out);
        self.release_awaiting_reads(out);
        // Followers learn the new commit index with the next entries, or at
        // the next tick ([`Self::send_commit_notices`]); a committed
        // membership change at once (a node whose removal committed so
        // stops considering itself a candidate).
        for to in self.peers_where(|p| p.state == ReplState::Replicate) {
            if config_committed {
                self.send_pending_or_heartbeat(to, out);
            } else {
                self.send_pending(to, out);
            }
        }
        // Nodes removed by a now committed configuration get nothing more.
        self.sync_progress(out);
        // A leader that the committed configuration removed steps down
        // (dissertation §4.2.2).
        if !self.log.membership().is_voter(self.cfg.id)
            && self.log.last_config_index() <= self.commit
        {
            let term = self.term;
            self.become_follower(term, None, out);
        }
        true
    }
}
