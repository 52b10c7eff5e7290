//! Log replication: Raft §5.3, fast back-off, pipelining and batching.

use crate::common::*;
use std::collections::BTreeMap;
use synod_core::harness::ClientOutcome;
use synod_core::{ClientError, NodeId, Output, Proposal, Protocol, RequestId};
use synod_raft::{EntryPayload, RaftHardState, RaftMessage, RaftNode, Role};

/// §5.3: a write proposed at the leader is applied on every replica, in
/// order, and answered on the leader with the index it was applied at.
#[test]
fn committed_writes_are_applied_everywhere_in_order() {
    let mut net = cluster(3, 2, Opts::default());
    let leader = stable_leader(&mut net, 200);
    for i in 1..=20u64 {
        write(&mut net, leader, i, &[i as u8]);
    }
    net.run(5);
    let expected: Vec<Vec<u8>> = (1..=20u8).map(|i| vec![i]).collect();
    for id in net.ids() {
        assert_eq!(applied(&net, id), expected, "node {id}");
    }
    assert_eq!(
        outcome(&net, leader, 20),
        Some(ClientOutcome::Applied { index: 21 })
    );
}

/// A write at a follower is refused, definitely, with a leader hint.
#[test]
fn write_on_a_follower_is_refused_with_a_leader_hint() {
    let mut net = cluster(3, 3, Opts::default());
    let leader = stable_leader(&mut net, 200);
    let follower = net.ids().into_iter().find(|&i| i != leader).unwrap();
    write(&mut net, follower, 1, b"x");
    let Some(ClientOutcome::Replied(Err(e))) = outcome(&net, follower, 1) else {
        panic!("no refusal");
    };
    assert_eq!(
        e,
        ClientError::NotLeader {
            leader: Some(leader)
        }
    );
    assert!(e.is_definite());
}

/// §5.3 log matching: after leaders change under partitions, every log
/// that shares an (index, term) with another is identical up to it, and
/// once healed all logs are equal.
#[test]
fn log_matching_after_leader_changes() {
    let mut net = cluster(5, 4, Opts::default());
    let mut rid = 0;
    for round in 0..6u64 {
        let leader = stable_leader(&mut net, 400);
        for _ in 0..5 {
            rid += 1;
            write(&mut net, leader, rid, &rid.to_be_bytes());
        }
        // Deliver some of it, then cut the leader off with one follower.
        net.deliver_all(7);
        let buddy = net.ids().into_iter().find(|&i| i != leader).unwrap();
        let rest: Vec<NodeId> = net
            .ids()
            .into_iter()
            .filter(|&i| i != leader && i != buddy)
            .collect();
        net.partition(&[&[leader, buddy], &rest]);
        for _ in 0..3 {
            rid += 1;
            write(&mut net, leader, rid, &[round as u8]);
        }
        net.run(60);
        net.heal();
    }
    net.run(60);
    let reference = log_terms(&net, n(1));
    for id in net.ids() {
        assert_eq!(log_terms(&net, id), reference, "node {id}");
        assert_eq!(applied(&net, id), applied(&net, n(1)), "node {id}");
    }
}

