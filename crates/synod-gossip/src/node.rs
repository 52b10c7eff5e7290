//! [`GossipNode`]: one member, its entry points (`tick`, `step`, `propose`)
//! and what it rebuilds from storage. The SWIM failure detector lives in
//! [`swim`](crate::swim), rumours and anti-entropy in
//! [`spread`](crate::spread).
//!
//! Every entry point runs `start` first (the first one after a restart
//! re-emits what the state machine missed and announces the new
//! incarnation) and `finish` last (a changed incarnation goes into
//! `out.hard_state` of the very output whose messages carry it).

use crate::config::{ConfigError, GossipConfig};
use crate::members::{DetectorStats, Members};
use crate::message::{
    GossipHardState, GossipMessage, GossipRecord, MemberState, MemberUpdate, Update,
};
use crate::store::{Budget, UpdateStore};
use crate::swim::{Probe, Relay};
use std::collections::BTreeMap;
use synod_core::{
    codec, ClientError, Committed, NodeId, Output, Proposal, Protocol, ProtocolStatus, Recovered,
    SeededRng, Snapshot, SnapshotAction, Stamp, Stamped,
};

/// One gossip member: SWIM membership, rumours, anti-entropy, and the
/// updates it applied. Build it with [`GossipNode::new`].
#[derive(Debug)]
pub struct GossipNode {
    pub(crate) config: GossipConfig,
    pub(crate) rng: SeededRng,
    /// Ticks since this core was built.
    pub(crate) now: u64,
    pub(crate) members: Members,
    pub(crate) store: UpdateStore,
    /// Lamport clock: the greatest stamp clock seen or issued.
    clock: u64,
    /// This member's last update sequence number.
    own_seq: u64,
    /// The local applied index: the position of the last update emitted.
    applied: u64,
    /// The incarnation last written to hard state.
    saved_incarnation: Option<u64>,
    /// What the first entry point re-emits after a restart; `None` once done.
    replay: Option<Vec<Committed>>,
    pub(crate) probe: Option<Probe>,
    pub(crate) probe_order: Vec<NodeId>,
    pub(crate) next_probe_id: u64,
    pub(crate) relays: BTreeMap<u64, Relay>,
    pub(crate) next_probe_at: u64,
    pub(crate) next_gossip_at: u64,
    pub(crate) next_sync_at: u64,
    pub(crate) sync_rotation: u64,
}

impl GossipNode {
    /// Builds a member from its configuration and what its storage
    /// recovered. Panics on an invalid configuration (see
    /// [`GossipNode::try_new`]).
    pub fn new(config: GossipConfig, recovered: Recovered<GossipNode>, rng: SeededRng) -> Self {
        match Self::try_new(config, recovered, rng) {
            Ok(node) => node,
            Err(e) => panic!("cannot build gossip node: {e}"),
        }
    }

    /// Like [`GossipNode::new`], but returns configuration errors.
    ///
    /// Recovery: every recorded update goes back into the store (rebuilding
    /// the version vector, the Lamport clock and this member's sequence
    /// number); those above the recovered snapshot's position are re-emitted
    /// as `Committed` by the first entry point, because the state machine was
    /// restored from the snapshot only. The incarnation is the recorded one
    /// plus one: a restarted member announces itself anew, which overrides
    /// any suspicion or death recorded against its previous life.
    pub fn try_new(
        config: GossipConfig,
        recovered: Recovered<GossipNode>,
        mut rng: SeededRng,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        // Saturating: a peer's news of our suspicion at `u64::MAX` makes us
        // refute at `u64::MAX` (see `Members::apply`), and that is persisted.
        let incarnation = recovered
            .hard_state
            .map_or(0, |h| h.incarnation.saturating_add(1));
        let snapshot_position = recovered.snapshot.as_ref().map_or(0, |s| s.position);
        let mut store = UpdateStore::default();
        let (mut clock, mut applied) = (0, snapshot_position);
        let mut replay = Vec::new();
        for record in recovered.records {
            applied = applied.max(record.position);
            let update = record.update;
            if !update.is_valid() {
                continue;
            }
            clock = clock.max(update.stamped.stamp.clock);
            let command = codec::encode(&update.stamped).ok();
            if store.insert(update) && record.position > snapshot_position {
                replay.push(Committed {
                    index: record.position,
                    command,
                    reply_to: None,
                });
            }
        }
        let own_seq = store.max_seq(config.id);
        let members = Members::new(config.id, incarnation, &config.members);
        // Random phases, so members do not all probe on the same tick.
        let next_probe_at = 1 + rng.range(0, config.protocol_period_ticks);
        let next_gossip_at = 1 + rng.range(0, config.gossip_ticks);
        let next_sync_at = 1 + rng.range(0, config.anti_entropy_ticks);
        Ok(Self {
            config,
            rng,
            now: 0,
            members,
            store,
            clock,
            own_seq,
            applied,
            saved_incarnation: None,
            replay: Some(replay),
            probe: None,
            probe_order: Vec::new(),
            next_probe_id: 1,
            relays: BTreeMap::new(),
            next_probe_at,
            next_gossip_at,
            next_sync_at,
            sync_rotation: 0,
        })
    }

