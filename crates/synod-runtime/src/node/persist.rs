//! The storage thread: persists outputs in order, with group commit.
//!
//! The node loop never blocks on the disk. It hands each output's durable
//! part and the effects that depend on it (messages, commits, replies) to
//! this thread as one [`Job`]. The thread takes **every job queued** at that
//! moment, appends all their records, syncs once, and only then hands the
//! effects back, in the same order. Jobs submitted while a sync is in flight
//! ride the next sync: that is the group commit, and it is what lets one
//! fdatasync carry the writes of many clients.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use synod_core::{Snapshot, SnapshotAction, Storage, StorageError, StoredRecord};
use tokio::sync::mpsc;

/// The durable part of one output plus the effects to release afterwards.
pub(crate) struct Job<E> {
    pub hard_state: Option<Vec<u8>>,
    pub snapshot: Option<SnapshotAction>,
    pub records: Vec<StoredRecord>,
    pub must_sync: bool,
    pub compact_through: Option<u64>,
    pub effects: E,
}

/// What comes back from the thread: effects whose prerequisites are durable,
/// with the snapshot to install (if the job carried one from a peer).
pub(crate) struct Done<E> {
    pub effects: E,
    pub install: Option<Snapshot>,
    pub records: u64,
}

/// Handle to the running storage thread.
pub(crate) struct PersistThread<E> {
    tx: Option<std_mpsc::Sender<Job<E>>>,
    handle: Option<JoinHandle<()>>,
}

impl<E: Send + 'static> PersistThread<E> {
    /// Starts the thread; durable effects arrive on the returned receiver, or
    /// an error after which the thread stops.
    pub fn start<S: Storage>(
        mut storage: S,
    ) -> (Self, mpsc::UnboundedReceiver<Result<Done<E>, StorageError>>) {
        let (tx, rx) = std_mpsc::channel::<Job<E>>();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let handle = std::thread::Builder::new()
            .name("synod-storage".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    match persist_batch(&mut storage, batch) {
                        Ok(done) => {
                            for d in done {
                                if done_tx.send(Ok(d)).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            let _ = done_tx.send(Err(e));
                            return;
                        }
                    }
                }
            })
            .expect("spawn storage thread");
        (
            Self {
                tx: Some(tx),
                handle: Some(handle),
            },
            done_rx,
        )
    }

    /// Queues a job. Returns `false` if the thread has stopped.
    pub fn submit(&self, job: Job<E>) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }

    /// Lets queued jobs finish and waits for the thread.
    pub fn shutdown(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl<E> Drop for PersistThread<E> {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn persist_batch<S: Storage, E>(
    storage: &mut S,
    batch: Vec<Job<E>>,
) -> Result<Vec<Done<E>>, StorageError> {
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
        done.push(Done {
            effects: job.effects,
            install,
            records: job.records.len() as u64,
        });
    }
    if must_sync {
        storage.sync()?;
    }
    if let Some(c) = compact {
        storage.compact(c)?;
    }
    Ok(done)
}
