//! Snapshots, log compaction and chunked InstallSnapshot (Raft §7).
//!
//! ```text
//!  driver ──on_snapshot(index, data)──▶ core: keep it, Save, compact the log through index
//!
//!  leader (next entry compacted)                          follower
//!    │ InstallSnapshot{index, term, membership,             │
//!    │                 offset, data[chunk], done}           │ assemble chunks in order
//!    ├─────────────────────────────────────────────────────▶│
//!    │ InstallSnapshotResponse{next_offset, done}           │ on the last chunk: Install,
//!    │◀─────────────────────────────────────────────────────┤ log reset to the snapshot
//!    │ next chunk ... / done: match = index, probe from index+1
//! ```
//!
//! A follower whose log conflicts with the snapshot (it holds a different
//! entry at the snapshot's index) first persists a `Truncate` record and
//! only installs when the leader re-sends the (empty) last chunk: the driver
//! persists a snapshot *before* the records of the same output, so a crash
//! between the two must not leave the stale suffix behind a newer snapshot.

use crate::log::MAX_INDEX;
use crate::message::{RaftMessage, RaftRecord, SnapshotMeta};
use crate::node::{HeldSnapshot, IncomingSnapshot, RaftNode, Role};
use crate::progress::ReplState;
use synod_core::{NodeId, Output, Snapshot, SnapshotAction};

impl RaftNode {
    /// `Protocol::on_snapshot`: the state machine was snapshotted at applied
    /// `index`. Keep it for lagging followers, save it, compact through it.
    pub(crate) fn take_snapshot(&mut self, index: u64, data: Vec<u8>, out: &mut Output<Self>) {
        if index <= self.log.snapshot_index() || index > self.applied {
            return;
        }
        let term = self
            .log
            .term(index)
            .expect("applied entries after the snapshot are in the log");
        let meta = SnapshotMeta {
            last_included_index: index,
            last_included_term: term,
            membership: self.log.membership_at(index).clone(),
        };
        let snapshot = Snapshot {
            position: index,
            meta: meta.encode(),
            data,
        };
        self.log.compact_to(index);
        out.snapshot = Some(SnapshotAction::Save(snapshot.clone()));
        out.compact_through = Some(index);
        self.snapshot = Some(HeldSnapshot { meta, snapshot });
    }

    /// Switches `to` to snapshot transfer and sends the first chunk.
    pub(crate) fn start_snapshot(&mut self, to: NodeId, out: &mut Output<Self>) -> bool {
        let Some(index) = self.snapshot.as_ref().map(|h| h.snapshot.position) else {
            return false;
        };
        let Some(pr) = self.lead.as_mut().and_then(|l| l.progress.get_mut(&to)) else {
            return false;
        };
        pr.become_snapshot(index);
        self.send_snapshot_chunk(to, out)
    }

    /// Sends the chunk at the follower's offset (restarting from zero if the
    /// leader has taken a newer snapshot since).
    fn send_snapshot_chunk(&mut self, to: NodeId, out: &mut Output<Self>) -> bool {
        let chunk = self.cfg.snapshot_chunk_bytes as u64;
        let term = self.term;
        let Some(held) = self.snapshot.as_ref() else {
            return false;
        };
        let Some(lead) = self.lead.as_mut() else {
            return false;
        };
        let read_seq = lead.reads.round();
        let Some(pr) = lead.progress.get_mut(&to) else {
            return false;
        };
        let ReplState::Snapshot { index, offset, .. } = &mut pr.state else {
            return false;
        };
        if *index != held.snapshot.position {
            *index = held.snapshot.position;
            *offset = 0;
        }
        let data = &held.snapshot.data;
        let len = data.len() as u64;
        let start = (*offset).min(len);
        let end = (start + chunk).min(len);
        out.send(
            to,
            RaftMessage::InstallSnapshot {
                term,
                last_included_index: held.meta.last_included_index,
                last_included_term: held.meta.last_included_term,
                membership: held.meta.membership.clone(),
                offset: start,
                data: data[start as usize..end as usize].to_vec(),
                done: end == len,
                read_seq,
            },
        );
        true
    }

    /// At each heartbeat: re-send the current chunk if the follower has not
    /// answered for two heartbeat rounds (the chunk or its answer was lost).
    pub(crate) fn snapshot_heartbeat(&mut self, to: NodeId, out: &mut Output<Self>) {
        let Some(pr) = self.lead.as_mut().and_then(|l| l.progress.get_mut(&to)) else {
            return;
        };
        if let ReplState::Snapshot { idle_rounds, .. } = &mut pr.state {
            *idle_rounds += 1;
            if *idle_rounds >= 2 {
                *idle_rounds = 0;
                self.send_snapshot_chunk(to, out);
            }
        }
    }

