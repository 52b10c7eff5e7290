//! Real node processes, each behind a fault proxy on every incoming link.
//!
//! [`Cluster::start`] gives every node its own data directory, peer and
//! client ports and log file, starts a [`FaultProxy`] for every directed link
//! (node *i* is told that peer *j* lives at the proxy for *i → j*; a
//! benchmark may ask for direct links instead, see
//! [`ClusterSpec::link_proxies`]), spawns
//! the `synod-node` processes and waits until each answers `status`. Faults
//! on processes are real signals: SIGKILL (then a restart on the same data
//! directory), SIGSTOP and SIGCONT. Every child is killed when the cluster is
//! dropped, on success, error or panic alike.

use crate::proxy::{FaultProxy, Link, LinkFaults};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use synod_core::{NodeId, NodeStatus, ReadConsistency};
use synod_kv::{Connection, Op, OpResult};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Why the cluster could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// An OS-level failure, with context.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A node did not come up; its log tail is attached.
    #[error("node {id} did not start within {waited:?}; last lines of {log}:\n{tail}")]
    NodeDidNotStart {
        /// The node.
        id: NodeId,
        /// How long we waited.
        waited: Duration,
        /// Its log file.
        log: String,
        /// The end of its log.
        tail: String,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The `synod-node` binary.
    pub node_binary: PathBuf,
    /// `--protocol` for every node.
    pub protocol: String,
    /// How many nodes (ids 1..=n).
    pub nodes: usize,
    /// Directory for data dirs and logs.
    pub dir: PathBuf,
    /// Seed for the proxies' random choices and the nodes' `--seed`.
    pub seed: u64,
    /// Extra flags passed to every node.
    pub extra_args: Vec<String>,
    /// How long to wait for a node to answer `status`.
    pub start_timeout: Duration,
    /// Route every peer link through a [`FaultProxy`] (what network faults
    /// need). Without them nodes dial each other directly, as a deployment
    /// would, and link faults are not available: what a benchmark wants,
    /// since a proxy adds a process hop to every message.
    pub link_proxies: bool,
}

/// One node process and its addresses.
#[derive(Debug)]
pub struct NodeProc {
    /// The node.
    pub id: NodeId,
    /// Its real peer port.
    pub peer_addr: SocketAddr,
    /// Its client port.
    pub client_addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its log file (stdout and stderr).
    pub log_path: PathBuf,
    /// The running process, if any.
    child: Option<Child>,
    /// Whether it is stopped with SIGSTOP.
    pub paused: bool,
    /// How many times it was started.
    pub starts: u32,
}

/// A running cluster of node processes and link proxies.
pub struct Cluster {
    spec: ClusterSpec,
    nodes: BTreeMap<NodeId, NodeProc>,
    proxies: BTreeMap<(NodeId, NodeId), FaultProxy>,
}

