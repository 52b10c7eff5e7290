//! The client port of a real `synod-node`, spoken to byte by byte:
//! pipelined requests on one connection are all answered by id, and a frame
//! that does not decode is answered `Malformed` and closes the connection
//! after the requests before it are answered. An oversized frame header
//! closes it without reading the payload.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use synod_core::{codec, ClientError, NodeId, ReadConsistency};
use synod_harness::cluster::{Cluster, ClusterSpec};
use synod_kv::{Op, OpResult, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn frame(payload: &[u8]) -> Vec<u8> {
    synod_core::frame::encode_frame(payload, usize::MAX).unwrap()
}

fn write_request(id: u64) -> Vec<u8> {
    let req = Request {
        id,
        op: Op::Write {
            key: format!("k{id}"),
            value: id.to_string().into_bytes(),
        },
        consistency: ReadConsistency::Linearizable,
    };
    frame(&codec::encode(&req).unwrap())
}

/// Reads one response; `None` at a clean end of stream.
async fn read_response(s: &mut TcpStream) -> Option<Response> {
    let mut len = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut len))
        .await
        .expect("an answer in time");
    if read.is_err() {
        return None;
    }
    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut payload).await.unwrap();
    Some(codec::decode(&payload).unwrap())
}

async fn one_node(dir: &std::path::Path) -> (Cluster, SocketAddr) {
    let cluster = Cluster::start(ClusterSpec {
        node_binary: synod_e2e::node_binary(),
        protocol: "raft".into(),
        nodes: 1,
        dir: dir.to_path_buf(),
        seed: 7,
        extra_args: vec![],
        start_timeout: Duration::from_secs(20),
        link_proxies: false,
    })
    .await
    .unwrap();
    for _ in 0..200 {
        if cluster.leader().await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let addr = cluster.client_addrs()[&NodeId(1)];
    (cluster, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_all_answered_and_garbage_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cluster, addr) = one_node(dir.path()).await;

    // 100 writes in one TCP write: every id answered, each with Done.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let bytes: Vec<u8> = (1..=100).flat_map(write_request).collect();
    s.write_all(&bytes).await.unwrap();
    let mut ids = BTreeSet::new();
    for _ in 0..100 {
        let r = read_response(&mut s).await.expect("a response");
        assert_eq!(r.result, Ok(OpResult::Done), "request {}", r.id);
        ids.insert(r.id);
    }
    assert_eq!(ids, (1..=100).collect());

    // Two requests, then garbage: both answered, then Malformed, then EOF.
    let mut bytes: Vec<u8> = (101..=102).flat_map(write_request).collect();
    bytes.extend(frame(&[0xff; 9]));
    bytes.extend(write_request(103));
    s.write_all(&bytes).await.unwrap();
    let mut answers = Vec::new();
    while let Some(r) = read_response(&mut s).await {
        answers.push(r);
    }
    let ids: BTreeSet<u64> = answers.iter().map(|r| r.id).collect();
    assert_eq!(ids, BTreeSet::from([0, 101, 102]), "{answers:?}");
    let garbage = answers.iter().find(|r| r.id == 0).unwrap();
    assert!(
        matches!(garbage.result, Err(ClientError::Malformed { .. })),
        "{garbage:?}"
    );

    // An oversized header: closed at once, nothing allocated or answered.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    assert!(read_response(&mut s).await.is_none());

    // The node is still serving.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&write_request(200)).await.unwrap();
    let r = read_response(&mut s).await.unwrap();
    assert_eq!((r.id, r.result), (200, Ok(OpResult::Done)));
    cluster.shutdown(Duration::from_secs(3)).await;
}