/// §5.3: "if an existing entry conflicts with a new one (same index but
/// different terms), delete the existing entry and all that follow it";
/// with the conflicting-term hint the leader needs one round trip per
/// conflicting term, not one per entry.
#[test]
fn fast_backoff_skips_a_conflicting_term_in_one_round_trip() {
    // Nodes 1 and 2: [1@1, 2..=10 @3]; node 3: [1@1, 2..=50 @2].
    let leader_log: Vec<_> = std::iter::once(entry(1, 1))
        .chain((2..=10).map(|i| entry(i, 3)))
        .collect();
    let stale_log: Vec<_> = std::iter::once(entry(1, 1))
        .chain((2..=50).map(|i| entry(i, 2)))
        .collect();
    let hs = |term| RaftHardState {
        term,
        voted_for: None,
    };
    let mut preload = BTreeMap::new();
    preload.insert(n(1), (hs(3), leader_log.clone()));
    preload.insert(n(2), (hs(3), leader_log));
    preload.insert(n(3), (hs(3), stale_log));
    let opts = Opts {
        check_quorum: false,
        ..Opts::default()
    };
    let mut net = cluster_from(3, 9, opts.clone(), preload);
    elect_with(&mut net, n(1), false);
    // Its first probes were dropped; the next heartbeat probes again.
    for _ in 0..opts.heartbeat_ticks {
        net.tick(n(1));
    }
    let mut rejections = 0;
    deliver_mapped(&mut net, |e| {
        if let RaftMessage::AppendEntriesResponse { success: false, .. } = e.msg {
            if e.from == n(3) {
                rejections += 1;
            }
        }
        Some(e)
    });
    // The probe after 10@3 fails (node 3 has 10@2); the hint is "index 10,
    // term 2"; the leader has no term-2 entry and steps back to index 1 at
    // once, where the logs agree: one rejection instead of nine.
    assert_eq!(rejections, 1, "fast back-off took {rejections} rejections");
    net.run(3);
    assert_eq!(log_terms(&net, n(3)), log_terms(&net, n(1)));
    assert_eq!(core(&net, n(3)).last_log_index(), 11);
}

/// Batching: proposals made between two sends travel in one AppendEntries.
/// A follower with nothing in flight gets a proposal at once; while that is
/// unanswered, later proposals only emit their records and go out together
/// when the driver reports them durable (or an acknowledgement arrives).
#[test]
fn proposals_between_sends_go_out_in_one_append_entries() {
    let opts = Opts::default();
    let (mut node, mut emitted) = hand_made_leader(&opts);
    for i in 0..10u64 {
        let mut out = Output::new();
        node.propose(
            Proposal::Write {
                id: RequestId(i),
                command: vec![i as u8],
            },
            &mut out,
        );
        assert_eq!(out.records.len(), 1);
        assert!(out.must_sync);
        if i == 0 {
            assert_eq!(
                appends(&out),
                vec![(n(2), 1), (n(3), 1)],
                "idle: sent at once"
            );
            assert!(out.messages.is_empty(), "a leader's appends are eager");
        } else {
            assert!(appends(&out).is_empty(), "proposal {i} sent by itself");
        }
        emitted += 1;
    }
    let mut out = Output::new();
    node.on_persisted(emitted, &mut out);
    assert_eq!(appends(&out), vec![(n(2), 9), (n(3), 9)]);
}

/// A commit is not announced by a message of its own: the next entries
/// carry the new commit index, and a follower that gets none learns it at
/// the leader's next tick.
#[test]
fn a_commit_reaches_followers_with_the_next_entries_or_the_next_tick() {
    let opts = Opts {
        heartbeat_ticks: 9,
        ..Opts::default()
    };
    let (mut node, emitted) = hand_made_leader(&opts);
    let write = |node: &mut RaftNode, i: u64| {
        propose(
            node,
            Proposal::Write {
                id: RequestId(i),
                command: vec![i as u8],
            },
        )
    };
    let commits = |out: &Output<RaftNode>| -> Vec<(NodeId, u64)> {
        sent(out)
            .into_iter()
            .filter_map(|(to, m)| match m {
                RaftMessage::AppendEntries { leader_commit, .. } => Some((to, leader_commit)),
                _ => None,
            })
            .collect()
    };
    write(&mut node, 1);
    let mut out = Output::new();
    node.on_persisted(emitted + 1, &mut out);
    let index = node.last_log_index();
    let term = node.term();
    let out = step(&mut node, 2, ack(term, index, 0));
    assert_eq!(node.commit_index(), index);
    assert!(commits(&out).is_empty(), "the commit announced by itself");
    // Follower 2 is idle: the next write's entries carry the commit.
    let out = write(&mut node, 2);
    assert_eq!(commits(&out), vec![(n(2), index)]);
    // Follower 3 still has an AppendEntries in flight: it hears at the tick,
    // and only then.
    assert_eq!(commits(&tick(&mut node)), vec![(n(3), index)]);
    assert!(commits(&tick(&mut node)).is_empty());
}