    /// Follower side of InstallSnapshot (the message's term equals ours).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_install_snapshot(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
        done: bool,
        read_seq: u64,
        out: &mut Output<Self>,
    ) {
        if self.role == Role::Leader || meta.last_included_index > MAX_INDEX {
            // A leader never obeys another of its term; and no log may end
            // at the last index (nothing could follow it).
            return;
        }
        self.follow_leader(from, out);
        let index = meta.last_included_index;
        let term = self.term;
        let respond = |next_offset: u64, done: bool, out: &mut Output<Self>| {
            out.send(
                from,
                RaftMessage::InstallSnapshotResponse {
                    term,
                    last_included_index: index,
                    next_offset,
                    done,
                    read_seq,
                },
            )
        };
        if index <= self.commit {
            // Everything it covers is committed here already.
            if self
                .incoming
                .as_ref()
                .is_some_and(|i| i.meta.last_included_index <= self.commit)
            {
                self.incoming = None;
            }
            respond(0, true, out);
            return;
        }
        let mut incoming = match self.incoming.take() {
            Some(inc) if inc.meta == meta && inc.from == from => inc,
            _ => IncomingSnapshot {
                from,
                meta,
                data: Vec::new(),
            },
        };
        let have = incoming.data.len() as u64;
        if offset != have {
            // A duplicate or a gap: tell the leader where we are.
            self.incoming = Some(incoming);
            respond(have, false, out);
            return;
        }
        incoming.data.extend_from_slice(&data);
        let have = incoming.data.len() as u64;
        if !done {
            self.incoming = Some(incoming);
            respond(have, false, out);
            return;
        }
        let snap_term = incoming.meta.last_included_term;
        if self.log.term(index).is_some_and(|t| t != snap_term) {
            // Our entry at `index` differs from the committed one, so it and
            // everything after it are uncommitted: truncate durably first, and
            // install when the leader re-sends the (empty) last chunk.
            self.log.truncate_from(index);
            self.emit_record(
                RaftRecord::Truncate {
                    last_kept: index - 1,
                },
                out,
            );
            self.incoming = Some(incoming);
            respond(have, false, out);
            return;
        }
        self.install_snapshot(incoming, out);
        respond(have, true, out);
    }

    /// Replaces the state machine and the log prefix with an assembled
    /// snapshot.
    fn install_snapshot(&mut self, incoming: IncomingSnapshot, out: &mut Output<Self>) {
        let IncomingSnapshot { meta, data, .. } = incoming;
        let index = meta.last_included_index;
        if self.log.term(index) == Some(meta.last_included_term) {
            // Our log agrees at the snapshot's index: keep what follows.
            self.log.compact_to(index);
        } else {
            // Our log ends before `index` (a conflicting suffix was truncated
            // durably before): it is now exactly the snapshot.
            debug_assert!(self.log.last_index() < index);
            self.log
                .reset(index, meta.last_included_term, meta.membership.clone());
        }
        self.commit = index;
        self.applied = index;
        let snapshot = Snapshot {
            position: index,
            meta: meta.encode(),
            data,
        };
        out.snapshot = Some(SnapshotAction::Install(snapshot.clone()));
        out.compact_through = Some(index);
        self.snapshot = Some(HeldSnapshot { meta, snapshot });
    }

    /// Leader side: a follower answered a chunk.
    pub(crate) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        index: u64,
        next_offset: u64,
        done: bool,
        read_seq: u64,
        out: &mut Output<Self>,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let last = self.log.last_index();
        let Some(pr) = self.lead.as_mut().and_then(|l| l.progress.get_mut(&from)) else {
            return;
        };
        pr.idle_ticks = 0;
        pr.read_ack = pr.read_ack.max(read_seq);
        match &mut pr.state {
            ReplState::Snapshot {
                index: sending,
                offset,
                idle_rounds,
            } if *sending == index => {
                if done {
                    pr.match_index = pr.match_index.max(index);
                    let next = pr.match_index + 1;
                    pr.become_probe(next);
                    self.send_append(from, true, out);
                    self.maybe_commit(out);
                    self.maybe_send_timeout_now(from, out);
                } else {
                    *offset = next_offset;
                    *idle_rounds = 0;
                    self.send_snapshot_chunk(from, out);
                }
            }
            _ => {
                // A follower holds no snapshot past our log's end (it covers
                // committed entries, which this leader has): a larger index is
                // not an answer to anything we sent.
                if done && index > pr.match_index && index <= last {
                    pr.match_index = index;
                    pr.next_index = pr.next_index.max(index + 1);
                }
            }
        }
        self.confirm_reads(out);
    }
}
