//! Shared helpers: ensembles on the in-memory harness, and single cores
//! driven by hand.

#![allow(dead_code)]

use std::collections::BTreeMap;
use synod_core::harness::{ClientOutcome, Envelope, Network};
use synod_core::{NodeId, Proposal, Protocol, Recovered, RequestId, SeededRng};
use synod_zab::{PeerState, Txn, ZabConfig, ZabHardState, ZabMessage, ZabNode, ZabRecord, Zxid};

pub type Net = Network<ZabNode>;

pub fn n(i: u64) -> NodeId {
    NodeId(i)
}

/// Ensemble options; `Default` uses small timeouts so tests run in few
/// ticks.
#[derive(Clone, Debug)]
pub struct Opts {
    pub voters: u64,
    pub observers: u64,
    pub election_ticks: (u64, u64),
    pub heartbeat_ticks: u64,
    pub snapshot_chunk_bytes: usize,
    pub diff_window_proposals: usize,
    pub max_batch_proposals: usize,
    pub max_uncommitted_proposals: u64,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            voters: 3,
            observers: 0,
            election_ticks: (10, 20),
            heartbeat_ticks: 2,
            snapshot_chunk_bytes: 1 << 20,
            diff_window_proposals: 1000,
            max_batch_proposals: 64,
            max_uncommitted_proposals: 10_000,
        }
    }
}

impl Opts {
    pub fn voter_ids(&self) -> Vec<NodeId> {
        (1..=self.voters).map(NodeId).collect()
    }

    pub fn observer_ids(&self) -> Vec<NodeId> {
        (self.voters + 1..=self.voters + self.observers)
            .map(NodeId)
            .collect()
    }

    pub fn all_ids(&self) -> Vec<NodeId> {
        (1..=self.voters + self.observers).map(NodeId).collect()
    }

    pub fn config(&self, id: NodeId) -> ZabConfig {
        let mut c = ZabConfig::new(id, self.voter_ids());
        c.observers = self.observer_ids();
        c.election_ticks_min = self.election_ticks.0;
        c.election_ticks_max = self.election_ticks.1;
        c.heartbeat_ticks = self.heartbeat_ticks;
        c.establish_ticks = 4 * self.election_ticks.1;
        c.snapshot_chunk_bytes = self.snapshot_chunk_bytes;
        c.diff_window_proposals = self.diff_window_proposals;
        c.max_batch_proposals = self.max_batch_proposals;
        c.max_uncommitted_proposals = self.max_uncommitted_proposals;
        c
    }
}

/// An ensemble on the harness.
pub fn cluster(seed: u64, opts: Opts) -> Net {
    let all = opts.all_ids();
    Network::new(
        &all,
        seed,
        Box::new(move |id, rec, rng| ZabNode::new(opts.config(id), rec, rng)),
    )
}

/// A preloaded durable state for one server: epochs and logged proposals.
pub type Preload = (ZabHardState, Vec<Txn>);

/// An ensemble whose servers start from the given durable state (first
/// build only; a restart recovers from the harness storage as usual).
pub fn cluster_from(seed: u64, opts: Opts, mut preload: BTreeMap<NodeId, Preload>) -> Net {
    let all = opts.all_ids();
    Network::new(
        &all,
        seed,
        Box::new(move |id, rec: Recovered<ZabNode>, rng| {
            let rec = match preload.remove(&id) {
                Some((hs, txns)) => Recovered {
                    hard_state: Some(hs),
                    snapshot: None,
                    records: txns.into_iter().map(ZabRecord::Proposal).collect(),
                },
                None => rec,
            };
            ZabNode::new(opts.config(id), rec, rng)
        }),
    )
}

pub fn txn(epoch: u32, counter: u32) -> Txn {
    Txn {
        zxid: Zxid::new(epoch, counter),
        command: Some(format!("{epoch}:{counter}").into_bytes()),
        origin: None,
    }
}

pub fn hard(accepted_epoch: u64, current_epoch: u64) -> ZabHardState {
    ZabHardState {
        accepted_epoch,
        current_epoch,
        incarnation: 0,
    }
}

