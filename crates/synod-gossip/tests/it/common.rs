//! Shared helpers: clusters on the in-memory harness, single cores driven
//! by hand, and what a replica applied.

#![allow(dead_code)]

use std::collections::BTreeSet;
use synod_core::harness::{ClientOutcome, Network};
use synod_core::{codec, NodeId, Proposal, Recovered, RequestId, SeededRng, Stamped};
use synod_gossip::{GossipConfig, GossipNode};

pub type Net = Network<GossipNode>;

pub fn n(i: u64) -> NodeId {
    NodeId(i)
}

pub fn ids(count: u64) -> Vec<NodeId> {
    (1..=count).map(NodeId).collect()
}

/// Small timeouts so tests run in few ticks: probe every 4 ticks, ping
/// timeout 2, suspicion 16, rumours every tick, anti-entropy every 8.
pub fn config(id: NodeId, all: &[NodeId]) -> GossipConfig {
    let mut c = GossipConfig::new(id, all.to_vec());
    c.protocol_period_ticks = 4;
    c.ping_timeout_ticks = 2;
    c.suspicion_ticks = 16;
    c.gossip_ticks = 1;
    c.anti_entropy_ticks = 8;
    c
}

/// A cluster of `count` members on the harness, built with `tweak` applied
/// to the test configuration.
pub fn cluster_with(count: u64, seed: u64, tweak: fn(&mut GossipConfig)) -> Net {
    let all = ids(count);
    let nodes = all.clone();
    Network::new(
        &all,
        seed,
        Box::new(move |id, rec, rng| {
            let mut c = config(id, &nodes);
            tweak(&mut c);
            GossipNode::new(c, rec, rng)
        }),
    )
}

pub fn cluster(count: u64, seed: u64) -> Net {
    cluster_with(count, seed, |_| {})
}

/// One core built by hand (no harness), with a fixed seed.
pub fn single(id: u64, all: u64) -> GossipNode {
    GossipNode::new(
        config(n(id), &ids(all)),
        Recovered::default(),
        SeededRng::new(id),
    )
}

pub fn core(net: &Net, id: NodeId) -> &GossipNode {
    net.core(id).unwrap_or_else(|| panic!("node {id} is down"))
}

/// Proposes a write of `command` at `node`.
pub fn write(net: &mut Net, node: NodeId, rid: u64, command: &[u8]) -> bool {
    net.propose(
        node,
        Proposal::Write {
            id: RequestId(rid),
            command: synod_core::Stamped::proposal(command.to_vec()),
        },
    )
}

/// Whether the write `rid` at `node` was acknowledged.
pub fn acked(net: &Net, node: NodeId, rid: u64) -> bool {
    matches!(
        net.outcome(node, RequestId(rid)),
        Some(ClientOutcome::Applied { .. })
    )
}

/// The client commands `node`'s state machine applied, decoded.
pub fn applied_commands(net: &Net, node: NodeId) -> Vec<Vec<u8>> {
    net.machine(node)
        .applied
        .iter()
        .map(|(_, bytes)| {
            codec::decode::<Stamped>(bytes)
                .expect("gossip emits encoded Stamped commands")
                .command
        })
        .collect()
}

/// The distinct commands applied, panicking if one was applied twice.
pub fn applied_set(net: &Net, node: NodeId) -> BTreeSet<Vec<u8>> {
    let all = applied_commands(net, node);
    let set: BTreeSet<Vec<u8>> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "node {node} applied an update twice");
    set
}

/// One whole round: tick everyone, deliver until quiet.
pub fn round(net: &mut Net) {
    net.tick_all();
    net.deliver_all(usize::MAX);
}

/// Runs rounds until every live member applied `expected`, or `max`
/// rounds pass; returns the rounds taken.
pub fn until_converged(net: &mut Net, expected: &BTreeSet<Vec<u8>>, max: u64) -> Option<u64> {
    for r in 0..=max {
        let done = net
            .ids()
            .into_iter()
            .filter(|&id| net.is_up(id))
            .all(|id| &applied_set(net, id) == expected);
        if done {
            return Some(r);
        }
        round(net);
    }
    None
}

pub use synod_core::testing::drive::{propose, step, tick};
