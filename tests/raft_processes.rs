//! Three `synod-node --protocol raft` processes on loopback: writes, reads and
//! cas through the client library; SIGKILL the leader; the others elect a
//! new leader and keep serving; the old leader restarts from its data dir
//! and catches up — through a snapshot, because the survivors compacted
//! their logs while it was down.

use std::time::Duration;
use synod_core::{ClientError, NodeId, ReadConsistency};
use synod_e2e::node_binary;
use synod_harness::cluster::{Cluster, ClusterSpec};
use synod_kv::{ClientConfig, KvClient};
use tokio::time::Instant;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_survives_leader_kill_and_old_leader_catches_up_by_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(ClusterSpec {
        node_binary: node_binary(),
        protocol: "raft".into(),
        nodes: 3,
        dir: dir.path().to_path_buf(),
        seed: 42,
        extra_args: vec!["--snapshot-every".into(), "40".into()],
        start_timeout: Duration::from_secs(20),
    })
    .await
    .unwrap();
    let mut cc = ClientConfig::new(cluster.client_addrs());
    cc.timeout = Duration::from_secs(2);
    let mut client = KvClient::new(cc.clone(), NodeId(1));

    let leader = wait_leader(&cluster, None).await;
    for i in 0..10 {
        write(&mut client, "x", i).await;
    }
    assert_eq!(
        client
            .read("x", ReadConsistency::Linearizable)
            .await
            .unwrap(),
        Some(b"9".to_vec())
    );
    client
        .cas("x", Some(b"9".to_vec()), b"100".to_vec())
        .await
        .unwrap();
    let mismatch = client
        .cas("x", Some(b"9".to_vec()), b"101".to_vec())
        .await
        .unwrap_err();
    assert_eq!(mismatch, ClientError::CasMismatch);

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
        let s = cluster.status(leader).await;
        if s.is_some_and(|s| s.applied_index >= target) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted node did not catch up to {target}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut local = KvClient::new(cc, leader);
    assert_eq!(
        local.read("x", ReadConsistency::Local).await.unwrap(),
        Some(b"200".to_vec())
    );
    let log = std::fs::read_to_string(&cluster.node(leader).log_path).unwrap();
    assert!(
        log.contains("installed snapshot from a peer"),
        "the restarted node caught up without a snapshot; its log:\n{}",
        synod_harness::cluster::log_tail(&cluster.node(leader).log_path, 30)
    );
    cluster.shutdown(Duration::from_secs(3)).await;
}
