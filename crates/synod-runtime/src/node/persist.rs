//! The storage thread: persists outputs in order, with group commit.
//!
//! Under load the node loop does not wait on the disk. It hands each
//! output's durable part and the effects that depend on it (messages, commits, replies) to
//! this thread as one [`Job`]. The thread takes **every job queued** at that
//! moment, appends all their records, syncs once, and only then releases the
//! effects, in the same order: it sends each job's messages itself (a
//! follower's acknowledgement leaves the moment its entries are durable,
//! without a trip back through the node loop), then hands the rest (commits,
//! replies) back to the loop. Jobs submitted while a sync is in flight ride
//! the next sync: that is the group commit, and it is what lets one
//! fdatasync carry the writes of many clients. Compaction runs after the
//! effects are released, since nothing waits on it.
//!
//! When nothing is queued, a small job (records and hard state, no snapshot
//! or compaction) is persisted on the loop's own thread instead
//! ([`PersistThread::persist_now`]), unless the same output sent eager
//! messages (then peers are working in parallel and the loop must stay free
//! to hear their answers). A lone write would otherwise pay two thread
//! wakeups, one to hand the job over and one to hear it is done, which on a
//! 2-vCPU machine cost more than the fdatasync itself. The loop then blocks
//! for one sync. That delays only ticks and local reads: with nothing in
//! flight there is nothing else it could release meanwhile, and peer
//! messages and client calls wait in their queues to form the next batch.
//! A job whose records need no sync (Multi-Paxos's commit marker) is taken
//! on the loop even when it sent eager messages: storage only buffers it,
//! so it costs a copy, where the thread would cost the replies behind it
//! the same two wakeups.
//!
//! The storage sits behind a mutex that only one of the two holds at a
//! time, so jobs still reach the disk in the order they were made. The
//! thread lets go of it before it reports a batch durable, so the loop's
//! next job finds it free.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use synod_core::{
    NodeId, PeerSender, Snapshot, SnapshotAction, Storage, StorageError, StoredRecord,
};
use tokio::sync::mpsc;

/// The durable part of one output plus the effects to release afterwards.
pub(crate) struct Job<E> {
    pub hard_state: Option<Vec<u8>>,
    pub snapshot: Option<SnapshotAction>,
    pub records: Vec<StoredRecord>,
    pub must_sync: bool,
    pub compact_through: Option<u64>,
    /// Encoded messages to send once the job is durable.
    pub messages: Vec<(NodeId, Vec<u8>)>,
    pub effects: E,
}

/// What comes back from the thread: effects whose prerequisites are durable,
/// with the snapshot to install (if the job carried one from a peer).
pub(crate) struct Done<E> {
    pub effects: E,
    pub install: Option<Snapshot>,
    pub records: u64,
}

impl<E> Done<E> {
    /// The effects of an output that had nothing to persist.
    pub fn nothing_persisted(effects: E) -> Self {
        Done {
            effects,
            install: None,
            records: 0,
        }
    }
}

/// Where the thread reports durable jobs, or the error that stopped it.
pub(crate) type DoneReceiver<E> = mpsc::UnboundedReceiver<Result<Done<E>, StorageError>>;

/// What [`PersistThread::persist_now`] did with a job.
pub(crate) enum Inline<E> {
    /// Persisted and its messages sent.
    Done(Done<E>),
    /// Storage failed; nothing was sent.
    Failed(StorageError),
    /// Not taken: submit it to the thread.
    Declined(Job<E>),
}

/// Handle to the running storage thread.
pub(crate) struct PersistThread<S, E> {
    tx: Option<std_mpsc::Sender<Job<E>>>,
    handle: Option<JoinHandle<()>>,
    /// Locked by the thread for each batch, and by [`Self::persist_now`].
    storage: Arc<Mutex<S>>,
    sender: Arc<dyn PeerSender>,
}

