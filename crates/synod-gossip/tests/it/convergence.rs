//! Convergence on the seeded harness: every update reaches every live
//! member exactly once — after a partition heals, and at a member that was
//! down while the rumours ran (anti-entropy brings it back up to date).

use crate::common::*;
use std::collections::BTreeSet;
use synod_core::Protocol;
use synod_gossip::{GossipMessage, MemberState};

fn cmd(node: u64, i: u64) -> Vec<u8> {
    format!("{node}:{i}").into_bytes()
}

#[test]
fn writes_accepted_anywhere_reach_every_member_exactly_once() {
    let mut net = cluster(7, 11);
    let mut expected = BTreeSet::new();
    for i in 0..5 {
        for node in net.ids() {
            write(&mut net, node, i * 100 + node.0, &cmd(node.0, i));
            assert!(
                acked(&net, node, i * 100 + node.0),
                "every member accepts writes"
            );
            expected.insert(cmd(node.0, i));
        }
        round(&mut net);
    }
    let rounds = until_converged(&mut net, &expected, 100).expect("converges");
    assert!(rounds <= 20, "took {rounds} rounds");
}

#[test]
fn members_converge_after_a_partition_heals() {
    for seed in 0..4 {
        let mut net = cluster(5, seed);
        let (left, right) = ([n(1), n(2)], [n(3), n(4), n(5)]);
        net.partition(&[&left, &right]);
        let mut expected = BTreeSet::new();
        for i in 0..10u64 {
            let node = if i % 2 == 0 {
                left[(i / 2 % 2) as usize]
            } else {
                right[(i % 3) as usize]
            };
            write(&mut net, node, i, &cmd(node.0, i));
            expected.insert(cmd(node.0, i));
            round(&mut net);
        }
        for _ in 0..60 {
            round(&mut net);
        }
        // Each side has only its own writes, and believes the other side dead.
        let on_left = applied_set(&net, n(1));
        assert!(on_left.len() < expected.len() && !on_left.is_empty());
        assert_eq!(
            core(&net, n(1)).member(n(4)).unwrap().state,
            MemberState::Dead
        );
        net.heal();
        let rounds = until_converged(&mut net, &expected, 300)
            .unwrap_or_else(|| panic!("seed {seed}: no convergence after heal"));
        assert!(rounds > 0);
        for _ in 0..100 {
            round(&mut net);
        }
        for id in net.ids() {
            assert_eq!(
                core(&net, id).alive_members(),
                ids(5),
                "seed {seed}: {id} sees the healed cluster"
            );
        }
    }
}

#[test]
fn a_restarted_member_catches_up_by_anti_entropy() {
    let mut net = cluster(5, 3);
    net.set_snapshot_every(Some(4));
    let mut expected = BTreeSet::new();
    for i in 0..6 {
        write(&mut net, n(5), i, &cmd(5, i));
        expected.insert(cmd(5, i));
    }
    round(&mut net);
    net.crash(n(5));
    for i in 0..30 {
        let node = n(1 + i % 4);
        write(&mut net, node, 100 + i, &cmd(node.0, i));
        expected.insert(cmd(node.0, i));
        round(&mut net);
    }
    // Let every rumour run out, so that only anti-entropy can help.
    for _ in 0..60 {
        round(&mut net);
    }
    net.tick_all();
    let rumours = net
        .in_flight()
        .iter()
        .filter(|e| matches!(e.msg, GossipMessage::Rumour { .. }))
        .count();
    assert_eq!(rumours, 0, "rumours are over before the restart");
    net.deliver_all(usize::MAX);

    net.restart(n(5));
    assert!(
        core(&net, n(5)).update_count() >= 6,
        "its own writes are recovered"
    );
    until_converged(&mut net, &expected, 200).expect("the restarted member catches up");
    let five = core(&net, n(5));
    assert!(
        five.incarnation() >= 1,
        "a restart announces a new incarnation"
    );
    assert_eq!(five.status().commit_index, net.machine(n(5)).applied_index);
    for _ in 0..60 {
        round(&mut net);
    }
    for id in net.ids() {
        assert!(
            core(&net, id).alive_members().contains(&n(5)),
            "{id} took 5 back"
        );
    }
}
