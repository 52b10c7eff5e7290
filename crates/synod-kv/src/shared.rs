//! One connection that many tasks use at once.
//!
//! [`Connection`](crate::Connection) carries one request at a time, so a
//! process with many concurrent callers needs a socket per caller, and every
//! request then costs a write and a read on each side of its own socket. A
//! [`SharedConnection`] pipelines instead: a task owns the socket, writes
//! every request queued at that moment in one `write`, and routes each
//! response to its caller by id, whatever order the node answers in. Many
//! requests then share each syscall, on the client and on the node (whose
//! client port reads every whole request in the socket at once and writes
//! every ready response at once). This is how etcd's benchmark drives
//! thousands of clients over a few connections.
//!
//! Errors keep their certainty, as in the rest of the client library: a
//! request that could not be handed to the connection is a definite
//! `Unavailable`; one that was handed over and then timed out, or whose
//! connection broke, is indefinite. Nothing is retried. A broken connection
//! stays broken (every later call is a definite `Unavailable`): open a new
//! one.

use crate::client::{dial, unexpected, ClientConfig};
use crate::wire::{Op, OpResult, Request, Response};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use synod_core::frame::{append_frame, FrameDecoder};
use synod_core::{codec, ClientError, ReadConsistency};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Requests one connection has written and not yet seen answered; callers
/// beyond this wait their turn (the node serves at most as many at once per
/// connection, and a bound keeps both sides' buffers small).
pub const MAX_IN_FLIGHT: usize = 256;

const READ_CHUNK_BYTES: usize = 64 << 10;

type Answer = Result<OpResult, ClientError>;

struct Call {
    op: Op,
    consistency: ReadConsistency,
    reply: oneshot::Sender<Answer>,
}

/// A pipelined connection to one node; clone it to share it.
#[derive(Clone, Debug)]
pub struct SharedConnection {
    calls: mpsc::Sender<Call>,
    timeout: Duration,
}

impl SharedConnection {
    /// Connects to `addr` and starts the task that owns the socket. It ends
    /// when every clone is dropped or the connection breaks.
    pub async fn connect(addr: SocketAddr, config: &ClientConfig) -> Result<Self, ClientError> {
        let stream = dial(addr, config.connect_timeout).await?;
        let (calls, rx) = mpsc::channel(MAX_IN_FLIGHT);
        tokio::spawn(own_socket(stream, rx, config.max_frame_bytes));
        Ok(Self {
            calls,
            timeout: config.timeout,
        })
    }

    /// Whether the connection has broken (every call will fail).
    pub fn is_closed(&self) -> bool {
        self.calls.is_closed()
    }

    /// Sends one request and waits for its answer.
    pub async fn call(&self, op: Op, consistency: ReadConsistency) -> Answer {
        let (reply, answer) = oneshot::channel();
        let call = Call {
            op,
            consistency,
            reply,
        };
        // Waiting for room in the queue counts against the timeout too.
        let sent = tokio::time::timeout(self.timeout, self.calls.send(call)).await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return Err(ClientError::Unavailable {
                    reason: "connection closed".into(),
                })
            }
            Err(_) => {
                return Err(ClientError::Unavailable {
                    reason: "connection busy: request not sent in time".into(),
                })
            }
        }
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::ConnectionLost {
                reason: "connection closed before the answer".into(),
            }),
            Err(_) => Err(ClientError::Timeout),
        }
    }

    /// Writes `key`.
    pub async fn write(&self, key: &str, value: Vec<u8>) -> Result<(), ClientError> {
        let op = Op::Write {
            key: key.into(),
            value,
        };
        match self.call(op, ReadConsistency::Linearizable).await? {
            OpResult::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

/// The socket's owner: writes queued requests in batches, routes answers.
/// It never waits on a write without also reading, so a node that is itself
/// blocked writing large answers back can never deadlock the two of them.
async fn own_socket(stream: TcpStream, mut calls: mpsc::Receiver<Call>, max_frame: usize) {
    let (mut reader, mut writer) = stream.into_split();
    let mut waiting: BTreeMap<u64, oneshot::Sender<Answer>> = BTreeMap::new();
    let mut next_id = 1u64;
    let mut decoder = FrameDecoder::new(max_frame);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    // Encoded requests; `out[written..]` is not on the wire yet.
    let mut out = Vec::new();
    let mut written = 0;
    let reason = loop {
        if waiting.len() >= MAX_IN_FLIGHT {
            // Callers that gave up (timed out) free their places.
            waiting.retain(|_, reply| !reply.is_closed());
        }
        let room = waiting.len() < MAX_IN_FLIGHT;
        tokio::select! {
            call = calls.recv(), if room => {
                let Some(call) = call else {
                    // Every handle is gone; nobody waits for anything.
                    return;
                };
                let mut next = Some(call);
                while let Some(call) = next {
                    if let Some(reply) = encode(call, next_id, max_frame, &mut out) {
                        waiting.insert(next_id, reply);
                        next_id += 1;
                    }
                    next = if waiting.len() < MAX_IN_FLIGHT { calls.try_recv().ok() } else { None };
                }
            }
            sent = writer.write(&out[written..]), if written < out.len() => match sent {
                Ok(0) => break "write: connection closed".to_string(),
                Ok(n) => {
                    written += n;
                    if written == out.len() {
                        out.clear();
                        written = 0;
                    }
                }
                Err(e) => break format!("write: {e}"),
            },
            read = reader.read(&mut chunk) => match read {
                Ok(0) => break "closed by the node".to_string(),
                Ok(n) => {
                    decoder.push(&chunk[..n]);
                    if let Err(e) = route_answers(&mut decoder, &mut waiting) {
                        break e;
                    }
                }
                Err(e) => break format!("read: {e}"),
            },
        }
    };
    calls.close();
    for (_, reply) in waiting {
        let _ = reply.send(Err(ClientError::ConnectionLost {
            reason: reason.clone(),
        }));
    }
    // Calls queued but never written: definite, nothing was sent.
    while let Ok(call) = calls.try_recv() {
        let _ = call.reply.send(Err(ClientError::Unavailable {
            reason: format!("connection broke before sending: {reason}"),
        }));
    }
}

/// Appends the request's frame to `out`, or answers it at once (definite)
/// if it cannot be encoded.
fn encode(
    call: Call,
    id: u64,
    max_frame: usize,
    out: &mut Vec<u8>,
) -> Option<oneshot::Sender<Answer>> {
    let request = Request {
        id,
        op: call.op,
        consistency: call.consistency,
    };
    let framed = codec::encode(&request)
        .map_err(|e| e.to_string())
        .and_then(|payload| append_frame(out, &payload, max_frame).map_err(|e| e.to_string()));
    match framed {
        Ok(()) => Some(call.reply),
        Err(reason) => {
            let _ = call.reply.send(Err(ClientError::Malformed { reason }));
            None
        }
    }
}

/// Hands every whole response in `decoder` to its caller. A response that
/// does not decode breaks the connection: the stream is out of step.
fn route_answers(
    decoder: &mut FrameDecoder,
    waiting: &mut BTreeMap<u64, oneshot::Sender<Answer>>,
) -> Result<(), String> {
    while let Some(bytes) = decoder
        .next_frame()
        .map_err(|e| format!("bad response: {e}"))?
    {
        let response: Response = codec::decode(&bytes).map_err(|e| format!("bad response: {e}"))?;
        // An unknown id is a caller that timed out, or the node's id-0
        // answer to a request it could not decode; neither has a caller.
        if let Some(reply) = waiting.remove(&response.id) {
            let _ = reply.send(response.result);
        }
    }
    Ok(())
}
