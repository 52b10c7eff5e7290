//! How the outside world (the client server, tests) talks to a running node.

pub use synod_core::NodeStatus;
use synod_core::{AdminRequest, ClientError, ReadConsistency, StateMachine};
use tokio::sync::{mpsc, oneshot};

/// A request to the node loop, answered on its oneshot.
pub enum ClientCall<M: StateMachine> {
    /// Replicate and apply a command.
    Write {
        /// The command.
        command: M::Command,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<M::Output, ClientError>>,
    },
    /// Answer a query, linearizably or from local state.
    Read {
        /// The query.
        query: M::Query,
        /// How fresh the answer must be.
        consistency: ReadConsistency,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<M::QueryOutput, ClientError>>,
    },
    /// Change membership or leadership.
    Admin {
        /// The change.
        request: AdminRequest,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    /// Report status.
    Status {
        /// Where the status goes.
        reply: oneshot::Sender<NodeStatus>,
    },
}

/// A cloneable handle for sending calls to a node loop.
pub struct NodeHandle<M: StateMachine> {
    tx: mpsc::Sender<ClientCall<M>>,
}

impl<M: StateMachine> Clone for NodeHandle<M> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

fn stopped() -> ClientError {
    ClientError::Unavailable {
        reason: "node is shutting down".into(),
    }
}

/// The loop dropped the request after it was queued: it may have been
/// proposed, so the outcome is unknown.
fn dropped() -> ClientError {
    ClientError::ConnectionLost {
        reason: "node loop dropped the request".into(),
    }
}

impl<M: StateMachine> NodeHandle<M> {
    /// A handle and the receiver the node loop reads calls from.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<ClientCall<M>>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }

    /// Replicates `command`; the state machine's output on success.
    pub async fn write(&self, command: M::Command) -> Result<M::Output, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ClientCall::Write { command, reply })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| dropped())?
    }

    /// Answers `query` with the given consistency.
    pub async fn read(
        &self,
        query: M::Query,
        consistency: ReadConsistency,
    ) -> Result<M::QueryOutput, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ClientCall::Read {
                query,
                consistency,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        // A read that was dropped changed nothing: definite.
        rx.await.map_err(|_| stopped())?
    }

    /// Asks for a membership or leadership change.
    pub async fn admin(&self, request: AdminRequest) -> Result<(), ClientError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ClientCall::Admin { request, reply })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| dropped())?
    }

    /// The node's status.
    pub async fn status(&self) -> Result<NodeStatus, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ClientCall::Status { reply })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
    }
}