    // ----- observation --------------------------------------------------

    /// This member's incarnation number.
    pub fn incarnation(&self) -> u64 {
        self.members.incarnation()
    }

    /// What this member believes about `node` (itself included).
    pub fn member(&self, node: NodeId) -> Option<MemberUpdate> {
        self.members.get(node)
    }

    /// Members believed alive, this one included, in id order.
    pub fn alive_members(&self) -> Vec<NodeId> {
        self.members.in_state(MemberState::Alive)
    }

    /// Whether the update `(origin, seq)` reached this member.
    pub fn has_update(&self, origin: NodeId, seq: u64) -> bool {
        self.store.contains(origin, seq)
    }

    /// How many distinct updates this member holds.
    pub fn update_count(&self) -> u64 {
        self.store.len()
    }

    /// The version vector: per origin, the gapless high-water mark.
    pub fn version_vector(&self) -> crate::Digest {
        self.store.digest()
    }

    /// The local applied index (last `Committed::index` emitted).
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// Failure-detector counters.
    pub fn detector_stats(&self) -> DetectorStats {
        self.members.stats
    }

    /// The configuration.
    pub fn config(&self) -> &GossipConfig {
        &self.config
    }

    // ----- shared helpers ----------------------------------------------

    fn start(&mut self, out: &mut Output<Self>) {
        if let Some(replay) = self.replay.take() {
            out.committed.extend(replay);
            self.members.announce_self();
        }
    }

    fn finish(&mut self, out: &mut Output<Self>) {
        let incarnation = self.members.incarnation();
        if self.saved_incarnation != Some(incarnation) {
            out.hard_state = Some(GossipHardState { incarnation });
            self.saved_incarnation = Some(incarnation);
        }
    }

    /// What one message may carry.
    pub(crate) fn budget(&self) -> Budget {
        Budget {
            updates: self.config.max_updates_per_message,
            bytes: self.config.max_message_bytes,
        }
    }

    /// Retransmission limit for the current cluster size.
    pub(crate) fn retransmit_limit(&self) -> u32 {
        self.config.retransmit_limit(self.members.size())
    }

    /// Membership news to piggyback on a message to `to`.
    pub(crate) fn piggyback(&mut self, to: NodeId) -> Vec<MemberUpdate> {
        let limit = self.retransmit_limit();
        self.members.piggyback(to, self.config.max_piggyback, limit)
    }

    /// Applies piggybacked or synced membership news. A member that comes
    /// back from the dead (a restart, a healed partition) missed updates:
    /// about `fanout` of the members that notice start an anti-entropy
    /// exchange with it at once (each with probability `fanout / (N-1)`,
    /// so that a rejoin does not set off N-1 exchanges).
    pub(crate) fn hear(&mut self, news: &[MemberUpdate], out: &mut Output<Self>) {
        for n in news {
            let was_dead = self
                .members
                .get(n.node)
                .is_some_and(|m| m.state == MemberState::Dead);
            if self.members.apply(*n, self.now) && was_dead && n.state != MemberState::Dead {
                let others = self.members.size().saturating_sub(1).max(1);
                let p = self.config.fanout as f64 / others as f64;
                if self.rng.chance(p) {
                    self.send_sync_request(n.node, out);
                }
            }
        }
    }

    /// Applies `update` if it is new here: persist it, emit it, and (when
    /// `spread`) start rumouring it. Invalid and duplicate updates are
    /// ignored, and so is any update claiming this member as its origin:
    /// every update this member issued is durable before it is answered or
    /// spread and comes back on restart, so a peer can only hold one of
    /// ours that we hold too — any other was never issued by us (forged, or
    /// from another run), and taking it would let it occupy the sequence
    /// number our next write is about to use.
    pub(crate) fn learn(&mut self, update: Update, spread: bool, out: &mut Output<Self>) {
        if !update.is_valid()
            || update.origin == self.config.id
            || self.store.contains(update.origin, update.seq)
        {
            return;
        }
        let Ok(command) = codec::encode(&update.stamped) else {
            return;
        };
        self.clock = self.clock.max(update.stamped.stamp.clock);
        let (origin, seq) = (update.origin, update.seq);
        self.record(update.clone(), command, None, out);
        self.store.insert(update);
        if spread {
            let rounds = self.retransmit_limit();
            self.store
                .start_rumour(origin, seq, rounds, self.config.max_rumours);
        }
    }

