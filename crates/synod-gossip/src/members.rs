//! The SWIM membership table: who is alive, suspect or dead, at which
//! incarnation, and which news is still to be piggybacked.
//!
//! Rules this module keeps (SWIM, Das et al. 2002, §4.2–4.3):
//!
//! - **Precedence.** Per member, the table holds the greatest news heard,
//!   ordered by `(incarnation, state)` with `Alive < Suspect < Dead` (see
//!   [`MemberUpdate`]). Lesser or equal news is ignored, so stale,
//!   duplicated or reordered news changes nothing.
//! - **Suspicion before death.** A member that misses a probe becomes
//!   `Suspect` at its current incarnation; every member that hears of the
//!   suspicion starts its own timer, and declares the member `Dead` when the
//!   timer runs out without a refutation.
//! - **Refutation.** News that this member is suspect or dead at an
//!   incarnation ≥ its own makes it bump its incarnation past the news and
//!   spread `Alive` at the new one, which overrides the suspicion
//!   everywhere. The caller persists the new incarnation before any message
//!   carries it.
//! - **Dead stays dead** until the member itself announces a higher
//!   incarnation (a restart or a refutation does); messages *from* a dead
//!   member change nothing by themselves. Dead members stay in the table as
//!   tombstones holding their last incarnation (so old news cannot
//!   resurrect them) but are out of the live view.
//! - **Dissemination.** Every change is queued and piggybacked on outgoing
//!   messages, newest-first by fewest transmissions, until it was sent
//!   `limit ≈ λ·log N` times; a member only ever has its latest news queued.

use crate::message::{MemberState, MemberUpdate};
use std::collections::BTreeMap;
use synod_core::NodeId;

/// Counters of failure-detector events at one member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DetectorStats {
    /// Members this one suspected because they missed its probe.
    pub suspicions_raised: u64,
    /// Members this one declared dead because their suspicion timed out.
    pub deaths_declared: u64,
    /// Times this member refuted news of its own suspicion or death.
    pub refutations: u64,
}

#[derive(Clone, Debug)]
struct Queued {
    news: MemberUpdate,
    sent: u32,
}

/// The membership table of one member.
#[derive(Clone, Debug)]
pub(crate) struct Members {
    me: NodeId,
    incarnation: u64,
    table: BTreeMap<NodeId, MemberUpdate>,
    suspected_at: BTreeMap<NodeId, u64>,
    queue: BTreeMap<NodeId, Queued>,
    pub(crate) stats: DetectorStats,
}

