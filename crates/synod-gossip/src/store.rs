//! The update store: every data update this member holds, by origin and
//! sequence number, with the version vector that summarises it and the
//! rumours still being spread.
//!
//! Guarantees:
//!
//! - **Exactly once.** [`UpdateStore::insert`] accepts an `(origin, seq)`
//!   once; a duplicate (a rumour heard twice, an anti-entropy overlap) is
//!   refused, so the caller applies each update once per member.
//! - **Digests are honest.** The digest entry of an origin is the highest
//!   `seq` with every update `1..=seq` of that origin present. Updates can
//!   arrive out of order (rumours race), so updates above a gap are held
//!   but not claimed; a peer answering the digest may resend them, and they
//!   are then refused as duplicates.
//! - **Bounded messages.** What one message carries is capped by the
//!   caller's [`Budget`] (updates and bytes); what does not fit follows in a
//!   later round.

use crate::message::{Digest, Update};
use std::collections::BTreeMap;
use synod_core::NodeId;

/// How much one message may carry: a count and a byte budget. The first
/// update is always admitted, so one large update cannot stall spreading.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub(crate) updates: usize,
    pub(crate) bytes: usize,
}

impl Budget {
    fn admits(&self, count: usize, bytes: usize) -> bool {
        count == 0 || (count < self.updates && bytes < self.bytes)
    }
}

#[derive(Clone, Debug, Default)]
struct OriginLog {
    /// Every update `1..=contiguous` is present.
    contiguous: u64,
    updates: BTreeMap<u64, Update>,
}

/// Every update held, and the rumours in flight.
#[derive(Clone, Debug, Default)]
pub(crate) struct UpdateStore {
    origins: BTreeMap<NodeId, OriginLog>,
    /// Fresh updates still being pushed, with rumour rounds left.
    rumours: BTreeMap<(NodeId, u64), u32>,
    len: u64,
}

impl UpdateStore {
    /// Adds `update` if it is new; returns whether it was.
    pub(crate) fn insert(&mut self, update: Update) -> bool {
        let log = self.origins.entry(update.origin).or_default();
        if update.seq <= log.contiguous || log.updates.contains_key(&update.seq) {
            return false;
        }
        log.updates.insert(update.seq, update);
        while log.updates.contains_key(&(log.contiguous + 1)) {
            log.contiguous += 1;
        }
        self.len += 1;
        true
    }

    /// Whether `(origin, seq)` is held.
    pub(crate) fn contains(&self, origin: NodeId, seq: u64) -> bool {
        self.origins
            .get(&origin)
            .is_some_and(|l| l.updates.contains_key(&seq))
    }

    /// How many updates are held.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The highest sequence number held from `origin` (0 if none).
    pub(crate) fn max_seq(&self, origin: NodeId) -> u64 {
        self.origins
            .get(&origin)
            .and_then(|l| l.updates.keys().next_back().copied())
            .unwrap_or(0)
    }

    /// The version vector: per origin, the contiguous high-water mark.
    pub(crate) fn digest(&self) -> Digest {
        self.origins
            .iter()
            .filter(|(_, l)| l.contiguous > 0)
            .map(|(o, l)| (*o, l.contiguous))
            .collect()
    }

