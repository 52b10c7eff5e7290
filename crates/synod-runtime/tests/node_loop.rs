//! The node event loop over real TCP, driving synod-core's toy protocol and
//! the KV state machine: writes commit on a majority, followers apply them,
//! concurrent writes share syncs (group commit), records that need no sync
//! stay on the loop's thread, and shutdown is clean.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synod_core::testing::toy::{Entry, Toy};
use synod_core::{
    ClientError, ClusterId, Committed, Loaded, MemStorage, NodeId, Output, Proposal, Protocol,
    ProtocolStatus, ReadConsistency, Recovered, RequestId, Snapshot, Storage, StorageError,
    StoredRecord,
};
use synod_kv::{KvAnswer, KvCommand, KvOutput, KvQuery, KvStore};
use synod_runtime::{run_node, NodeConfig, NodeHandle, TcpTransport, TransportConfig};
use tokio::sync::oneshot;

/// MemStorage that counts syncs and notes the thread of every append. A
/// sync takes a fifth of a millisecond, as a disk's would: requests that
/// arrive meanwhile queue up for the next one (with instant syncs, whether
/// concurrent writes share one would be down to thread timing).
#[derive(Default)]
struct Counting(MemStorage, Arc<AtomicU64>, Arc<Mutex<Vec<String>>>);

impl Storage for Counting {
    fn append(&mut self, r: &[StoredRecord]) -> Result<(), StorageError> {
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        self.2.lock().unwrap().push(thread);
        self.0.append(r)
    }
    fn sync(&mut self) -> Result<(), StorageError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(200));
        self.0.sync()
    }
    fn save_hard_state(&mut self, s: &[u8]) -> Result<(), StorageError> {
        self.0.save_hard_state(s)
    }
    fn save_snapshot(&mut self, s: &Snapshot) -> Result<(), StorageError> {
        self.0.save_snapshot(s)
    }
    fn compact(&mut self, p: u64) -> Result<(), StorageError> {
        self.0.compact(p)
    }
    fn load(&mut self) -> Result<Loaded, StorageError> {
        self.0.load()
    }
}

struct Cluster {
    handles: BTreeMap<NodeId, NodeHandle<KvStore>>,
    syncs: BTreeMap<NodeId, Arc<AtomicU64>>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), synod_runtime::NodeError>>>,
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn start_cluster(n: u64) -> Cluster {
    let ids: Vec<NodeId> = (1..=n).map(NodeId).collect();
    let addrs: BTreeMap<NodeId, SocketAddr> = ids.iter().map(|&i| (i, free_addr())).collect();
    let mut c = Cluster {
        handles: BTreeMap::new(),
        syncs: BTreeMap::new(),
        stops: Vec::new(),
        tasks: Vec::new(),
    };
    for &id in &ids {
        let peers: BTreeMap<_, _> = addrs
            .iter()
            .filter(|(p, _)| **p != id)
            .map(|(p, a)| (*p, *a))
            .collect();
        let transport = TcpTransport::start(TransportConfig::new(
            id,
            ClusterId(1),
            addrs[&id],
            peers.clone(),
        ))
        .await
        .unwrap();
        let core = Toy::new(id, peers.keys().copied().collect(), Recovered::default());
        let syncs = Arc::new(AtomicU64::new(0));
        let storage = Counting(MemStorage::new(), syncs.clone(), Default::default());
        let (handle, calls) = NodeHandle::channel(1024);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let config = NodeConfig {
            tick: Duration::from_millis(5),
            ..NodeConfig::default()
        };
        c.tasks.push(tokio::spawn(run_node(
            core,
            transport,
            storage,
            KvStore::new(),
            config,
            calls,
            async move {
                let _ = stop_rx.await;
            },
        )));
        c.handles.insert(id, handle);
        c.syncs.insert(id, syncs);
        c.stops.push(stop_tx);
    }
    c
}

fn write(key: &str, v: u8) -> KvCommand {
    KvCommand::Write {
        key: key.into(),
        value: vec![v],
    }
}

