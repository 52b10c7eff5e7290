//! The loop itself; see the [module docs](super).

use super::calls::{ClientCall, NodeStatus};
use super::persist::{Done, Inline, Job, PersistThread};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use synod_core::codec;
use synod_core::{
    ClientError, Committed, LogRecord, Output, PeerSender, Proposal, Protocol, ReadConsistency,
    Recovered, Reply, RequestId, StateMachine, Storage, StorageError, StoredRecord, Transport,
};
use synod_core::{NodeId, Snapshot};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// Knobs of the node loop.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Wall-clock length of one protocol tick.
    pub tick: Duration,
    /// Snapshot the state machine after this many applied entries.
    pub snapshot_every: Option<u64>,
    /// Client requests waiting on the protocol at once; more are refused
    /// with a definite `Unavailable`.
    pub max_pending_requests: usize,
    /// Inputs merged into one output before it goes to storage.
    pub max_batch: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(10),
            snapshot_every: Some(10_000),
            max_pending_requests: 10_000,
            max_batch: 256,
        }
    }
}

/// Why a node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Storage failed; the node must not go on.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Recovered data does not decode as this protocol's records.
    #[error("recovered state does not decode: {0}")]
    Recovery(String),
}

/// Loads `storage`, restores `machine` from the snapshot, and decodes the
/// protocol's recovered state. Torn tails repaired by storage are logged.
pub fn recover<P: Protocol, S: Storage, M: StateMachine>(
    storage: &mut S,
    machine: &mut M,
) -> Result<Recovered<P>, NodeError> {
    let loaded = storage.load()?;
    for r in &loaded.repairs {
        warn!(repair = %r, "storage repaired on open");
    }
    if let Some(snap) = &loaded.snapshot {
        machine
            .restore(&snap.data)
            .map_err(|e| NodeError::Recovery(format!("snapshot at {}: {e}", snap.position)))?;
    }
    let hard_state = match &loaded.hard_state {
        Some(b) => {
            Some(codec::decode(b).map_err(|e| NodeError::Recovery(format!("hard state: {e}")))?)
        }
        None => None,
    };
    let mut records = Vec::with_capacity(loaded.records.len());
    for (i, r) in loaded.records.iter().enumerate() {
        records.push(codec::decode(&r.payload).map_err(|e| {
            NodeError::Recovery(format!("record {i} (position {}): {e}", r.position))
        })?);
    }
    info!(
        records = records.len(),
        snapshot = loaded.snapshot.as_ref().map(|s| s.position),
        "recovered from storage"
    );
    Ok(Recovered {
        hard_state,
        snapshot: loaded.snapshot,
        records,
    })
}

/// An output's effects waiting for job `after` to be durable.
struct Held {
    after: u64,
    messages: Vec<(NodeId, Vec<u8>)>,
    effects: Effects,
}

/// Effects released once their output is durable.
struct Effects {
    committed: Vec<Committed>,
    reads: Vec<RequestId>,
    replies: Vec<Reply>,
}

enum Pending<M: StateMachine> {
    Write(oneshot::Sender<Result<M::Output, ClientError>>),
    Read(
        M::Query,
        oneshot::Sender<Result<M::QueryOutput, ClientError>>,
    ),
    Admin(oneshot::Sender<Result<(), ClientError>>),
}

struct Driver<P: Protocol, T: Transport, S: Storage, M: StateMachine> {
    core: P,
    transport: T,
    /// Sends on the transport's links (a burst to one peer in one write).
    sender: Arc<dyn PeerSender>,
    machine: M,
    config: NodeConfig,
    persist: PersistThread<S, Effects>,
    /// A storage failure met on the loop's own thread; the node stops.
    failed: Option<StorageError>,
    pending: BTreeMap<RequestId, Pending<M>>,
    next_request: u64,
    records_durable: u64,
    last_snapshot: u64,
    /// Jobs handed to the storage thread, and how many came back durable.
    jobs_submitted: u64,
    jobs_done: u64,
    /// Outputs that needed no persistence but came while jobs were in
    /// flight, each with the job it must follow (effects leave in order).
    held: VecDeque<Held>,
    /// (role, term, leader) last logged, to log changes only.
    last_role: (String, u64, Option<NodeId>),
    /// The membership is this node alone: no peer will ever answer.
    alone: bool,
}

