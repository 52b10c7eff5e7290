//! Shared helpers: clusters on the in-memory harness, and single cores
//! driven by hand.

#![allow(dead_code)]

use std::collections::BTreeMap;
use synod_core::harness::{ClientOutcome, Envelope, Network};
use synod_core::{
    AdminRequest, NodeId, Output, Proposal, Protocol, Recovered, RequestId, SeededRng,
};
use synod_raft::{
    Entry, EntryPayload, RaftConfig, RaftHardState, RaftMessage, RaftNode, RaftRecord, Role,
};

pub type Net = Network<RaftNode>;

pub fn n(i: u64) -> NodeId {
    NodeId(i)
}

pub fn ids(count: u64) -> Vec<NodeId> {
    (1..=count).map(NodeId).collect()
}

/// Cluster options; `Default` is the production defaults with small
/// timeouts so tests run in few ticks.
#[derive(Clone, Debug)]
pub struct Opts {
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub election_ticks: (u64, u64),
    pub heartbeat_ticks: u64,
    pub snapshot_chunk_bytes: usize,
    pub max_append_entries: usize,
    pub max_inflight_bytes: u64,
    /// Initial voters (default: every node).
    pub voters: Option<Vec<NodeId>>,
    /// Initial learners.
    pub learners: Vec<NodeId>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            pre_vote: true,
            check_quorum: true,
            election_ticks: (10, 20),
            heartbeat_ticks: 2,
            snapshot_chunk_bytes: 1 << 20,
            max_append_entries: 64,
            max_inflight_bytes: 1 << 20,
            voters: None,
            learners: Vec::new(),
        }
    }
}

impl Opts {
    pub fn config(&self, id: NodeId, all: &[NodeId]) -> RaftConfig {
        let voters = self.voters.clone().unwrap_or_else(|| all.to_vec());
        let mut c = RaftConfig::new(id, Vec::new());
        // Nodes outside the bootstrap membership join with an empty one.
        if voters.contains(&id) || self.learners.contains(&id) {
            c.voters = voters;
            c.learners = self.learners.clone();
        }
        c.pre_vote = self.pre_vote;
        c.check_quorum = self.check_quorum;
        c.election_ticks_min = self.election_ticks.0;
        c.election_ticks_max = self.election_ticks.1;
        c.heartbeat_ticks = self.heartbeat_ticks;
        c.snapshot_chunk_bytes = self.snapshot_chunk_bytes;
        c.max_append_entries = self.max_append_entries;
        c.max_inflight_bytes = self.max_inflight_bytes;
        c
    }
}

/// A cluster of `count` nodes on the harness.
pub fn cluster(count: u64, seed: u64, opts: Opts) -> Net {
    let all = ids(count);
    let nodes = all.clone();
    Network::new(
        &all,
        seed,
        Box::new(move |id, rec, rng| RaftNode::new(opts.config(id, &nodes), rec, rng)),
    )
}

/// A cluster whose nodes start from the given durable state (first build
/// only; a restart recovers from the harness storage as usual).
pub fn cluster_from(
    count: u64,
    seed: u64,
    opts: Opts,
    mut preload: BTreeMap<NodeId, (RaftHardState, Vec<Entry>)>,
) -> Net {
    let all = ids(count);
    let nodes = all.clone();
    Network::new(
        &all,
        seed,
        Box::new(move |id, rec: Recovered<RaftNode>, rng| {
            let rec = match preload.remove(&id) {
                Some((hs, entries)) => Recovered {
                    hard_state: Some(hs),
                    snapshot: None,
                    records: entries.into_iter().map(RaftRecord::Entry).collect(),
                },
                None => rec,
            };
            RaftNode::new(opts.config(id, &nodes), rec, rng)
        }),
    )
}

pub fn core(net: &Net, id: NodeId) -> &RaftNode {
    net.core(id).unwrap_or_else(|| panic!("node {id} is down"))
}

