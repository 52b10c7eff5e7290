//! [`SynodNode`]: one process playing proposer, acceptor and learner of a
//! single-decree instance, as a [`Protocol`] ("decide one value").
//!
//! A client's `Write` proposes its command as the value; the first value
//! chosen is reported to every node as `Committed { index: 1 }` (with the
//! proposer's request in `reply_to`, even when the chosen value is another
//! proposer's: the answer of consensus is the decision). Later proposals are
//! answered with the decision at once.
//!
//! Retries: an attempt pre-empted by a higher number backs off for a number
//! of ticks drawn from `backoff_ticks_min..=backoff_ticks_max` (fixed when
//! the two are equal: the duelling-proposers livelock), and an attempt that
//! hears nothing for `attempt_ticks` starts again (lost messages).

use super::acceptor::{Acceptor, AcceptorState};
use super::learner::Learner;
use super::proposer::Proposer;
use crate::ballot::Ballot;
use crate::config::ConfigError;
use serde::{Deserialize, Serialize};
use synod_core::{
    ClientError, Committed, LogRecord, NodeId, Output, Proposal, Protocol, ProtocolStatus,
    Recovered, RequestId, SeededRng,
};

/// Single-decree Paxos messages (proposal numbers are [`Ballot`]s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SynodMessage {
    /// Phase 1a.
    Prepare {
        /// The proposal number.
        ballot: Ballot,
    },
    /// Phase 1b, with the highest-numbered proposal accepted.
    Promise {
        /// The number promised.
        ballot: Ballot,
        /// The acceptor's highest-numbered accepted proposal.
        accepted: Option<(Ballot, Vec<u8>)>,
    },
    /// A prepare or accept refused: `promised` is higher.
    Reject {
        /// The number refused.
        ballot: Ballot,
        /// The number the acceptor promised.
        promised: Ballot,
    },
    /// Phase 2a.
    Accept {
        /// The proposal number.
        ballot: Ballot,
        /// The value.
        value: Vec<u8>,
    },
    /// Phase 2b, broadcast to every learner.
    Accepted {
        /// The proposal number.
        ballot: Ballot,
        /// The value.
        value: Vec<u8>,
    },
    /// The value is already chosen: the answer of a node that learned it
    /// to any prepare or accept (how a learner that missed the acceptances
    /// catches up).
    Decided {
        /// The chosen value.
        value: Vec<u8>,
    },
}

/// The learned value, recorded so a restart still knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SynodRecord {
    /// The value chosen.
    Learned {
        /// The value.
        value: Vec<u8>,
    },
}

impl LogRecord for SynodRecord {
    fn position(&self) -> u64 {
        1
    }
}

/// How one single-decree replica behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynodConfig {
    /// This replica's id.
    pub id: NodeId,
    /// Every acceptor (and learner).
    pub nodes: Vec<NodeId>,
    /// Shortest back-off after a pre-empted attempt, in ticks (default 1).
    pub backoff_ticks_min: u64,
    /// Longest back-off, inclusive (default 10). Equal to the minimum, the
    /// back-off is fixed and duelling proposers may livelock.
    pub backoff_ticks_max: u64,
    /// An attempt that has not finished after this many ticks starts again
    /// (default 20).
    pub attempt_ticks: u64,
}

impl SynodConfig {
    /// Defaults for replica `id` among `nodes`.
    pub fn new(id: NodeId, nodes: Vec<NodeId>) -> Self {
        Self {
            id,
            nodes,
            backoff_ticks_min: 1,
            backoff_ticks_max: 10,
            attempt_ticks: 20,
        }
    }

    /// Checks for values the core cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == NodeId(0) || self.nodes.contains(&NodeId(0)) {
            return Err(ConfigError::ZeroId);
        }
        if !self.nodes.contains(&self.id) {
            return Err(ConfigError::NotAVoter(self.id));
        }
        if self.attempt_ticks == 0 {
            return Err(ConfigError::Zero("attempt_ticks"));
        }
        if self.backoff_ticks_max < self.backoff_ticks_min {
            return Err(ConfigError::Backoff {
                min: self.backoff_ticks_min,
                max: self.backoff_ticks_max,
            });
        }
        Ok(())
    }
}

