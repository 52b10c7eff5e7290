//! Snapshots, log compaction and chunked InstallSnapshot (Raft §7).

use crate::common::*;
use synod_core::{codec, NodeId, Output, Protocol, SnapshotAction, Storage};
use synod_raft::{RaftMessage, RaftRecord, SnapshotMeta};

fn chunked_opts() -> Opts {
    Opts {
        snapshot_chunk_bytes: 16,
        ..Opts::default()
    }
}

/// `on_snapshot`: the core saves the snapshot with its metadata, compacts its
/// log through the index and asks the driver to compact storage.
#[test]
fn on_snapshot_saves_metadata_and_compacts_through_the_index() {
    let opts = Opts::default();
    let (mut node, mut emitted) = hand_made_leader(&opts);
    for i in 0..4u64 {
        let mut out = Output::new();
        node.propose(
            synod_core::Proposal::Write {
                id: synod_core::RequestId(i),
                command: vec![i as u8],
            },
            &mut out,
        );
        emitted += out.records.len() as u64;
    }
    let mut out = Output::new();
    node.on_persisted(emitted, &mut out);
    let term = node.term();
    for peer in [2, 3] {
        step(&mut node, peer, ack(term, 5, 0));
    }
    assert_eq!(node.applied_index(), 5);
    let mut out = Output::new();
    node.on_snapshot(3, b"state@3".to_vec(), &mut out);
    let Some(SnapshotAction::Save(snap)) = &out.snapshot else {
        panic!("no snapshot saved: {out:?}");
    };
    assert_eq!(snap.position, 3);
    let meta = SnapshotMeta::decode(&snap.meta).unwrap();
    assert_eq!(
        (meta.last_included_index, meta.last_included_term),
        (3, term)
    );
    assert_eq!(meta.membership.voters.len(), 3);
    assert_eq!(out.compact_through, Some(3));
    assert_eq!(node.snapshot_index(), 3);
    assert!(node.entry(3).is_none() && node.entry(4).is_some());
}

/// §7: a follower whose next entry the leader has compacted receives the
/// snapshot in `snapshot_chunk_bytes` chunks, assembles it, installs it and
/// then catches up from the log.
#[test]
fn snapshot_install_to_a_lagging_follower_in_chunks() {
    let mut net = cluster(3, 21, chunked_opts());
    net.set_snapshot_every(Some(5));
    let leader = stable_leader(&mut net, 200);
    let lagging = net.ids().into_iter().find(|&i| i != leader).unwrap();
    net.crash(lagging);
    for i in 1..=30u64 {
        write(&mut net, leader, i, format!("command-{i}").as_bytes());
        net.run(1);
    }
    assert!(core(&net, leader).snapshot_index() > 10, "leader compacted");
    net.restart(lagging);
    // Watch the transfer: several chunks at increasing offsets.
    let mut chunks = Vec::new();
    for _ in 0..60 {
        net.tick_all();
        while let Some(e) = net.in_flight().front() {
            if let RaftMessage::InstallSnapshot {
                offset, data, done, ..
            } = &e.msg
            {
                if e.to == lagging {
                    chunks.push((*offset, data.len(), *done));
                }
            }
            net.deliver_next();
        }
    }
    assert!(chunks.len() > 2, "expected several chunks, got {chunks:?}");
    assert!(chunks.iter().all(|(_, len, _)| *len <= 16));
    assert!(chunks.iter().any(|(_, _, done)| *done));
    let offsets: Vec<u64> = chunks.iter().map(|c| c.0).collect();
    assert!(offsets.windows(2).any(|w| w[1] > w[0]), "offsets advance");
    assert!(core(&net, lagging).snapshot_index() > 0, "installed");
    assert_eq!(applied(&net, lagging), applied(&net, leader));
    assert_eq!(applied(&net, leader).len(), 30);
    assert_eq!(
        log_terms(&net, lagging).last(),
        log_terms(&net, leader).last()
    );
}

/// A follower whose log conflicts with the snapshot at its index writes a
/// `Truncate` record and only then installs: its stale suffix is gone from
/// storage too, and a restart recovers the leader's log.
#[test]
fn follower_with_a_conflicting_log_truncates_before_installing() {
    let mut net = cluster(5, 31, chunked_opts());
    net.set_snapshot_every(Some(4));
    let old = stable_leader(&mut net, 200);
    let others: Vec<NodeId> = net.ids().into_iter().filter(|&i| i != old).collect();
    let stale = others[0];
    let majority = others[1..].to_vec();
    net.partition(&[&[old, stale], &majority]);
    for i in 1..=20u64 {
        write(&mut net, old, i, b"doomed");
    }
    net.run(3);
    assert!(core(&net, stale).last_log_index() >= 20);
    net.crash(old);
    net.run(100);
    let new = current_leader(&net).expect("majority elects");
    for i in 1..=10u64 {
        write(&mut net, new, 100 + i, format!("kept-{i}").as_bytes());
        net.run(1);
    }
    let snap = core(&net, new).snapshot_index();
    assert!(snap > 2, "new leader compacted (at {snap})");
    net.heal();
    net.run(40);
    assert_eq!(applied(&net, stale), applied(&net, new));
    assert!(!applied(&net, stale).contains(&b"doomed".to_vec()));
    let mut storage = net.storage(stale).clone();
    let loaded = storage.load().unwrap();
    let truncated = loaded.records.iter().any(|r| {
        matches!(
            codec::decode::<RaftRecord>(&r.payload).unwrap(),
            RaftRecord::Truncate { .. }
        )
    });
    assert!(
        truncated,
        "no Truncate record in the stale follower's storage"
    );
    // A restart rebuilds exactly the leader's log.
    net.crash(stale);
    net.restart(stale);
    assert_logs_agree(&net, stale, new);
    net.run(10);
    assert_eq!(applied(&net, stale), applied(&net, new));
}

/// Compaction survives restarts: a node restarts from its snapshot plus the
/// records after it and re-applies only what follows the snapshot.
#[test]
fn restart_recovers_from_snapshot_and_remaining_log() {
    let mut net = cluster(3, 41, Opts::default());
    net.set_snapshot_every(Some(3));
    let leader = stable_leader(&mut net, 200);
    for i in 1..=10u64 {
        write(&mut net, leader, i, &[i as u8]);
        net.run(1);
    }
    let before = applied(&net, leader);
    for id in net.ids() {
        net.crash(id);
    }
    for id in net.ids() {
        net.restart(id);
        let c = core(&net, id);
        assert!(c.snapshot_index() > 0, "node {id} recovered its snapshot");
        assert_eq!(c.commit_index(), c.snapshot_index());
    }
    let leader = stable_leader(&mut net, 300);
    net.run(5);
    for id in net.ids() {
        assert_eq!(applied(&net, id), before, "node {id}");
    }
    write(&mut net, leader, 99, b"after");
    net.run(5);
    for id in net.ids() {
        assert_eq!(applied(&net, id).last(), Some(&b"after".to_vec()));
    }
}
