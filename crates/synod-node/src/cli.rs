//! The command line of `synod-node` and its validation.
//!
//! Parsing is clap's; the rules clap cannot express (unique ids, the node
//! not among its own peers, distinct addresses) are checked here and reported
//! as one clear message. Every configuration error exits with status 2.

use clap::{Parser, ValueEnum};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use synod_core::{ClusterId, NodeId};

/// A protocol `synod-node` can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolName {
    /// Raft (leader, log replication, ReadIndex).
    Raft,
    /// Multi-Paxos.
    Paxos,
    /// ZooKeeper Atomic Broadcast.
    Zab,
    /// Gossip with CRDT state (AP).
    Gossip,
}

impl std::fmt::Display for ProtocolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProtocolName::Raft => "raft",
            ProtocolName::Paxos => "paxos",
            ProtocolName::Zab => "zab",
            ProtocolName::Gossip => "gossip",
        })
    }
}

/// One peer given as `ID=ADDR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerArg {
    /// The peer's id.
    pub id: NodeId,
    /// The address to dial for it.
    pub addr: SocketAddr,
}

fn parse_peer(s: &str) -> Result<PeerArg, String> {
    let (id, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ID=ADDR, got {s:?}"))?;
    let id: u64 = id
        .trim()
        .parse()
        .map_err(|_| format!("peer id {id:?} is not a number"))?;
    if id == 0 {
        return Err("peer id 0 is reserved".into());
    }
    let addr = addr
        .trim()
        .parse()
        .map_err(|e| format!("peer address {addr:?}: {e}"))?;
    Ok(PeerArg {
        id: NodeId(id),
        addr,
    })
}

fn parse_frame_bytes(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a byte count"))?;
    if !(1024..=1 << 30).contains(&v) {
        return Err(format!("{v} is outside 1024..=1073741824"));
    }
    Ok(v)
}

/// `synod-node`: one replica of a replicated key-value store.
#[derive(Clone, Debug, Parser)]
#[command(name = "synod-node", version, about)]
pub struct Args {
    /// The consensus protocol to run.
    #[arg(long, value_enum, default_value_t = ProtocolName::Raft)]
    pub protocol: ProtocolName,
    /// This node's id (non-zero, unique in the cluster).
    #[arg(long)]
    pub id: u64,
    /// Address to listen on for peers.
    #[arg(long)]
    pub listen: SocketAddr,
    /// Address to listen on for clients.
    #[arg(long)]
    pub client: SocketAddr,
    /// A peer as ID=ADDR (repeat for each peer).
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<PeerArg>,
    /// Directory for the write-ahead log, hard state and snapshots.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Cluster id; peers from another cluster are refused.
    #[arg(long, default_value_t = 1)]
    pub cluster_id: u64,
    /// Milliseconds per protocol tick.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub tick_ms: u64,
    /// Snapshot the state machine every N applied entries (0: never).
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// Largest peer or client frame, in bytes.
    #[arg(long, default_value_t = synod_core::frame::DEFAULT_MAX_FRAME_BYTES,
          value_parser = parse_frame_bytes)]
    pub max_frame_bytes: usize,
    /// Seed for the protocol's random choices (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Minimum election timeout, in ticks.
    #[arg(long, default_value_t = 15)]
    pub election_ticks_min: u64,
    /// Maximum election timeout, in ticks (timeouts are drawn from min..=max).
    #[arg(long, default_value_t = 30)]
    pub election_ticks_max: u64,
    /// Heartbeat interval, in ticks.
    #[arg(long, default_value_t = 3)]
    pub heartbeat_ticks: u64,
    /// A member (this node or a peer) that learns but never votes: a ZAB
    /// observer. Repeat for each; every node of the cluster must be given
    /// the same list. Only `--protocol zab` has observers.
    #[arg(long = "observer")]
    pub observers: Vec<u64>,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The arguments as given.
    pub args: Args,
    /// This node.
    pub id: NodeId,
    /// The cluster.
    pub cluster: ClusterId,
    /// Peers by id.
    pub peers: BTreeMap<NodeId, SocketAddr>,
}

