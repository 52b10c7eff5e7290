//! Crashes and restarts: what is durable comes back.

use crate::common::*;

#[test]
fn promise_and_accepted_values_survive_a_restart() {
    let mut net = cluster(3, 21);
    let l = elect(&mut net);
    write(&mut net, l, 1, b"a");
    net.run(3);
    let f = net.ids().into_iter().find(|i| *i != l).unwrap();
    let promised = net.core(f).unwrap().promised();
    let accepted = net
        .core(f)
        .unwrap()
        .accepted(2)
        .map(|(b, v)| (b, v.clone()));
    assert!(accepted.is_some());
    net.crash(f);
    net.restart(f);
    let c = net.core(f).unwrap();
    assert_eq!(c.promised(), promised);
    assert_eq!(c.accepted(2).map(|(b, v)| (b, v.clone())), accepted);
}

#[test]
fn restarted_node_reapplies_from_its_snapshot_and_log_in_slot_order() {
    let mut net = cluster(3, 22);
    net.set_snapshot_every(Some(4));
    let l = elect(&mut net);
    for i in 0..10u64 {
        write(&mut net, l, i + 1, &[i as u8]);
        net.run(1);
    }
    net.run(5);
    let f = net.ids().into_iter().find(|i| *i != l).unwrap();
    let before = commands(&net, f);
    net.crash(f);
    net.restart(f);
    net.run(5);
    assert_eq!(commands(&net, f), before);
}

#[test]
fn killed_leader_is_replaced_and_catches_up_after_restart() {
    let mut net = cluster(3, 23);
    let old = elect(&mut net);
    write(&mut net, old, 1, b"before");
    net.run(3);
    net.crash(old);
    let new = elect(&mut net);
    assert_ne!(new, old);
    write(&mut net, new, 2, b"after");
    net.run(3);
    assert!(applied_at(&net, new, 2).is_some(), "service continues");
    net.restart(old);
    net.run(40);
    assert_eq!(
        commands(&net, old),
        vec![b"before".to_vec(), b"after".to_vec()]
    );
}