/// Runs a node until `shutdown` resolves or storage fails.
///
/// `machine` must already be restored (see [`recover`]) and `core` built from
/// the same recovered state.
pub async fn run_node<P, T, S, M>(
    core: P,
    transport: T,
    storage: S,
    machine: M,
    config: NodeConfig,
    mut calls: mpsc::Receiver<ClientCall<M>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError>
where
    P: Protocol + 'static,
    T: Transport,
    S: Storage,
    M: StateMachine,
{
    let sender = transport.sender();
    let (persist, mut durable) = PersistThread::start(storage, sender.clone());
    let last_snapshot = machine.applied_index();
    let mut d = Driver {
        core,
        transport,
        sender,
        machine,
        config,
        persist,
        failed: None,
        pending: BTreeMap::new(),
        next_request: 1,
        records_durable: 0,
        last_snapshot,
        jobs_submitted: 0,
        jobs_done: 0,
        held: VecDeque::new(),
        last_role: (String::new(), 0, None),
        alone: false,
    };
    let mut ticker = tokio::time::interval(d.config.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut batch: Output<P> = Output::new();
    let mut batched = 0usize;
    let result = loop {
        if let Some(e) = d.failed.take() {
            break Err(NodeError::Storage(e));
        }
        let flush_now = batched > 0 && batched >= d.config.max_batch;
        if flush_now {
            d.submit(std::mem::take(&mut batch));
            batched = 0;
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => break Ok(()),
            done = durable.recv() => match done {
                Some(Ok(done)) => {
                    let mut out = Output::new();
                    d.on_durable(done, &mut out);
                    batch.append(&mut out);
                    batched += 1;
                }
                Some(Err(e)) => break Err(NodeError::Storage(e)),
                None => break Err(NodeError::Storage(StorageError::Failed("storage thread stopped".into()))),
            },
            _ = ticker.tick() => {
                let mut out = Output::new();
                d.core.tick(&mut out);
                batch.append(&mut out);
                batched += 1;
            }
            msg = d.transport.recv() => match msg {
                Some((from, bytes)) => {
                    match codec::decode::<P::Message>(&bytes) {
                        Ok(m) => {
                            let mut out = Output::new();
                            d.core.step(from, m, &mut out);
                            batch.append(&mut out);
                            batched += 1;
                        }
                        Err(e) => warn!(%from, error = %e, "dropping undecodable peer message"),
                    }
                }
                None => break Ok(()),
            },
            call = calls.recv() => match call {
                Some(call) => {
                    let mut out = Output::new();
                    d.handle_call(call, &mut out);
                    batch.append(&mut out);
                    batched += 1;
                }
                None => break Ok(()),
            },
            _ = std::future::ready(()), if batched > 0 => {
                d.submit(std::mem::take(&mut batch));
                batched = 0;
            }
        }
    };
    if batched > 0 {
        d.submit(batch);
    }
    // Let queued writes reach the disk before the process goes.
    d.persist.shutdown();
    for (_, p) in std::mem::take(&mut d.pending) {
        d.fail_pending(
            p,
            ClientError::ConnectionLost {
                reason: "node stopped".into(),
            },
        );
    }
    if let Err(e) = &result {
        error!(error = %e, "node stopped on error");
    }
    result
}

impl<P: Protocol + 'static, T: Transport, S: Storage, M: StateMachine> Driver<P, T, S, M> {
    fn request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn handle_call(&mut self, call: ClientCall<M>, out: &mut Output<P>) {
        let full = self.pending.len() >= self.config.max_pending_requests;
        let busy = || ClientError::Unavailable {
            reason: "too many pending requests".into(),
        };
        match call {
            ClientCall::Status { reply } => {
                let _ = reply.send(NodeStatus {
                    protocol: self.core.status(),
                    applied_index: self.machine.applied_index(),
                });
            }
            ClientCall::Read {
                query,
                consistency: ReadConsistency::Local,
                reply,
            } => {
                let _ = reply.send(Ok(self.machine.query(&query)));
            }
            ClientCall::Read {
                query,
                consistency: ReadConsistency::Linearizable,
                reply,
            } => {
                if full {
                    let _ = reply.send(Err(busy()));
                    return;
                }
                let id = self.request_id();
                self.pending.insert(id, Pending::Read(query, reply));
                self.core.propose(Proposal::Read { id }, out);
            }
            ClientCall::Write { command, reply } => {
                if full {
                    let _ = reply.send(Err(busy()));
                    return;
                }
                let command = match codec::encode(&command) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = reply.send(Err(ClientError::Malformed {
                            reason: e.to_string(),
                        }));
                        return;
                    }
                };
                let id = self.request_id();
                self.pending.insert(id, Pending::Write(reply));
                self.core.propose(Proposal::Write { id, command }, out);
            }
            ClientCall::Admin { request, reply } => {
                if full {
                    let _ = reply.send(Err(busy()));
                    return;
                }
                let id = self.request_id();
                self.pending.insert(id, Pending::Admin(reply));
                self.core.propose(Proposal::Admin { id, request }, out);
            }
        }
    }

    /// Carries out an output in order behind everything before it:
    /// - needs no persistence: at once if no job is in flight, else held
    ///   until the last job is durable;
    /// - needs persistence, nothing in flight, no eager messages sent, and
    ///   messages that wait for it (a follower's acknowledgement, a vote)
    ///   or no peers at all: on this thread, as the sync is then all the
    ///   node has to do (a lone write costs no thread wakeups). A leader's
    ///   entries that no message waits on go to the thread, so the loop
    ///   keeps hearing requests and acknowledgements during the sync;
    /// - only records that need no sync (a commit marker), nothing in
    ///   flight: on this thread too, since storage merely buffers them;
    /// - otherwise: to the storage thread, whose group commit takes over
    ///   under load.
    fn submit(&mut self, mut out: Output<P>) {
        self.note_status();
        loop {
            // Peers now work on what we sent: stay free to hear their answers.
            let awaiting_peers = !out.eager_messages.is_empty();
            self.send_all(std::mem::take(&mut out.eager_messages));
            if out.is_empty() {
                return;
            }
            let messages = self.encode_all(std::mem::take(&mut out.messages));
            let effects = Effects {
                committed: std::mem::take(&mut out.committed),
                reads: std::mem::take(&mut out.reads),
                replies: std::mem::take(&mut out.replies),
            };
            if !out.needs_persist() && out.compact_through.is_none() {
                if self.jobs_submitted > self.jobs_done {
                    self.hold(messages, effects);
                    return;
                }
                self.sender.send_many(messages);
                let mut next = Output::new();
                self.release(Done::nothing_persisted(effects), &mut next);
                out = next;
                continue;
            }
            let records: Vec<StoredRecord> = out
                .records
                .iter()
                .map(|r| StoredRecord {
                    position: r.position(),
                    payload: codec::encode(r).expect("protocol records encode"),
                })
                .collect();
            let job = Job {
                hard_state: out
                    .hard_state
                    .as_ref()
                    .map(|h| codec::encode(h).expect("hard state encodes")),
                snapshot: out.snapshot.take(),
                records,
                must_sync: out.must_sync,
                compact_through: out.compact_through,
                messages,
                effects,
            };
            // Unsynced records are only buffered by storage: taking them here
            // spares the reply behind them two thread wakeups.
            let buffered_only = !job.must_sync && job.hard_state.is_none();
            let inline = self.jobs_submitted == self.jobs_done
                && (buffered_only || (!awaiting_peers && (!job.messages.is_empty() || self.alone)));
            let job = if inline {
                match self.persist.persist_now(job) {
                    Inline::Done(done) => {
                        let mut next = Output::new();
                        self.release(done, &mut next);
                        out = next;
                        continue;
                    }
                    Inline::Failed(e) => {
                        self.failed = Some(e);
                        return;
                    }
                    Inline::Declined(job) => job,
                }
            } else {
                job
            };
            self.jobs_submitted += 1;
            if !self.persist.submit(job) {
                error!("storage thread is gone; dropping output");
            }
            return;
        }
    }

    /// An output that needs no persistence came while jobs are in flight:
    /// its effects must follow the last job's (a message may speak of
    /// records that job is still writing, an apply must follow the applies
    /// queued before it), so they wait for that job, not for a sync of their
    /// own.
    fn hold(&mut self, messages: Vec<(NodeId, Vec<u8>)>, effects: Effects) {
        self.held.push_back(Held {
            after: self.jobs_submitted,
            messages,
            effects,
        });
    }

    /// A job is durable (its messages have left): release it, then every
    /// held output that was waiting for it.
    fn on_durable(&mut self, done: Done<Effects>, out: &mut Output<P>) {
        self.jobs_done += 1;
        self.release(done, out);
        while self.held.front().is_some_and(|h| h.after <= self.jobs_done) {
            let h = self.held.pop_front().expect("front exists");
            self.sender.send_many(h.messages);
            self.release(Done::nothing_persisted(h.effects), out);
        }
    }

    /// Carries out the effects of a durable output whose messages have left:
    /// apply, answer.
    fn release(&mut self, done: Done<Effects>, out: &mut Output<P>) {
        let Done {
            effects,
            install,
            records,
        } = done;
        if let Some(snap) = install {
            self.install(snap);
        }
        for c in effects.committed {
            self.apply(c);
        }
        for id in effects.reads {
            match self.pending.remove(&id) {
                Some(Pending::Read(q, reply)) => {
                    let _ = reply.send(Ok(self.machine.query(&q)));
                }
                Some(other) => self.pending_mismatch(id, other),
                None => {}
            }
        }
        for r in effects.replies {
            self.answer(r);
        }
        if records > 0 {
            self.records_durable += records;
            self.core.on_persisted(self.records_durable, out);
        }
        self.maybe_snapshot(out);
    }

    /// Logs a change of role, term or leader, and notes whether this node
    /// is alone in its membership.
    fn note_status(&mut self) {
        let s = self.core.status();
        self.alone = s.voters == [s.id] && s.learners.is_empty();
        let now = (s.role, s.term, s.leader);
        if now != self.last_role {
            info!(role = %now.0, term = now.1, leader = ?now.2.map(|l| l.0), "role changed");
            self.last_role = now;
        }
    }

    fn send_all(&self, messages: Vec<(NodeId, P::Message)>) {
        if !messages.is_empty() {
            self.sender.send_many(self.encode_all(messages));
        }
    }

    fn encode_all(&self, messages: Vec<(NodeId, P::Message)>) -> Vec<(NodeId, Vec<u8>)> {
        let mut encoded = Vec::with_capacity(messages.len());
        for (to, msg) in messages {
            match codec::encode(&msg) {
                Ok(bytes) => encoded.push((to, bytes)),
                Err(e) => error!(%to, error = %e, "message does not encode"),
            }
        }
        encoded
    }

    fn install(&mut self, snap: Snapshot) {
        match self.machine.restore(&snap.data) {
            Ok(()) => {
                self.last_snapshot = snap.position;
                info!(position = snap.position, "installed snapshot from a peer");
            }
            Err(e) => {
                error!(position = snap.position, error = %e, "snapshot from a peer does not restore")
            }
        }
    }

    fn apply(&mut self, c: Committed) {
        if c.index <= self.machine.applied_index() {
            debug!(
                index = c.index,
                applied = self.machine.applied_index(),
                "skipping applied entry"
            );
            return;
        }
        let result = match c.command {
            None => {
                self.machine.skip(c.index);
                None
            }
            Some(bytes) => match codec::decode::<M::Command>(&bytes) {
                Ok(cmd) => Some(Ok(self.machine.apply(c.index, cmd))),
                Err(e) => {
                    warn!(index = c.index, error = %e, "committed command does not decode; skipped");
                    self.machine.skip(c.index);
                    Some(Err(ClientError::Malformed {
                        reason: e.to_string(),
                    }))
                }
            },
        };
        let Some(id) = c.reply_to else { return };
        match (self.pending.remove(&id), result) {
            (Some(Pending::Write(reply)), Some(r)) => {
                let _ = reply.send(r);
            }
            (Some(Pending::Admin(reply)), _) => {
                let _ = reply.send(Ok(()));
            }
            (Some(other), _) => self.pending_mismatch(id, other),
            (None, _) => {}
        }
    }

    fn answer(&mut self, r: Reply) {
        let Some(p) = self.pending.remove(&r.id) else {
            return;
        };
        match (p, r.result) {
            (p, Err(e)) => self.fail_pending(p, e),
            (Pending::Admin(reply), Ok(_)) => {
                let _ = reply.send(Ok(()));
            }
            (Pending::Read(q, reply), Ok(_)) => {
                let _ = reply.send(Ok(self.machine.query(&q)));
            }
            (Pending::Write(reply), Ok(_)) => {
                warn!(id = %r.id, "protocol acknowledged a write without applying it");
                let _ = reply.send(Err(ClientError::LeadershipLost));
            }
        }
    }

    fn fail_pending(&self, p: Pending<M>, e: ClientError) {
        match p {
            Pending::Write(reply) => {
                let _ = reply.send(Err(e));
            }
            Pending::Read(_, reply) => {
                let _ = reply.send(Err(e));
            }
            Pending::Admin(reply) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    fn pending_mismatch(&mut self, id: RequestId, p: Pending<M>) {
        warn!(%id, "protocol answered a request with the wrong kind of result");
        self.fail_pending(p, ClientError::LeadershipLost);
    }

    fn maybe_snapshot(&mut self, out: &mut Output<P>) {
        let Some(every) = self.config.snapshot_every else {
            return;
        };
        let applied = self.machine.applied_index();
        if applied >= self.last_snapshot + every {
            self.last_snapshot = applied;
            let data = self.machine.snapshot();
            debug!(
                index = applied,
                bytes = data.len(),
                "snapshotting state machine"
            );
            self.core.on_snapshot(applied, data, out);
        }
    }
}