impl<S: Storage, E: Send + 'static> PersistThread<S, E> {
    /// Starts the thread; durable effects arrive on the returned receiver, or
    /// an error after which the thread stops.
    pub fn start(storage: S, sender: Arc<dyn PeerSender>) -> (Self, DoneReceiver<E>) {
        let (tx, rx) = std_mpsc::channel::<Job<E>>();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let storage = Arc::new(Mutex::new(storage));
        let (shared, thread_sender) = (storage.clone(), sender.clone());
        let handle = std::thread::Builder::new()
            .name("synod-storage".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    // The lock is let go before the loop hears of the batch,
                    // so that the loop finds storage free for its next job.
                    let persisted = persist_batch(&mut *lock(&shared), batch);
                    let result = persisted.and_then(|(done, compact)| {
                        let mut messages = Vec::new();
                        let mut released = Vec::with_capacity(done.len());
                        for (m, d) in done {
                            messages.extend(m);
                            released.push(d);
                        }
                        send_all(&*thread_sender, messages);
                        for d in released {
                            if done_tx.send(Ok(d)).is_err() {
                                return Ok(());
                            }
                        }
                        match compact {
                            Some(c) => lock(&shared).compact(c),
                            None => Ok(()),
                        }
                    });
                    if let Err(e) = result {
                        let _ = done_tx.send(Err(e));
                        return;
                    }
                }
            })
            .expect("spawn storage thread");
        (
            Self {
                tx: Some(tx),
                handle: Some(handle),
                storage,
                sender,
            },
            done_rx,
        )
    }

    /// Queues a job. Returns `false` if the thread has stopped.
    pub fn submit(&self, job: Job<E>) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }

    /// Persists a small job on the caller's thread and sends its messages:
    /// for when nothing is queued, so the job would otherwise wait for the
    /// storage thread to wake (and the caller for it to report back), two
    /// thread wakeups on the commit path of every lone write.
    ///
    /// Hands the job back when it is not small (a snapshot, a compaction) or
    /// the storage thread is still busy; the caller then [submits](Self::submit) it.
    pub fn persist_now(&self, job: Job<E>) -> Inline<E> {
        if job.snapshot.is_some() || job.compact_through.is_some() {
            return Inline::Declined(job);
        }
        let mut storage = match self.storage.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Inline::Declined(job),
        };
        match persist_batch(&mut *storage, vec![job]) {
            Ok((mut done, _)) => {
                let (messages, d) = done.pop().expect("one job in, one out");
                send_all(&*self.sender, messages);
                Inline::Done(d)
            }
            Err(e) => Inline::Failed(e),
        }
    }

    /// Lets queued jobs finish and waits for the thread.
    pub fn shutdown(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn lock<S>(storage: &Mutex<S>) -> MutexGuard<'_, S> {
    // A panic mid-batch stops the thread before anything it did is reported
    // durable, so the storage itself is as consistent as after a crash.
    storage.lock().unwrap_or_else(|p| p.into_inner())
}

fn send_all(sender: &dyn PeerSender, messages: Vec<(NodeId, Vec<u8>)>) {
    if !messages.is_empty() {
        sender.send_many(messages);
    }
}

impl<S, E> Drop for PersistThread<S, E> {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Each job's messages with its effects, in job order.
type Released<E> = Vec<(Vec<(NodeId, Vec<u8>)>, Done<E>)>;

/// Appends and syncs a batch; returns what to release and how far to compact.
fn persist_batch<S: Storage, E>(
    storage: &mut S,
    batch: Vec<Job<E>>,
) -> Result<(Released<E>, Option<u64>), StorageError> {
    let mut must_sync = false;
    let mut compact = None;
    let mut done = Vec::with_capacity(batch.len());
    for job in batch {
        if let Some(h) = &job.hard_state {
            storage.save_hard_state(h)?;
        }
        let install = match job.snapshot {
            Some(SnapshotAction::Save(s)) => {
                storage.save_snapshot(&s)?;
                None
            }
            Some(SnapshotAction::Install(s)) => {
                storage.save_snapshot(&s)?;
                Some(s)
            }
            None => None,
        };
        if !job.records.is_empty() {
            storage.append(&job.records)?;
        }
        must_sync |= job.must_sync;
        if let Some(c) = job.compact_through {
            compact = Some(c);
        }
        done.push((
            job.messages,
            Done {
                effects: job.effects,
                install,
                records: job.records.len() as u64,
            },
        ));
    }
    if must_sync {
        storage.sync()?;
    }
    Ok((done, compact))
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::{Loaded, MemStorage};

    type Log = Arc<Mutex<Vec<String>>>;

    /// Storage and sender that write what happens, in order, to one log.
    struct Logged {
        inner: MemStorage,
        log: Log,
    }

    impl Storage for Logged {
        fn append(&mut self, records: &[StoredRecord]) -> Result<(), StorageError> {
            self.log
                .lock()
                .unwrap()
                .push(format!("append {}", records.len()));
            self.inner.append(records)
        }
        fn sync(&mut self) -> Result<(), StorageError> {
            self.log.lock().unwrap().push("sync".into());
            self.inner.sync()
        }
        fn save_hard_state(&mut self, state: &[u8]) -> Result<(), StorageError> {
            self.inner.save_hard_state(state)
        }
        fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
            self.log.lock().unwrap().push("snapshot".into());
            self.inner.save_snapshot(snapshot)
        }
        fn compact(&mut self, position: u64) -> Result<(), StorageError> {
            self.log.lock().unwrap().push(format!("compact {position}"));
            self.inner.compact(position)
        }
        fn load(&mut self) -> Result<Loaded, StorageError> {
            self.inner.load()
        }
    }

