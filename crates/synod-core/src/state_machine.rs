//! The replicated state machine.
//!
//! A protocol decides the order of commands; the state machine gives them
//! meaning. It must be deterministic — every replica applies the same commands
//! in the same order and must reach the same state — so `apply` may not read
//! clocks, randomness or anything outside `self` and the command.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("cannot restore snapshot: {0}")]
pub struct RestoreError(pub String);

/// A deterministic state machine driven by a replicated log.
pub trait StateMachine: Send + 'static {
    /// A command that changes state, replicated through the log.
    type Command: Serialize + DeserializeOwned + Send + 'static;
    /// What applying a command returns to the client that proposed it.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// A read-only question.
    type Query: Serialize + DeserializeOwned + Send + 'static;
    /// The answer to a query.
    type QueryOutput: Serialize + DeserializeOwned + Send + 'static;

    /// Applies the command at log position `index` (strictly increasing).
    fn apply(&mut self, index: u64, command: Self::Command) -> Self::Output;
    /// Answers a query from the current state.
    fn query(&self, query: &Self::Query) -> Self::QueryOutput;
    /// The position of the last command applied (or restored).
    fn applied_index(&self) -> u64;
    /// Advances the applied index without a command (a protocol no-op).
    fn skip(&mut self, index: u64);
    /// The whole state, including the applied index.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the whole state with a snapshot's.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), RestoreError>;
}
