//! The TCP transport between replicas.
//!
//! Each node listens on one address and dials one connection to every peer.
//! Connections are one-way (the dialler only sends), which keeps the rules
//! simple and lets a fault proxy sit on each directed link:
//!
//! ```text
//!   node 1 ──dial──▶ 2's listen address      (1's messages to 2)
//!   node 2 ──dial──▶ 1's listen address      (2's messages to 1)
//! ```
//!
//! - Every frame is a `u32` big-endian length and a payload; a header over
//!   `max_frame_bytes` closes the connection before anything is allocated.
//! - A connection opens with a [`Hello`] (cluster id, sender, receiver);
//!   wrong clusters, unknown senders and garbage are refused with a logged
//!   reason, never a panic.
//! - A dialler that loses its connection reconnects with capped exponential
//!   backoff. Messages queue per peer up to `peer_queue_len`; beyond that
//!   they are dropped (and counted), as the protocols tolerate loss and a
//!   blocked send must never stall a consensus core.

mod handshake;
mod io;

pub use handshake::{Hello, MAGIC, VERSION};
pub use io::{read_frame, write_frame, ReadFrameError};

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use synod_core::{ClusterId, NodeId, Transport};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};

/// How a node reaches its peers.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// This node.
    pub id: NodeId,
    /// The cluster every peer must belong to.
    pub cluster: ClusterId,
    /// The address to listen on for peers' connections.
    pub listen: SocketAddr,
    /// Every peer and the address to dial for it (never this node).
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Largest frame accepted or sent.
    pub max_frame_bytes: usize,
    /// Messages queued per peer before new ones are dropped.
    pub peer_queue_len: usize,
    /// Messages received but not yet taken by the node loop before readers
    /// wait (backpressure on the sockets).
    pub inbound_queue_len: usize,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// How long a new connection may take to send its hello.
    pub handshake_timeout: Duration,
}

impl TransportConfig {
    /// Defaults for everything but the addresses.
    pub fn new(
        id: NodeId,
        cluster: ClusterId,
        listen: SocketAddr,
        peers: BTreeMap<NodeId, SocketAddr>,
    ) -> Self {
        Self {
            id,
            cluster,
            listen,
            peers,
            max_frame_bytes: synod_core::frame::DEFAULT_MAX_FRAME_BYTES,
            peer_queue_len: 4096,
            inbound_queue_len: 8192,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(2),
        }
    }
}

/// Counters for what the transport refused or dropped.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Messages dropped because a peer's queue was full or unknown.
    pub dropped: AtomicU64,
    /// Inbound connections closed for a bad hello, oversized frame or garbage.
    pub refused: AtomicU64,
    /// Outbound connections established (first connects and reconnects).
    pub connects: AtomicU64,
    /// Frames received from accepted peers.
    pub received: AtomicU64,
}

