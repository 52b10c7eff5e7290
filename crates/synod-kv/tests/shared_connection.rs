//! `SharedConnection` against a scripted node: answers are routed by id
//! whatever their order, and a broken connection keeps every error's
//! certainty.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use synod_core::frame::{encode_frame, FrameDecoder, DEFAULT_MAX_FRAME_BYTES};
use synod_core::{codec, ClientError, NodeId, ReadConsistency};
use synod_kv::{ClientConfig, Op, OpResult, Request, Response, SharedConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A listener and a client config pointing at it.
async fn fake_node() -> (TcpListener, ClientConfig) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ClientConfig::new(BTreeMap::from([(NodeId(1), addr)]));
    config.timeout = Duration::from_secs(5);
    (listener, config)
}

fn addr(config: &ClientConfig) -> SocketAddr {
    config.nodes[&NodeId(1)]
}

/// Reads exactly `n` requests from `s`, through a decoder that keeps
/// whatever the reads brought beyond the `n`th.
async fn read_requests_with(
    s: &mut TcpStream,
    decoder: &mut FrameDecoder,
    n: usize,
) -> Vec<Request> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while got.len() < n {
        if let Some(f) = decoder.next_frame().unwrap() {
            got.push(codec::decode::<Request>(&f).unwrap());
            continue;
        }
        let k = s.read(&mut buf).await.unwrap();
        assert!(k > 0, "client closed early");
        decoder.push(&buf[..k]);
    }
    got
}

/// Reads exactly `n` requests from a fresh connection's start.
async fn read_requests(s: &mut TcpStream, n: usize) -> Vec<Request> {
    read_requests_with(s, &mut FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES), n).await
}

async fn answer(s: &mut TcpStream, r: &Response) {
    let frame = encode_frame(&codec::encode(r).unwrap(), DEFAULT_MAX_FRAME_BYTES).unwrap();
    s.write_all(&frame).await.unwrap();
}

fn read(i: usize) -> Op {
    Op::Read {
        key: format!("k{i}"),
    }
}

#[tokio::test]
async fn answers_in_any_order_reach_their_own_callers() {
    let (listener, config) = fake_node().await;
    let node = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let requests = read_requests(&mut s, 20).await;
        // Answer last-first, each with its own key as the value.
        for r in requests.iter().rev() {
            let Op::Read { key } = &r.op else {
                panic!("not a read")
            };
            let result = Ok(OpResult::Value(Some(key.clone().into_bytes())));
            answer(&mut s, &Response { id: r.id, result }).await;
        }
        s
    });
    let conn = SharedConnection::connect(addr(&config), &config)
        .await
        .unwrap();
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { (i, conn.call(read(i), ReadConsistency::Local).await) })
        })
        .collect();
    for c in calls {
        let (i, result) = c.await.unwrap();
        assert_eq!(
            result.unwrap(),
            OpResult::Value(Some(format!("k{i}").into_bytes()))
        );
    }
    drop(node.await.unwrap());
}

#[tokio::test]
async fn a_broken_connection_fails_waiting_calls_indefinitely_and_later_ones_definitely() {
    let (listener, config) = fake_node().await;
    let node = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_requests(&mut s, 3).await;
        // The node dies with three requests in flight.
    });
    let conn = SharedConnection::connect(addr(&config), &config)
        .await
        .unwrap();
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call(read(i), ReadConsistency::Local).await })
        })
        .collect();
    node.await.unwrap();
    for c in calls {
        let e = c.await.unwrap().unwrap_err();
        assert!(
            matches!(e, ClientError::ConnectionLost { .. }),
            "in flight when the node died: {e:?}"
        );
        assert!(!e.is_definite());
    }
    assert!(conn.is_closed());
    let later = conn
        .call(read(9), ReadConsistency::Local)
        .await
        .unwrap_err();
    assert!(
        later.is_definite(),
        "never sent, so nothing happened: {later:?}"
    );
}

/// A fake node (frames of at most `max_frame_bytes`) answers the first
/// request with `bytes`; returns the error the call got.
async fn call_answered_with(bytes: Vec<u8>, max_frame_bytes: usize) -> ClientError {
    let (listener, mut config) = fake_node().await;
    config.max_frame_bytes = max_frame_bytes;
    let node = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_requests(&mut s, 1).await;
        s.write_all(&bytes).await.unwrap();
        s
    });
    let conn = SharedConnection::connect(addr(&config), &config)
        .await
        .unwrap();
    let e = conn
        .call(read(0), ReadConsistency::Local)
        .await
        .unwrap_err();
    drop(node.await.unwrap());
    e
}

#[tokio::test]
async fn a_response_that_does_not_decode_breaks_the_connection() {
    let frame = encode_frame(&[0xff; 7], DEFAULT_MAX_FRAME_BYTES).unwrap();
    let e = call_answered_with(frame, DEFAULT_MAX_FRAME_BYTES).await;
    assert!(
        matches!(&e, ClientError::ConnectionLost { reason } if reason.contains("bad response")),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_oversized_response_header_breaks_the_connection_without_allocating() {
    let e = call_answered_with(u32::MAX.to_be_bytes().to_vec(), 1024).await;
    assert!(matches!(e, ClientError::ConnectionLost { .. }), "{e:?}");
}

#[tokio::test]
async fn large_requests_and_large_answers_in_both_directions_do_not_deadlock() {
    // The node answers with megabytes before it reads on, while the client
    // still has megabytes of requests to write. A client that waited on its
    // writes without reading would wait forever, and so would the node.
    const CALLS: usize = 200;
    const VALUE: usize = 256 << 10;
    let (listener, config) = fake_node().await;
    let node = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        let first = read_requests_with(&mut s, &mut decoder, 1).await;
        let junk = Response {
            id: u64::MAX, // nobody waits for it
            result: Ok(OpResult::Value(Some(vec![7; 4 << 20]))),
        };
        for _ in 0..4 {
            answer(&mut s, &junk).await;
        }
        let mut rest = read_requests_with(&mut s, &mut decoder, CALLS - 1).await;
        rest.extend(first);
        for r in rest {
            answer(
                &mut s,
                &Response {
                    id: r.id,
                    result: Ok(OpResult::Done),
                },
            )
            .await;
        }
        s
    });
    let conn = SharedConnection::connect(addr(&config), &config)
        .await
        .unwrap();
    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.write(&format!("k{i}"), vec![1; VALUE]).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    drop(node.await.unwrap());
}
