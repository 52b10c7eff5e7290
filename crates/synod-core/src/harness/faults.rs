//! Which links are cut or lossy, decided per message at delivery time.

use crate::ids::NodeId;
use crate::rng::SeededRng;
use std::collections::{BTreeMap, BTreeSet};

/// The network's faults. Every decision draws from the network's seeded RNG,
/// so a seed replays the same losses.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Directed links that deliver nothing.
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Directed links that lose each message with a probability.
    pub loss: BTreeMap<(NodeId, NodeId), f64>,
    /// Loss probability on every link (on top of `loss`).
    pub loss_all: f64,
    /// Probability that a delivered message is delivered a second time later.
    pub duplicate: f64,
    /// Deliver in-flight messages in random order instead of FIFO.
    pub reorder: bool,
}

impl Faults {
    /// Whether a message on `from → to` is lost.
    pub fn loses(&self, from: NodeId, to: NodeId, rng: &mut SeededRng) -> bool {
        if self.cut.contains(&(from, to)) {
            return true;
        }
        let p = self.loss.get(&(from, to)).copied().unwrap_or(0.0);
        (p > 0.0 && rng.chance(p)) || (self.loss_all > 0.0 && rng.chance(self.loss_all))
    }
}
