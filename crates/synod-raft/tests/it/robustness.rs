//! A core never panics on a peer's message, whatever it contains: stale,
//! duplicated, from a node in another role, from an unknown or zero id, with
//! terms and indexes out of any range. (Safety against a lying peer is not
//! claimed — Raft is not Byzantine-tolerant — only that the core keeps
//! running and keeps its own local invariants.)
//!
//! The randomised test forges messages of every [`RaftMessage`] variant into
//! a live cluster (3 voters and a learner, with snapshots and chunked
//! InstallSnapshot on), delivers each at once, and counts per variant how
//! many passed the term check and reached the handler of the receiver's role,
//! so the test cannot silently degrade into exercising only "stale, ignore".
//! The hand-driven tests below it reproduce each panic the fuzzer found.

use crate::common::*;
use std::collections::BTreeMap;
use synod_core::harness::{Envelope, RecordingMachine};
use synod_core::{NodeId, Proposal, Protocol, RequestId, SeededRng};
use synod_raft::{Entry, EntryPayload, Membership, RaftMessage, RaftNode, Role};

/// The cluster's live values, so that many forged numbers land near them and
/// reach the handlers instead of the stale-message path.
#[derive(Clone, Copy, Debug, Default)]
struct Live {
    term: u64,
    index: u64,
    commit: u64,
    snapshot: u64,
    /// Whether terms may be `u64::MAX`: a replica that reaches the last
    /// term can never campaign again, so once that reaches a quorum the
    /// cluster has no leader for good and the leader-side handlers stop
    /// running. Each run keeps such terms for its last quarter.
    last_terms: bool,
}

/// 0, u64::MAX, random, or near the live value `near`.
fn any_u64(rng: &mut SeededRng, near: u64) -> u64 {
    match rng.index(8) {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - 1,
        3 => rng.next_u64(),
        4 => near.saturating_sub(1),
        5 => near.saturating_add(1),
        _ => near,
    }
}

/// Like [`any_u64`] for a term: the last terms only when `live.last_terms`.
/// Half the time exactly the receiver's term, so that most forged messages
/// pass the term check.
fn any_term(rng: &mut SeededRng, live: Live) -> u64 {
    if rng.chance(0.5) {
        return live.term;
    }
    let t = any_u64(rng, live.term);
    if t >= u64::MAX - 1 && !live.last_terms {
        live.term
    } else {
        t
    }
}

fn any_id(rng: &mut SeededRng) -> NodeId {
    NodeId(rng.range(0, 7))
}

fn any_membership(rng: &mut SeededRng) -> Membership {
    match rng.index(4) {
        // The real one, as bootstrapped.
        0 => Membership::new(ids(3), [n(4)]),
        // Empty: no voters at all.
        1 => Membership::default(),
        _ => {
            let voters: Vec<NodeId> = (0..rng.index(4)).map(|_| any_id(rng)).collect();
            let learners: Vec<NodeId> = (0..rng.index(3)).map(|_| any_id(rng)).collect();
            Membership::new(voters, learners)
        }
    }
}

fn any_payload(rng: &mut SeededRng) -> EntryPayload {
    match rng.index(4) {
        0 => EntryPayload::Noop,
        1 => EntryPayload::Config(any_membership(rng)),
        _ => EntryPayload::Command(vec![0xF0; rng.index(3)]),
    }
}

/// Entries starting at `prev + 1` (usually contiguous, sometimes not).
fn any_entries(rng: &mut SeededRng, prev: u64, live: Live) -> Vec<Entry> {
    let count = rng.index(4);
    let contiguous = rng.chance(0.8);
    (0..count as u64)
        .map(|k| Entry {
            index: if contiguous {
                prev.wrapping_add(k + 1)
            } else {
                any_u64(rng, live.index)
            },
            term: if rng.chance(0.7) {
                live.term
            } else {
                any_term(rng, live)
            },
            payload: any_payload(rng),
        })
        .collect()
}

/// Bytes the harness's state machine accepts as a snapshot at `index`.
fn machine_snapshot(index: u64) -> Vec<u8> {
    RecordingMachine {
        applied_index: index,
        ..Default::default()
    }
    .snapshot_data()
}

