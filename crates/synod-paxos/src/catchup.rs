//! Catching up: a replica that missed decisions (partitioned, restarted,
//! slow) asks a peer for them; slots the peer compacted away come as its
//! snapshot, in chunks. Snapshots and compaction themselves start here too.
//!
//! ```text
//!  behind                                      any replica ahead
//!    │ CatchUp{from_slot, snapshot_offset} ──────▶ │
//!    │ ◀── Decisions{first_slot, values, chosen_through}   (from_slot above its snapshot)
//!    │ ◀── SnapshotChunk{position, offset, data, done}     (from_slot compacted away)
//!    │ asks again while still behind and progressing
//! ```
//!
//! Decisions are facts (chosen values never change), so any replica may
//! serve them, and the asker records them (`Chosen`) without syncing: lost,
//! they are simply learned again. Requests are rate-limited: a new chain of
//! requests starts only after `2 × heartbeat_ticks` without catch-up
//! traffic, and a chunk that does not extend the snapshot being assembled
//! (a duplicate, an older snapshot, a second chain) is dropped without an
//! answer, so parallel chains die out instead of thrashing the transfer.

use crate::log::MAX_SNAPSHOT_SLOT;
use crate::message::{PaxosMessage, PaxosRecord, Value};
use crate::node::{PaxosNode, Role};
use synod_core::{NodeId, Output, Snapshot, SnapshotAction};

impl PaxosNode {
    /// Asks `peer` for what we miss, unless a catch-up is already flowing.
    pub(crate) fn maybe_catch_up(&mut self, peer: NodeId, out: &mut Output<Self>) {
        if self.catchup_idle >= 2 * self.cfg.heartbeat_ticks {
            self.request_catch_up(peer, out);
        }
    }

    /// Asks `peer` for the decisions after our commit point.
    pub(crate) fn request_catch_up(&mut self, peer: NodeId, out: &mut Output<Self>) {
        self.catchup_idle = 0;
        out.send(
            peer,
            PaxosMessage::CatchUp {
                from_slot: self.log.chosen_through() + 1,
                // Resume only with the sender of the bytes so far.
                snapshot_offset: self
                    .incoming
                    .as_ref()
                    .filter(|(sender, _, _)| *sender == peer)
                    .map(|(_, p, d)| (*p, d.len() as u64)),
            },
        );
    }

    /// Serves a catch-up request.
    pub(crate) fn handle_catch_up(
        &mut self,
        from: NodeId,
        from_slot: u64,
        snapshot_offset: Option<(u64, u64)>,
        out: &mut Output<Self>,
    ) {
        let from_slot = from_slot.max(1);
        if from_slot <= self.log.compacted_through() {
            let Some(snap) = self.snapshot.as_ref() else {
                return;
            };
            let offset = match snapshot_offset {
                Some((p, have)) if p == snap.position => have.min(snap.data.len() as u64),
                _ => 0,
            };
            let end = (offset + self.cfg.snapshot_chunk_bytes as u64).min(snap.data.len() as u64);
            out.send(
                from,
                PaxosMessage::SnapshotChunk {
                    position: snap.position,
                    offset,
                    data: snap.data[offset as usize..end as usize].to_vec(),
                    done: end == snap.data.len() as u64,
                },
            );
            return;
        }
        let through = self.log.chosen_through();
        if from_slot > through {
            return;
        }
        let last = through.min(from_slot + self.cfg.max_batch_slots as u64 - 1);
        let mut values = Vec::new();
        let mut bytes = 0;
        for slot in from_slot..=last {
            match self.log.chosen(slot) {
                Some(v)
                    if values.is_empty() || bytes + v.size_bytes() <= self.cfg.max_batch_bytes =>
                {
                    bytes += v.size_bytes();
                    values.push(v.clone());
                }
                _ => break,
            }
        }
        if !values.is_empty() {
            out.send(
                from,
                PaxosMessage::Decisions {
                    first_slot: from_slot,
                    values,
                    chosen_through: through,
                },
            );
        }
    }

    /// Learns decisions from a peer.
    pub(crate) fn handle_decisions(
        &mut self,
        from: NodeId,
        first_slot: u64,
        values: Vec<Value>,
        chosen_through: u64,
        out: &mut Output<Self>,
    ) {
        if self.role == Role::Leader
            || first_slot == 0
            || first_slot.checked_add(values.len() as u64).is_none()
        {
            return; // a leader knows every slot from its election on
        }
        self.catchup_idle = 0;
        let before = self.log.chosen_through();
        for (i, value) in values.into_iter().enumerate() {
            let slot = first_slot + i as u64;
            if self.log.choose(slot, value.clone()) {
                self.emit_record(PaxosRecord::Chosen { slot, value }, false, out);
            }
        }
        let now = self.log.chosen_through();
        if now > before && now < chosen_through {
            self.request_catch_up(from, out);
        }
    }

    /// Assembles a snapshot from chunks; installs it when complete.
    pub(crate) fn handle_snapshot_chunk(
        &mut self,
        from: NodeId,
        position: u64,
        offset: u64,
        data: Vec<u8>,
        done: bool,
        out: &mut Output<Self>,
    ) {
        if self.role == Role::Leader
            || position <= self.log.chosen_through()
            || position > MAX_SNAPSHOT_SLOT
        {
            return; // not for us, stale, or out of range
        }
        let mut incoming = match self.incoming.take() {
            Some((sender, p, buf)) if p == position && sender == from => buf,
            Some((sender, p, buf)) if p > position || (p == position && offset != 0) => {
                // We are assembling a newer snapshot, or this one from
                // another sender: let this chain die.
                self.incoming = Some((sender, p, buf));
                return;
            }
            _ => Vec::new(),
        };
        if offset != incoming.len() as u64 {
            // A duplicate, a gap, or a second chain of requests: only the
            // chain that makes progress is answered.
            self.incoming = Some((from, position, incoming));
            return;
        }
        self.catchup_idle = 0;
        incoming.extend_from_slice(&data);
        if !done {
            self.incoming = Some((from, position, incoming));
            self.request_catch_up(from, out);
            return;
        }
        self.install_snapshot(position, incoming, out);
        self.request_catch_up(from, out);
    }

    /// Replaces the state machine and the log prefix with a peer's snapshot.
    fn install_snapshot(&mut self, position: u64, data: Vec<u8>, out: &mut Output<Self>) {
        let snapshot = Snapshot {
            position,
            meta: Vec::new(),
            data,
        };
        self.log.compact_to(position);
        self.applied = position;
        out.snapshot = Some(SnapshotAction::Install(snapshot.clone()));
        out.compact_through = Some(position);
        self.snapshot = Some(snapshot);
        self.incoming = None;
    }

    /// `Protocol::on_snapshot`: keep the state machine's snapshot for
    /// lagging peers, save it, compact the log through it.
    pub(crate) fn take_snapshot(&mut self, index: u64, data: Vec<u8>, out: &mut Output<Self>) {
        if index <= self.log.compacted_through() || index > self.applied {
            return;
        }
        let snapshot = Snapshot {
            position: index,
            meta: Vec::new(),
            data,
        };
        self.log.compact_to(index);
        out.snapshot = Some(SnapshotAction::Save(snapshot.clone()));
        out.compact_through = Some(index);
        self.snapshot = Some(snapshot);
    }
}