/// `(id, term)` of every live node that thinks it leads.
pub fn leaders(net: &Net) -> Vec<(NodeId, u64)> {
    net.ids()
        .into_iter()
        .filter_map(|id| net.core(id))
        .filter(|c| c.role() == Role::Leader)
        .map(|c| (c.id(), c.term()))
        .collect()
}

/// The leader of the highest term among live nodes, if one leads it.
pub fn current_leader(net: &Net) -> Option<NodeId> {
    let max_term = net
        .ids()
        .into_iter()
        .filter_map(|id| net.core(id))
        .map(|c| c.term())
        .max()?;
    leaders(net)
        .into_iter()
        .find(|(_, t)| *t == max_term)
        .map(|(id, _)| id)
}

/// Runs whole rounds (tick everyone, deliver until quiet) until the live
/// nodes reachable from it agree on one leader that has committed in its
/// term. Panics after `max_rounds`.
pub fn stable_leader(net: &mut Net, max_rounds: u64) -> NodeId {
    for _ in 0..max_rounds {
        net.run(1);
        if let Some(l) = current_leader(net) {
            let c = core(net, l);
            if c.commit_index() >= 1 && c.log_term(c.commit_index()) == Some(c.term()) {
                return l;
            }
        }
    }
    panic!(
        "no stable leader after {max_rounds} rounds: {:?}",
        net.statuses()
    );
}

/// Ticks only `id` (delivering after each tick) until it leads. Others never
/// time out, so they never compete. Needs the others out of their leader
/// lease (check-quorum off, or the old leader gone long enough).
pub fn elect(net: &mut Net, id: NodeId) {
    elect_with(net, id, true)
}

/// Like [`elect`]; with `replicate == false` the new leader's first
/// messages (its no-op) are dropped, as if it crashed right after winning.
pub fn elect_with(net: &mut Net, id: NodeId, replicate: bool) {
    for _ in 0..500 {
        net.tick(id);
        while net.deliver_next() {
            if core(net, id).role() == Role::Leader {
                if !replicate {
                    let keep: Vec<_> = net
                        .take_in_flight()
                        .into_iter()
                        .filter(|e| e.from != id)
                        .collect();
                    for e in keep {
                        net.inject(e);
                    }
                } else {
                    net.deliver_all(100_000);
                }
                return;
            }
        }
        if core(net, id).role() == Role::Leader {
            if replicate {
                net.deliver_all(100_000);
            } else {
                let keep: Vec<_> = net
                    .take_in_flight()
                    .into_iter()
                    .filter(|e| e.from != id)
                    .collect();
                for e in keep {
                    net.inject(e);
                }
            }
            return;
        }
    }
    panic!("node {id} did not win an election: {:?}", net.statuses());
}

/// Delivers until quiet, passing every message through `map` first
/// (`None` drops it).
pub fn deliver_mapped(
    net: &mut Net,
    mut map: impl FnMut(Envelope<RaftMessage>) -> Option<Envelope<RaftMessage>>,
) {
    for _ in 0..10_000 {
        let batch = net.take_in_flight();
        if batch.is_empty() {
            return;
        }
        let mut count = 0;
        for e in batch {
            if let Some(e) = map(e) {
                net.inject(e);
                count += 1;
            }
        }
        for _ in 0..count {
            net.deliver_next();
        }
    }
    panic!("deliver_mapped did not quiesce");
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

pub fn admin(net: &mut Net, at: NodeId, rid: u64, request: AdminRequest) -> bool {
    net.propose(
        at,
        Proposal::Admin {
            id: RequestId(rid),
            request,
        },
    )
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

/// Every entry of `id`'s log after its snapshot, as `(index, term)`.
pub fn log_terms(net: &Net, id: NodeId) -> Vec<(u64, u64)> {
    let c = core(net, id);
    (c.snapshot_index() + 1..=c.last_log_index())
        .map(|i| (i, c.entry(i).expect("entry in range").term))
        .collect()
}

// ----- single cores driven by hand ------------------------------------------

/// A fresh core for `id` of a cluster of `voters`.
pub fn lone_core(id: u64, voters: &[u64], opts: &Opts) -> RaftNode {
    let all: Vec<NodeId> = voters.iter().map(|&v| NodeId(v)).collect();
    RaftNode::new(
        opts.config(NodeId(id), &all),
        Recovered::default(),
        SeededRng::new(id),
    )
}

/// A core recovered from the given hard state and entries.
pub fn recovered_core(
    id: u64,
    voters: &[u64],
    opts: &Opts,
    hs: RaftHardState,
    entries: Vec<Entry>,
) -> RaftNode {
    let all: Vec<NodeId> = voters.iter().map(|&v| NodeId(v)).collect();
    RaftNode::new(
        opts.config(NodeId(id), &all),
        Recovered {
            hard_state: Some(hs),
            snapshot: None,
            records: entries.into_iter().map(RaftRecord::Entry).collect(),
        },
        SeededRng::new(id),
    )
}

pub use synod_core::testing::drive::{propose, sent, sent_to, step, tick};

/// Ticks until the core sends something; returns that output.
pub fn tick_until_messages(node: &mut RaftNode) -> Output<RaftNode> {
    for _ in 0..1000 {
        let out = tick(node);
        if !out.messages.is_empty() {
            return out;
        }
    }
    panic!("core never sent anything");
}

pub fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Command(format!("{index}@{term}").into_bytes()),
    }
}

