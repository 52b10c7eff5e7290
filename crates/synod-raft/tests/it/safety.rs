//! Commitment and the safety properties of Raft's Figure 3, scripted.

use crate::common::*;
use synod_core::NodeId;
use synod_raft::{EntryPayload, RaftMessage};

/// Figure 8, steps (a) to (c): returns the network with S1 leading term t3,
/// S1..S4 holding 2@t1 (S1's old write) and S1's no-op 3@t3 nowhere else,
/// S5 down with 2@t2 in its log. Returns `(net, t1, t2, t3)`.
fn figure8_until_c() -> (Net, u64, u64, u64) {
    let opts = Opts {
        check_quorum: false,
        ..Opts::default()
    };
    let mut net = cluster(5, 8, opts.clone());
    // (a) S1 leads term t1; its no-op commits everywhere; a write reaches S2 only.
    elect(&mut net, n(1));
    let t1 = core(&net, n(1)).term();
    net.partition(&[&[n(1), n(2)], &[n(3), n(4), n(5)]]);
    write(&mut net, n(1), 1, b"a");
    net.deliver_all(10_000);
    assert_eq!(core(&net, n(2)).entry(2).map(|e| e.term), Some(t1));
    assert_eq!(core(&net, n(3)).last_log_index(), 1);
    // (b) S1 crashes; S5 wins term t2 with S3 and S4, appends its no-op at
    // index 2 and crashes before replicating it.
    net.crash(n(1));
    net.heal();
    net.partition(&[&[n(2)], &[n(3), n(4), n(5)]]);
    elect_with(&mut net, n(5), false);
    let t2 = core(&net, n(5)).term();
    assert!(t2 > t1);
    assert_eq!(core(&net, n(5)).entry(2).map(|e| e.term), Some(t2));
    net.crash(n(5));
    // (c) S1 restarts and wins term t3 (S2, S3, S4 vote for it); it
    // replicates 2@t1 to S3 and S4, but its no-op 3@t3 to nobody.
    net.heal();
    net.restart(n(1));
    elect_with(&mut net, n(1), false);
    let t3 = core(&net, n(1)).term();
    assert!(t3 > t2);
    (net, t1, t2, t3)
}

fn only_through(
    index: u64,
) -> impl FnMut(
    synod_core::harness::Envelope<RaftMessage>,
) -> Option<synod_core::harness::Envelope<RaftMessage>> {
    move |mut e| {
        if let RaftMessage::AppendEntries { entries, .. } = &mut e.msg {
            entries.retain(|x| x.index <= index);
        }
        Some(e)
    }
}

/// Raft §5.4.2 and Figure 8: "Raft never commits log entries from previous
/// terms by counting replicas. Only log entries from the leader's current
/// term are committed by counting replicas."
#[test]
fn leader_commits_only_current_term_by_counting() {
    let (mut net, t1, t2, _t3) = figure8_until_c();
    for _ in 0..Opts::default().heartbeat_ticks {
        net.tick(n(1));
    }
    deliver_mapped(&mut net, only_through(2));
    // S1..S4 (four of five) hold 2@t1, yet S1 does not commit it: it is
    // not of S1's term, and S1's own entry 3 is on no majority.
    for id in 1..=4 {
        assert_eq!(
            core(&net, n(id)).entry(2).map(|e| e.term),
            Some(t1),
            "S{id}"
        );
    }
    assert!(
        core(&net, n(1)).commit_index() < 2,
        "2@t1 counted as committed"
    );
    for id in 1..=4 {
        assert!(
            applied(&net, n(id)).is_empty(),
            "S{id} applied an uncommitted entry"
        );
    }
    // (d) S1 crashes; S5 comes back and wins (last term t2 > t1) and
    // replaces index 2 everywhere. Had S1 counted 2@t1 as committed, a
    // committed entry would now be lost.
    net.crash(n(1));
    net.restart(n(5));
    elect(&mut net, n(5));
    for id in 2..=5 {
        let e = core(&net, n(id)).entry(2).unwrap();
        assert_eq!((e.term, &e.payload), (t2, &EntryPayload::Noop), "S{id}");
    }
    net.restart(n(1));
    net.run(30);
    for id in net.ids() {
        assert!(
            !applied(&net, id).contains(&b"a".to_vec()),
            "S{id} applied the overwritten entry"
        );
        assert_eq!(log_terms(&net, id), log_terms(&net, n(5)), "S{id}");
    }
}

/// The other half of Figure 8 (e): once the leader's entry of its own term
/// is on a majority, it commits, and every earlier entry with it.
#[test]
fn leader_commits_earlier_term_entries_with_its_own() {
    let (mut net, _t1, _t2, t3) = figure8_until_c();
    for _ in 0..Opts::default().heartbeat_ticks {
        net.tick(n(1));
    }
    net.deliver_all(10_000);
    // Followers learn the new commit index with the next heartbeat.
    net.run(2);
    let c = core(&net, n(1));
    assert_eq!(c.commit_index(), 3);
    assert_eq!(c.entry(3).map(|e| e.term), Some(t3));
    for id in 1..=4 {
        assert_eq!(applied(&net, n(id)), vec![b"a".to_vec()], "S{id}");
    }
}

/// Leader completeness (§5.4.1): every entry committed in a term is in the
/// log of the leaders of all later terms, across repeated leader crashes.
#[test]
fn leader_completeness_across_leader_crashes() {
    let mut net = cluster(5, 12, Opts::default());
    let mut down: Option<NodeId> = None;
    for round in 0..8u64 {
        let leader = stable_leader(&mut net, 400);
        // Every command applied anywhere so far is in the new leader's log.
        let c = core(&net, leader);
        for id in net.ids() {
            for (index, command) in &net.machine(id).applied {
                if *index > c.snapshot_index() {
                    assert_eq!(
                        c.entry(*index).map(|e| &e.payload),
                        Some(&EntryPayload::Command(command.clone())),
                        "round {round}: leader {leader} lacks committed index {index}"
                    );
                }
            }
        }
        for k in 0..3 {
            write(&mut net, leader, round * 10 + k, &[round as u8, k as u8]);
        }
        net.run(4);
        if let Some(d) = down.take() {
            net.restart(d);
        }
        net.crash(leader);
        down = Some(leader);
    }
}