/// The variants, by name; `forge` must produce each of them.
const VARIANTS: [&str; 7] = [
    "RequestVote",
    "RequestVoteResponse",
    "AppendEntries",
    "AppendEntriesResponse",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "TimeoutNow",
];

/// The variant's position in [`VARIANTS`]. An exhaustive match: a new
/// variant does not compile until the generator covers it.
fn variant(msg: &RaftMessage) -> usize {
    match msg {
        RaftMessage::RequestVote { .. } => 0,
        RaftMessage::RequestVoteResponse { .. } => 1,
        RaftMessage::AppendEntries { .. } => 2,
        RaftMessage::AppendEntriesResponse { .. } => 3,
        RaftMessage::InstallSnapshot { .. } => 4,
        RaftMessage::InstallSnapshotResponse { .. } => 5,
        RaftMessage::TimeoutNow { .. } => 6,
    }
}

/// A forged message of variant `which`, values drawn near `live` and from
/// the edges of `u64`.
fn forge(rng: &mut SeededRng, which: usize, live: Live) -> RaftMessage {
    let term = any_term(rng, live);
    let msg = match which {
        0 => RaftMessage::RequestVote {
            term,
            last_log_index: any_u64(rng, live.index),
            last_log_term: any_term(rng, live),
            pre_vote: rng.chance(0.5),
            leadership_transfer: rng.chance(0.3),
        },
        1 => RaftMessage::RequestVoteResponse {
            term: if rng.chance(0.3) {
                live.term.saturating_add(1)
            } else {
                term
            },
            granted: rng.chance(0.6),
            pre_vote: rng.chance(0.5),
        },
        2 => {
            let prev_log_index = any_u64(rng, live.index);
            RaftMessage::AppendEntries {
                term,
                prev_log_index,
                prev_log_term: any_term(rng, live),
                entries: any_entries(rng, prev_log_index, live),
                leader_commit: any_u64(rng, live.commit),
                read_seq: any_u64(rng, 1),
            }
        }
        3 => RaftMessage::AppendEntriesResponse {
            term,
            success: rng.chance(0.5),
            index: any_u64(rng, live.index),
            conflict_index: any_u64(rng, live.index),
            conflict_term: rng.chance(0.6).then(|| any_term(rng, live)),
            read_seq: any_u64(rng, 1),
        },
        4 => {
            // A final chunk carries bytes the harness's state machine can
            // restore (garbage would trip the harness, not the core), at an
            // index the harness can add to (its snapshot schedule); other
            // chunks carry anything at any index (the edges of a complete
            // one are covered by hand below). A forged membership names
            // learner 9, and a partial chunk's learner 8 too: a node may
            // install a forged complete snapshot and send it on, but partial
            // garbage never extends a real transfer (which the core cannot
            // tell from a genuine chunk of the same snapshot).
            let complete = rng.chance(0.3);
            let last_included_index = if complete {
                live.commit + rng.range(0, 4)
            } else {
                any_u64(rng, live.commit.saturating_add(2))
            };
            let mut membership = any_membership(rng);
            membership.learners.insert(NodeId(9));
            membership.voters.remove(&NodeId(9));
            if !complete {
                membership.learners.insert(NodeId(8));
                membership.voters.remove(&NodeId(8));
            }
            let (offset, data) = if complete {
                (0, machine_snapshot(last_included_index))
            } else {
                (
                    match rng.index(4) {
                        0 => 0,
                        1 => u64::MAX,
                        2 => rng.next_u64(),
                        _ => rng.range(0, 8),
                    },
                    vec![0xAB; rng.index(5)],
                )
            };
            RaftMessage::InstallSnapshot {
                term,
                last_included_index,
                last_included_term: any_term(rng, live),
                membership,
                offset,
                data,
                done: complete,
                read_seq: any_u64(rng, 1),
            }
        }
        5 => RaftMessage::InstallSnapshotResponse {
            term,
            last_included_index: if rng.chance(0.5) {
                live.snapshot
            } else {
                any_u64(rng, live.commit)
            },
            next_offset: match rng.index(3) {
                0 => u64::MAX,
                1 => rng.next_u64(),
                _ => rng.range(0, 200),
            },
            done: rng.chance(0.5),
            read_seq: any_u64(rng, 1),
        },
        _ => RaftMessage::TimeoutNow { term },
    };
    assert_eq!(variant(&msg), which);
    msg
}