impl Members {
    /// A table seeded with `seeds`, all alive at incarnation 0.
    pub(crate) fn new(me: NodeId, incarnation: u64, seeds: &[NodeId]) -> Self {
        let table = seeds
            .iter()
            .filter(|&&n| n != me && n != NodeId(0))
            .map(|&node| {
                let news = MemberUpdate {
                    node,
                    incarnation: 0,
                    state: MemberState::Alive,
                };
                (node, news)
            })
            .collect();
        Self {
            me,
            incarnation,
            table,
            suspected_at: BTreeMap::new(),
            queue: BTreeMap::new(),
            stats: DetectorStats::default(),
        }
    }

    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }

    fn my_news(&self) -> MemberUpdate {
        MemberUpdate {
            node: self.me,
            incarnation: self.incarnation,
            state: MemberState::Alive,
        }
    }

    /// Queues this member's own `Alive` news (after a restart, so that
    /// members that declared it dead take it back).
    pub(crate) fn announce_self(&mut self) {
        let news = self.my_news();
        self.enqueue(news);
    }

    /// What this member believes about `node` (itself included).
    pub(crate) fn get(&self, node: NodeId) -> Option<MemberUpdate> {
        if node == self.me {
            return Some(self.my_news());
        }
        self.table.get(&node).copied()
    }

    /// Applies one piece of news heard at tick `now`. Returns whether it
    /// changed anything.
    pub(crate) fn apply(&mut self, news: MemberUpdate, now: u64) -> bool {
        if news.node == NodeId(0) {
            return false;
        }
        if news.node == self.me {
            if news.overrides(&self.my_news()) {
                self.incarnation = news.incarnation.saturating_add(1);
                self.stats.refutations += 1;
                self.announce_self();
                return true;
            }
            return false;
        }
        if let Some(held) = self.table.get(&news.node) {
            if !news.overrides(held) {
                return false;
            }
        }
        self.table.insert(news.node, news);
        if news.state == MemberState::Suspect {
            self.suspected_at.insert(news.node, now);
        } else {
            self.suspected_at.remove(&news.node);
        }
        self.enqueue(news);
        true
    }

    /// This member's probe of `node` failed: suspect it at its current
    /// incarnation (if it is believed alive).
    pub(crate) fn suspect(&mut self, node: NodeId, now: u64) {
        let Some(held) = self.table.get(&node).copied() else {
            return;
        };
        if held.state == MemberState::Alive {
            self.stats.suspicions_raised += 1;
            self.apply(
                MemberUpdate {
                    state: MemberState::Suspect,
                    ..held
                },
                now,
            );
        }
    }

    /// Declares dead every member whose suspicion is `suspicion_ticks` old.
    pub(crate) fn expire_suspicions(&mut self, now: u64, suspicion_ticks: u64) {
        let expired: Vec<NodeId> = self
            .suspected_at
            .iter()
            .filter(|(_, &at)| now.saturating_sub(at) >= suspicion_ticks)
            .map(|(&n, _)| n)
            .collect();
        for node in expired {
            if let Some(held) = self.table.get(&node).copied() {
                self.stats.deaths_declared += 1;
                self.apply(
                    MemberUpdate {
                        state: MemberState::Dead,
                        ..held
                    },
                    now,
                );
            }
        }
    }

    fn enqueue(&mut self, news: MemberUpdate) {
        self.queue.insert(news.node, Queued { news, sent: 0 });
    }

    /// The news to piggyback on a message to `to`: what we believe about
    /// `to` itself when that is suspicion or death (so it can refute at
    /// once), then up to `max` queued items, least-sent first. Each queued
    /// item leaves the queue after `limit` transmissions.
    pub(crate) fn piggyback(&mut self, to: NodeId, max: usize, limit: u32) -> Vec<MemberUpdate> {
        let mut out = Vec::new();
        if let Some(about_to) = self.table.get(&to) {
            if about_to.state != MemberState::Alive {
                out.push(*about_to);
            }
        }
        let mut order: Vec<(u32, NodeId)> = self.queue.iter().map(|(n, q)| (q.sent, *n)).collect();
        order.sort_unstable();
        for (_, node) in order.into_iter().take(max) {
            let q = self.queue.get_mut(&node).expect("queued");
            q.sent += 1;
            if !out.contains(&q.news) {
                out.push(q.news);
            }
            if q.sent >= limit {
                self.queue.remove(&node);
            }
        }
        out
    }

    /// Every other member that is not dead (the ones probed and gossiped
    /// to), in id order.
    pub(crate) fn live_peers(&self) -> Vec<NodeId> {
        self.table
            .values()
            .filter(|m| m.state != MemberState::Dead)
            .map(|m| m.node)
            .collect()
    }

    /// Every other member ever heard of, dead ones included, in id order.
    pub(crate) fn all_peers(&self) -> Vec<NodeId> {
        self.table.keys().copied().collect()
    }

    /// Members (this one included) in `state`, in id order.
    pub(crate) fn in_state(&self, state: MemberState) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .table
            .values()
            .filter(|m| m.state == state)
            .map(|m| m.node)
            .collect();
        if state == MemberState::Alive {
            v.push(self.me);
            v.sort_unstable();
        }
        v
    }

    /// The whole table, this member included (for anti-entropy).
    pub(crate) fn full_table(&self) -> Vec<MemberUpdate> {
        let mut v: Vec<MemberUpdate> = self.table.values().copied().collect();
        v.push(self.my_news());
        v
    }

    /// How many members are known, this one included.
    pub(crate) fn size(&self) -> usize {
        self.table.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberState::*;

    fn news(node: u64, incarnation: u64, state: MemberState) -> MemberUpdate {
        MemberUpdate {
            node: NodeId(node),
            incarnation,
            state,
        }
    }

    fn table() -> Members {
        Members::new(NodeId(1), 0, &[NodeId(1), NodeId(2), NodeId(3)])
    }

    #[test]
    fn suspicion_is_refuted_by_a_higher_incarnation() {
        let mut m = table();
        assert!(m.apply(news(2, 0, Suspect), 0));
        assert!(
            !m.apply(news(2, 0, Alive), 1),
            "same incarnation does not refute"
        );
        assert!(m.apply(news(2, 1, Alive), 1));
        assert_eq!(m.get(NodeId(2)), Some(news(2, 1, Alive)));
        m.expire_suspicions(1000, 10);
        assert_eq!(
            m.get(NodeId(2)).unwrap().state,
            Alive,
            "refuted suspicion never expires"
        );
    }

    #[test]
    fn suspicion_not_refuted_in_time_becomes_death() {
        let mut m = table();
        m.suspect(NodeId(3), 5);
        m.expire_suspicions(14, 10);
        assert_eq!(m.get(NodeId(3)).unwrap().state, Suspect);
        m.expire_suspicions(15, 10);
        assert_eq!(m.get(NodeId(3)), Some(news(3, 0, Dead)));
        assert_eq!(m.live_peers(), vec![NodeId(2)]);
        assert_eq!(m.stats.deaths_declared, 1);
    }

    #[test]
    fn dead_member_stays_dead_until_a_higher_incarnation() {
        let mut m = table();
        m.apply(news(2, 3, Dead), 0);
        assert!(!m.apply(news(2, 3, Alive), 1));
        assert!(!m.apply(news(2, 3, Suspect), 1));
        assert!(!m.apply(news(2, 2, Alive), 1));
        assert_eq!(m.get(NodeId(2)).unwrap().state, Dead);
        assert!(m.apply(news(2, 4, Alive), 2));
        assert_eq!(m.live_peers(), vec![NodeId(2), NodeId(3)]);
    }

    #[test]
    fn news_of_own_suspicion_or_death_bumps_incarnation() {
        let mut m = table();
        assert!(m.apply(news(1, 0, Suspect), 0));
        assert_eq!(m.incarnation(), 1);
        assert!(m.apply(news(1, 4, Dead), 0));
        assert_eq!(m.incarnation(), 5);
        assert!(
            !m.apply(news(1, 2, Dead), 0),
            "older news about us is stale"
        );
        assert_eq!(m.stats.refutations, 2);
        let sent = m.piggyback(NodeId(2), 8, 3);
        assert!(sent.contains(&news(1, 5, Alive)));
    }

    #[test]
    fn unknown_members_are_accepted_when_gossiped() {
        let mut m = table();
        assert!(m.apply(news(9, 0, Alive), 0));
        assert_eq!(m.live_peers(), vec![NodeId(2), NodeId(3), NodeId(9)]);
        assert!(!m.apply(news(0, 0, Alive), 0), "node 0 is nobody");
    }

    #[test]
    fn piggybacked_news_leaves_the_queue_after_its_retransmit_limit() {
        let mut m = table();
        m.apply(news(2, 1, Alive), 0);
        for _ in 0..3 {
            assert_eq!(m.piggyback(NodeId(3), 8, 3), vec![news(2, 1, Alive)]);
        }
        assert!(m.piggyback(NodeId(3), 8, 3).is_empty());
    }

    #[test]
    fn messages_to_a_suspect_carry_the_suspicion_so_it_can_refute() {
        let mut m = table();
        m.suspect(NodeId(2), 0);
        let to_suspect = m.piggyback(NodeId(2), 0, 3);
        assert_eq!(to_suspect, vec![news(2, 0, Suspect)]);
    }
}
