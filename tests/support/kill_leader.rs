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

/// Writes with retries on definite errors (a redirect race during an
/// election); an indefinite error fails the test, as nothing is faulted
/// while these run.
async fn write(client: &mut KvClient, key: &str, v: u64) {
    for _ in 0..100 {
        match client.write(key, v.to_string().into_bytes()).await {
            Ok(()) => return,
            Err(e) if e.is_definite() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("write {key}={v}: {e}"),
        }
    }
    panic!("write {key}={v} kept failing");
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
        let answer = client
            .call_node(node, op, ReadConsistency::Linearizable)
            .await;
        assert_eq!(answer, Ok(OpResult::Done), "write sent to {node}");
        let read = client.read(&key, ReadConsistency::Local).await;
        assert_eq!(read, Ok(Some(value.clone())), "local read at {node}");
        let op = Op::Read { key: key.clone() };
        let read = client
            .call_node(node, op, ReadConsistency::Linearizable)
            .await;
        assert_eq!(
            read,
            Ok(OpResult::Value(Some(value))),
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
        extra_args: s.extra_args.clone(),
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
        write(&mut client, "x", i).await;
    }
    let read = client.read("x", ReadConsistency::Linearizable).await;
    assert_eq!(read.unwrap(), Some(b"9".to_vec()));
    client
        .cas("x", Some(b"9".to_vec()), b"100".to_vec())
        .await
        .unwrap();
    let mismatch = client.cas("x", Some(b"9".to_vec()), b"101".to_vec()).await;
    assert_eq!(mismatch.unwrap_err(), ClientError::CasMismatch);

    cluster.kill(leader).await;
    let new_leader = wait_leader(&cluster, Some(leader)).await;
    assert_ne!(new_leader, leader);
    let home = cluster.ids().into_iter().find(|i| *i != leader).unwrap();
    let mut client = KvClient::new(cc.clone(), home);
    // Enough writes for the survivors to snapshot and compact several times.
    for i in 0..150 {
        write(&mut client, &format!("k{}", i % 5), i).await;
    }
    write(&mut client, "x", 200).await;

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