async fn eventually_reads(h: &NodeHandle<KvStore>, key: &str, want: Option<Vec<u8>>) {
    for _ in 0..200 {
        let got = h
            .read(KvQuery::Get { key: key.into() }, ReadConsistency::Local)
            .await
            .unwrap();
        if got == KvAnswer::Value(want.clone()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{key} never became {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_commit_and_replicate_over_tcp() {
    let c = start_cluster(3).await;
    let primary = &c.handles[&NodeId(1)];
    assert_eq!(primary.write(write("x", 1)).await.unwrap(), KvOutput::Done);
    assert_eq!(
        primary
            .write(KvCommand::Cas {
                key: "x".into(),
                from: Some(vec![2]),
                to: vec![3]
            })
            .await
            .unwrap(),
        KvOutput::CasMismatch {
            current: Some(vec![1])
        }
    );
    for h in c.handles.values() {
        eventually_reads(h, "x", Some(vec![1])).await;
    }
    let st = c.handles[&NodeId(2)].status().await.unwrap();
    assert_eq!(st.protocol.role, "follower");
    assert!(st.applied_index >= 1);
    // The toy refuses writes at backups with a definite not-leader.
    let err = c.handles[&NodeId(2)]
        .write(write("y", 1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::NotLeader {
            leader: Some(NodeId(1))
        }
    );
    assert!(err.is_definite());
    shutdown(c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_syncs() {
    let c = start_cluster(3).await;
    let primary = c.handles[&NodeId(1)].clone();
    let before = c.syncs[&NodeId(1)].load(Ordering::Relaxed);
    let writes: Vec<_> = (0..200u32)
        .map(|i| {
            let h = primary.clone();
            tokio::spawn(async move { h.write(write(&format!("k{i}"), 1)).await })
        })
        .collect();
    for w in writes {
        assert_eq!(w.await.unwrap().unwrap(), KvOutput::Done);
    }
    let syncs = c.syncs[&NodeId(1)].load(Ordering::Relaxed) - before;
    assert!(
        syncs < 200,
        "200 concurrent writes took {syncs} syncs: no group commit"
    );
    shutdown(c).await;
}

/// A leader whose one follower never answers (so its own entries go to the
/// storage thread), and which marks each commit with a record that needs no
/// sync, as Multi-Paxos marks its commit point.
#[derive(Default)]
struct MarksCommits {
    /// Per record emitted, in order: the write it carries, if not a marker.
    emitted: VecDeque<Option<(RequestId, Entry)>>,
    persisted: u64,
}

impl Protocol for MarksCommits {
    type Message = ();
    type Record = Entry;
    type HardState = ();

    fn id(&self) -> NodeId {
        NodeId(1)
    }
    fn tick(&mut self, _: &mut Output<Self>) {}
    fn step(&mut self, _: NodeId, _: (), _: &mut Output<Self>) {}
    fn propose(&mut self, proposal: Proposal, out: &mut Output<Self>) {
        if let Proposal::Write { id, command } = proposal {
            let entry = Entry {
                index: self.emitted.len() as u64 + 1,
                command,
            };
            out.persist(entry.clone());
            self.emitted.push_back(Some((id, entry)));
        }
    }
    fn on_persisted(&mut self, count: u64, out: &mut Output<Self>) {
        while self.persisted < count {
            self.persisted += 1;
            let Some(Some((id, entry))) = self.emitted.get(self.persisted as usize - 1).cloned()
            else {
                continue;
            };
            let marker = Entry {
                index: self.emitted.len() as u64 + 1,
                command: Vec::new(),
            };
            out.records.push(marker);
            self.emitted.push_back(None);
            out.committed.push(Committed {
                index: entry.index,
                command: Some(entry.command),
                reply_to: Some(id),
            });
        }
    }
    fn status(&self) -> ProtocolStatus {
        ProtocolStatus {
            id: NodeId(1),
            role: "leader".into(),
            leader: Some(NodeId(1)),
            voters: vec![NodeId(1), NodeId(2)],
            ..ProtocolStatus::default()
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_record_that_needs_no_sync_is_buffered_on_the_loop_not_sent_to_the_storage_thread() {
    let transport = TcpTransport::start(TransportConfig::new(
        NodeId(1),
        ClusterId(1),
        free_addr(),
        BTreeMap::new(),
    ))
    .await
    .unwrap();
    let storage = Counting::default();
    let appends = storage.2.clone();
    let (handle, calls) = NodeHandle::channel(16);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let node = tokio::spawn(run_node(
        MarksCommits::default(),
        transport,
        storage,
        KvStore::new(),
        NodeConfig::default(),
        calls,
        async move {
            let _ = stop_rx.await;
        },
    ));
    assert_eq!(handle.write(write("x", 1)).await.unwrap(), KvOutput::Done);
    let appends = appends.lock().unwrap().clone();
    assert_eq!(appends.len(), 2, "the entry, then its commit marker");
    assert_eq!(appends[0], "synod-storage", "a leader's synced entry");
    assert_ne!(appends[1], "synod-storage", "the marker: {appends:?}");
    let _ = stop_tx.send(());
    assert!(matches!(node.await, Ok(Ok(()))));
}

async fn shutdown(c: Cluster) {
    for s in c.stops {
        let _ = s.send(());
    }
    for t in c.tasks {
        let r = tokio::time::timeout(Duration::from_secs(5), t).await;
        assert!(
            matches!(r, Ok(Ok(Ok(())))),
            "node stops cleanly on shutdown"
        );
    }
}
