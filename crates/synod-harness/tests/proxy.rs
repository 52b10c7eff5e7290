//! The fault proxy between two real transports: clean links forward in
//! order, cuts drop whole messages and heal without a reconnect, loss and
//! duplication change counts, delay holds messages back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use synod_core::{ClusterId, NodeId, Transport};
use synod_harness::proxy::{FaultProxy, LinkFaults};
use synod_runtime::{TcpTransport, TransportConfig};
use tokio::time::{timeout, Instant};

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Node 1 sends to node 2 through a proxy.
async fn pair() -> (TcpTransport, TcpTransport, FaultProxy) {
    let (a1, a2) = (free_addr(), free_addr());
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), a2, 7)
        .await
        .unwrap();
    let peers1 = BTreeMap::from([(NodeId(2), proxy.addr())]);
    let peers2 = BTreeMap::from([(NodeId(1), a1)]);
    let t1 = TcpTransport::start(TransportConfig::new(NodeId(1), ClusterId(1), a1, peers1))
        .await
        .unwrap();
    let t2 = TcpTransport::start(TransportConfig::new(NodeId(2), ClusterId(1), a2, peers2))
        .await
        .unwrap();
    (t1, t2, proxy)
}

async fn drain(t: &mut TcpTransport, quiet: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while let Ok(Some((_, m))) = timeout(quiet, t.recv()).await {
        got.push(m);
    }
    got
}

fn msg(i: u32) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_link_forwards_everything_in_order() {
    let (t1, mut t2, _p) = pair().await;
    for i in 0..200 {
        t1.send(NodeId(2), msg(i));
    }
    let got = drain(&mut t2, Duration::from_millis(500)).await;
    assert_eq!(got, (0..200).map(msg).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_drops_messages_and_healing_needs_no_reconnect() {
    let (t1, mut t2, p) = pair().await;
    t1.send(NodeId(2), msg(0));
    assert_eq!(
        drain(&mut t2, Duration::from_millis(300)).await,
        vec![msg(0)]
    );
    p.link().set(LinkFaults {
        cut: true,
        ..Default::default()
    });
    for i in 1..50 {
        t1.send(NodeId(2), msg(i));
    }
    assert!(
        drain(&mut t2, Duration::from_millis(300)).await.is_empty(),
        "cut link delivered"
    );
    p.link().set(LinkFaults::default());
    t1.send(NodeId(2), msg(99));
    assert_eq!(
        drain(&mut t2, Duration::from_millis(500)).await,
        vec![msg(99)]
    );
    assert_eq!(
        t1.stats()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_and_duplication_change_the_count() {
    let (t1, mut t2, p) = pair().await;
    t1.send(NodeId(2), msg(0));
    drain(&mut t2, Duration::from_millis(300)).await;
    p.link().set(LinkFaults {
        loss: 0.5,
        ..Default::default()
    });
    for i in 0..400 {
        t1.send(NodeId(2), msg(i));
    }
    let n = drain(&mut t2, Duration::from_millis(500)).await.len();
    assert!((100..300).contains(&n), "50% loss delivered {n} of 400");
    p.link().set(LinkFaults {
        duplicate: 1.0,
        ..Default::default()
    });
    for i in 0..100 {
        t1.send(NodeId(2), msg(i));
    }
    let n = drain(&mut t2, Duration::from_millis(500)).await.len();
    assert_eq!(n, 200, "every message delivered twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_holds_messages_back_and_reorder_lets_later_ones_overtake() {
    let (t1, mut t2, p) = pair().await;
    t1.send(NodeId(2), msg(0));
    drain(&mut t2, Duration::from_millis(300)).await;
    p.link().set(LinkFaults {
        delay: Duration::from_millis(300),
        ..Default::default()
    });
    let start = Instant::now();
    t1.send(NodeId(2), msg(1));
    let (_, m) = timeout(Duration::from_secs(5), t2.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m, msg(1));
    assert!(
        start.elapsed() >= Duration::from_millis(280),
        "delivered after {:?}",
        start.elapsed()
    );
    p.link().set(LinkFaults {
        reorder: 0.5,
        jitter: Duration::from_millis(5),
        ..Default::default()
    });
    for i in 0..200 {
        t1.send(NodeId(2), msg(i));
    }
    let got = drain(&mut t2, Duration::from_millis(600)).await;
    assert_eq!(got.len(), 200, "reordering loses nothing");
    assert_ne!(
        got,
        (0..200).map(msg).collect::<Vec<_>>(),
        "nothing was reordered"
    );
}