    fn record(
        &mut self,
        update: Update,
        command: Vec<u8>,
        reply_to: Option<synod_core::RequestId>,
        out: &mut Output<Self>,
    ) {
        self.applied += 1;
        out.persist(GossipRecord {
            position: self.applied,
            update,
        });
        out.committed.push(Committed {
            index: self.applied,
            command: Some(command),
            reply_to,
        });
    }

    /// A client write: `proposal` is an encoded [`Stamped`] with the
    /// placeholder stamp (the contract of `synod_core::stamp`); the origin
    /// fills in the real stamp.
    fn write(&mut self, id: synod_core::RequestId, proposal: Vec<u8>, out: &mut Output<Self>) {
        let command = match codec::decode::<Stamped>(&proposal) {
            Ok(s) => s.command,
            Err(e) => {
                let reason = format!("a gossip write must be an encoded Stamped: {e}");
                out.reply(id, Err(ClientError::Malformed { reason }));
                return;
            }
        };
        let stamped = Stamped {
            stamp: Stamp {
                clock: self.clock.saturating_add(1),
                node: self.config.id,
            },
            command,
        };
        let encoded = match codec::encode(&stamped) {
            Ok(e) => e,
            Err(e) => {
                let reason = e.to_string();
                out.reply(id, Err(ClientError::Malformed { reason }));
                return;
            }
        };
        self.clock = self.clock.saturating_add(1);
        self.own_seq = self.own_seq.saturating_add(1);
        let update = Update {
            origin: self.config.id,
            seq: self.own_seq,
            stamped,
        };
        self.record(update.clone(), encoded, Some(id), out);
        self.store.insert(update);
        let rounds = self.retransmit_limit();
        self.store.start_rumour(
            self.config.id,
            self.own_seq,
            rounds,
            self.config.max_rumours,
        );
    }
}

impl Protocol for GossipNode {
    type Message = GossipMessage;
    type Record = GossipRecord;
    type HardState = GossipHardState;

    fn id(&self) -> NodeId {
        self.config.id
    }

    fn tick(&mut self, out: &mut Output<Self>) {
        self.start(out);
        self.now += 1;
        self.swim_tick(out);
        self.rumour_tick(out);
        self.sync_tick(out);
        self.finish(out);
    }

    fn step(&mut self, from: NodeId, msg: GossipMessage, out: &mut Output<Self>) {
        self.start(out);
        if from != self.config.id && from != NodeId(0) {
            match msg {
                GossipMessage::Ping { probe, members } => {
                    self.handle_ping(from, probe, &members, out)
                }
                GossipMessage::Ack {
                    probe,
                    alive,
                    members,
                } => self.handle_ack(probe, alive, &members, out),
                GossipMessage::PingReq {
                    probe,
                    target,
                    members,
                } => self.handle_ping_req(from, probe, target, &members, out),
                GossipMessage::Rumour { updates, members } => {
                    self.hear(&members, out);
                    for u in updates {
                        self.learn(u, true, out);
                    }
                }
                GossipMessage::SyncRequest { digest, members } => {
                    self.handle_sync_request(from, &digest, &members, out)
                }
                GossipMessage::SyncReply {
                    digest,
                    updates,
                    members,
                } => self.handle_sync_reply(from, &digest, updates, &members, out),
                GossipMessage::SyncPush { updates } => {
                    for u in updates {
                        self.learn(u, false, out);
                    }
                }
            }
        }
        self.finish(out);
    }

    fn propose(&mut self, proposal: Proposal, out: &mut Output<Self>) {
        self.start(out);
        match proposal {
            Proposal::Write { id, command } => self.write(id, command, out),
            Proposal::Read { id } => out.reads.push(id),
            Proposal::Admin { id, .. } => out.reply(
                id,
                Err(ClientError::Malformed {
                    reason:
                        "gossip manages membership itself (SWIM); admin changes are not supported"
                            .into(),
                }),
            ),
        }
        self.finish(out);
    }

    fn on_snapshot(&mut self, index: u64, data: Vec<u8>, out: &mut Output<Self>) {
        // Kept for a faster restart of the state machine only: the log is
        // never compacted, because anti-entropy serves peers the updates
        // themselves, not a state snapshot.
        out.snapshot = Some(SnapshotAction::Save(Snapshot {
            position: index,
            meta: Vec::new(),
            data,
        }));
    }

    fn status(&self) -> ProtocolStatus {
        ProtocolStatus {
            id: self.config.id,
            protocol: "gossip".into(),
            role: "member".into(),
            term: self.members.incarnation(),
            leader: None,
            commit_index: self.applied,
            voters: self.members.in_state(MemberState::Alive),
            learners: self.members.in_state(MemberState::Suspect),
        }
    }
}
