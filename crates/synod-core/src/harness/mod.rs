//! An in-memory network that steps many protocol cores in one test.
//!
//! The harness is the driver of [`Protocol`] cores inside a
//! single thread: it carries out every [`Output`] in the documented order
//! (persist to a [`MemStorage`], send into the network, apply to a
//! [`RecordingMachine`], record replies), and lets the test break things:
//!
//! | call | effect |
//! |---|---|
//! | [`tick`](Network::tick), [`tick_all`](Network::tick_all) | logical time passes |
//! | [`deliver_next`](Network::deliver_next), [`deliver_all`](Network::deliver_all), [`deliver`](Network::deliver), [`deliver_now`](Network::deliver_now) | messages arrive |
//! | [`isolate`](Network::isolate), [`cut`](Network::cut), [`cut_one_way`](Network::cut_one_way) | links stop delivering |
//! | [`drop_messages`](Network::drop_messages), [`set_loss`](Network::set_loss), [`set_duplicate`](Network::set_duplicate), [`set_reorder`](Network::set_reorder) | lossy links |
//! | [`crash`](Network::crash), [`restart`](Network::restart) | a node loses its memory and unsynced writes, then recovers from its storage |
//! | [`heal`](Network::heal) | every link works again |
//!
//! Every random choice comes from one seeded RNG, so a failing seed replays
//! exactly. Messages are checked against the faults when they are delivered,
//! not when sent, so cutting a link also loses what was in flight on it.
//!
//! Randomised tests draw their faults from [`chaos`]: a ready-made fault step
//! ([`Chaos`](chaos::Chaos)) and the building blocks it is made of.

pub mod chaos;
mod faults;
mod machine;

pub use faults::Faults;
pub use machine::RecordingMachine;

use crate::client::Proposal;
use crate::codec;
use crate::ids::{NodeId, RequestId};
use crate::protocol::{Output, Protocol, ProtocolStatus, Recovered, SnapshotAction};
use crate::rng::SeededRng;
use crate::storage::{MemStorage, Storage, StoredRecord};
use crate::{ClientError, LogRecord};
use std::collections::{BTreeMap, VecDeque};

/// Builds a core for a node from what its storage recovered.
pub type Factory<P> = Box<dyn FnMut(NodeId, Recovered<P>, SeededRng) -> P>;

/// A message in flight.
#[derive(Clone, Debug)]
pub struct Envelope<M> {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The message.
    pub msg: M,
}

/// What a client learned from a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientOutcome {
    /// The write was applied at `index` on the node that proposed it.
    Applied {
        /// Its log position.
        index: u64,
    },
    /// A linearizable read may be served now.
    ReadReady,
    /// A direct reply.
    Replied(Result<Vec<u8>, ClientError>),
}

struct Slot<P: Protocol> {
    core: Option<P>,
    storage: MemStorage,
    machine: RecordingMachine,
    records_emitted: u64,
    last_snapshot: u64,
}

/// Many protocol cores wired through an in-memory, fault-injecting network.
pub struct Network<P: Protocol> {
    slots: BTreeMap<NodeId, Slot<P>>,
    factory: Factory<P>,
    rng: SeededRng,
    in_flight: VecDeque<Envelope<P::Message>>,
    faults: Faults,
    outcomes: Vec<(NodeId, RequestId, ClientOutcome)>,
    snapshot_every: Option<u64>,
    delivered: u64,
    lost: u64,
}

impl<P: Protocol> Network<P> {
    /// A network of `ids`, each core built by `factory` from empty storage.
    pub fn new(ids: &[NodeId], seed: u64, factory: Factory<P>) -> Self {
        let mut net = Self {
            slots: BTreeMap::new(),
            factory,
            rng: SeededRng::new(seed),
            in_flight: VecDeque::new(),
            faults: Faults::default(),
            outcomes: Vec::new(),
            snapshot_every: None,
            delivered: 0,
            lost: 0,
        };
        for &id in ids {
            let core = net.build(id, Recovered::default());
            net.slots.insert(
                id,
                Slot {
                    core: Some(core),
                    storage: MemStorage::new(),
                    machine: RecordingMachine::default(),
                    records_emitted: 0,
                    last_snapshot: 0,
                },
            );
        }
        net
    }