/// A free loopback port for a node to bind later.
///
/// The port is probed (bound and released) *below* the kernel's ephemeral
/// range: a port from that range (what `bind(0)` returns) may be handed to
/// any outgoing connection's local end before the node gets to bind it,
/// which made a node fail to start with "address in use". Ports below the
/// range are only ever taken by an explicit bind. Successive calls walk the
/// range from a start that differs per process, so neither the nodes of
/// one cluster nor two test processes pick the same one.
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOWEST: u32 = 10_000;
    let first_ephemeral = ephemeral_port_start().unwrap_or(32_768);
    let span = first_ephemeral.saturating_sub(LOWEST);
    if span >= 1_000 {
        let start = std::process::id().wrapping_mul(7_919) % span;
        for _ in 0..span {
            let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
            let port = u16::try_from(LOWEST + offset).expect("below the ephemeral range");
            if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                return l.local_addr();
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The first port of the kernel's ephemeral range (Linux).
fn ephemeral_port_start() -> Option<u32> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

/// The last `n` lines of a file (for error reports).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Cluster {
    /// Starts every proxy and node and waits until all answer `status`.
    pub async fn start(spec: ClusterSpec) -> Result<Self, ClusterError> {
        std::fs::create_dir_all(&spec.dir)
            .map_err(io(format!("creating {}", spec.dir.display())))?;
        let ids: Vec<NodeId> = (1..=spec.nodes as u64).map(NodeId).collect();
        let mut nodes = BTreeMap::new();
        for &id in &ids {
            let peer_addr = free_loopback_addr().map_err(io("picking a port"))?;
            let client_addr = free_loopback_addr().map_err(io("picking a port"))?;
            nodes.insert(
                id,
                NodeProc {
                    id,
                    peer_addr,
                    client_addr,
                    data_dir: spec.dir.join(format!("n{id}")),
                    log_path: spec.dir.join(format!("n{id}.log")),
                    child: None,
                    paused: false,
                    starts: 0,
                },
            );
        }
        let mut proxies = BTreeMap::new();
        for &from in ids.iter().filter(|_| spec.link_proxies) {
            for &to in &ids {
                if from != to {
                    let seed = spec.seed ^ (from.0 << 32 | to.0);
                    let p = FaultProxy::start(
                        "127.0.0.1:0".parse().expect("addr"),
                        nodes[&to].peer_addr,
                        seed,
                    )
                    .await
                    .map_err(io("starting a link proxy"))?;
                    proxies.insert((from, to), p);
                }
            }
        }
        let mut cluster = Self {
            spec,
            nodes,
            proxies,
        };
        for &id in &ids {
            cluster.spawn(id)?;
        }
        for &id in &ids {
            cluster.wait_serving(id).await?;
        }
        Ok(cluster)
    }

    fn spawn(&mut self, id: NodeId) -> Result<(), ClusterError> {
        let spec = &self.spec;
        let node = &self.nodes[&id];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .map_err(io(format!("opening {}", node.log_path.display())))?;
        let log2 = log.try_clone().map_err(io("cloning a log handle"))?;
        let mut cmd = Command::new(&spec.node_binary);
        cmd.arg("--protocol")
            .arg(&spec.protocol)
            .arg("--id")
            .arg(id.0.to_string())
            .arg("--listen")
            .arg(node.peer_addr.to_string())
            .arg("--client")
            .arg(node.client_addr.to_string())
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--seed")
            .arg((spec.seed.wrapping_add(id.0 * 7919 + u64::from(node.starts))).to_string());
        for (&to, peer) in self.nodes.iter().filter(|(&to, _)| to != id) {
            let addr = match self.proxies.get(&(id, to)) {
                Some(p) => p.addr(),
                None => peer.peer_addr,
            };
            cmd.arg("--peer").arg(format!("{to}={addr}"));
        }
        cmd.args(&spec.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("SYNOD_NODE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(io(format!("spawning {}", spec.node_binary.display())))?;
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.child = Some(child);
        node.paused = false;
        node.starts += 1;
        Ok(())
    }

    /// Waits until `id` answers `status`, or fails with its log tail.
    pub async fn wait_serving(&mut self, id: NodeId) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.spec.start_timeout;
        loop {
            if self.status(id).await.is_some() {
                return Ok(());
            }
            let exited = self
                .nodes
                .get_mut(&id)
                .and_then(|n| n.child.as_mut())
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() >= deadline {
                let node = &self.nodes[&id];
                return Err(ClusterError::NodeDidNotStart {
                    id,
                    waited: self.spec.start_timeout,
                    log: node.log_path.display().to_string(),
                    tail: log_tail(&node.log_path, 20),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Node ids in order.
    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// A node's process record.
    pub fn node(&self, id: NodeId) -> &NodeProc {
        &self.nodes[&id]
    }

    /// Every node's client address.
    pub fn client_addrs(&self) -> BTreeMap<NodeId, SocketAddr> {
        self.nodes
            .iter()
            .map(|(id, n)| (*id, n.client_addr))
            .collect()
    }

    /// Whether `id`'s process is running (not killed; possibly paused).
    pub fn is_running(&self, id: NodeId) -> bool {
        self.nodes[&id].child.is_some()
    }

    /// `id`'s status, or `None` if it does not answer within 500 ms.
    pub async fn status(&self, id: NodeId) -> Option<NodeStatus> {
        let addr = self.nodes[&id].client_addr;
        let t = Duration::from_millis(500);
        let mut c = Connection::connect(addr, t, 1 << 20).await.ok()?;
        match c.call(Op::Status, ReadConsistency::Local, t).await {
            Ok(OpResult::Status(s)) => Some(s),
            _ => None,
        }
    }

    /// The leader most nodes agree on in the highest term reported, if any.
    pub async fn leader(&self) -> Option<NodeId> {
        let mut best: Option<(u64, NodeId)> = None;
        for id in self.ids() {
            if self.nodes[&id].paused || !self.is_running(id) {
                continue;
            }
            if let Some(s) = self.status(id).await {
                if let Some(l) = s.protocol.leader {
                    if best.is_none_or(|(t, _)| s.protocol.term > t) {
                        best = Some((s.protocol.term, l));
                    }
                }
            }
        }
        best.map(|(_, l)| l)
    }

    /// SIGKILL: the process dies at once, losing unsynced writes.
    pub async fn kill(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if let Some(mut child) = node.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        node.paused = false;
    }

    /// Starts a killed node again on its data directory.
    pub async fn restart(&mut self, id: NodeId) -> Result<(), ClusterError> {
        if self.is_running(id) {
            return Ok(());
        }
        self.spawn(id)?;
        self.wait_serving(id).await
    }

    /// Sends a signal to a running node.
    fn signal(&mut self, id: NodeId, sig: rustix::process::Signal) -> bool {
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(pid) = node.child.as_ref().and_then(|c| c.id()) else {
            return false;
        };
        let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
            return false;
        };
        rustix::process::kill_process(pid, sig).is_ok()
    }

    /// SIGSTOP: the process freezes, sockets and all.
    pub fn pause(&mut self, id: NodeId) {
        if self.signal(id, rustix::process::Signal::STOP) {
            self.nodes.get_mut(&id).expect("node").paused = true;
        }
    }

    /// SIGCONT: a paused process goes on.
    pub fn resume(&mut self, id: NodeId) {
        if self.signal(id, rustix::process::Signal::CONT) {
            self.nodes.get_mut(&id).expect("node").paused = false;
        }
    }

    /// The control of link `from → to` (`None` without link proxies).
    pub fn link(&self, from: NodeId, to: NodeId) -> Option<&Arc<Link>> {
        self.proxies.get(&(from, to)).map(|p| p.link())
    }

    /// Sets the faults of one directed link; `false` if the cluster has no
    /// proxy on it (started without [`ClusterSpec::link_proxies`]).
    pub fn set_link(&self, from: NodeId, to: NodeId, faults: LinkFaults) -> bool {
        self.link(from, to).map(|l| l.set(faults)).is_some()
    }

    /// Every link clean again.
    pub fn heal_network(&self) {
        for p in self.proxies.values() {
            p.link().set(LinkFaults::default());
        }
    }

    /// Ends every fault: links healed, paused nodes resumed, killed nodes
    /// restarted. Returns the nodes that would not restart.
    pub async fn heal_all(&mut self) -> Vec<(NodeId, ClusterError)> {
        self.heal_network();
        let mut failed = Vec::new();
        for id in self.ids() {
            if self.nodes[&id].paused {
                self.resume(id);
            }
            if !self.is_running(id) {
                if let Err(e) = self.restart(id).await {
                    failed.push((id, e));
                }
            }
        }
        failed
    }

    /// Stops every node (SIGCONT first, then SIGTERM, then SIGKILL after
    /// `grace`).
    pub async fn shutdown(&mut self, grace: Duration) {
        for id in self.ids() {
            self.resume(id);
            self.signal(id, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + grace;
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                let left = deadline.saturating_duration_since(Instant::now());
                if tokio::time::timeout(left, child.wait()).await.is_err() {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // kill_on_drop sends SIGKILL to every child still held; resume first
        // is unnecessary, as SIGKILL ends stopped processes too.
        for node in self.nodes.values_mut() {
            if let Some(child) = node.child.as_mut() {
                let _ = child.start_kill();
            }
        }
    }
}
