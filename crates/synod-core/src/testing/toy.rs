//! A deliberately minimal replication protocol for testing drivers.
//!
//! Node 1 is a fixed primary: it persists each write, sends it to every
//! backup, and commits it once a majority — itself included, only after its
//! own copy is durable — holds it. There are no elections and no recovery of
//! lost messages, so it is useless in production and never served by
//! `synod-node`; it exists so that drivers (the in-memory harness, the tokio
//! runtime) can be tested without depending on a real protocol crate.

use crate::{LogRecord, NodeId, Output, Proposal, Protocol, ProtocolStatus, Recovered, RequestId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Debug, Serialize, Deserialize)]
/// The toy's messages.
pub enum Msg {
    /// The primary sends entry `index`.
    Replicate {
        /// Its index.
        index: u64,
        /// Its command.
        command: Vec<u8>,
    },
    /// A backup holds entry `index` durably.
    Ack {
        /// The index.
        index: u64,
    },
    /// Entries through `index` are committed.
    Commit {
        /// The index.
        index: u64,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
/// A log entry.
pub struct Entry {
    /// Its index.
    pub index: u64,
    /// Its command.
    pub command: Vec<u8>,
}

impl LogRecord for Entry {
    fn position(&self) -> u64 {
        self.index
    }
}

/// One replica of the toy protocol.
pub struct Toy {
    id: NodeId,
    peers: Vec<NodeId>,
    /// The replica's log.
    pub log: Vec<Entry>,
    acks: Vec<BTreeSet<NodeId>>,
    pending: Vec<Option<RequestId>>,
    committed: u64,
    applied: u64,
    persisted: u64,
    ticks: u64,
}

impl Toy {
    /// A replica; node 1 is the primary.
    pub fn new(id: NodeId, peers: Vec<NodeId>, rec: Recovered<Toy>) -> Self {
        let log = rec.records;
        let n = log.len();
        Toy {
            id,
            peers,
            log,
            acks: vec![BTreeSet::new(); n],
            pending: vec![None; n],
            committed: 0,
            applied: 0,
            persisted: 0,
            ticks: 0,
        }
    }

    fn advance(&mut self, out: &mut Output<Self>) {
        while self.applied < self.committed {
            self.applied += 1;
            let e = &self.log[self.applied as usize - 1];
            out.committed.push(crate::Committed {
                index: e.index,
                command: Some(e.command.clone()),
                reply_to: self
                    .pending
                    .get(self.applied as usize - 1)
                    .copied()
                    .flatten(),
            });
        }
    }

    fn count_ack(&mut self, index: u64, from: NodeId, out: &mut Output<Self>) {
        let i = index as usize - 1;
        self.acks[i].insert(from);
        let cluster_size = self.peers.len() + 1;
        let majority = cluster_size / 2 + 1;
        while (self.committed as usize) < self.log.len()
            && self.acks[self.committed as usize].len() >= majority
        {
            self.committed += 1;
            for &p in &self.peers {
                out.send(
                    p,
                    Msg::Commit {
                        index: self.committed,
                    },
                );
            }
        }
        self.advance(out);
    }
}

impl Protocol for Toy {
    type Message = Msg;
    type Record = Entry;
    type HardState = ();

    fn id(&self) -> NodeId {
        self.id
    }

    fn tick(&mut self, _out: &mut Output<Self>) {
        self.ticks += 1;
    }

    fn step(&mut self, from: NodeId, msg: Msg, out: &mut Output<Self>) {
        match msg {
            Msg::Replicate { index, command } => {
                if index as usize == self.log.len() + 1 {
                    let e = Entry { index, command };
                    self.log.push(e.clone());
                    out.persist(e);
                    // The ack rides in the same output: the harness must sync first.
                    out.send(from, Msg::Ack { index });
                }
            }
            Msg::Ack { index } => self.count_ack(index, from, out),
            Msg::Commit { index } => {
                self.committed = self.committed.max(index.min(self.log.len() as u64));
                self.advance(out);
            }
        }
    }

    fn propose(&mut self, proposal: Proposal, out: &mut Output<Self>) {
        let Proposal::Write { id, command } = proposal else {
            return;
        };
        if self.id != NodeId(1) {
            out.reply(
                id,
                Err(crate::ClientError::NotLeader {
                    leader: Some(NodeId(1)),
                }),
            );
            return;
        }
        let index = self.log.len() as u64 + 1;
        let e = Entry {
            index,
            command: command.clone(),
        };
        self.log.push(e.clone());
        self.acks.push(BTreeSet::new());
        self.pending.push(Some(id));
        out.persist(e);
        for &p in &self.peers {
            out.send(
                p,
                Msg::Replicate {
                    index,
                    command: command.clone(),
                },
            );
        }
    }

    fn on_persisted(&mut self, count: u64, out: &mut Output<Self>) {
        // Count our own copy only once it is durable.
        while self.persisted < count {
            self.persisted += 1;
            if self.id == NodeId(1) {
                let index = self.persisted;
                self.count_ack(index, self.id, out);
            }
        }
    }

    fn status(&self) -> ProtocolStatus {
        ProtocolStatus {
            id: self.id,
            protocol: "toy".into(),
            role: if self.id == NodeId(1) {
                "leader"
            } else {
                "follower"
            }
            .into(),
            commit_index: self.committed,
            ..Default::default()
        }
    }
}