    fn build(&mut self, id: NodeId, recovered: Recovered<P>) -> P {
        let rng = self.rng.fork(id.0);
        (self.factory)(id, recovered, rng)
    }

    /// Makes each node snapshot its state machine after every `entries`
    /// applied entries (as the runtime does), so compaction paths run.
    pub fn set_snapshot_every(&mut self, entries: Option<u64>) {
        self.snapshot_every = entries;
    }

    // ----- inputs -------------------------------------------------------

    /// One tick for `id` (nothing if it is down).
    pub fn tick(&mut self, id: NodeId) {
        self.with_core(id, |core, out| core.tick(out));
    }

    /// One tick for every live node, in id order.
    pub fn tick_all(&mut self) {
        for id in self.ids() {
            self.tick(id);
        }
    }

    /// A client proposal at `id`. Returns `false` if the node is down.
    pub fn propose(&mut self, id: NodeId, proposal: Proposal) -> bool {
        self.with_core(id, |core, out| core.propose(proposal, out))
    }

    /// Delivers the next in-flight message (a random one when reordering).
    /// Returns `false` when nothing is in flight.
    pub fn deliver_next(&mut self) -> bool {
        let pick = if self.faults.reorder && self.in_flight.len() > 1 {
            self.rng.index(self.in_flight.len())
        } else {
            0
        };
        match self.in_flight.remove(pick) {
            Some(env) => {
                self.deliver_envelope(env);
                true
            }
            None => false,
        }
    }

    /// Delivers messages until none is in flight or `max` were delivered;
    /// returns how many were taken off the wire.
    pub fn deliver_all(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max && self.deliver_next() {
            n += 1;
        }
        n
    }

    /// Delivers every message currently in flight from `from` to `to`, in
    /// order; returns how many.
    pub fn deliver(&mut self, from: NodeId, to: NodeId) -> usize {
        let (matching, rest): (VecDeque<_>, VecDeque<_>) = self
            .in_flight
            .drain(..)
            .partition(|e| e.from == from && e.to == to);
        self.in_flight = rest;
        let n = matching.len();
        for env in matching {
            self.deliver_envelope(env);
        }
        n
    }