/// Whether `msg` passes the receiver's term check and is of a kind the
/// receiver's role handles (the handler runs past its first guard).
fn reaches_handler(receiver: &RaftNode, msg: &RaftMessage) -> bool {
    let term_ok = msg.term() >= receiver.term();
    let role = receiver.role();
    term_ok
        && match msg {
            RaftMessage::RequestVote { .. } => true,
            RaftMessage::RequestVoteResponse { .. } => {
                matches!(role, Role::Candidate | Role::PreCandidate)
            }
            RaftMessage::AppendEntries { .. }
            | RaftMessage::InstallSnapshot { .. }
            | RaftMessage::TimeoutNow { .. } => {
                role != Role::Leader || msg.term() > receiver.term()
            }
            RaftMessage::AppendEntriesResponse { .. }
            | RaftMessage::InstallSnapshotResponse { .. } => {
                role == Role::Leader && msg.term() == receiver.term()
            }
        }
}

/// What the receiver looks like from outside, to tell whether a message
/// changed anything.
fn observe(c: &RaftNode) -> (u64, Role, Option<NodeId>, u64, u64, u64, u64) {
    (
        c.term(),
        c.role(),
        c.leader(),
        c.commit_index(),
        c.last_log_index(),
        c.snapshot_index(),
        c.applied_index(),
    )
}

#[derive(Clone, Copy, Debug, Default)]
struct Count {
    injected: u64,
    reached: u64,
    /// Reached the handler and changed state or made the receiver send.
    effect: u64,
}

/// Injects `msg` and delivers it at once (ahead of everything in flight).
/// Returns whether it reached a handler and whether it had an effect.
fn deliver_now(net: &mut Net, env: Envelope<RaftMessage>) -> (bool, bool) {
    let to = env.to;
    let Some(receiver) = net.core(to) else {
        return (false, false);
    };
    let reached = reaches_handler(receiver, &env.msg) && env.from != to;
    let before = observe(receiver);
    let sent = !net.deliver_now(env).is_empty();
    let after = net.core(to).map(observe);
    (reached, reached && (after != Some(before) || sent))
}

