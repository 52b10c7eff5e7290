//! The client port: decodes requests, hands them to the node loop, answers.
//!
//! Each connection gets a reader and a writer task. Requests on one
//! connection run concurrently (up to `MAX_IN_FLIGHT_PER_CONNECTION`), and
//! responses carry the request's id, so pipelining clients get throughput
//! while the simple client library (one request at a time) gets ordering.
//! A frame that does not decode is answered with a definite `Malformed`
//! error and the connection is closed: after garbage the stream cannot be
//! trusted to be in sync.

use std::net::SocketAddr;
use std::sync::Arc;
use synod_core::{codec, ClientError};
use synod_kv::{
    KvAnswer, KvCommand, KvMachine, KvOutput, KvQuery, Op, OpResult, Request, Response,
};
use synod_runtime::transport::{read_frame, write_frame, ReadFrameError};
use synod_runtime::NodeHandle;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, warn, Instrument};

const MAX_IN_FLIGHT_PER_CONNECTION: usize = 256;

/// Accepts client connections forever.
pub async fn serve_clients<M: KvMachine>(
    listener: TcpListener,
    node: NodeHandle<M>,
    max_frame: usize,
) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(
                    serve_connection(stream, remote, node.clone(), max_frame).in_current_span(),
                );
            }
            Err(e) => {
                warn!(error = %e, "client accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection<M: KvMachine>(
    stream: TcpStream,
    remote: SocketAddr,
    node: NodeHandle<M>,
    max_frame: usize,
) {
    let (mut r, w) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Response>(MAX_IN_FLIGHT_PER_CONNECTION);
    let writer = tokio::spawn(
        async move {
            let mut w = BufWriter::new(w);
            while let Some(resp) = rx.recv().await {
                let Ok(bytes) = codec::encode(&resp) else {
                    continue;
                };
                if write_frame(&mut w, &bytes).await.is_err() {
                    return;
                }
                if rx.is_empty() && w.flush().await.is_err() {
                    return;
                }
            }
            let _ = w.flush().await;
        }
        .in_current_span(),
    );
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CONNECTION));
    loop {
        let frame = match read_frame(&mut r, max_frame).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(ReadFrameError::Frame(e)) => {
                warn!(%remote, error = %e, "closing client connection");
                break;
            }
            Err(ReadFrameError::Io(e)) => {
                debug!(%remote, error = %e, "client connection lost");
                break;
            }
        };
        let req: Request = match codec::decode(&frame) {
            Ok(r) => r,
            Err(e) => {
                warn!(%remote, error = %e, "undecodable client request; closing");
                let reason = format!("request does not decode: {e}");
                let _ = tx
                    .send(Response {
                        id: 0,
                        result: Err(ClientError::Malformed { reason }),
                    })
                    .await;
                break;
            }
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let node = node.clone();
        let tx = tx.clone();
        tokio::spawn(
            async move {
                let result = execute(&node, req.op, req.consistency).await;
                let _ = tx.send(Response { id: req.id, result }).await;
                drop(permit);
            }
            .in_current_span(),
        );
    }
    drop(tx);
    let _ = writer.await;
}

/// Runs one client operation against the node loop.
pub async fn execute<M: KvMachine>(
    node: &NodeHandle<M>,
    op: Op,
    consistency: synod_core::ReadConsistency,
) -> Result<OpResult, ClientError> {
    let write = |command: KvCommand| async move {
        match node.write(M::command(command)?).await? {
            KvOutput::Done => Ok(OpResult::Done),
            KvOutput::CasMismatch { .. } => Err(ClientError::CasMismatch),
            KvOutput::NotFound => Err(ClientError::NotFound),
            KvOutput::Rejected { reason } => Err(ClientError::Malformed { reason }),
        }
    };
    match op {
        Op::Read { key } => match node.read(KvQuery::Get { key }, consistency).await? {
            KvAnswer::Value(v) => Ok(OpResult::Value(v)),
            KvAnswer::Set(_) => Err(ClientError::Malformed {
                reason: "not a key".into(),
            }),
        },
        Op::ReadSet { set } => match node.read(KvQuery::ReadSet { set }, consistency).await? {
            KvAnswer::Set(s) => Ok(OpResult::Set(s)),
            KvAnswer::Value(_) => Err(ClientError::Malformed {
                reason: "not a set".into(),
            }),
        },
        Op::Write { key, value } => write(KvCommand::Write { key, value }).await,
        Op::Cas { key, from, to } => write(KvCommand::Cas { key, from, to }).await,
        Op::Delete { key } => write(KvCommand::Delete { key }).await,
        Op::Add { set, element } => write(KvCommand::Add { set, element }).await,
        Op::Status => Ok(OpResult::Status(node.status().await?)),
        Op::Admin(request) => node.admin(request).await.map(|()| OpResult::Done),
    }
}