/// The first AppendEntries of a new term is not eager: the term may still
/// be on its way to disk. Once the term's no-op is durable, they are.
#[test]
fn appends_become_eager_once_the_terms_noop_is_durable() {
    let opts = Opts::default();
    let mut node = lone_core(1, &[1, 2, 3], &opts);
    let out = tick_until_messages(&mut node);
    let RaftMessage::RequestVote { term: pre, .. } = out.messages[0].1 else {
        panic!()
    };
    step(
        &mut node,
        2,
        RaftMessage::RequestVoteResponse {
            term: pre,
            granted: true,
            pre_vote: true,
        },
    );
    let term = node.term();
    let out = step(
        &mut node,
        2,
        RaftMessage::RequestVoteResponse {
            term,
            granted: true,
            pre_vote: false,
        },
    );
    assert_eq!(node.role(), Role::Leader);
    assert!(out.eager_messages.is_empty());
    assert_eq!(appends(&out).len(), 2);
    let mut out = Output::new();
    node.on_persisted(1, &mut out);
    for _ in 0..opts.heartbeat_ticks {
        out.append(&mut tick(&mut node));
    }
    assert!(!out.eager_messages.is_empty());
    assert!(out.messages.is_empty());
}

/// Pipelining: a replicating follower gets several AppendEntries before it
/// answers, but never more unacknowledged bytes than `max_inflight_bytes`
/// (one message always fits).
#[test]
fn pipelining_is_bounded_by_inflight_bytes() {
    let opts = Opts {
        max_append_entries: 1,
        max_inflight_bytes: 100,
        ..Opts::default()
    };
    let (mut node, mut emitted) = hand_made_leader(&opts);
    let base = node.last_log_index();
    let mut first = Output::new();
    for i in 0..10u64 {
        let mut out = Output::new();
        // Each entry is 24 bytes of header + 10 bytes of command.
        node.propose(
            Proposal::Write {
                id: RequestId(i),
                command: vec![0; 10],
            },
            &mut out,
        );
        emitted += out.records.len() as u64;
        first.append(&mut out);
    }
    let mut out = Output::new();
    node.on_persisted(emitted, &mut out);
    out.append(&mut first);
    let to2 = appends(&out).iter().filter(|(to, _)| *to == n(2)).count();
    assert_eq!(to2, 3, "34 + 34 + 34 bytes fill a 100-byte window");
    // Acknowledging the first frees room for exactly one more.
    let term = node.term();
    let out = step(&mut node, 2, ack(term, base + 1, 0));
    let to2: Vec<_> = appends(&out)
        .into_iter()
        .filter(|(to, _)| *to == n(2))
        .collect();
    assert_eq!(to2, vec![(n(2), 1)]);
}

/// A follower acknowledges entries in the same output as their records, so
/// the driver makes them durable before the acknowledgement leaves.
#[test]
fn follower_acks_entries_in_the_same_output_as_the_records() {
    let mut node = lone_core(2, &[1, 2, 3], &Opts::default());
    let out = step(
        &mut node,
        1,
        RaftMessage::AppendEntries {
            term: 1,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![entry(1, 1), entry(2, 1)],
            leader_commit: 0,
            read_seq: 0,
        },
    );
    assert_eq!(out.records.len(), 2);
    assert!(out.must_sync);
    assert!(matches!(
        out.messages[..],
        [(
            NodeId(1),
            RaftMessage::AppendEntriesResponse {
                success: true,
                index: 2,
                ..
            }
        )]
    ));
    assert_eq!(
        out.hard_state,
        Some(RaftHardState {
            term: 1,
            voted_for: None
        })
    );
}

