//! Shared helpers: Multi-Paxos clusters on the harness, single cores driven
//! by hand.

#![allow(dead_code)]

use synod_core::harness::{ClientOutcome, Network};
use synod_core::testing::drive::tick;
use synod_core::{NodeId, Output, Proposal, Protocol, Recovered, RequestId, SeededRng};
use synod_paxos::{PaxosConfig, PaxosNode, Role};

pub type Net = Network<PaxosNode>;

pub fn n(i: u64) -> NodeId {
    NodeId(i)
}

pub fn ids(count: u64) -> Vec<NodeId> {
    (1..=count).map(NodeId).collect()
}

/// Small timeouts so tests need few ticks.
pub fn config(id: NodeId, all: &[NodeId]) -> PaxosConfig {
    let mut c = PaxosConfig::new(id, all.to_vec());
    c.election_ticks_min = 10;
    c.election_ticks_max = 20;
    c.heartbeat_ticks = 2;
    c.max_batch_slots = 16;
    c.snapshot_chunk_bytes = 64;
    c
}

/// A cluster of `count` nodes on the harness, built with `tweak` applied to
/// the test configuration.
pub fn cluster_with(count: u64, seed: u64, tweak: fn(&mut PaxosConfig)) -> Net {
    let all = ids(count);
    let nodes = all.clone();
    Network::new(
        &all,
        seed,
        Box::new(move |id, rec, rng| {
            let mut c = config(id, &nodes);
            tweak(&mut c);
            PaxosNode::new(c, rec, rng)
        }),
    )
}

pub fn cluster(count: u64, seed: u64) -> Net {
    cluster_with(count, seed, |_| {})
}

/// A lone core, driven by hand.
pub fn core(id: u64, count: u64) -> PaxosNode {
    PaxosNode::new(
        config(n(id), &ids(count)),
        Recovered::default(),
        SeededRng::new(id),
    )
}

/// The live leader with the highest ballot, if any.
pub fn leader(net: &Net) -> Option<NodeId> {
    net.ids()
        .into_iter()
        .filter_map(|id| net.core(id))
        .filter(|c| c.role() == Role::Leader)
        .max_by_key(|c| c.promised())
        .map(|c| c.id())
}

/// Runs until a leader exists whose own no-op is chosen (it serves).
pub fn elect(net: &mut Net) -> NodeId {
    for _ in 0..500 {
        net.run(1);
        if let Some(l) = leader(net) {
            let c = net.core(l).unwrap();
            if c.chosen_through() >= 1 && c.applied_index() == c.chosen_through() {
                net.run(3);
                if leader(net) == Some(l) {
                    return l;
                }
            }
        }
    }
    panic!("no leader after 500 ticks");
}

pub fn write(net: &mut Net, at: NodeId, id: u64, command: &[u8]) {
    net.propose(
        at,
        Proposal::Write {
            id: RequestId(id),
            command: command.to_vec(),
        },
    );
}

pub fn applied_at(net: &Net, at: NodeId, id: u64) -> Option<u64> {
    match net.outcome(at, RequestId(id)) {
        Some(ClientOutcome::Applied { index }) => Some(*index),
        _ => None,
    }
}

/// Commands a node applied, in order.
pub fn commands(net: &Net, id: NodeId) -> Vec<Vec<u8>> {
    net.machine(id)
        .applied
        .iter()
        .map(|(_, c)| c.clone())
        .collect()
}

pub use synod_core::testing::drive::{propose, sent_to, step};

pub fn tick_until_candidate(core: &mut PaxosNode) -> Output<PaxosNode> {
    for _ in 0..100 {
        let out = tick(core);
        if core.role() != Role::Follower {
            return out;
        }
    }
    panic!("never became a candidate");
}
