//! The TCP transport: delivery, refusal of bad peers and bad frames, and
//! reconnection after a peer restarts. Loopback only, ephemeral ports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use synod_core::{codec, ClusterId, NodeId, Transport};
use synod_runtime::transport::{write_frame, Hello, TcpTransport, TransportConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn config(id: u64, listen: SocketAddr, peers: &[(u64, SocketAddr)]) -> TransportConfig {
    let peers: BTreeMap<NodeId, SocketAddr> = peers.iter().map(|&(i, a)| (NodeId(i), a)).collect();
    let mut c = TransportConfig::new(NodeId(id), ClusterId(7), listen, peers);
    c.max_frame_bytes = 1 << 20;
    c.backoff_max = Duration::from_millis(100);
    c
}

async fn recv(t: &mut TcpTransport) -> (NodeId, Vec<u8>) {
    timeout(Duration::from_secs(10), t.recv())
        .await
        .expect("message in time")
        .expect("open")
}

#[tokio::test]
async fn messages_flow_both_ways() {
    let (a1, a2) = (free_addr(), free_addr());
    let mut t1 = TcpTransport::start(config(1, a1, &[(2, a2)]))
        .await
        .unwrap();
    let mut t2 = TcpTransport::start(config(2, a2, &[(1, a1)]))
        .await
        .unwrap();
    for i in 0..100u32 {
        t1.send(NodeId(2), i.to_be_bytes().to_vec());
    }
    for i in 0..100u32 {
        assert_eq!(
            recv(&mut t2).await,
            (NodeId(1), i.to_be_bytes().to_vec()),
            "in order"
        );
    }
    t2.send(NodeId(1), b"back".to_vec());
    assert_eq!(recv(&mut t1).await, (NodeId(2), b"back".to_vec()));
}

/// Opens a raw connection to `addr` and sends a hello.
async fn raw_peer(addr: SocketAddr, hello: &Hello) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    write_frame(&mut s, &codec::encode(hello).unwrap())
        .await
        .unwrap();
    s
}

/// Waits until the transport closes the connection (read returns 0 or an error).
async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        timeout(Duration::from_secs(5), s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

async fn listener_only() -> (TcpTransport, SocketAddr) {
    let a1 = free_addr();
    let t = TcpTransport::start(config(1, a1, &[(2, free_addr())]))
        .await
        .unwrap();
    let addr = t.local_addr();
    (t, addr)
}

#[tokio::test]
async fn oversized_frame_is_refused_and_the_transport_keeps_serving() {
    let (mut t, addr) = listener_only().await;
    let mut s = raw_peer(addr, &Hello::new(ClusterId(7), NodeId(2), NodeId(1))).await;
    // Claim a 3 GiB frame; the receiver must close rather than allocate.
    s.write_all(&(3u32 << 30).to_be_bytes()).await.unwrap();
    assert!(closed_by_peer(&mut s).await, "connection closed");
    assert_eq!(t.stats().refused.load(Ordering::Relaxed), 1);
    // A well-behaved connection still gets through.
    let mut s = raw_peer(addr, &Hello::new(ClusterId(7), NodeId(2), NodeId(1))).await;
    write_frame(&mut s, b"ok").await.unwrap();
    assert_eq!(recv(&mut t).await, (NodeId(2), b"ok".to_vec()));
}

#[tokio::test]
async fn garbage_bytes_are_refused() {
    let (t, addr) = listener_only().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 0x01])
        .await
        .unwrap();
    assert!(closed_by_peer(&mut s).await);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(closed_by_peer(&mut s).await);
    assert_eq!(t.stats().refused.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn wrong_cluster_id_is_refused() {
    let (t, addr) = listener_only().await;
    let mut s = raw_peer(addr, &Hello::new(ClusterId(8), NodeId(2), NodeId(1))).await;
    assert!(closed_by_peer(&mut s).await);
    assert_eq!(t.stats().refused.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn unknown_node_id_is_refused() {
    let (t, addr) = listener_only().await;
    let mut s = raw_peer(addr, &Hello::new(ClusterId(7), NodeId(9), NodeId(1))).await;
    assert!(closed_by_peer(&mut s).await);
    let mut s = raw_peer(addr, &Hello::new(ClusterId(7), NodeId(2), NodeId(3))).await;
    assert!(
        closed_by_peer(&mut s).await,
        "hello addressed to another node"
    );
    assert_eq!(t.stats().refused.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn sender_reconnects_after_the_peer_restarts() {
    let (a1, a2) = (free_addr(), free_addr());
    let t1 = TcpTransport::start(config(1, a1, &[(2, a2)]))
        .await
        .unwrap();
    let mut t2 = TcpTransport::start(config(2, a2, &[(1, a1)]))
        .await
        .unwrap();
    t1.send(NodeId(2), b"before".to_vec());
    assert_eq!(recv(&mut t2).await.1, b"before".to_vec());
    drop(t2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Messages sent while the peer is down may be lost; that is allowed.
    t1.send(NodeId(2), b"while down".to_vec());
    let mut t2 = TcpTransport::start(config(2, a2, &[(1, a1)]))
        .await
        .unwrap();
    // Keep sending until one arrives: the dialler must have reconnected.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        t1.send(NodeId(2), b"after".to_vec());
        if let Ok(Some((from, m))) = timeout(Duration::from_millis(200), t2.recv()).await {
            if m == b"after" {
                assert_eq!(from, NodeId(1));
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconnect within 10 s"
        );
    }
    assert!(t1.stats().connects.load(Ordering::Relaxed) >= 2);
}

#[tokio::test]
async fn sends_to_unknown_peers_are_dropped_and_counted() {
    let (t, _) = listener_only().await;
    t.send(NodeId(42), vec![1]);
    assert_eq!(t.stats().dropped.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_burst_beyond_the_socket_buffers_arrives_whole_and_in_order_from_any_thread() {
    let (a1, a2) = (free_addr(), free_addr());
    let t1 = TcpTransport::start(config(1, a1, &[(2, a2)]))
        .await
        .unwrap();
    // The receiver takes one message at a time into its queue, so its
    // sockets fill up and the sender's direct writes hit a full buffer:
    // the rest must wait in the link's backlog and still arrive in order.
    let mut c2 = config(2, a2, &[(1, a1)]);
    c2.inbound_queue_len = 1;
    let mut t2 = TcpTransport::start(c2).await.unwrap();
    const N: u32 = 400;
    const BYTES: usize = 32 << 10;
    let message = |i: u32| {
        let mut m = vec![(i % 251) as u8; BYTES];
        m[..4].copy_from_slice(&i.to_be_bytes());
        m
    };
    let sender = t1.sender();
    let sending = std::thread::spawn(move || {
        for i in 0..N {
            sender.send(NodeId(2), message(i));
        }
    });
    for i in 0..N {
        let (from, got) = recv(&mut t2).await;
        assert_eq!(from, NodeId(1));
        assert!(got == message(i), "message {i} arrived whole and in order");
    }
    sending.join().unwrap();
    assert_eq!(t1.stats().dropped.load(Ordering::Relaxed), 0);
}