#[test]
fn arbitrary_peer_messages_never_make_a_core_panic() {
    let seeds = 100u64;
    let steps = 10_000u64;
    let mut counts = [Count::default(); VARIANTS.len()];
    let mut with_leader = 0u64;
    let (mut committed, mut installs) = (0u64, 0u64);
    for seed in 0..seeds {
        let opts = Opts {
            voters: Some(ids(3)),
            learners: vec![n(4)],
            snapshot_chunk_bytes: 16,
            ..Opts::default()
        };
        let mut net = cluster(4, seed, opts);
        net.set_snapshot_every(Some(6));
        let mut rng = SeededRng::new(seed ^ 0xBAD_F00D);
        let (mut partitioned, mut crashed): (Option<NodeId>, Option<NodeId>) = (None, None);
        for step in 0..steps {
            if rng.chance(0.15) {
                let which = rng.index(VARIANTS.len());
                // Answers go mostly to the leader, leader messages mostly to
                // the others, so that the role-specific handlers run.
                let leader = current_leader(&net);
                with_leader += u64::from(leader.is_some());
                let candidate = net
                    .ids()
                    .into_iter()
                    .filter_map(|i| net.core(i))
                    .find(|c| matches!(c.role(), Role::Candidate | Role::PreCandidate))
                    .map(|c| c.id());
                let to = match (which, leader, candidate) {
                    (3 | 5, Some(l), _) if rng.chance(0.8) => l,
                    (1, _, Some(c)) if rng.chance(0.8) => c,
                    _ => n(1 + rng.index(4) as u64),
                };
                let Some(receiver) = net.core(to) else {
                    continue;
                };
                // Values near the receiver's own, so that the term check and
                // the index checks pass often.
                let live = Live {
                    term: receiver.term(),
                    index: receiver.last_log_index(),
                    commit: receiver.commit_index(),
                    snapshot: receiver.snapshot_index(),
                    last_terms: step >= steps * 3 / 4,
                };
                let its_leader = receiver.leader();
                let msg = forge(&mut rng, which, live);
                // Mostly a real peer (so leader-side handlers find its
                // progress) or the receiver's leader (TimeoutNow obeys only
                // it), sometimes the receiver itself, 0 or a stranger.
                let from = match its_leader {
                    Some(l) if rng.chance(0.4) => l,
                    _ if rng.chance(0.8) => n(1 + rng.index(4) as u64),
                    _ => any_id(&mut rng),
                };
                let (reached, effect) = deliver_now(&mut net, Envelope { from, to, msg });
                let c = &mut counts[which];
                c.injected += 1;
                c.reached += u64::from(reached);
                c.effect += u64::from(effect);
            } else if rng.chance(0.05) {
                let at = n(1 + rng.index(4) as u64);
                write(&mut net, at, seed * steps + step, b"w");
            } else if rng.chance(0.01) {
                let at = n(1 + rng.index(4) as u64);
                read(&mut net, at, seed * steps + step);
            } else if rng.chance(0.004) {
                // Cut a node off for a while so that it falls behind the
                // leader's snapshot and gets real InstallSnapshot chunks.
                match partitioned.take() {
                    Some(_) => net.heal(),
                    None => {
                        let id = n(1 + rng.index(4) as u64);
                        net.isolate(id);
                        partitioned = Some(id);
                    }
                }
            } else if rng.chance(0.002) {
                // Crash a node and bring it back: whatever forged input it
                // accepted, its storage must still recover.
                match crashed.take() {
                    Some(id) => net.restart(id),
                    None => {
                        let id = n(1 + rng.index(4) as u64);
                        net.crash(id);
                        crashed = Some(id);
                    }
                }
            }
            net.step_random();
        }
        committed += net
            .ids()
            .into_iter()
            .filter_map(|i| net.core(i))
            .map(|c| c.commit_index())
            .max()
            .unwrap_or(0);
        installs += net
            .ids()
            .into_iter()
            .filter_map(|i| net.core(i))
            .filter(|c| c.snapshot_index() > 0)
            .count() as u64;
    }
    let table: BTreeMap<&str, Count> = VARIANTS.iter().copied().zip(counts).collect();
    eprintln!(
        "forged messages per variant: {table:#?}; forged with a leader up: {with_leader}; \
         highest commit index summed over seeds: {committed}; nodes holding a snapshot: {installs}"
    );
    // Not vacuous: the cluster kept committing and compacting in between.
    assert!(
        committed >= seeds * 20 && installs >= seeds,
        "{committed} {installs}"
    );
    for (name, c) in &table {
        // (An InstallSnapshotResponse mostly moves a match index, which is
        // not visible from outside: few count as having an effect.)
        assert!(
            c.reached >= 500 && c.effect >= 10,
            "{name}: too few forged messages reached a handler: {c:?}"
        );
    }
}

// ----- the cases the randomised test found, driven by hand -----------------

fn empty_append(term: u64, prev_log_index: u64, entries: Vec<Entry>) -> RaftMessage {
    RaftMessage::AppendEntries {
        term,
        prev_log_index,
        prev_log_term: term,
        entries,
        leader_commit: 0,
        read_seq: 0,
    }
}

fn snapshot_chunk(term: u64, index: u64) -> RaftMessage {
    RaftMessage::InstallSnapshot {
        term,
        last_included_index: index,
        last_included_term: term,
        membership: Membership::new([n(1), n(2)], []),
        offset: 0,
        data: machine_snapshot(index),
        done: true,
        read_seq: 0,
    }
}

/// A peer's message may carry the last term, `u64::MAX`. The receiver adopts
/// it (terms only grow) but can never campaign again: neither a TimeoutNow
/// nor its own election timeout may overflow the term (`campaign` did
/// `term + 1` for the pre-vote term and the real one).
#[test]
fn a_peer_raising_the_term_to_u64_max_never_overflows_a_campaign() {
    let mut node = lone_core(1, &[1, 2, 3], &Opts::default());
    step(&mut node, 2, empty_append(u64::MAX, 0, Vec::new()));
    assert_eq!(node.term(), u64::MAX);
    assert_eq!(node.leader(), Some(n(2)));
    let out = step(&mut node, 2, RaftMessage::TimeoutNow { term: u64::MAX });
    assert!(out.messages.is_empty(), "no election past the last term");
    for _ in 0..200 {
        let out = tick(&mut node);
        assert!(out.messages.is_empty(), "no pre-vote past the last term");
    }
    assert_eq!((node.term(), node.role()), (u64::MAX, Role::Follower));
}

