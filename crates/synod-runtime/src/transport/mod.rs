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
//! - A send on an idle link writes straight into the socket from the
//!   caller's thread (the `link` module); only a backlog goes through the dialler's
//!   task.

mod handshake;
mod io;
mod link;

pub use handshake::{Hello, MAGIC, VERSION};
pub use io::{read_frame, write_frame, ReadFrameError};

use link::{Flushed, Link};

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use synod_core::frame::encode_frame;
use synod_core::{ClusterId, NodeId, PeerSender, Transport};
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
    outbound: Arc<Outbound>,
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
            let link = Arc::new(Link::new(config.peer_queue_len));
            outbound.insert(peer, link.clone());
            tasks.push(tokio::spawn(
                dial_loop(peer, addr, config.clone(), link, stats.clone()).in_current_span(),
            ));
        }
        info!(%local_addr, peers = config.peers.len(), "transport listening");
        Ok(Self {
            outbound: Arc::new(Outbound {
                links: outbound,
                max_frame_bytes: config.max_frame_bytes,
                stats: stats.clone(),
            }),
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

/// Every outgoing link, shared by the transport and its [`PeerSender`]s.
struct Outbound {
    links: BTreeMap<NodeId, Arc<Link>>,
    max_frame_bytes: usize,
    stats: Arc<TransportStats>,
}

impl PeerSender for Outbound {
    fn send(&self, to: NodeId, payload: Vec<u8>) {
        self.send_many(vec![(to, payload)]);
    }

    fn send_many(&self, messages: Vec<(NodeId, Vec<u8>)>) {
        let mut by_peer: BTreeMap<NodeId, Vec<Vec<u8>>> = BTreeMap::new();
        for (to, payload) in messages {
            match encode_frame(&payload, self.max_frame_bytes) {
                Ok(frame) => by_peer.entry(to).or_default().push(frame),
                Err(e) => {
                    warn!(%to, error = %e, "refusing to send an oversized frame");
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for (to, frames) in by_peer {
            let dropped = match self.links.get(&to) {
                Some(link) => link.send(frames),
                None => frames.len(),
            };
            self.stats
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl Transport for TcpTransport {
    fn send(&self, to: NodeId, payload: Vec<u8>) {
        self.outbound.send(to, payload);
    }

    fn sender(&self) -> Arc<dyn PeerSender> {
        self.outbound.clone()
    }

    async fn recv(&mut self) -> Option<(NodeId, Vec<u8>)> {
        self.inbound.recv().await
    }
}

async fn dial_loop(
    peer: NodeId,
    addr: SocketAddr,
    config: Arc<TransportConfig>,
    link: Arc<Link>,
    stats: Arc<TransportStats>,
) {
    let hello = synod_core::codec::encode(&Hello::new(config.cluster, config.id, peer))
        .expect("hello encodes");
    let mut backoff = config.backoff_min;
    loop {
        let mut stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => {
                debug!(%peer, %addr, error = %e, "connect failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.backoff_max);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Err(e) = write_frame(&mut stream, &hello).await {
            debug!(%peer, %addr, error = %e, "hello not sent; reconnecting");
            tokio::time::sleep(backoff).await;
            continue;
        }
        stats.connects.fetch_add(1, Ordering::Relaxed);
        backoff = config.backoff_min;
        let stream = Arc::new(stream);
        link.connect(stream.clone());
        let e = drain(&link, &stream).await;
        debug!(%peer, %addr, error = %e, "connection lost; reconnecting");
        tokio::time::sleep(backoff).await;
    }
}

/// Writes whatever direct sends left queued, until the connection fails.
async fn drain(link: &Link, stream: &TcpStream) -> std::io::Error {
    loop {
        match link.flush() {
            Ok(Flushed::Drained) => link.woken().await,
            Ok(Flushed::Blocked) => {
                if let Err(e) = stream.writable().await {
                    return e;
                }
            }
            Ok(Flushed::Disconnected) => {
                return std::io::Error::new(std::io::ErrorKind::BrokenPipe, "write failed")
            }
            Err(e) => return e,
        }
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