/// §5.3 consistency check: a follower without the entry at prevLogIndex
/// rejects and appends nothing; a conflicting suffix is truncated and
/// replaced by the leader's entries (and only what changed is persisted).
#[test]
fn consistency_check_rejects_gaps_and_replaces_conflicting_suffixes() {
    let opts = Opts::default();
    let hs = RaftHardState {
        term: 2,
        voted_for: None,
    };
    let mut node = recovered_core(
        2,
        &[1, 2, 3],
        &opts,
        hs,
        vec![entry(1, 1), entry(2, 2), entry(3, 2)],
    );
    let ae = |prev_log_index, prev_log_term, entries| RaftMessage::AppendEntries {
        term: 3,
        prev_log_index,
        prev_log_term,
        entries,
        leader_commit: 0,
        read_seq: 0,
    };
    let out = step(&mut node, 1, ae(5, 3, vec![entry(6, 3)]));
    assert!(out.records.is_empty());
    assert!(matches!(
        out.messages[0].1,
        RaftMessage::AppendEntriesResponse {
            success: false,
            index: 5,
            conflict_index: 3,
            conflict_term: Some(2),
            ..
        }
    ));
    // Entry 1 matches, 2 conflicts: 2 and 3 are replaced by 2@3.
    let out = step(&mut node, 1, ae(0, 0, vec![entry(1, 1), entry(2, 3)]));
    assert_eq!(out.records.len(), 1, "only the new entry is written");
    assert_eq!(node.last_log_index(), 2);
    assert_eq!(node.entry(2).unwrap().term, 3);
}

/// A leader partitioned into a minority accepts writes that never commit;
/// they are answered `LeadershipLost` (indefinite) when it steps down, and
/// are overwritten by the new leader's log.
#[test]
fn stale_leader_writes_never_commit() {
    let mut net = cluster(5, 6, Opts::default());
    let old = stable_leader(&mut net, 200);
    let others: Vec<NodeId> = net.ids().into_iter().filter(|&i| i != old).collect();
    let buddy = others[0];
    let majority = others[1..].to_vec();
    net.partition(&[&[old, buddy], &majority]);
    write(&mut net, old, 1, b"stale");
    net.run(3);
    assert_eq!(
        core(&net, buddy).last_log_index(),
        2,
        "the minority holds it"
    );
    net.run(100);
    let new = current_leader(&net).expect("majority elects");
    assert!(majority.contains(&new));
    write(&mut net, new, 2, b"fresh");
    net.heal();
    net.run(50);
    for id in net.ids() {
        assert_eq!(applied(&net, id), vec![b"fresh".to_vec()], "node {id}");
    }
    let Some(ClientOutcome::Replied(Err(e))) = outcome(&net, old, 1) else {
        panic!("stale write unanswered: {:?}", outcome(&net, old, 1));
    };
    assert_eq!(e, ClientError::LeadershipLost);
    assert!(!e.is_definite());
    // Index 2 now holds a later leader's no-op.
    assert_eq!(
        core(&net, old).entry(2).unwrap().payload,
        EntryPayload::Noop
    );
    assert_eq!(core(&net, old).role(), Role::Follower);
}

/// A malformed AppendEntries (entries not numbered from prevLogIndex + 1)
/// is dropped: it neither corrupts the log nor crashes the follower.
#[test]
fn malformed_append_entries_is_dropped() {
    let mut node = lone_core(2, &[1, 2, 3], &Opts::default());
    let out = step(
        &mut node,
        1,
        RaftMessage::AppendEntries {
            term: 1,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![entry(1, 1), entry(3, 1)],
            leader_commit: 3,
            read_seq: 0,
        },
    );
    assert!(out.records.is_empty() && out.messages.is_empty() && out.committed.is_empty());
    assert_eq!(node.last_log_index(), 0);
}
