//! The client port: decodes requests, hands them to the node loop, answers.
//!
//! One task serves each connection. Requests on a connection run
//! concurrently (up to `MAX_IN_FLIGHT_PER_CONNECTION`) and responses carry
//! the request's id, so pipelining clients get throughput while the simple
//! client library (one request at a time) gets ordering. The task reads
//! whatever the socket holds, starts every whole request in it, and writes
//! every response that is ready in one `write`: no task per request, no
//! hand-off to a writer task, so a request costs the node loop's round trip
//! and little else.
//!
//! A frame that does not decode is answered with a definite `Malformed`
//! error and the connection is closed once the requests before it are
//! answered: after garbage the stream cannot be trusted to be in sync.

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use std::net::SocketAddr;
use synod_core::codec;
use synod_core::frame::{append_frame, FrameDecoder};
use synod_core::ClientError;
use synod_kv::{
    KvAnswer, KvCommand, KvMachine, KvOutput, KvQuery, Op, OpResult, Request, Response,
};
use synod_runtime::NodeHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn, Instrument};

const MAX_IN_FLIGHT_PER_CONNECTION: usize = 256;
const READ_CHUNK_BYTES: usize = 64 << 10;

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
    mut stream: TcpStream,
    remote: SocketAddr,
    node: NodeHandle<M>,
    max_frame: usize,
) {
    let mut decoder = FrameDecoder::new(max_frame);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let mut running = FuturesUnordered::new();
    let mut out = Vec::new();
    // Whether requests may still come (false after EOF, an error or garbage).
    let mut reading = true;
    loop {
        while reading && running.len() < MAX_IN_FLIGHT_PER_CONNECTION {
            match decoder.next_frame() {
                Ok(Some(frame)) => match codec::decode::<Request>(&frame) {
                    Ok(req) => running.push(run(node.clone(), req)),
                    Err(e) => {
                        warn!(%remote, error = %e, "undecodable client request; closing");
                        let reason = format!("request does not decode: {e}");
                        let result = Err(ClientError::Malformed { reason });
                        push_response(&mut out, Response { id: 0, result });
                        reading = false;
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    warn!(%remote, error = %e, "closing client connection");
                    reading = false;
                }
            }
        }
        while let Some(Some(resp)) = running.next().now_or_never() {
            push_response(&mut out, resp);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if !reading && running.is_empty() {
            return;
        }
        let room = running.len() < MAX_IN_FLIGHT_PER_CONNECTION;
        tokio::select! {
            Some(resp) = running.next(), if !running.is_empty() => push_response(&mut out, resp),
            n = stream.read(&mut chunk), if reading && room => match n {
                Ok(0) => reading = false,
                Ok(n) => decoder.push(&chunk[..n]),
                Err(e) => {
                    debug!(%remote, error = %e, "client connection lost");
                    reading = false;
                }
            },
        }
    }
}

/// One request, executed against the node loop.
async fn run<M: KvMachine>(node: NodeHandle<M>, req: Request) -> Response {
    let result = execute(&node, req.op, req.consistency).await;
    Response { id: req.id, result }
}

/// Appends `resp` to `out` as one frame (dropped if it cannot be framed).
fn push_response(out: &mut Vec<u8>, resp: Response) {
    if let Ok(bytes) = codec::encode(&resp) {
        let _ = append_frame(out, &bytes, u32::MAX as usize);
    }
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
