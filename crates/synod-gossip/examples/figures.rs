//! The figures of issue 6, measured in-process on the seeded in-memory
//! harness (`synod_core::harness::Network`) with the real gossip cores.
//!
//! Run with `cargo run --release -p synod-gossip --example figures`
//! (`-- --quick` for N = 10 and 100 only).
//!
//! 1. **Dissemination**: one update written at one member; rounds until
//!    every member holds it, against the push-pull bound
//!    `log₃ N + ln ln N` (Karp et al. 2000), fanout 3. A round is one tick
//!    of every member (`gossip_ticks = 1`) followed by delivery of
//!    everything sent. Anti-entropy is switched off here so that the figure
//!    measures rumour mongering alone. Messages per member per round count
//!    everything sent (SWIM pings and acks included), and rumours apart.
//! 2. **Failure detection**: defaults (period 10 ticks, ping timeout 4,
//!    suspicion 50 · max(1, log₁₀ N), k = 3, anti-entropy 50); one member crashes; ticks until
//!    the first member and until every member declares it dead. False
//!    positives: over a window with no crash, how often a live member is
//!    suspected and declared dead, per member per protocol period.

use synod_core::harness::Network;
use synod_core::{NodeId, Proposal, RequestId};
use synod_gossip::{GossipConfig, GossipMessage, GossipNode, MemberState};

type Net = Network<GossipNode>;

fn cluster(count: u64, seed: u64, tweak: fn(&mut GossipConfig)) -> Net {
    let all: Vec<NodeId> = (1..=count).map(NodeId).collect();
    let nodes = all.clone();
    Network::new(
        &all,
        seed,
        Box::new(move |id, rec, rng| {
            let mut c = GossipConfig::new(id, nodes.clone());
            tweak(&mut c);
            GossipNode::new(c, rec, rng)
        }),
    )
}

fn sent(net: &Net) -> u64 {
    let (delivered, lost) = net.message_counts();
    delivered + lost
}

struct Spread {
    rounds: u64,
    per_node_round: f64,
    rumours_per_node_round: f64,
}

fn dissemination(count: u64, seed: u64) -> Option<Spread> {
    let mut net = cluster(count, seed, |c| {
        c.gossip_ticks = 1;
        c.anti_entropy_ticks = u64::MAX / 4;
    });
    for _ in 0..3 {
        net.tick_all();
        net.deliver_all(usize::MAX);
    }
    let before = sent(&net);
    let origin = NodeId(1 + seed % count);
    net.propose(
        origin,
        Proposal::Write {
            id: RequestId(1),
            command: synod_core::Stamped::proposal(b"x".to_vec()),
        },
    );
    let mut rumours = 0u64;
    for round in 1..=200 {
        net.tick_all();
        rumours += net
            .in_flight()
            .iter()
            .filter(|e| matches!(e.msg, GossipMessage::Rumour { .. }))
            .count() as u64;
        net.deliver_all(usize::MAX);
        let all = net
            .ids()
            .into_iter()
            .all(|id| net.core(id).is_some_and(|c| c.has_update(origin, 1)));
        if all {
            let per = (count * round) as f64;
            return Some(Spread {
                rounds: round,
                per_node_round: (sent(&net) - before) as f64 / per,
                rumours_per_node_round: rumours as f64 / per,
            });
        }
    }
    None
}

fn defaults(_: &mut GossipConfig) {}

struct Detection {
    first: u64,
    all: u64,
}

