//! The process-level scenario every CP protocol must pass: writes, reads and
//! cas through the client library on a real cluster; SIGKILL the leader; the
//! others elect a new leader and keep serving; the old leader restarts from
//! its data dir and catches up.

use std::time::Duration;
use synod_core::{ClientError, NodeId, ReadConsistency};
use synod_harness::cluster::{Cluster, ClusterSpec};
use synod_kv::{ClientConfig, KvClient, Op, OpResult};
use tokio::time::Instant;

/// What varies between protocols.
pub struct Scenario {
    /// `--protocol` of every node.
    pub protocol: &'static str,
    /// Nodes in the cluster.
    pub nodes: usize,
    /// Extra flags for every node.
    pub extra_args: Vec<String>,
    /// Nodes that can never lead (observers): never killed as "the leader".
    pub never_leaders: Vec<NodeId>,
    /// Whether the restarted node must have caught up through a snapshot
    /// (the survivors compact their logs while it is down).
    pub expect_snapshot: bool,
    /// Whether every node answers writes and linearizable reads itself
    /// (ZAB's learners forward them to the leader) rather than redirecting
    /// the client.
    pub forwards_writes: bool,
}

async fn wait_leader(cluster: &Cluster, not: Option<NodeId>) -> NodeId {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(l) = cluster.leader().await {
            if Some(l) != not && cluster.is_running(l) {
                return l;
            }
        }
        assert!(Instant::now() < deadline, "no leader within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How often a client operation is tried before the test gives up.
const ATTEMPTS: usize = 100;

/// Every node's election timeout, in ticks of 10 ms: 400–800 ms rather than
/// the default 150–300 ms. Nothing but the leader kill is faulted here, yet
/// a stall of the shared host (a slow fsync on a follower) can cost a
/// healthy leader its quorum; the wider timeout makes that rarer, and the
/// retries below make the test indifferent to it.
const TIMING: [&str; 4] = ["--election-ticks-min", "40", "--election-ticks-max", "80"];

/// Sends `op` (to `node` alone, or wherever the client's redirects lead)
/// until an attempt succeeds, and returns its result. Every operation this
/// test retries is idempotent: a write of the same value or a read. So an
/// indefinite error is retried like a definite one (a redirect race during
/// an election); a leadership change is not what these checks are about.
async fn call_until_ok(
    cluster: &Cluster,
    client: &mut KvClient,
    node: Option<NodeId>,
    op: Op,
) -> OpResult {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let consistency = ReadConsistency::Linearizable;
        let result = match node {
            Some(node) => client.call_node(node, op.clone(), consistency).await,
            None => client.call(op.clone(), consistency).await,
        };
        match result {
            Ok(result) => return result,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{op:?} kept failing ({last:?})\n{}", logs(cluster));
}

async fn write(cluster: &Cluster, client: &mut KvClient, key: &str, v: u64) {
    let op = Op::Write {
        key: key.into(),
        value: v.to_string().into_bytes(),
    };
    let result = call_until_ok(cluster, client, None, op).await;
    assert_eq!(result, OpResult::Done, "write {key}={v}");
}

/// A linearizable read of `key`.
async fn read(cluster: &Cluster, client: &mut KvClient, key: &str) -> Option<Vec<u8>> {
    let op = Op::Read { key: key.into() };
    match call_until_ok(cluster, client, None, op).await {
        OpResult::Value(v) => v,
        other => panic!("read {key} answered {other:?}"),
    }
}

/// Compare-and-sets `key` from `from` to `to`, and then checks that the same
/// cas now fails with `CasMismatch`. An attempt whose outcome is unknown may
/// have applied, so a mismatch after one counts as success only when a read
/// finds `to`.
async fn cas_applies_once(
    cluster: &Cluster,
    client: &mut KvClient,
    key: &str,
    from: &[u8],
    to: &[u8],
) {
    let mut maybe_applied = false;
    let mut applied = false;
    for _ in 0..ATTEMPTS {
        match client.cas(key, Some(from.to_vec()), to.to_vec()).await {
            Ok(()) => applied = true,
            Err(ClientError::CasMismatch) if maybe_applied => {
                assert_eq!(read(cluster, client, key).await.as_deref(), Some(to));
                applied = true;
            }
            Err(e) => {
                assert_ne!(e, ClientError::CasMismatch, "{key} did not hold {from:?}");
                maybe_applied |= !e.is_definite();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if applied {
            break;
        }
    }
    assert!(applied, "cas {key} kept failing\n{}", logs(cluster));
    for _ in 0..ATTEMPTS {
        match client
            .cas(key, Some(from.to_vec()), b"never".to_vec())
            .await
        {
            Err(ClientError::CasMismatch) => return,
            Ok(()) => panic!("cas {key} from {from:?} applied twice"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("the second cas {key} kept failing\n{}", logs(cluster));
}

/// The last lines of every node's log, for a failure message.
fn logs(cluster: &Cluster) -> String {
    let mut text = String::new();
    for id in cluster.ids() {
        let path = &cluster.node(id).log_path;
        let tail = synod_harness::cluster::log_tail(path, 40);
        text.push_str(&format!("--- {id} ({}):\n{tail}\n", path.display()));
    }
    text
}

/// Sends a write and then a linearizable read straight to each node but
/// the leader (no redirects): each answers both, and a local read there
/// sees the write at once, since the node applied it before answering.
async fn writes_answered_where_sent(cluster: &Cluster, cc: &ClientConfig, leader: NodeId) {
    for node in cluster.ids().into_iter().filter(|n| *n != leader) {
        let mut client = KvClient::new(cc.clone(), node);
        let key = format!("via-{node}");
        let value = node.to_string().into_bytes();
        let op = Op::Write {
            key: key.clone(),
            value: value.clone(),
        };
        let answer = call_until_ok(cluster, &mut client, Some(node), op).await;
        assert_eq!(answer, OpResult::Done, "write sent to {node}");
        let read = client.read(&key, ReadConsistency::Local).await;
        assert_eq!(read, Ok(Some(value.clone())), "local read at {node}");
        let op = Op::Read { key: key.clone() };
        let read = call_until_ok(cluster, &mut client, Some(node), op).await;
        assert_eq!(
            read,
            OpResult::Value(Some(value)),
            "linearizable read at {node}"
        );
    }
}

/// Runs the scenario; panics (failing the test) on any broken expectation.
/// The cluster's processes are killed when it is dropped, also on panic.
pub async fn leader_kill_and_catch_up(s: Scenario) {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(ClusterSpec {
        node_binary: crate::node_binary(),
        protocol: s.protocol.into(),
        nodes: s.nodes,
        dir: dir.path().to_path_buf(),
        seed: 42,
        extra_args: TIMING
            .iter()
            .map(|a| a.to_string())
            .chain(s.extra_args.clone())
            .collect(),
        start_timeout: Duration::from_secs(20),
        link_proxies: true,
    })
    .await
    .unwrap();
    let mut cc = ClientConfig::new(cluster.client_addrs());
    cc.timeout = Duration::from_secs(2);
    let mut client = KvClient::new(cc.clone(), NodeId(1));

    let leader = wait_leader(&cluster, None).await;
    assert!(!s.never_leaders.contains(&leader), "{leader} cannot lead");
    for i in 0..10 {
        write(&cluster, &mut client, "x", i).await;
    }
    assert_eq!(read(&cluster, &mut client, "x").await, Some(b"9".to_vec()));
    cas_applies_once(&cluster, &mut client, "x", b"9", b"100").await;

    cluster.kill(leader).await;
    let new_leader = wait_leader(&cluster, Some(leader)).await;
    assert_ne!(new_leader, leader);
    let home = cluster.ids().into_iter().find(|i| *i != leader).unwrap();
    let mut client = KvClient::new(cc.clone(), home);
    // Enough writes for the survivors to snapshot and compact several times.
    for i in 0..150 {
        write(&cluster, &mut client, &format!("k{}", i % 5), i).await;
    }
    write(&cluster, &mut client, "x", 200).await;

    cluster.restart(leader).await.unwrap();
    let target = cluster
        .status(new_leader)
        .await
        .unwrap()
        .protocol
        .commit_index;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = cluster.status(leader).await;
        if st.is_some_and(|st| st.protocol.commit_index >= target) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted node did not catch up to {target}; its log:\n{}",
            synod_harness::cluster::log_tail(&cluster.node(leader).log_path, 30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Applied may trail the commit point by a step: wait for the value.
    let mut local = KvClient::new(cc.clone(), leader);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = local.read("x", ReadConsistency::Local).await;
        if v.as_ref()
            .is_ok_and(|v| v.as_deref() == Some(b"200".as_slice()))
        {
            break;
        }
        assert!(Instant::now() < deadline, "old leader reads {v:?} for x");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if s.forwards_writes {
        writes_answered_where_sent(&cluster, &cc, new_leader).await;
    }
    if s.expect_snapshot {
        let log = std::fs::read_to_string(&cluster.node(leader).log_path).unwrap();
        assert!(
            log.contains("installed snapshot from a peer"),
            "the restarted node caught up without a snapshot; its log:\n{}",
            synod_harness::cluster::log_tail(&cluster.node(leader).log_path, 30)
        );
    }
    cluster.shutdown(Duration::from_secs(3)).await;
}