pub fn core(net: &Net, id: NodeId) -> &ZabNode {
    net.core(id).unwrap_or_else(|| panic!("node {id} is down"))
}

/// `(id, epoch)` of every live server leading an established epoch.
pub fn leaders(net: &Net) -> Vec<(NodeId, u64)> {
    net.ids()
        .into_iter()
        .filter_map(|id| net.core(id))
        .filter(|c| c.is_established_leader())
        .map(|c| (c.id(), c.current_epoch()))
        .collect()
}

/// The established leader of the highest epoch, if any.
pub fn current_leader(net: &Net) -> Option<NodeId> {
    leaders(net)
        .into_iter()
        .max_by_key(|(_, e)| *e)
        .map(|(id, _)| id)
}

/// Runs whole rounds until an established leader exists and every live
/// server of `members` follows (or observes) it in broadcast. Panics after
/// `max_rounds`.
pub fn stable_leader(net: &mut Net, members: &[NodeId], max_rounds: u64) -> NodeId {
    for _ in 0..max_rounds {
        net.run(1);
        if let Some(l) = current_leader(net) {
            let epoch = core(net, l).current_epoch();
            let settled = members.iter().filter(|m| net.is_up(**m)).all(|m| {
                let c = core(net, *m);
                c.leader() == Some(l)
                    && c.current_epoch() == epoch
                    && c.committed() >= core(net, l).committed().min(c.last_zxid())
                    && c.state() != PeerState::Looking
            });
            if settled {
                // A few more rounds so followers reach broadcast.
                net.run(3);
                return l;
            }
        }
    }
    panic!(
        "no stable leader after {max_rounds} rounds: {:?}",
        net.statuses()
    );
}

pub fn write(net: &mut Net, at: NodeId, rid: u64, command: &[u8]) -> bool {
    net.propose(
        at,
        Proposal::Write {
            id: RequestId(rid),
            command: command.to_vec(),
        },
    )
}

pub fn read(net: &mut Net, at: NodeId, rid: u64) -> bool {
    net.propose(at, Proposal::Read { id: RequestId(rid) })
}

pub fn outcome(net: &Net, at: NodeId, rid: u64) -> Option<ClientOutcome> {
    net.outcome(at, RequestId(rid)).cloned()
}

/// The commands `id` applied, in order.
pub fn applied(net: &Net, id: NodeId) -> Vec<Vec<u8>> {
    net.machine(id)
        .applied
        .iter()
        .map(|(_, c)| c.clone())
        .collect()
}

/// The zxids of `id`'s history above its base.
pub fn zxids(net: &Net, id: NodeId) -> Vec<Zxid> {
    core(net, id).history().iter().map(|t| t.zxid).collect()
}

/// Every member but `leader`.
pub fn others(opts: &Opts, leader: NodeId) -> Vec<NodeId> {
    opts.all_ids()
        .into_iter()
        .filter(|i| *i != leader)
        .collect()
}

/// Takes the in-flight messages `pick` selects off the wire, leaving the
/// rest in flight, in order.
pub fn withhold(
    net: &mut Net,
    pick: impl Fn(&Envelope<ZabMessage>) -> bool,
) -> Vec<Envelope<ZabMessage>> {
    let (held, rest): (Vec<_>, Vec<_>) = net.take_in_flight().into_iter().partition(|e| pick(e));
    for e in rest {
        net.inject(e);
    }
    held
}

// ----- single cores driven by hand ------------------------------------------

pub fn lone_core(id: u64, opts: &Opts, hs: ZabHardState, txns: Vec<Txn>) -> ZabNode {
    ZabNode::new(
        opts.config(NodeId(id)),
        Recovered {
            hard_state: Some(hs),
            snapshot: None,
            records: txns.into_iter().map(ZabRecord::Proposal).collect(),
        },
        SeededRng::new(id),
    )
}

pub use synod_core::testing::drive::{sent, step, tick};
