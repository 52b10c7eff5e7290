//! The client library: talks to `synod-node`'s client port.
//!
//! - [`Connection`]: one TCP connection to one node, one request at a time.
//! - [`SharedConnection`](crate::shared::SharedConnection): one connection
//!   that many tasks use at once, requests pipelined.
//! - [`KvClient`]: bound to a home node (as Jepsen binds each client to a
//!   node), it follows definite not-leader redirects to the leader for writes
//!   and linearizable reads, and serves local reads from its home node.
//!
//! Errors keep their certainty. A request that timed out or whose connection
//! broke after it was sent comes back **indefinite**, and the client never
//! retries it on its own: it may have been applied, and a blind retry could
//! apply it twice. Only definite errors (not-leader, a refused connection)
//! are retried, because then nothing happened.

use crate::wire::{Op, OpResult, Request, Response};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use synod_core::frame::{encode_frame, FrameDecoder};
use synod_core::{codec, AdminRequest, ClientError, NodeId, NodeStatus, ReadConsistency};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Every node's client address.
    pub nodes: BTreeMap<NodeId, SocketAddr>,
    /// How long one request may take before it is reported indefinite.
    pub timeout: Duration,
    /// How long connecting may take (a refused or slow connect is definite).
    pub connect_timeout: Duration,
    /// How many not-leader redirects to follow for one request.
    pub max_redirects: usize,
    /// Largest response frame accepted.
    pub max_frame_bytes: usize,
}

