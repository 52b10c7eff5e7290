//! Starting a node: open the WAL, recover, build the core, bind the ports,
//! run until SIGTERM or SIGINT.

use crate::cli::{NodeSpec, ProtocolName};
use crate::server::serve_clients;
use std::time::Duration;
use synod_core::NodeId;
use synod_core::{Protocol, Recovered, SeededRng};
use synod_gossip::{GossipConfig, GossipNode};
use synod_kv::{CrdtKv, KvMachine, KvStore};
use synod_paxos::{PaxosConfig, PaxosNode};
use synod_raft::{RaftConfig, RaftNode};
use synod_runtime::wal::{FileStorage, WalOptions};
use synod_runtime::{
    recover, run_node, NodeConfig, NodeError, NodeHandle, TcpTransport, TransportConfig,
};
use synod_zab::{ZabConfig, ZabNode};
use tokio::net::TcpListener;
use tracing::info;

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The configuration is valid but asks for something this build lacks.
    #[error("{0}")]
    Unsupported(String),
    /// Binding a port or creating the data directory failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Storage could not be opened.
    #[error("opening the write-ahead log: {0}")]
    Storage(#[from] synod_core::StorageError),
    /// The node loop failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl LaunchError {
    /// The process exit status: 2 for configuration problems, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            LaunchError::Unsupported(_) => 2,
            _ => 1,
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LaunchError {
    let context = context.into();
    move |source| LaunchError::Io { context, source }
}

/// Runs the node described by `spec` until a shutdown signal.
pub async fn run(spec: NodeSpec) -> Result<(), LaunchError> {
    match spec.args.protocol {
        ProtocolName::Raft => {
            let config = raft_config(&spec)?;
            serve(spec, KvStore::new(), move |_, recovered, rng| {
                RaftNode::new(config, recovered, rng)
            })
            .await
        }
        ProtocolName::Gossip => {
            let config = GossipConfig::new(spec.id, members(&spec));
            config.validate().map_err(|e| unsupported("gossip", e))?;
            serve(spec, CrdtKv::new(), move |_, recovered, rng| {
                GossipNode::new(config, recovered, rng)
            })
            .await
        }
        ProtocolName::Paxos => {
            let mut c = PaxosConfig::new(spec.id, members(&spec));
            c.election_ticks_min = spec.args.election_ticks_min;
            c.election_ticks_max = spec.args.election_ticks_max;
            c.heartbeat_ticks = spec.args.heartbeat_ticks;
            c.validate().map_err(|e| unsupported("paxos", e))?;
            serve(spec, KvStore::new(), move |_, recovered, rng| {
                PaxosNode::new(c, recovered, rng)
            })
            .await
        }
        ProtocolName::Zab => {
            let observers: Vec<NodeId> = spec.args.observers.iter().map(|o| NodeId(*o)).collect();
            let voters = members(&spec)
                .into_iter()
                .filter(|m| !observers.contains(m))
                .collect();
            let mut c = ZabConfig::new(spec.id, voters);
            c.observers = observers;
            c.election_ticks_min = spec.args.election_ticks_min;
            c.election_ticks_max = spec.args.election_ticks_max;
            c.heartbeat_ticks = spec.args.heartbeat_ticks;
            c.validate().map_err(|e| unsupported("zab", e))?;
            serve(spec, KvStore::new(), move |_, recovered, rng| {
                ZabNode::new(c, recovered, rng)
            })
            .await
        }
    }
}

/// Every member of the cluster, this node included, sorted.
fn members(spec: &NodeSpec) -> Vec<NodeId> {
    let mut all: Vec<_> = spec.peers.keys().copied().collect();
    all.push(spec.id);
    all.sort();
    all
}

fn unsupported(protocol: &str, e: impl std::fmt::Display) -> LaunchError {
    LaunchError::Unsupported(format!("{protocol} configuration: {e}"))
}

/// Raft's configuration from the command line: every node in the cluster
/// (this one and its peers) is a voter.
fn raft_config(spec: &NodeSpec) -> Result<RaftConfig, LaunchError> {
    let mut c = RaftConfig::new(spec.id, members(spec));
    c.election_ticks_min = spec.args.election_ticks_min;
    c.election_ticks_max = spec.args.election_ticks_max;
    c.heartbeat_ticks = spec.args.heartbeat_ticks;
    c.validate().map_err(|e| unsupported("raft", e))?;
    Ok(c)
}

/// Serves the key-value `machine` (empty, about to be recovered) with
/// protocol `P`, built by `build` from what the WAL recovered.
pub async fn serve<P: Protocol + 'static, M: KvMachine>(
    spec: NodeSpec,
    mut machine: M,
    build: impl FnOnce(&NodeSpec, Recovered<P>, SeededRng) -> P,
) -> Result<(), LaunchError> {
    let args = &spec.args;
    std::fs::create_dir_all(&args.data_dir)
        .map_err(io(format!("creating data dir {}", args.data_dir.display())))?;
    let mut storage = FileStorage::open(&args.data_dir, WalOptions::default())?;
    let recovered = recover::<P, _, _>(&mut storage, &mut machine)?;
    let seed = args.seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        nanos ^ spec.id.0.rotate_left(32) ^ u64::from(std::process::id())
    });
    let core = build(&spec, recovered, SeededRng::new(seed));

    let mut tcfg = TransportConfig::new(spec.id, spec.cluster, args.listen, spec.peers.clone());
    tcfg.max_frame_bytes = args.max_frame_bytes;
    let transport = TcpTransport::start(tcfg)
        .await
        .map_err(io(format!("binding peer port {}", args.listen)))?;
    let clients = TcpListener::bind(args.client)
        .await
        .map_err(io(format!("binding client port {}", args.client)))?;
    let (handle, calls) = NodeHandle::channel(4096);
    let server = tokio::spawn(serve_clients(clients, handle, args.max_frame_bytes));
    let config = NodeConfig {
        tick: Duration::from_millis(args.tick_ms),
        snapshot_every: (args.snapshot_every > 0).then_some(args.snapshot_every),
        ..NodeConfig::default()
    };
    info!(
        protocol = %args.protocol, listen = %args.listen, client = %args.client,
        peers = spec.peers.len(), seed, "node serving"
    );
    let result = run_node(
        core,
        transport,
        storage,
        machine,
        config,
        calls,
        shutdown_signal(),
    )
    .await;
    server.abort();
    info!("node stopped");
    Ok(result?)
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        _ = term.recv() => info!("SIGTERM: shutting down"),
    }
}