impl Args {
    /// Checks what clap cannot, returning every problem in one message.
    pub fn validate(self) -> Result<NodeSpec, String> {
        let mut problems = Vec::new();
        if self.id == 0 {
            problems.push("--id must be non-zero".to_string());
        }
        let id = NodeId(self.id);
        let mut peers = BTreeMap::new();
        for p in &self.peers {
            if p.id == id {
                problems.push(format!("node {id} lists itself as a peer"));
            } else if peers.insert(p.id, p.addr).is_some() {
                problems.push(format!("peer id {} is given more than once", p.id));
            }
        }
        if self.listen == self.client {
            problems.push(format!("--listen and --client are both {}", self.listen));
        }
        for (pid, addr) in &peers {
            if *addr == self.listen || *addr == self.client {
                problems.push(format!("peer {pid} has this node's own address {addr}"));
            }
        }
        if let Err(e) = synod_core::timing::check_ticks(
            self.heartbeat_ticks,
            self.election_ticks_min,
            self.election_ticks_max,
        ) {
            problems.push(e.to_string());
        }
        if !self.observers.is_empty() && self.protocol != ProtocolName::Zab {
            problems.push(format!(
                "--observer is for --protocol zab, not {}",
                self.protocol
            ));
        }
        for o in &self.observers {
            if *o != self.id && !peers.contains_key(&NodeId(*o)) {
                problems.push(format!("observer {o} is neither this node nor a peer"));
            }
        }
        let observers: std::collections::BTreeSet<u64> = self.observers.iter().copied().collect();
        if observers.len() != self.observers.len() {
            problems.push("an --observer is given more than once".into());
        }
        if observers.len() > peers.len() {
            problems.push("at least one member must be a voter".into());
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(NodeSpec {
            id,
            cluster: ClusterId(self.cluster_id),
            peers,
            args: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        let mut v = vec![
            "synod-node",
            "--id",
            "1",
            "--listen",
            "127.0.0.1:7001",
            "--client",
            "127.0.0.1:8001",
            "--data-dir",
            "/tmp/x",
        ];
        v.extend_from_slice(extra);
        Args::try_parse_from(v)
    }

    #[test]
    fn a_good_command_line_validates() {
        let spec = parse(&["--peer", "2=127.0.0.1:7002", "--peer", "3=127.0.0.1:7003"])
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(spec.peers.len(), 2);
        assert_eq!(spec.args.protocol, ProtocolName::Raft);
    }

    #[test]
    fn duplicate_peer_ids_are_refused() {
        let e = parse(&["--peer", "2=127.0.0.1:7002", "--peer", "2=127.0.0.1:7003"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.contains("more than once"), "{e}");
    }

    #[test]
    fn a_node_among_its_own_peers_is_refused() {
        let e = parse(&["--peer", "1=127.0.0.1:7009"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.contains("itself"), "{e}");
    }

    #[test]
    fn bad_addresses_and_unknown_protocols_are_parse_errors() {
        assert!(parse(&["--peer", "2=localhost"]).is_err());
        assert!(parse(&["--peer", "two=127.0.0.1:1"]).is_err());
        assert!(parse(&["--protocol", "pbft"]).is_err());
    }

    #[test]
    fn observers_must_be_members_and_only_for_zab() {
        let zab = ["--protocol", "zab", "--peer", "2=127.0.0.1:7002"];
        let ok = parse(&[&zab[..], &["--observer", "2"]].concat());
        assert_eq!(ok.unwrap().validate().unwrap().args.observers, vec![2]);
        let e = parse(&[&zab[..], &["--observer", "9"]].concat())
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.contains("neither"), "{e}");
        let e = parse(&["--peer", "2=127.0.0.1:7002", "--observer", "2"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.contains("for --protocol zab"), "{e}");
    }

    #[test]
    fn shared_addresses_are_refused() {
        let e = parse(&["--peer", "2=127.0.0.1:7001"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.contains("own address"), "{e}");
    }
}