impl ClientConfig {
    /// Defaults: 1 s timeout, 3 redirects.
    pub fn new(nodes: BTreeMap<NodeId, SocketAddr>) -> Self {
        Self {
            nodes,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_millis(500),
            max_redirects: 3,
            max_frame_bytes: synod_core::frame::DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

/// Opens a TCP connection to a node's client port. Failure is definite:
/// nothing was sent.
pub(crate) async fn dial(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ClientError> {
    let unavailable = |reason: String| ClientError::Unavailable { reason };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| unavailable(format!("connect to {addr} timed out")))?
        .map_err(|e| unavailable(format!("connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// One connection to one node.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    decoder: FrameDecoder,
    next_id: u64,
    max_frame_bytes: usize,
    /// Socket read buffer, on the heap and reused: a buffer inside the
    /// `call` future would be zeroed and moved with it on every request.
    read_buf: Vec<u8>,
}

impl Connection {
    /// Connects to `addr`. Failure here is definite: nothing was sent.
    pub async fn connect(
        addr: SocketAddr,
        timeout: Duration,
        max_frame_bytes: usize,
    ) -> Result<Self, ClientError> {
        let stream = dial(addr, timeout).await?;
        Ok(Self {
            stream,
            decoder: FrameDecoder::new(max_frame_bytes),
            next_id: 1,
            max_frame_bytes,
            read_buf: vec![0; 16 << 10],
        })
    }

    /// Sends one request and waits for its response. After an indefinite
    /// error the connection must be dropped.
    pub async fn call(
        &mut self,
        op: Op,
        consistency: ReadConsistency,
        timeout: Duration,
    ) -> Result<OpResult, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let payload = codec::encode(&Request {
            id,
            op,
            consistency,
        })
        .map_err(|e| ClientError::Malformed {
            reason: e.to_string(),
        })?;
        let frame =
            encode_frame(&payload, self.max_frame_bytes).map_err(|e| ClientError::Malformed {
                reason: e.to_string(),
            })?;
        match tokio::time::timeout(timeout, self.round_trip(id, &frame)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout),
        }
    }

    async fn round_trip(&mut self, id: u64, frame: &[u8]) -> Result<OpResult, ClientError> {
        let lost = |reason: String| ClientError::ConnectionLost { reason };
        self.stream
            .write_all(frame)
            .await
            .map_err(|e| lost(format!("write: {e}")))?;
        loop {
            while let Some(bytes) = self
                .decoder
                .next_frame()
                .map_err(|e| lost(format!("bad response: {e}")))?
            {
                let resp: Response =
                    codec::decode(&bytes).map_err(|e| lost(format!("bad response: {e}")))?;
                if resp.id == id {
                    return resp.result;
                }
            }
            let n = self
                .stream
                .read(&mut self.read_buf)
                .await
                .map_err(|e| lost(format!("read: {e}")))?;
            if n == 0 {
                return Err(lost("closed by the node".into()));
            }
            self.decoder.push(&self.read_buf[..n]);
        }
    }
}

/// A client bound to a home node that follows the leader for writes.
#[derive(Debug)]
pub struct KvClient {
    config: ClientConfig,
    home: NodeId,
    leader: Option<NodeId>,
    conns: BTreeMap<NodeId, Connection>,
}

impl KvClient {
    /// A client whose local reads go to `home`.
    pub fn new(config: ClientConfig, home: NodeId) -> Self {
        Self {
            config,
            home,
            leader: None,
            conns: BTreeMap::new(),
        }
    }

    /// The home node.
    pub fn home(&self) -> NodeId {
        self.home
    }

    /// The node that served (or refused) the last request.
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader
    }

    async fn conn(&mut self, node: NodeId) -> Result<&mut Connection, ClientError> {
        if !self.conns.contains_key(&node) {
            let addr = *self
                .config
                .nodes
                .get(&node)
                .ok_or_else(|| ClientError::Unavailable {
                    reason: format!("no address for node {node}"),
                })?;
            let c = Connection::connect(
                addr,
                self.config.connect_timeout,
                self.config.max_frame_bytes,
            )
            .await?;
            self.conns.insert(node, c);
        }
        Ok(self.conns.get_mut(&node).expect("just inserted"))
    }

    /// Sends `op` to `node` only (no redirects).
    pub async fn call_node(
        &mut self,
        node: NodeId,
        op: Op,
        consistency: ReadConsistency,
    ) -> Result<OpResult, ClientError> {
        let timeout = self.config.timeout;
        let result = self.conn(node).await?.call(op, consistency, timeout).await;
        if matches!(&result, Err(e) if !e.is_definite()) {
            // The stream may still carry the late answer: start afresh.
            self.conns.remove(&node);
        }
        result
    }

    /// Sends `op` where it belongs: local reads and status to the home node,
    /// everything else to the leader, following definite redirects.
    pub async fn call(
        &mut self,
        op: Op,
        consistency: ReadConsistency,
    ) -> Result<OpResult, ClientError> {
        let local =
            matches!(op, Op::Status) || (op.is_read() && consistency == ReadConsistency::Local);
        if local {
            return self.call_node(self.home, op, consistency).await;
        }
        let mut target = self.leader.unwrap_or(self.home);
        let mut last = None;
        for _ in 0..=self.config.max_redirects {
            match self.call_node(target, op.clone(), consistency).await {
                Err(ClientError::NotLeader { leader }) => {
                    last = Some(ClientError::NotLeader { leader });
                    match leader {
                        Some(l) if l != target && self.config.nodes.contains_key(&l) => {
                            self.leader = Some(l);
                            target = l;
                        }
                        _ => {
                            self.leader = None;
                            break;
                        }
                    }
                }
                Err(e @ ClientError::Unavailable { .. }) if self.leader == Some(target) => {
                    // The believed leader is unreachable: forget it, go home next time.
                    self.leader = None;
                    return Err(e);
                }
                other => {
                    if other.is_ok() {
                        self.leader = Some(target);
                    }
                    return other;
                }
            }
        }
        Err(last.unwrap_or(ClientError::NotLeader { leader: None }))
    }

    /// Reads `key`.
    pub async fn read(
        &mut self,
        key: &str,
        consistency: ReadConsistency,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        match self.call(Op::Read { key: key.into() }, consistency).await? {
            OpResult::Value(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// Writes `key`.
    pub async fn write(&mut self, key: &str, value: Vec<u8>) -> Result<(), ClientError> {
        self.done(Op::Write {
            key: key.into(),
            value,
        })
        .await
    }

    /// Compare-and-set: definite [`ClientError::CasMismatch`] if `key` does
    /// not hold `from`.
    pub async fn cas(
        &mut self,
        key: &str,
        from: Option<Vec<u8>>,
        to: Vec<u8>,
    ) -> Result<(), ClientError> {
        self.done(Op::Cas {
            key: key.into(),
            from,
            to,
        })
        .await
    }

    /// Deletes `key`: definite [`ClientError::NotFound`] if absent.
    pub async fn delete(&mut self, key: &str) -> Result<(), ClientError> {
        self.done(Op::Delete { key: key.into() }).await
    }

    /// Adds `element` to `set`.
    pub async fn add(&mut self, set: &str, element: Vec<u8>) -> Result<(), ClientError> {
        self.done(Op::Add {
            set: set.into(),
            element,
        })
        .await
    }

    /// Reads `set`.
    pub async fn read_set(
        &mut self,
        set: &str,
        consistency: ReadConsistency,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        match self
            .call(Op::ReadSet { set: set.into() }, consistency)
            .await?
        {
            OpResult::Set(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// The status of `node`.
    pub async fn status(&mut self, node: NodeId) -> Result<NodeStatus, ClientError> {
        match self
            .call_node(node, Op::Status, ReadConsistency::Local)
            .await?
        {
            OpResult::Status(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    /// Asks the leader for a membership or leadership change.
    pub async fn admin(&mut self, request: AdminRequest) -> Result<(), ClientError> {
        self.done(Op::Admin(request)).await
    }

    async fn done(&mut self, op: Op) -> Result<(), ClientError> {
        match self.call(op, ReadConsistency::Linearizable).await? {
            OpResult::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

pub(crate) fn unexpected(r: OpResult) -> ClientError {
    // The node answered, but not with what this op produces: treat the
    // outcome as unknown rather than guess.
    ClientError::ConnectionLost {
        reason: format!("unexpected response {r:?}"),
    }
}