fn detection(count: u64, seed: u64, loss: f64) -> Option<Detection> {
    let mut net = cluster(count, seed, defaults);
    net.set_loss(loss);
    for _ in 0..60 {
        net.tick_all();
        net.deliver_all(usize::MAX);
    }
    let victim = NodeId(1 + seed % count);
    net.crash(victim);
    let mut first = None;
    for t in 1..=2000 {
        net.tick_all();
        net.deliver_all(usize::MAX);
        let mut dead = 0;
        let mut live = 0;
        for id in net.ids() {
            if let Some(c) = net.core(id) {
                live += 1;
                if c.member(victim).map(|m| m.state) == Some(MemberState::Dead) {
                    dead += 1;
                }
            }
        }
        if dead > 0 && first.is_none() {
            first = Some(t);
        }
        if dead == live {
            return Some(Detection {
                first: first.unwrap_or(t),
                all: t,
            });
        }
    }
    None
}

/// `(suspicions, deaths)` of live members per member per protocol period.
fn false_positives(count: u64, seed: u64, loss: f64, ticks: u64) -> (f64, f64) {
    let mut net = cluster(count, seed, defaults);
    net.set_loss(loss);
    for _ in 0..ticks {
        net.tick_all();
        net.deliver_all(usize::MAX);
    }
    let (mut suspicions, mut deaths) = (0, 0);
    for id in net.ids() {
        let s = net.core(id).expect("up").detector_stats();
        suspicions += s.suspicions_raised;
        deaths += s.deaths_declared;
    }
    let periods = (count * ticks / 10) as f64;
    (suspicions as f64 / periods, deaths as f64 / periods)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[u64] = if quick { &[10, 100] } else { &[10, 100, 1000] };

    println!("## Dissemination (fanout 3, rumours only, one update)\n");
    println!("| N | trials | rounds mean | rounds max | bound log3 N + ln ln N | max / bound | msgs/node/round (all) | rumours/node/round |");
    println!("|---|---|---|---|---|---|---|---|");
    for &count in sizes {
        let trials = if count >= 1000 { 10 } else { 30 };
        let results: Vec<Spread> = (0..trials)
            .filter_map(|s| dissemination(count, s))
            .collect();
        let n = count as f64;
        let bound = n.ln() / 3f64.ln() + n.ln().ln();
        let mean = results.iter().map(|r| r.rounds as f64).sum::<f64>() / results.len() as f64;
        let max = results.iter().map(|r| r.rounds).max().unwrap_or(0);
        let msgs = results.iter().map(|r| r.per_node_round).sum::<f64>() / results.len() as f64;
        let rum = results
            .iter()
            .map(|r| r.rumours_per_node_round)
            .sum::<f64>()
            / results.len() as f64;
        println!(
            "| {count} | {}/{trials} reached all | {mean:.2} | {max} | {bound:.2} | {:.2} | {msgs:.2} | {rum:.2} |",
            results.len(),
            max as f64 / bound
        );
    }

    println!("\n## Failure detection (period 10 ticks, ping timeout 4, k = 3, suspicion 50 · max(1, log10 N) ticks)\n");
    println!("| N | loss | trials | first member declares dead, ticks (mean / max) | every member, ticks (mean / max) | false suspicions per member-period | false deaths per member-period |");
    println!("|---|---|---|---|---|---|---|");
    for &count in sizes {
        for loss in [0.0, 0.10] {
            let trials = if count >= 1000 { 3 } else { 10 };
            let results: Vec<Detection> = (0..trials)
                .filter_map(|s| detection(count, s, loss))
                .collect();
            let k = results.len().max(1) as f64;
            let first_mean = results.iter().map(|d| d.first as f64).sum::<f64>() / k;
            let first_max = results.iter().map(|d| d.first).max().unwrap_or(0);
            let all_mean = results.iter().map(|d| d.all as f64).sum::<f64>() / k;
            let all_max = results.iter().map(|d| d.all).max().unwrap_or(0);
            let window = if count >= 1000 { 1000 } else { 3000 };
            let (fs, fd) = false_positives(count, 99, loss, window);
            println!(
                "| {count} | {:.0} % | {}/{trials} | {first_mean:.1} / {first_max} | {all_mean:.1} / {all_max} | {fs:.5} | {fd:.5} |",
                loss * 100.0,
                results.len()
            );
        }
    }
}
