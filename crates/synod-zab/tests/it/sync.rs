//! Synchronisation on the harness: DIFF, TRUNC and SNAP, and the rule that
//! a proposal committed anywhere is committed everywhere while one never
//! committed is discarded.

use crate::common::*;
use synod_core::harness::ClientOutcome;
use synod_core::{ClientError, NodeId};
use synod_zab::{SyncMode, ZabMessage};

fn others(opts: &Opts, leader: NodeId) -> Vec<NodeId> {
    opts.all_ids()
        .into_iter()
        .filter(|i| *i != leader)
        .collect()
}

/// Delivers everything, recording the SYNC modes sent to `to`.
fn run_recording_syncs(net: &mut Net, rounds: u64, to: NodeId) -> Vec<SyncMode> {
    let mut modes = Vec::new();
    for _ in 0..rounds {
        net.tick_all();
        while let Some(e) = net.in_flight().front() {
            if let (ZabMessage::Sync { mode, .. }, true) = (&e.msg, e.to == to) {
                modes.push(*mode);
            }
            net.deliver_next();
        }
    }
    modes
}

/// Runs until a server other than `old` leads an established epoch.
fn leader_other_than(net: &mut Net, old: NodeId, rounds: u64) -> NodeId {
    for _ in 0..rounds {
        net.run(1);
        if let Some(l) = current_leader(net).filter(|l| *l != old) {
            net.run(3);
            return l;
        }
    }
    panic!("no new leader: {:?}", net.statuses());
}

#[test]
fn trunc_discards_a_deposed_leaders_uncommitted_proposal() {
    let opts = Opts::default();
    let mut net = cluster(11, opts.clone());
    let old = stable_leader(&mut net, &opts.all_ids(), 200);
    write(&mut net, old, 1, b"committed");
    net.run(3);
    assert_eq!(
        outcome(&net, old, 1).map(|o| matches!(o, ClientOutcome::Applied { .. })),
        Some(true)
    );
    // Cut the leader off, then propose: only the old leader logs it.
    net.isolate(old);
    write(&mut net, old, 2, b"orphan");
    let orphan = core(&net, old).last_zxid();
    let new = leader_other_than(&mut net, old, 300);
    write(&mut net, new, 3, b"new-epoch");
    // The old leader hears from nobody and gives up within a timeout.
    net.run(opts.election_ticks.1);
    assert_eq!(
        outcome(&net, old, 2),
        Some(ClientOutcome::Replied(Err(ClientError::LeadershipLost))),
        "an uncommitted write of a deposed leader is answered indefinitely"
    );
    net.heal();
    let modes = run_recording_syncs(&mut net, 200, old);
    assert!(
        modes.iter().any(|m| matches!(m, SyncMode::Trunc { .. })),
        "the deposed leader is truncated: {modes:?}"
    );
    assert!(!zxids(&net, old).contains(&orphan));
    for id in opts.all_ids() {
        assert_eq!(
            applied(&net, id),
            vec![b"committed".to_vec(), b"new-epoch".to_vec()],
            "node {id}"
        );
    }
    // The truncation is durable: a restart does not bring the orphan back.
    net.crash(old);
    net.restart(old);
    assert!(!zxids(&net, old).contains(&orphan));
}

#[test]
fn diff_carries_proposals_the_old_leader_committed_without_this_follower() {
    let opts = Opts::default();
    let mut net = cluster(12, opts.clone());
    let old = stable_leader(&mut net, &opts.all_ids(), 200);
    let rest = others(&opts, old);
    let (ahead, behind) = (rest[0], rest[1]);
    net.isolate(behind);
    for rid in 1..=3 {
        write(&mut net, old, rid, format!("w{rid}").as_bytes());
    }
    net.run(3);
    assert_eq!(applied(&net, ahead).len(), 3);
    assert!(applied(&net, behind).is_empty());
    // The old leader dies; the follower that lacks the writes rejoins.
    net.crash(old);
    net.heal();
    let modes = run_recording_syncs(&mut net, 300, behind);
    assert!(
        modes.contains(&SyncMode::Diff),
        "the lagging follower gets a DIFF: {modes:?}"
    );
    assert_eq!(current_leader(&net), Some(ahead));
    assert_eq!(applied(&net, behind), applied(&net, ahead));
    assert_eq!(applied(&net, behind).len(), 3);
}

#[test]
fn snap_when_the_follower_is_behind_the_committed_log_window() {
    let opts = Opts {
        diff_window_proposals: 2,
        snapshot_chunk_bytes: 16,
        ..Opts::default()
    };
    let mut net = cluster(13, opts.clone());
    net.set_snapshot_every(Some(4));
    let leader = stable_leader(&mut net, &opts.all_ids(), 200);
    let lagging = others(&opts, leader)[0];
    net.isolate(lagging);
    for rid in 1..=20 {
        write(&mut net, leader, rid, format!("w{rid}").as_bytes());
        net.run(1);
    }
    net.run(3);
    assert!(core(&net, leader).history_base() > core(&net, lagging).last_zxid());
    net.heal();
    let mut chunks = 0;
    let mut modes = Vec::new();
    for _ in 0..300 {
        net.tick_all();
        while let Some(e) = net.in_flight().front() {
            if e.to == lagging {
                match &e.msg {
                    ZabMessage::SnapChunk { .. } => chunks += 1,
                    ZabMessage::Sync { mode, .. } => modes.push(*mode),
                    _ => {}
                }
            }
            net.deliver_next();
        }
    }
    assert!(
        modes.iter().any(|m| matches!(m, SyncMode::Snap { .. })),
        "{modes:?}"
    );
    assert!(chunks > 1, "the snapshot travels in chunks");
    assert_eq!(applied(&net, lagging), applied(&net, leader));
    assert_eq!(applied(&net, lagging).len(), 20);
}

#[test]
fn a_killed_leader_is_replaced_and_rejoins_synchronised() {
    // The harness twin of the process-level test: three voters and one
    // observer, the leader crashes, a new one is elected, the old one comes
    // back and is synchronised; the observer follows throughout.
    let opts = Opts {
        observers: 1,
        ..Opts::default()
    };
    let mut net = cluster(14, opts.clone());
    let old = stable_leader(&mut net, &opts.all_ids(), 200);
    let epoch = core(&net, old).current_epoch();
    write(&mut net, old, 1, b"before");
    net.run(3);
    net.crash(old);
    let rest = others(&opts, old);
    let new = stable_leader(&mut net, &rest, 300);
    assert_ne!(new, old);
    assert!(core(&net, new).current_epoch() > epoch);
    write(&mut net, new, 2, b"during");
    net.run(3);
    net.restart(old);
    let again = stable_leader(&mut net, &opts.all_ids(), 300);
    assert_eq!(
        again, new,
        "the restarted server joins the established leader"
    );
    write(&mut net, new, 3, b"after");
    net.run(3);
    let expected = vec![b"before".to_vec(), b"during".to_vec(), b"after".to_vec()];
    for id in opts.all_ids() {
        assert_eq!(applied(&net, id), expected, "node {id}");
    }
}