    /// `ticks` rounds of: tick every node, then deliver until quiet (at most
    /// `10_000` messages a round).
    pub fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick_all();
            self.deliver_all(10_000);
        }
    }

    /// One random event: usually a delivery, sometimes a tick of a random
    /// node. The building block of randomised tests.
    pub fn step_random(&mut self) {
        if self.in_flight.is_empty() || self.rng.chance(0.2) {
            let ids = self.ids();
            let id = ids[self.rng.index(ids.len())];
            self.tick(id);
        } else {
            self.deliver_next();
        }
    }

    /// Delivers `env` at once, ahead of everything in flight and whatever
    /// the reordering setting, and returns what the receiver sent in answer
    /// (nothing if `env` was lost or the receiver is down).
    ///
    /// The faults still apply to `env` itself: a cut or lossy link loses it
    /// (counted in [`message_counts`](Self::message_counts)) and it may be
    /// duplicated. The answers, and a duplicate of `env`, stay in flight
    /// behind the messages already there (the duplicate first); the returned
    /// answers are copies, for the test to inspect.
    pub fn deliver_now(&mut self, env: Envelope<P::Message>) -> Vec<Envelope<P::Message>> {
        let queued = std::mem::take(&mut self.in_flight);
        let duplicated = self.deliver_envelope(env);
        let mut sent = std::mem::replace(&mut self.in_flight, queued);
        let answers = sent.iter().skip(usize::from(duplicated)).cloned().collect();
        self.in_flight.append(&mut sent);
        answers
    }

    /// Delivers `env` (or loses it, as the faults decide); returns whether
    /// a duplicate of it was put back in flight.
    fn deliver_envelope(&mut self, env: Envelope<P::Message>) -> bool {
        let alive = self.slots.get(&env.to).is_some_and(|s| s.core.is_some());
        if !alive || self.faults.loses(env.from, env.to, &mut self.rng) {
            self.lost += 1;
            return false;
        }
        let duplicated = self.faults.duplicate > 0.0 && self.rng.chance(self.faults.duplicate);
        if duplicated {
            let at = self.rng.index(self.in_flight.len() + 1);
            self.in_flight.insert(at, env.clone());
        }
        self.delivered += 1;
        let Envelope { from, to, msg } = env;
        self.with_core(to, |core, out| core.step(from, msg, out));
        duplicated
    }

    // ----- faults -------------------------------------------------------

    /// Cuts every link to and from `id`.
    pub fn isolate(&mut self, id: NodeId) {
        for other in self.ids() {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cut_one_way(a, b);
        self.cut_one_way(b, a);
    }

    /// Cuts the link `from → to` only.
    pub fn cut_one_way(&mut self, from: NodeId, to: NodeId) {
        self.faults.cut.insert((from, to));
    }

    /// Splits the nodes into the given groups: links inside a group work,
    /// links between groups are cut.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        for (i, g) in groups.iter().enumerate() {
            for h in groups.iter().skip(i + 1) {
                for &a in g.iter() {
                    for &b in h.iter() {
                        self.cut(a, b);
                    }
                }
            }
        }
    }

    /// Loses each message on `from → to` with probability `p`.
    pub fn drop_messages(&mut self, from: NodeId, to: NodeId, p: f64) {
        self.faults.loss.insert((from, to), p);
    }

    /// Loses each message on every link with probability `p`.
    pub fn set_loss(&mut self, p: f64) {
        self.faults.loss_all = p;
    }

    /// Delivers a message twice with probability `p`.
    pub fn set_duplicate(&mut self, p: f64) {
        self.faults.duplicate = p;
    }

    /// Delivers in-flight messages in random order.
    pub fn set_reorder(&mut self, on: bool) {
        self.faults.reorder = on;
    }

    /// Every link delivers again; loss, duplication and reordering stop.
    /// Crashed nodes stay down.
    pub fn heal(&mut self) {
        self.faults = Faults::default();
    }

    /// Stops `id`: its core and unsynced writes are gone; messages to it are
    /// lost until [`restart`](Self::restart).
    pub fn crash(&mut self, id: NodeId) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.core = None;
            slot.storage.crash();
        }
    }

    /// Rebuilds `id`'s core from what its storage had synced.
    pub fn restart(&mut self, id: NodeId) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        if slot.core.is_some() {
            return;
        }
        let loaded = slot.storage.load().expect("mem storage loads");
        let mut machine = RecordingMachine::default();
        if let Some(snap) = &loaded.snapshot {
            machine.restore(snap);
        }
        let recovered = Recovered::<P> {
            hard_state: loaded
                .hard_state
                .as_deref()
                .map(|b| codec::decode(b).expect("hard state decodes")),
            snapshot: loaded.snapshot.clone(),
            records: loaded
                .records
                .iter()
                .map(|r| codec::decode(&r.payload).expect("record decodes"))
                .collect(),
        };
        let last_snapshot = machine.applied_index;
        let core = self.build(id, recovered);
        let slot = self.slots.get_mut(&id).expect("slot exists");
        slot.machine = machine;
        slot.records_emitted = 0;
        slot.last_snapshot = last_snapshot;
        slot.core = Some(core);
    }

    // ----- observation --------------------------------------------------

    /// Every node id, in order.
    pub fn ids(&self) -> Vec<NodeId> {
        self.slots.keys().copied().collect()
    }

    /// The core of `id`, if it is up.
    pub fn core(&self, id: NodeId) -> Option<&P> {
        self.slots.get(&id).and_then(|s| s.core.as_ref())
    }

    /// The core of `id`, mutably, if it is up.
    pub fn core_mut(&mut self, id: NodeId) -> Option<&mut P> {
        self.slots.get_mut(&id).and_then(|s| s.core.as_mut())
    }

    /// Whether `id` is up.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.core(id).is_some()
    }

    /// Status of every node that is up.
    pub fn statuses(&self) -> Vec<ProtocolStatus> {
        self.slots
            .values()
            .filter_map(|s| s.core.as_ref().map(|c| c.status()))
            .collect()
    }

    /// What `id` applied (survives crashes through snapshots only, as a
    /// real state machine would).
    pub fn machine(&self, id: NodeId) -> &RecordingMachine {
        &self.slots[&id].machine
    }

    /// `id`'s storage (to inspect what is durable).
    pub fn storage(&self, id: NodeId) -> &MemStorage {
        &self.slots[&id].storage
    }

    /// Client outcomes so far, in the order they happened.
    pub fn outcomes(&self) -> &[(NodeId, RequestId, ClientOutcome)] {
        &self.outcomes
    }

    /// The outcome of request `id` at `node`, if any yet.
    pub fn outcome(&self, node: NodeId, id: RequestId) -> Option<&ClientOutcome> {
        self.outcomes
            .iter()
            .find(|(n, r, _)| *n == node && *r == id)
            .map(|(_, _, o)| o)
    }

    /// Messages in flight.
    pub fn in_flight(&self) -> &VecDeque<Envelope<P::Message>> {
        &self.in_flight
    }

    /// Takes every in-flight message off the wire (to inspect or re-inject
    /// by hand with [`inject`](Self::inject)).
    pub fn take_in_flight(&mut self) -> Vec<Envelope<P::Message>> {
        self.in_flight.drain(..).collect()
    }

    /// Puts a message on the wire.
    pub fn inject(&mut self, env: Envelope<P::Message>) {
        self.in_flight.push_back(env);
    }

    /// `(delivered, lost)` message counts.
    pub fn message_counts(&self) -> (u64, u64) {
        (self.delivered, self.lost)
    }

    // ----- the driver ---------------------------------------------------

    fn with_core(&mut self, id: NodeId, f: impl FnOnce(&mut P, &mut Output<P>)) -> bool {
        let Some(core) = self.slots.get_mut(&id).and_then(|s| s.core.as_mut()) else {
            return false;
        };
        let mut out = Output::new();
        f(core, &mut out);
        self.carry_out(id, out);
        true
    }

    /// Carries out an output in the documented order, then whatever the
    /// core emits in answer to `on_persisted` and `on_snapshot`.
    fn carry_out(&mut self, id: NodeId, mut out: Output<P>) {
        let snapshot_every = self.snapshot_every;
        loop {
            let slot = self.slots.get_mut(&id).expect("slot exists");
            let Some(core) = slot.core.as_mut() else {
                return;
            };
            let mut next = Output::new();

            // 1. persist
            if let Some(h) = &out.hard_state {
                slot.storage
                    .save_hard_state(&codec::encode(h).expect("encode"))
                    .expect("mem");
            }
            match &out.snapshot {
                Some(SnapshotAction::Save(s)) => slot.storage.save_snapshot(s).expect("mem"),
                Some(SnapshotAction::Install(s)) => {
                    slot.storage.save_snapshot(s).expect("mem");
                    slot.machine.restore(s);
                    slot.last_snapshot = s.position;
                }
                None => {}
            }
            if !out.records.is_empty() {
                let stored: Vec<StoredRecord> = out
                    .records
                    .iter()
                    .map(|r| StoredRecord {
                        position: r.position(),
                        payload: codec::encode(r).expect("encode record"),
                    })
                    .collect();
                slot.storage.append(&stored).expect("mem");
            }
            if out.must_sync {
                slot.storage.sync().expect("mem");
            }
            if let Some(p) = out.compact_through {
                slot.storage.compact(p).expect("mem");
            }
            if !out.records.is_empty() {
                slot.records_emitted += out.records.len() as u64;
                core.on_persisted(slot.records_emitted, &mut next);
            }
            // 2. send (eager messages first: they may overtake the others)
            for (to, msg) in out.eager_messages.drain(..).chain(out.messages.drain(..)) {
                self.in_flight.push_back(Envelope { from: id, to, msg });
            }
            // 3. apply
            for c in &out.committed {
                slot.machine.apply(c.index, c.command.as_deref());
                if let Some(rid) = c.reply_to {
                    self.outcomes
                        .push((id, rid, ClientOutcome::Applied { index: c.index }));
                }
            }
            if let Some(every) = snapshot_every {
                let applied = slot.machine.applied_index;
                if applied >= slot.last_snapshot + every {
                    slot.last_snapshot = applied;
                    core.on_snapshot(applied, slot.machine.snapshot_data(), &mut next);
                }
            }
            // 4. answer
            for rid in out.reads.drain(..) {
                self.outcomes.push((id, rid, ClientOutcome::ReadReady));
            }
            for r in out.replies.drain(..) {
                self.outcomes
                    .push((id, r.id, ClientOutcome::Replied(r.result)));
            }
            if next.is_empty() {
                return;
            }
            out = next;
        }
    }
}
