//! The cluster benchmark: real `synod-node` processes on loopback, fsync on,
//! writes from 1 client and from many, throughput and latency percentiles.
//!
//! Speed targets live here and in `cargo xtask bench`, never in tests: this
//! machine is shared and noisy, so a timed unit test would fail for reasons
//! that have nothing to do with the code.

use crate::cluster::{Cluster, ClusterSpec};
use crate::results::Quantiles;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use synod_core::NodeId;
use synod_core::{ClientError, ReadConsistency};
use synod_kv::{ClientConfig, KvClient, Op, SharedConnection};
use tokio::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The `synod-node` binary (build it with `--release`).
    pub node_binary: PathBuf,
    /// Protocol to run.
    pub protocol: String,
    /// Cluster size.
    pub nodes: usize,
    /// Seconds per phase.
    pub seconds: f64,
    /// The client counts to measure, one phase each.
    pub clients: Vec<usize>,
    /// `None`: every client has its own connection (and follows redirects).
    /// `Some(n)`: the clients of a phase share `n` pipelined connections to
    /// the leader, as etcd's benchmark shares `--conns` among `--clients`.
    pub conns: Option<usize>,
    /// Where data dirs and logs go.
    pub dir: PathBuf,
}

/// The figures of one phase.
#[derive(Clone, Debug, Serialize)]
pub struct BenchPhase {
    /// Concurrent clients.
    pub clients: usize,
    /// Connections they used.
    pub conns: usize,
    /// Writes acknowledged.
    pub writes: u64,
    /// Writes that failed (any error).
    pub errors: u64,
    /// The first error seen, to tell a leader change from a timeout.
    pub first_error: Option<String>,
    /// Acknowledged writes per second.
    pub writes_per_sec: f64,
    /// Latency of acknowledged writes.
    pub latency_ms: Quantiles,
}

/// How one bench client sends its writes.
enum Writer {
    Own(KvClient),
    Shared(SharedConnection),
}

impl Writer {
    async fn write(&mut self, key: &str, value: Vec<u8>) -> Result<(), ClientError> {
        match self {
            Writer::Own(c) => c.write(key, value).await,
            Writer::Shared(c) => c.write(key, value).await,
        }
    }
}

async fn leader(cluster: &Cluster) -> Option<NodeId> {
    for _ in 0..200 {
        if let Some(l) = cluster.leader().await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Writes at `home` until a write succeeds, so that measuring starts with a
/// leader that takes writes (a ZAB leader reports itself before a quorum
/// has synchronised with it).
async fn warm_up(config: ClientConfig, home: NodeId) -> Result<(), String> {
    let mut client = KvClient::new(config, home);
    let mut last = None;
    for _ in 0..100 {
        match client
            .call_node(
                home,
                Op::Write {
                    key: "warm-up".into(),
                    value: Vec::new(),
                },
                ReadConsistency::Linearizable,
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "node {home} took no write before measuring: {last:?}"
    ))
}

/// Starts a cluster and measures each phase in turn.
pub async fn bench_cluster(config: &BenchConfig) -> Result<Vec<BenchPhase>, String> {
    let mut cluster = Cluster::start(ClusterSpec {
        node_binary: config.node_binary.clone(),
        protocol: config.protocol.clone(),
        nodes: config.nodes,
        dir: config.dir.clone(),
        seed: 1,
        extra_args: vec![],
        start_timeout: Duration::from_secs(20),
        link_proxies: false,
    })
    .await
    .map_err(|e| e.to_string())?;
    let home = leader(&cluster).await.ok_or("no leader elected")?;
    let addrs = cluster.client_addrs();
    let mut client_config = ClientConfig::new(addrs.clone());
    client_config.timeout = Duration::from_secs(5);
    warm_up(client_config.clone(), home).await?;
    let mut phases = Vec::new();
    for &n in &config.clients {
        let deadline = Instant::now() + Duration::from_secs_f64(config.seconds);
        let start = Instant::now();
        let mut shared = Vec::new();
        for _ in 0..config.conns.map_or(0, |k| k.clamp(1, n.max(1))) {
            let conn = SharedConnection::connect(addrs[&home], &client_config)
                .await
                .map_err(|e| e.to_string())?;
            shared.push(conn);
        }
        let tasks: Vec<_> = (0..n)
            .map(|c| {
                let mut writer = if shared.is_empty() {
                    Writer::Own(KvClient::new(client_config.clone(), home))
                } else {
                    Writer::Shared(shared[c % shared.len()].clone())
                };
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut errors = 0u64;
                    let mut first_error = None;
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let key = format!("c{c}-{}", i % 64);
                        match writer.write(&key, i.to_string().into_bytes()).await {
                            Ok(()) => lat.push(t.elapsed().as_secs_f64() * 1e3),
                            Err(e) => {
                                errors += 1;
                                first_error.get_or_insert_with(|| e.to_string());
                            }
                        }
                        i += 1;
                    }
                    (lat, errors, first_error)
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        for t in tasks {
            let (l, e, first) = t.await.map_err(|e| e.to_string())?;
            all.extend(l);
            errors += e;
            first_error = first_error.or(first);
        }
        let secs = start.elapsed().as_secs_f64();
        phases.push(BenchPhase {
            clients: n,
            conns: if shared.is_empty() { n } else { shared.len() },
            writes: all.len() as u64,
            errors,
            first_error,
            writes_per_sec: all.len() as f64 / secs,
            latency_ms: Quantiles::of(&mut all),
        });
    }
    cluster.shutdown(Duration::from_secs(3)).await;
    Ok(phases)
}
