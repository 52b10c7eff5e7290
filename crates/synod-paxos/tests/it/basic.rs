//! Basic Paxos (single decree) on the harness: one value is chosen whatever
//! the faults; duelling proposers livelock under a fixed back-off and a
//! fixed schedule, and randomised back-off ends it.

use std::collections::{BTreeMap, BTreeSet};
use synod_core::harness::{ClientOutcome, Envelope, Network};
use synod_core::{NodeId, Proposal, RequestId, SeededRng};
use synod_paxos::basic::{SynodConfig, SynodMessage, SynodNode};
use synod_paxos::Ballot;

type SynodNet = Network<SynodNode>;

fn synod_net(count: u64, seed: u64, backoff: (u64, u64), attempt_ticks: u64) -> SynodNet {
    let all: Vec<NodeId> = (1..=count).map(NodeId).collect();
    let nodes = all.clone();
    Network::new(
        &all,
        seed,
        Box::new(move |id, rec, rng| {
            let mut c = SynodConfig::new(id, nodes.clone());
            c.backoff_ticks_min = backoff.0;
            c.backoff_ticks_max = backoff.1;
            c.attempt_ticks = attempt_ticks;
            SynodNode::new(c, rec, rng)
        }),
    )
}

fn propose(net: &mut SynodNet, at: u64, value: &[u8]) {
    net.propose(
        NodeId(at),
        Proposal::Write {
            id: RequestId(at),
            command: value.to_vec(),
        },
    );
}

fn learned(net: &SynodNet) -> Vec<Option<Vec<u8>>> {
    net.ids()
        .into_iter()
        .map(|id| net.core(id).and_then(|c| c.learned().cloned()))
        .collect()
}

/// The duel's fixed schedule: prepares, promises, rejections and
/// acceptances arrive within the round they are sent; `Accept` messages
/// take `accept_delay` rounds. Proposer 1 starts at round 0, proposer 2 at
/// round 3. Returns the round at which every node had learned, if any.
fn duel(net: &mut SynodNet, rounds: u64) -> Option<u64> {
    const ACCEPT_DELAY: u64 = 5;
    let mut held: Vec<(u64, Envelope<SynodMessage>)> = Vec::new();
    for round in 0..rounds {
        if round == 0 {
            propose(net, 1, b"one");
        }
        if round == 3 {
            propose(net, 2, b"two");
        }
        let (due, later): (Vec<_>, Vec<_>) = held.drain(..).partition(|(at, _)| *at <= round);
        held = later;
        let due: Vec<_> = due.into_iter().map(|(_, e)| e).collect();
        let n = due.len();
        for env in due {
            net.inject(env);
        }
        net.deliver_all(n);
        net.tick_all();
        loop {
            let batch = net.take_in_flight();
            if batch.is_empty() {
                break;
            }
            let mut fast = 0;
            for env in batch {
                if matches!(env.msg, SynodMessage::Accept { .. }) {
                    held.push((round + ACCEPT_DELAY, env));
                } else {
                    net.inject(env);
                    fast += 1;
                }
            }
            net.deliver_all(fast);
        }
        if learned(net).iter().all(|l| l.is_some()) {
            return Some(round);
        }
    }
    None
}

#[test]
fn duelling_proposers_with_a_fixed_backoff_livelock_under_a_fixed_schedule() {
    let mut net = synod_net(3, 1, (2, 2), 1_000);
    assert_eq!(duel(&mut net, 300), None, "nothing is ever chosen");
    assert_eq!(learned(&net), vec![None, None, None]);
    let a1 = net.core(NodeId(1)).unwrap().attempts();
    let a2 = net.core(NodeId(2)).unwrap().attempts();
    assert!(
        a1 >= 30 && a2 >= 30,
        "they kept pre-empting each other ({a1}, {a2})"
    );
}

#[test]
fn randomised_backoff_ends_the_duel() {
    for seed in 0..20 {
        let mut net = synod_net(3, seed, (1, 12), 1_000);
        let round = duel(&mut net, 300);
        assert!(
            round.is_some(),
            "seed {seed}: still duelling after 300 rounds"
        );
        let l = learned(&net);
        assert!(
            l.iter().all(|v| v == &l[0]),
            "seed {seed}: learners disagree"
        );
    }
}

