//! The fault proxy: one per directed link between nodes, no root needed.
//!
//! Node *i*'s peer address for *j* points at the proxy for *i → j*, which
//! forwards to *j*'s real peer port. Because connections are one-way and
//! framed (`u32` big-endian length + payload), the proxy acts on **whole
//! messages**: it can cut the link, lose, delay (with jitter), duplicate and
//! reorder messages, without ever corrupting one. The first frame of each
//! connection (the handshake) always passes, so a cut link looks like a
//! network that silently drops packets, as in Jepsen's iptables partitions,
//! and healing it needs no reconnect.
//!
//! ```text
//!   node i ──▶ proxy(i→j) ──[cut? loss? delay? dup? reorder?]──▶ node j
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synod_core::frame::{FrameDecoder, HEADER_BYTES};
use synod_core::SeededRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Largest frame the proxy forwards (the nodes' own limit is lower).
const MAX_PROXY_FRAME: usize = 64 << 20;

/// What a link currently does to messages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkFaults {
    /// Deliver nothing.
    pub cut: bool,
    /// Probability of losing each message.
    pub loss: f64,
    /// Fixed delay added to every message.
    pub delay: Duration,
    /// Uniform random extra delay in `[0, jitter)`.
    pub jitter: Duration,
    /// Probability of delivering a message twice.
    pub duplicate: f64,
    /// Probability of holding a message back (up to 4 × `jitter` + 20 ms)
    /// so that later ones overtake it.
    pub reorder: f64,
}

impl LinkFaults {
    /// Whether the link is clean.
    pub fn is_clean(&self) -> bool {
        *self == LinkFaults::default()
    }
}

/// Counters of one link.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Messages forwarded (duplicates count twice).
    pub forwarded: AtomicU64,
    /// Messages dropped by a cut or loss.
    pub dropped: AtomicU64,
}

/// Shared control of one link.
#[derive(Debug)]
pub struct Link {
    faults: Mutex<LinkFaults>,
    rng: Mutex<SeededRng>,
    /// The link's counters.
    pub stats: LinkStats,
}

impl Link {
    /// Replaces the link's faults.
    pub fn set(&self, faults: LinkFaults) {
        *self.faults.lock().expect("link lock") = faults;
    }

    /// The link's current faults.
    pub fn faults(&self) -> LinkFaults {
        self.faults.lock().expect("link lock").clone()
    }

    /// Decides what happens to one message: the delays after which a copy is
    /// delivered (empty: lost).
    fn plan(&self) -> Vec<Duration> {
        let f = self.faults();
        if f.is_clean() {
            return vec![Duration::ZERO];
        }
        let mut rng = self.rng.lock().expect("rng lock");
        if f.cut || (f.loss > 0.0 && rng.chance(f.loss)) {
            return Vec::new();
        }
        let one = |rng: &mut SeededRng| {
            let jitter = if f.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(rng.range(0, f.jitter.as_micros() as u64))
            };
            let mut d = f.delay + jitter;
            if f.reorder > 0.0 && rng.chance(f.reorder) {
                let hold = (f.jitter * 4 + Duration::from_millis(20)).as_micros() as u64;
                d += Duration::from_micros(rng.range(1, hold.max(2)));
            }
            d
        };
        let mut copies = vec![one(&mut rng)];
        if f.duplicate > 0.0 && rng.chance(f.duplicate) {
            copies.push(one(&mut rng));
        }
        copies
    }
}

/// A running proxy for one directed link. Dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    link: Arc<Link>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on `listen` (port 0 picks one) and forwards to `target`.
    pub async fn start(listen: SocketAddr, target: SocketAddr, seed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let link = Arc::new(Link {
            faults: Mutex::new(LinkFaults::default()),
            rng: Mutex::new(SeededRng::new(seed)),
            stats: LinkStats::default(),
        });
        let task = tokio::spawn(accept_loop(listener, target, link.clone()));
        Ok(Self { addr, link, task })
    }

    /// The address nodes dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The link's control.
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, link: Arc<Link>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        conns.retain(|c| !c.is_finished());
        conns.push(tokio::spawn(forward(inbound, target, link.clone())));
    }
}

struct Due {
    at: Instant,
    seq: u64,
    frame: Arc<Vec<u8>>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Forwards one connection frame by frame until either side closes.
async fn forward(mut inbound: TcpStream, target: SocketAddr, link: Arc<Link>) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = outbound.set_nodelay(true);
    let _ = inbound.set_nodelay(true);
    let (tx, rx) = mpsc::unbounded_channel::<Due>();
    let writer = tokio::spawn(write_due(outbound, rx, link.clone()));
    let mut decoder = FrameDecoder::new(MAX_PROXY_FRAME);
    let mut buf = vec![0u8; 64 << 10];
    let mut seq = 0u64;
    let mut handshake_done = false;
    'read: loop {
        let n = match inbound.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            let payload = match decoder.next_frame() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(_) => break 'read,
            };
            let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len());
            frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            frame.extend_from_slice(&payload);
            let frame = Arc::new(frame);
            let delays = if handshake_done {
                link.plan()
            } else {
                vec![Duration::ZERO]
            };
            handshake_done = true;
            if delays.is_empty() {
                link.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            let now = Instant::now();
            for d in delays {
                seq += 1;
                if tx
                    .send(Due {
                        at: now + d,
                        seq,
                        frame: frame.clone(),
                    })
                    .is_err()
                {
                    break 'read;
                }
            }
        }
        if writer.is_finished() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

async fn write_due(mut out: TcpStream, mut rx: mpsc::UnboundedReceiver<Due>, link: Arc<Link>) {
    let mut heap: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
    let mut open = true;
    while open || !heap.is_empty() {
        // Take everything that has arrived, then write what is due.
        let next_at = heap.peek().map(|Reverse(d)| d.at);
        tokio::select! {
            msg = rx.recv(), if open => match msg {
                Some(d) => heap.push(Reverse(d)),
                None => open = false,
            },
            _ = async {
                match next_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
            let Reverse(d) = heap.pop().expect("peeked");
            if out.write_all(&d.frame).await.is_err() {
                return;
            }
            link.stats.forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }
}