/// A running TCP transport. Dropping it stops every task it started.
pub struct TcpTransport {
    outbound: BTreeMap<NodeId, mpsc::Sender<Vec<u8>>>,
    inbound: mpsc::Receiver<(NodeId, Vec<u8>)>,
    local_addr: SocketAddr,
    stats: Arc<TransportStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl TcpTransport {
    /// Binds the listen address and starts a dialler per peer.
    pub async fn start(config: TransportConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let stats = Arc::new(TransportStats::default());
        let (in_tx, in_rx) = mpsc::channel(config.inbound_queue_len.max(1));
        let config = Arc::new(config);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(
            accept_loop(listener, config.clone(), in_tx, stats.clone()).in_current_span(),
        ));
        let mut outbound = BTreeMap::new();
        for (&peer, &addr) in &config.peers {
            let (tx, rx) = mpsc::channel(config.peer_queue_len.max(1));
            outbound.insert(peer, tx);
            tasks.push(tokio::spawn(
                dial_loop(peer, addr, config.clone(), rx, stats.clone()).in_current_span(),
            ));
        }
        info!(%local_addr, peers = config.peers.len(), "transport listening");
        Ok(Self {
            outbound,
            inbound: in_rx,
            local_addr,
            stats,
            tasks,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The transport's counters.
    pub fn stats(&self) -> Arc<TransportStats> {
        self.stats.clone()
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[async_trait]
impl Transport for TcpTransport {
    fn send(&self, to: NodeId, payload: Vec<u8>) {
        let queued = self
            .outbound
            .get(&to)
            .is_some_and(|tx| tx.try_send(payload).is_ok());
        if !queued {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn recv(&mut self) -> Option<(NodeId, Vec<u8>)> {
        self.inbound.recv().await
    }
}

async fn dial_loop(
    peer: NodeId,
    addr: SocketAddr,
    config: Arc<TransportConfig>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    stats: Arc<TransportStats>,
) {
    let hello = synod_core::codec::encode(&Hello::new(config.cluster, config.id, peer))
        .expect("hello encodes");
    let mut backoff = config.backoff_min;
    // A message taken off the queue but not yet written survives a reconnect.
    let mut carry: Option<Vec<u8>> = None;
    loop {
        let stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => {
                debug!(%peer, %addr, error = %e, "connect failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.backoff_max);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        stats.connects.fetch_add(1, Ordering::Relaxed);
        let mut w = BufWriter::with_capacity(64 << 10, stream);
        match send_until_error(&mut w, &hello, &mut rx, &mut carry, config.max_frame_bytes).await {
            Ok(()) => return, // the transport was dropped
            Err(e) => {
                debug!(%peer, %addr, error = %e, "connection lost; reconnecting");
                backoff = config.backoff_min;
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

async fn send_until_error(
    w: &mut BufWriter<TcpStream>,
    hello: &[u8],
    rx: &mut mpsc::Receiver<Vec<u8>>,
    carry: &mut Option<Vec<u8>>,
    max: usize,
) -> std::io::Result<()> {
    write_frame(w, hello).await?;
    w.flush().await?;
    loop {
        let first = match carry.take() {
            Some(m) => m,
            None => match rx.recv().await {
                Some(m) => m,
                None => return Ok(()),
            },
        };
        let mut next = Some(first);
        // Write everything already queued, then flush once.
        while let Some(msg) = next {
            if msg.len() > max {
                warn!(
                    bytes = msg.len(),
                    max, "refusing to send an oversized frame"
                );
            } else {
                *carry = Some(msg);
                write_frame(w, carry.as_deref().expect("just set")).await?;
                *carry = None;
            }
            next = rx.try_recv().ok();
        }
        w.flush().await?;
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<TransportConfig>,
    in_tx: mpsc::Sender<(NodeId, Vec<u8>)>,
    stats: Arc<TransportStats>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(
                    serve_peer(stream, remote, config.clone(), in_tx.clone(), stats.clone())
                        .in_current_span(),
                );
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_peer(
    mut stream: TcpStream,
    remote: SocketAddr,
    config: Arc<TransportConfig>,
    in_tx: mpsc::Sender<(NodeId, Vec<u8>)>,
    stats: Arc<TransportStats>,
) {
    let refuse = |reason: String| {
        stats.refused.fetch_add(1, Ordering::Relaxed);
        warn!(%remote, %reason, "refusing peer connection");
    };
    let hello = tokio::time::timeout(
        config.handshake_timeout,
        read_frame(&mut stream, config.max_frame_bytes.min(1024)),
    )
    .await;
    let from = match hello {
        Err(_) => return refuse("no hello in time".into()),
        Ok(Err(e)) => return refuse(format!("bad hello frame: {e}")),
        Ok(Ok(None)) => return,
        Ok(Ok(Some(bytes))) => match synod_core::codec::decode::<Hello>(&bytes) {
            Err(e) => return refuse(format!("garbage hello: {e}")),
            Ok(h) => {
                if let Err(reason) =
                    h.validate(config.cluster, config.id, |n| config.peers.contains_key(&n))
                {
                    return refuse(reason);
                }
                h.from
            }
        },
    };
    debug!(%remote, %from, "peer connected");
    let mut r = tokio::io::BufReader::with_capacity(64 << 10, stream);
    loop {
        match read_frame(&mut r, config.max_frame_bytes).await {
            Ok(Some(payload)) => {
                stats.received.fetch_add(1, Ordering::Relaxed);
                if in_tx.send((from, payload)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return debug!(%from, "peer closed its connection"),
            Err(ReadFrameError::Frame(e)) => return refuse(format!("from node {from}: {e}")),
            Err(ReadFrameError::Io(e)) => return debug!(%from, error = %e, "peer connection lost"),
        }
    }
}