/// Proposer, acceptor and learner of one value, as a sans-IO core.
#[derive(Debug)]
pub struct SynodNode {
    cfg: SynodConfig,
    rng: SeededRng,
    acceptor: Acceptor,
    saved: AcceptorState,
    proposer: Proposer,
    learner: Learner,
    waiting: Vec<RequestId>,
    attempt_elapsed: u64,
    backoff_left: Option<u64>,
    attempts: u64,
}

impl SynodNode {
    /// Builds a replica from its configuration, recovered state and RNG.
    ///
    /// # Panics
    ///
    /// When the configuration is invalid.
    pub fn new(mut cfg: SynodConfig, recovered: Recovered<SynodNode>, rng: SeededRng) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("cannot build synod node: {e}");
        }
        cfg.nodes.sort();
        cfg.nodes.dedup();
        let quorum = cfg.nodes.len() / 2 + 1;
        let state = recovered.hard_state.unwrap_or_default();
        let learned = recovered.records.into_iter().last().map(|r| match r {
            SynodRecord::Learned { value } => value,
        });
        let mut proposer = Proposer::new(cfg.id, quorum);
        proposer.observe(state.promised);
        SynodNode {
            rng,
            acceptor: Acceptor::from_state(state.clone()),
            saved: state,
            proposer,
            learner: Learner::with_learned(quorum, learned),
            waiting: Vec::new(),
            attempt_elapsed: 0,
            backoff_left: None,
            attempts: 0,
            cfg,
        }
    }

    /// The value learned, if any.
    pub fn learned(&self) -> Option<&Vec<u8>> {
        self.learner.learned()
    }

    /// How many phase-1 attempts this proposer started.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// The acceptor's durable state.
    pub fn acceptor_state(&self) -> &AcceptorState {
        self.acceptor.state()
    }

    fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let me = self.cfg.id;
        self.cfg.nodes.iter().copied().filter(move |n| *n != me)
    }

    fn start_attempt(&mut self, out: &mut Output<Self>) {
        self.attempt_elapsed = 0;
        self.backoff_left = None;
        let Some(ballot) = self.proposer.try_start() else {
            // A peer sent round u64::MAX: no number of ours can beat it.
            return;
        };
        self.attempts += 1;
        for p in self.peers().collect::<Vec<_>>() {
            out.send(p, SynodMessage::Prepare { ballot });
        }
        let me = self.cfg.id;
        match self.acceptor.on_prepare(ballot) {
            Ok(acc) => self.on_promise(me, ballot, acc, out),
            Err(promised) => self.on_reject(ballot, promised),
        }
    }

    fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        accepted: Option<(Ballot, Vec<u8>)>,
        out: &mut Output<Self>,
    ) {
        let Some(value) = self.proposer.on_promise(from, ballot, accepted) else {
            return;
        };
        for p in self.peers().collect::<Vec<_>>() {
            out.send(
                p,
                SynodMessage::Accept {
                    ballot,
                    value: value.clone(),
                },
            );
        }
        self.accept_locally(self.cfg.id, ballot, value, out);
    }

    fn on_reject(&mut self, ballot: Ballot, promised: Ballot) {
        if self.proposer.on_reject(ballot, promised) && self.learned().is_none() {
            let wait = self
                .rng
                .range(self.cfg.backoff_ticks_min, self.cfg.backoff_ticks_max + 1);
            self.backoff_left = Some(wait);
        }
    }

    /// Our acceptor handles an accept (ours or a peer's).
    fn accept_locally(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        value: Vec<u8>,
        out: &mut Output<Self>,
    ) {
        match self.acceptor.on_accept(ballot, value.clone()) {
            Ok(()) => {
                for p in self.peers().collect::<Vec<_>>() {
                    out.send(
                        p,
                        SynodMessage::Accepted {
                            ballot,
                            value: value.clone(),
                        },
                    );
                }
                self.learn(self.cfg.id, ballot, value, out);
            }
            Err(promised) if from != self.cfg.id => {
                out.send(from, SynodMessage::Reject { ballot, promised })
            }
            Err(promised) => self.on_reject(ballot, promised),
        }
    }

    fn learn(&mut self, from: NodeId, ballot: Ballot, value: Vec<u8>, out: &mut Output<Self>) {
        let learned = self.learner.on_accepted(from, ballot, value);
        self.on_learned(learned, out);
    }

    fn on_learned(&mut self, learned: Option<Vec<u8>>, out: &mut Output<Self>) {
        let Some(v) = learned else {
            return;
        };
        self.proposer.stop();
        self.backoff_left = None;
        out.persist(SynodRecord::Learned { value: v.clone() });
        let mut waiting = std::mem::take(&mut self.waiting).into_iter();
        out.committed.push(Committed {
            index: 1,
            command: Some(v.clone()),
            reply_to: waiting.next(),
        });
        for id in waiting {
            out.reply(id, Ok(v.clone()));
        }
    }

    fn finish(&mut self, out: &mut Output<Self>) {
        if *self.acceptor.state() != self.saved {
            self.saved = self.acceptor.state().clone();
            out.hard_state = Some(self.saved.clone());
        }
    }
}

