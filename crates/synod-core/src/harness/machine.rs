//! The state machine the harness applies committed commands to: it records
//! them, so tests can compare what every replica applied.

use crate::codec;
use crate::storage::Snapshot;

/// Remembers every command applied, in order, with its index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordingMachine {
    /// `(index, command)` of every command applied (no-ops are not listed).
    pub applied: Vec<(u64, Vec<u8>)>,
    /// The position of the last command or no-op applied.
    pub applied_index: u64,
}

impl RecordingMachine {
    /// Applies a committed command (or a no-op when `command` is `None`).
    /// Indexes must increase; a repeated or older index is a protocol bug.
    pub fn apply(&mut self, index: u64, command: Option<&[u8]>) {
        assert!(
            index > self.applied_index,
            "committed index {index} applied after index {} (out of order or twice)",
            self.applied_index
        );
        self.applied_index = index;
        if let Some(c) = command {
            self.applied.push((index, c.to_vec()));
        }
    }

    /// The encoded state.
    pub fn snapshot_data(&self) -> Vec<u8> {
        codec::encode(&(self.applied_index, &self.applied)).expect("encode recording machine")
    }

    /// Replaces the state with a snapshot's.
    pub fn restore(&mut self, snapshot: &Snapshot) {
        let (index, applied): (u64, Vec<(u64, Vec<u8>)>) =
            codec::decode(&snapshot.data).expect("harness snapshot decodes");
        assert_eq!(
            index, snapshot.position,
            "snapshot data and position disagree"
        );
        self.applied_index = index;
        self.applied = applied;
    }
}