    struct LoggedSender(Log);

    impl PeerSender for LoggedSender {
        fn send(&self, to: NodeId, payload: Vec<u8>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("send {to} {payload:?}"));
        }
    }

    fn start() -> (PersistThread<Logged, u32>, DoneReceiver<u32>, Log) {
        let log = Log::default();
        let storage = Logged {
            inner: MemStorage::new(),
            log: log.clone(),
        };
        let (t, rx) = PersistThread::start(storage, Arc::new(LoggedSender(log.clone())));
        (t, rx, log)
    }

    fn job(tag: u32, records: usize) -> Job<u32> {
        Job {
            hard_state: None,
            snapshot: None,
            records: (0..records as u64)
                .map(|position| StoredRecord {
                    position,
                    payload: vec![1],
                })
                .collect(),
            must_sync: records > 0,
            compact_through: None,
            messages: vec![(NodeId(2), vec![tag as u8])],
            effects: tag,
        }
    }

    fn entries(log: &Log) -> Vec<String> {
        log.lock().unwrap().clone()
    }

    #[test]
    fn persist_now_syncs_before_it_sends() {
        let (t, _rx, log) = start();
        let Inline::Done(done) = t.persist_now(job(7, 2)) else {
            panic!("not persisted inline");
        };
        assert_eq!((done.effects, done.records), (7, 2));
        assert_eq!(entries(&log), ["append 2", "sync", "send 2 [7]"]);
    }

    #[test]
    fn persist_now_hands_back_snapshots_and_compactions() {
        let (t, _rx, log) = start();
        let mut j = job(1, 1);
        j.compact_through = Some(1);
        assert!(matches!(t.persist_now(j), Inline::Declined(_)));
        let mut j = job(2, 1);
        j.snapshot = Some(SnapshotAction::Save(Snapshot {
            position: 1,
            meta: vec![],
            data: vec![],
        }));
        assert!(matches!(t.persist_now(j), Inline::Declined(_)));
        assert!(entries(&log).is_empty(), "nothing persisted inline");
    }

    #[test]
    fn the_thread_syncs_before_it_sends_and_compacts_after_releasing() {
        let (t, mut rx, log) = start();
        let mut j = job(3, 1);
        j.compact_through = Some(0);
        assert!(t.submit(j));
        let done = rx.blocking_recv().unwrap().unwrap();
        assert_eq!(done.effects, 3);
        drop(t); // joins the thread, so the compaction has happened
        assert_eq!(
            entries(&log),
            ["append 1", "sync", "send 2 [3]", "compact 0"]
        );
    }

    #[test]
    fn nothing_is_sent_when_the_sync_fails() {
        struct Failing(Log);
        impl PeerSender for Failing {
            fn send(&self, _: NodeId, _: Vec<u8>) {
                self.0.lock().unwrap().push("send".into());
            }
        }
        struct BadDisk;
        impl Storage for BadDisk {
            fn append(&mut self, _: &[StoredRecord]) -> Result<(), StorageError> {
                Ok(())
            }
            fn sync(&mut self) -> Result<(), StorageError> {
                Err(StorageError::Failed("disk gone".into()))
            }
            fn save_hard_state(&mut self, _: &[u8]) -> Result<(), StorageError> {
                Ok(())
            }
            fn save_snapshot(&mut self, _: &Snapshot) -> Result<(), StorageError> {
                Ok(())
            }
            fn compact(&mut self, _: u64) -> Result<(), StorageError> {
                Ok(())
            }
            fn load(&mut self) -> Result<Loaded, StorageError> {
                Ok(Loaded::default())
            }
        }
        let log = Log::default();
        let (t, mut rx) = PersistThread::<_, u32>::start(BadDisk, Arc::new(Failing(log.clone())));
        assert!(matches!(t.persist_now(job(1, 1)), Inline::Failed(_)));
        assert!(t.submit(job(2, 1)));
        assert!(rx.blocking_recv().unwrap().is_err());
        assert!(entries(&log).is_empty(), "a message left without its sync");
    }
}