impl Protocol for SynodNode {
    type Message = SynodMessage;
    type Record = SynodRecord;
    type HardState = AcceptorState;

    fn id(&self) -> NodeId {
        self.cfg.id
    }

    fn tick(&mut self, out: &mut Output<Self>) {
        if self.learned().is_none() && self.proposer.has_value() {
            match self.backoff_left {
                Some(0) | Some(1) => self.start_attempt(out),
                Some(n) => self.backoff_left = Some(n - 1),
                None => {
                    self.attempt_elapsed += 1;
                    if self.attempt_elapsed >= self.cfg.attempt_ticks {
                        self.start_attempt(out);
                    }
                }
            }
        }
        self.finish(out);
    }

    fn step(&mut self, from: NodeId, msg: SynodMessage, out: &mut Output<Self>) {
        if from == self.cfg.id || !self.cfg.nodes.contains(&from) {
            return;
        }
        if let (Some(value), SynodMessage::Prepare { .. } | SynodMessage::Accept { .. }) =
            (self.learned(), &msg)
        {
            out.send(
                from,
                SynodMessage::Decided {
                    value: value.clone(),
                },
            );
            return;
        }
        match msg {
            SynodMessage::Decided { value } => {
                let learned = self.learner.on_decided(value);
                self.on_learned(learned, out);
            }
            SynodMessage::Prepare { ballot } => {
                self.proposer.observe(ballot);
                match self.acceptor.on_prepare(ballot) {
                    Ok(accepted) => out.send(from, SynodMessage::Promise { ballot, accepted }),
                    Err(promised) => out.send(from, SynodMessage::Reject { ballot, promised }),
                }
            }
            SynodMessage::Promise { ballot, accepted } => {
                self.on_promise(from, ballot, accepted, out)
            }
            SynodMessage::Reject { ballot, promised } => self.on_reject(ballot, promised),
            SynodMessage::Accept { ballot, value } => {
                self.proposer.observe(ballot);
                self.accept_locally(from, ballot, value, out);
            }
            SynodMessage::Accepted { ballot, value } => self.learn(from, ballot, value, out),
        }
        self.finish(out);
    }

    fn propose(&mut self, proposal: Proposal, out: &mut Output<Self>) {
        match proposal {
            Proposal::Write { id, command } => {
                if let Some(v) = self.learned() {
                    out.reply(id, Ok(v.clone()));
                    return;
                }
                self.waiting.push(id);
                self.proposer.set_value(command);
                if !self.proposer.is_active() && self.backoff_left.is_none() {
                    self.start_attempt(out);
                }
            }
            Proposal::Read { id } | Proposal::Admin { id, .. } => out.reply(
                id,
                Err(ClientError::Malformed {
                    reason: "a single-decree instance only takes writes".into(),
                }),
            ),
        }
        self.finish(out);
    }

    fn status(&self) -> ProtocolStatus {
        ProtocolStatus {
            id: self.cfg.id,
            protocol: "synod".into(),
            role: if self.proposer.is_active() {
                "proposer"
            } else {
                "acceptor"
            }
            .into(),
            term: self.acceptor.state().promised.round,
            leader: None,
            commit_index: u64::from(self.learned().is_some()),
            voters: self.cfg.nodes.clone(),
            learners: Vec::new(),
        }
    }
}