/// `prev_log_index` and entry indexes are checked for contiguity with
/// checked arithmetic: `u64::MAX` (or entries running past it) is dropped or
/// rejected, never `prev_log_index + 1` overflowing.
#[test]
fn append_entries_at_the_end_of_the_index_space_never_overflow() {
    let mut node = lone_core(1, &[1, 2, 3], &Opts::default());
    let out = step(&mut node, 2, empty_append(1, u64::MAX, Vec::new()));
    assert!(
        matches!(
            out.messages.as_slice(),
            [(_, RaftMessage::AppendEntriesResponse { success: false, .. })]
        ),
        "an unknown prev index is rejected: {:?}",
        out.messages
    );
    for prev in [u64::MAX, u64::MAX - 1, u64::MAX - 2] {
        let entries = vec![
            entry(prev.wrapping_add(1), 1),
            entry(prev.wrapping_add(2), 1),
        ];
        let out = step(&mut node, 2, empty_append(1, prev, entries));
        assert!(out.records.is_empty() && out.messages.is_empty());
    }
    assert_eq!(node.last_log_index(), 0);
}

/// A rejection whose `index` or conflict hint is `u64::MAX` neither
/// overflows the leader (`index + 1` in the staleness check, `probe + 1` in
/// the back-off) nor moves a follower's next index past the leader's log.
#[test]
fn a_rejection_with_u64_max_hints_never_overflows_the_leader() {
    let opts = Opts::default();
    let (mut node, _) = hand_made_leader(&opts);
    let (term, last) = (node.term(), node.last_log_index());
    let reject = |index: u64, conflict_index: u64| RaftMessage::AppendEntriesResponse {
        term,
        success: false,
        index,
        conflict_index,
        conflict_term: None,
        read_seq: 0,
    };
    // Follower 2 replicates: the hint is taken, clamped to our log's end.
    let out = step(&mut node, 2, reject(u64::MAX, u64::MAX));
    let probes: Vec<u64> = sent_to(&out, 2)
        .into_iter()
        .filter_map(|m| match m {
            RaftMessage::AppendEntries { prev_log_index, .. } => Some(prev_log_index),
            _ => None,
        })
        .collect();
    assert!(
        !probes.is_empty() && probes.iter().all(|p| *p <= last),
        "probe within the log: {probes:?} (last {last})"
    );
    // Follower 2 now probes: the staleness check sees `index + 1`.
    step(&mut node, 2, reject(u64::MAX, 0));
    step(&mut node, 2, reject(u64::MAX, u64::MAX));
    assert_eq!(node.role(), Role::Leader);
}

/// A "done" answer for a snapshot past the leader's log end answers nothing
/// the leader sent: it is ignored (it used to set `next = index + 1`).
#[test]
fn a_snapshot_answer_past_the_log_end_is_ignored() {
    let (mut node, _) = hand_made_leader(&Opts::default());
    let term = node.term();
    for index in [u64::MAX, u64::MAX - 1, node.last_log_index() + 5] {
        step(
            &mut node,
            2,
            RaftMessage::InstallSnapshotResponse {
                term,
                last_included_index: index,
                next_offset: u64::MAX,
                done: true,
                read_seq: u64::MAX,
            },
        );
    }
    assert_eq!(node.role(), Role::Leader);
    // The leader still replicates from its own log.
    let out = propose(
        &mut node,
        Proposal::Write {
            id: RequestId(1),
            command: b"x".to_vec(),
        },
    );
    assert_eq!(out.records.len(), 1);
}

/// No log may end at `u64::MAX`: nothing could be appended after it (the
/// core computed `last_index() + 1` for the new leader's no-op and
/// overflowed). A snapshot there is dropped, and the node elects as usual.
#[test]
fn a_snapshot_ending_at_u64_max_is_dropped() {
    let mut node = lone_core(1, &[1, 2], &Opts::default());
    let out = step(&mut node, 2, snapshot_chunk(1, u64::MAX));
    // (Installed, the election below overflowed in `become_leader`.)
    win_elections_as_they_come(&mut node);
    assert!(out.snapshot.is_none() && out.messages.is_empty());
    assert_eq!(node.role(), Role::Leader);
    assert_eq!(node.snapshot_index(), 0);
}