/// Makes core 1 of a 3-voter cluster leader by hand (pre-vote and vote from
/// node 2), then lets 2 and 3 acknowledge its no-op so both replicate.
/// Returns the core and the number of records it emitted so far.
pub fn hand_made_leader(opts: &Opts) -> (RaftNode, u64) {
    let mut node = lone_core(1, &[1, 2, 3], opts);
    let out = tick_until_messages(&mut node);
    let pre_term = match &out.messages[0].1 {
        RaftMessage::RequestVote { term, .. } => *term,
        m => panic!("expected a RequestVote, got {m:?}"),
    };
    let mut emitted = 0;
    if opts.pre_vote {
        let out = step(
            &mut node,
            2,
            RaftMessage::RequestVoteResponse {
                term: pre_term,
                granted: true,
                pre_vote: true,
            },
        );
        assert!(!out.messages.is_empty());
    }
    let term = node.term();
    let mut out = step(
        &mut node,
        2,
        RaftMessage::RequestVoteResponse {
            term,
            granted: true,
            pre_vote: false,
        },
    );
    assert_eq!(node.role(), Role::Leader);
    emitted += out.records.len() as u64;
    let mut o = Output::new();
    node.on_persisted(emitted, &mut o);
    out.append(&mut o);
    let last = node.last_log_index();
    for peer in [2, 3] {
        step(&mut node, peer, ack(term, last, 0));
    }
    assert_eq!(node.commit_index(), last, "the no-op commits");
    (node, emitted)
}

/// Every AppendEntries in `out` (ordinary or eager), as destination and
/// entry count.
pub fn appends(out: &Output<RaftNode>) -> Vec<(NodeId, usize)> {
    sent(out)
        .into_iter()
        .filter_map(|(to, m)| match m {
            RaftMessage::AppendEntries { entries, .. } => Some((to, entries.len())),
            _ => None,
        })
        .collect()
}

/// A follower's successful answer to an AppendEntries of `term`: it holds
/// the log through `index` and echoes read round `read_seq`.
pub fn ack(term: u64, index: u64, read_seq: u64) -> RaftMessage {
    RaftMessage::AppendEntriesResponse {
        term,
        success: true,
        index,
        conflict_index: 0,
        conflict_term: None,
        read_seq,
    }
}

/// The two logs have the same last index and the same terms wherever both
/// still hold entries.
pub fn assert_logs_agree(net: &Net, a: NodeId, b: NodeId) {
    let (ca, cb) = (core(net, a), core(net, b));
    assert_eq!(
        ca.last_log_index(),
        cb.last_log_index(),
        "last index of {a} and {b}"
    );
    let from = ca.snapshot_index().max(cb.snapshot_index()) + 1;
    for i in from..=ca.last_log_index() {
        assert_eq!(ca.entry(i), cb.entry(i), "entry {i} of {a} and {b}");
    }
}