    /// Up to `limit` updates a peer with `digest` may lack: every update
    /// above the peer's high-water mark of its origin. Origins are visited
    /// starting at a rotating point (`start`) so that one busy origin cannot
    /// starve the others when the limit bites.
    pub(crate) fn missing_for(&self, digest: &Digest, limit: Budget, start: u64) -> Vec<Update> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let origins: Vec<&NodeId> = self.origins.keys().collect();
        if origins.is_empty() {
            return out;
        }
        let first = (start % origins.len() as u64) as usize;
        for i in 0..origins.len() {
            let origin = origins[(first + i) % origins.len()];
            let have = digest.get(origin).copied().unwrap_or(0);
            let log = &self.origins[origin];
            for u in log.updates.range(have.saturating_add(1)..).map(|(_, u)| u) {
                if !limit.admits(out.len(), bytes) {
                    return out;
                }
                bytes += u.size_bytes();
                out.push(u.clone());
            }
        }
        out
    }

    /// Starts spreading `(origin, seq)` for `rounds` rumour rounds, dropping
    /// the oldest rumour when more than `max` are in flight.
    pub(crate) fn start_rumour(&mut self, origin: NodeId, seq: u64, rounds: u32, max: usize) {
        self.rumours.insert((origin, seq), rounds);
        while self.rumours.len() > max {
            let oldest = *self.rumours.keys().next().expect("non-empty");
            self.rumours.remove(&oldest);
        }
    }

    /// Whether any rumour is in flight.
    pub(crate) fn has_rumours(&self) -> bool {
        !self.rumours.is_empty()
    }

    /// The updates of one rumour round (at most `limit`, fewest rounds left
    /// first so the oldest finish), each charged one round.
    pub(crate) fn rumour_round(&mut self, limit: Budget) -> Vec<Update> {
        let mut order: Vec<(u32, (NodeId, u64))> =
            self.rumours.iter().map(|(k, left)| (*left, *k)).collect();
        order.sort_unstable();
        let mut out = Vec::new();
        let mut bytes = 0;
        for (_, key) in order {
            if !limit.admits(out.len(), bytes) {
                break;
            }
            if let Some(u) = self.origins.get(&key.0).and_then(|l| l.updates.get(&key.1)) {
                bytes += u.size_bytes();
                out.push(u.clone());
            }
            let left = self.rumours.get_mut(&key).expect("rumour");
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.rumours.remove(&key);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::{Stamp, Stamped};

    fn budget(updates: usize) -> Budget {
        Budget {
            updates,
            bytes: usize::MAX,
        }
    }

    fn update(origin: u64, seq: u64) -> Update {
        Update {
            origin: NodeId(origin),
            seq,
            stamped: Stamped {
                stamp: Stamp {
                    clock: seq,
                    node: NodeId(origin),
                },
                command: vec![seq as u8],
            },
        }
    }

    #[test]
    fn an_update_is_accepted_once() {
        let mut s = UpdateStore::default();
        assert!(s.insert(update(1, 1)));
        assert!(!s.insert(update(1, 1)));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn digest_claims_only_the_gapless_prefix() {
        let mut s = UpdateStore::default();
        s.insert(update(1, 1));
        s.insert(update(1, 3));
        s.insert(update(2, 2));
        assert_eq!(s.digest(), Digest::from([(NodeId(1), 1)]));
        s.insert(update(1, 2));
        assert_eq!(s.digest(), Digest::from([(NodeId(1), 3)]));
        assert!(
            !s.insert(update(1, 2)),
            "below the high-water mark is a duplicate"
        );
    }

    #[test]
    fn a_peer_gets_only_what_is_above_its_digest() {
        let mut s = UpdateStore::default();
        for seq in 1..=4 {
            s.insert(update(1, seq));
        }
        s.insert(update(2, 1));
        let peer = Digest::from([(NodeId(1), 3)]);
        let keys: Vec<_> = s
            .missing_for(&peer, budget(10), 0)
            .iter()
            .map(|u| (u.origin.0, u.seq))
            .collect();
        assert_eq!(keys, vec![(1, 4), (2, 1)]);
        assert_eq!(s.missing_for(&peer, budget(1), 1).len(), 1);
        assert_eq!(
            s.missing_for(&peer, budget(1), 1)[0].origin,
            NodeId(2),
            "rotating start"
        );
        let tight = Budget {
            updates: 10,
            bytes: 1,
        };
        assert_eq!(
            s.missing_for(&peer, tight, 0).len(),
            1,
            "the byte budget bites after one"
        );
    }

    #[test]
    fn a_rumour_is_sent_for_its_rounds_then_stops() {
        let mut s = UpdateStore::default();
        s.insert(update(1, 1));
        s.start_rumour(NodeId(1), 1, 2, 10);
        assert_eq!(s.rumour_round(budget(10)).len(), 1);
        assert_eq!(s.rumour_round(budget(10)).len(), 1);
        assert!(!s.has_rumours());
        assert!(s.rumour_round(budget(10)).is_empty());
    }
}