/// Ticks `node` 200 times, granting every (pre-)vote it asks node 2 for.
fn win_elections_as_they_come(node: &mut RaftNode) {
    for _ in 0..200 {
        let out = tick(node);
        for (_, m) in out.messages {
            if let RaftMessage::RequestVote { term, pre_vote, .. } = m {
                let grant = RaftMessage::RequestVoteResponse {
                    term,
                    granted: true,
                    pre_vote,
                };
                let more = step(node, 2, grant);
                // A won pre-vote starts the real election at once.
                for (_, m) in more.messages {
                    if let RaftMessage::RequestVote { term, pre_vote, .. } = m {
                        let grant = RaftMessage::RequestVoteResponse {
                            term,
                            granted: true,
                            pre_vote,
                        };
                        step(node, 2, grant);
                    }
                }
            }
        }
        if node.role() == Role::Leader {
            return;
        }
    }
}

/// A snapshot at the last index a log may hold (`u64::MAX - 1`) is
/// installed, but the node then never campaigns: as leader its no-op would
/// take the index `u64::MAX` and its next write would overflow
/// `last_index() + 1`.
#[test]
fn a_log_at_the_last_index_never_campaigns_nor_overflows() {
    let mut node = lone_core(1, &[1, 2], &Opts::default());
    let out = step(&mut node, 2, snapshot_chunk(1, u64::MAX - 1));
    assert!(out.snapshot.is_some());
    assert_eq!(node.last_log_index(), u64::MAX - 1);
    // A real leader's heartbeat and a duplicate chunk still work.
    step(&mut node, 2, empty_append(1, u64::MAX - 1, Vec::new()));
    step(&mut node, 2, snapshot_chunk(1, u64::MAX - 1));
    step(&mut node, 2, RaftMessage::TimeoutNow { term: 1 });
    win_elections_as_they_come(&mut node);
    let out = propose(
        &mut node,
        Proposal::Write {
            id: RequestId(1),
            command: b"x".to_vec(),
        },
    );
    assert!(out.records.is_empty());
    assert!(matches!(out.replies.as_slice(), [r] if r.result.is_err()));
    assert_eq!(
        node.role(),
        Role::Follower,
        "no room for a no-op: no campaign"
    );
}

/// A snapshot is assembled from one sender's chunks: a chunk of equal
/// metadata from another sender (a confused node, a leader of the same term
/// in a lying cluster) starts the transfer over instead of being spliced
/// into it. (Found by the randomised test: the spliced bytes were installed
/// and the harness's state machine could not restore them.)
#[test]
fn a_snapshot_is_assembled_from_one_senders_chunks() {
    let mut node = lone_core(1, &[1, 2, 3], &Opts::default());
    let bytes = machine_snapshot(5);
    let half = bytes.len() / 2;
    let chunk = |offset: usize, data: &[u8], done: bool| RaftMessage::InstallSnapshot {
        term: 1,
        last_included_index: 5,
        last_included_term: 1,
        membership: Membership::new(ids(3), []),
        offset: offset as u64,
        data: data.to_vec(),
        done,
        read_seq: 0,
    };
    step(&mut node, 2, chunk(0, &bytes[..half], false));
    let out = step(&mut node, 3, chunk(half, b"not the same bytes", true));
    assert!(out.snapshot.is_none(), "spliced chunks are not installed");
    assert!(matches!(
        out.messages.as_slice(),
        [(
            _,
            RaftMessage::InstallSnapshotResponse {
                next_offset: 0,
                done: false,
                ..
            }
        )]
    ));
    // The new sender's own transfer goes through from the start.
    step(&mut node, 3, chunk(0, &bytes[..half], false));
    let out = step(&mut node, 3, chunk(half, &bytes[half..], true));
    match out.snapshot {
        Some(synod_core::SnapshotAction::Install(s)) => assert_eq!(s.data, bytes),
        other => panic!("expected an install, got {other:?}"),
    }
    assert_eq!(node.snapshot_index(), 5);
}