#[test]
fn every_proposer_is_answered_with_the_one_decision() {
    let mut net = synod_net(3, 7, (1, 10), 20);
    propose(&mut net, 1, b"one");
    propose(&mut net, 2, b"two");
    propose(&mut net, 3, b"three");
    net.run(100);
    let l = learned(&net);
    assert!(l[0].is_some() && l.iter().all(|v| v == &l[0]));
    for id in 1..=3 {
        assert!(matches!(
            net.outcome(NodeId(id), RequestId(id)),
            Some(ClientOutcome::Applied { index: 1 })
        ));
    }
    let decided = net.machine(NodeId(1)).applied.clone();
    assert_eq!(decided.len(), 1);
    assert_eq!(Some(decided[0].1.clone()), l[0]);
}

#[test]
fn acceptor_promise_and_learned_value_survive_a_restart() {
    let mut net = synod_net(3, 8, (1, 10), 20);
    propose(&mut net, 1, b"v");
    net.run(10);
    let state = net.core(NodeId(2)).unwrap().acceptor_state().clone();
    assert!(state.accepted.is_some());
    net.crash(NodeId(2));
    net.restart(NodeId(2));
    let c = net.core(NodeId(2)).unwrap();
    assert_eq!(c.acceptor_state(), &state);
    assert_eq!(c.learned(), Some(&b"v".to_vec()));
}

/// Random faults, three proposers with different values: at most one value
/// is chosen (a majority accepted it under one number), every learner
/// learns that value and never another, and after healing all learn.
#[test]
fn at_most_one_value_is_chosen_under_loss_duplication_reordering_and_crashes() {
    for seed in 0..150u64 {
        let mut net = synod_net(3, seed, (1, 8), 15);
        let mut rng = SeededRng::new(seed);
        net.set_loss(0.2);
        net.set_duplicate(0.1);
        net.set_reorder(true);
        let mut votes: BTreeMap<Ballot, (Vec<u8>, BTreeSet<NodeId>)> = BTreeMap::new();
        let mut chosen: Option<Vec<u8>> = None;
        let mut learned_ever: BTreeMap<NodeId, Vec<u8>> = BTreeMap::new();
        for step in 0..600 {
            match rng.range(0, 100) {
                0..=2 => propose(&mut net, 1 + rng.range(0, 3), &[rng.range(0, 250) as u8]),
                3 => {
                    let id = NodeId(1 + rng.range(0, 3));
                    if net.ids().iter().all(|i| net.is_up(*i)) {
                        net.crash(id);
                    }
                }
                4..=5 => net.restart(NodeId(1 + rng.range(0, 3))),
                _ => net.step_random(),
            }
            for id in net.ids() {
                let Some(c) = net.core(id) else { continue };
                if let Some((b, v)) = &c.acceptor_state().accepted {
                    let e = votes
                        .entry(*b)
                        .or_insert_with(|| (v.clone(), BTreeSet::new()));
                    assert_eq!(&e.0, v, "seed {seed}: two values under one number");
                    e.1.insert(id);
                    if e.1.len() >= 2 {
                        match &chosen {
                            Some(c) => {
                                assert_eq!(c, v, "seed {seed} step {step}: two values chosen")
                            }
                            None => chosen = Some(v.clone()),
                        }
                    }
                }
                if let Some(l) = c.learned() {
                    assert_eq!(
                        Some(l),
                        chosen.as_ref(),
                        "seed {seed}: learned a value not chosen"
                    );
                    let prev = learned_ever.entry(id).or_insert_with(|| l.clone());
                    assert_eq!(prev, l, "seed {seed}: a learned value changed");
                }
            }
        }
        net.heal();
        for id in net.ids() {
            net.restart(id);
        }
        for id in 1..=3 {
            propose(&mut net, id, b"late");
        }
        net.run(200);
        let l = learned(&net);
        assert!(l[0].is_some(), "seed {seed}: nothing learned after healing");
        assert!(
            l.iter().all(|v| v == &l[0]),
            "seed {seed}: learners disagree"
        );
    }
}
