//! The SWIM failure detector: one probe per protocol period.
//!
//! ```text
//!  period start        ping_timeout_ticks            period end
//!  │ Ping ──▶ target    │ no Ack yet:                  │ still no Ack:
//!  │                    │ PingReq ──▶ k random members │ suspect target
//!  │ ◀── Ack            │   each: Ping ──▶ target      │
//!  │     (done)         │   ◀── Ack, relayed as Ack ◀──│
//! ```
//!
//! Targets are visited in randomised round-robin order (a fresh shuffle of
//! the live members each pass), so every member is probed within a bounded
//! number of periods — SWIM's "time-bounded completeness" — instead of
//! only in expectation. A member that becomes suspect is told so at once
//! (a ping carrying the suspicion), so that a live one refutes long before
//! the suspicion timeout. Ping, Ack and PingReq all carry piggybacked
//! membership news. A relayed ping is remembered for one protocol period
//! and at most [`MAX_RELAYS`] at once; an ack is matched by probe number
//! *and* by the member it vouches for, so a stale or forged ack for
//! another probe changes nothing.

use crate::message::{GossipMessage, MemberState, MemberUpdate};
use crate::node::GossipNode;
use synod_core::{NodeId, Output};

/// At most this many indirect pings are relayed at once; further PingReqs
/// are ignored (the requester then suspects, as if the relay were slow).
pub const MAX_RELAYS: usize = 1024;

/// The probe of this protocol period.
#[derive(Clone, Debug)]
pub(crate) struct Probe {
    pub(crate) target: NodeId,
    pub(crate) id: u64,
    pub(crate) started: u64,
    pub(crate) indirect_sent: bool,
    pub(crate) acked: bool,
}

/// A ping sent on another member's behalf.
#[derive(Clone, Debug)]
pub(crate) struct Relay {
    pub(crate) requester: NodeId,
    pub(crate) their_probe: u64,
    pub(crate) target: NodeId,
    pub(crate) expires: u64,
}

impl GossipNode {
    pub(crate) fn swim_tick(&mut self, out: &mut Output<Self>) {
        let now = self.now;
        let timeout = self.config.ping_timeout_ticks;
        let indirect_due = self
            .probe
            .as_ref()
            .is_some_and(|p| !p.acked && !p.indirect_sent && now - p.started >= timeout);
        if indirect_due {
            self.send_ping_reqs(out);
        }
        if now >= self.next_probe_at {
            self.next_probe_at = now + self.config.protocol_period_ticks;
            if let Some(p) = self.probe.take() {
                if !p.acked {
                    self.suspect(p.target, out);
                }
            }
            self.start_probe(out);
        }
        self.relays.retain(|_, r| r.expires > now);
        let timeout = self.config.suspicion_timeout(self.members.size());
        self.members.expire_suspicions(now, timeout);
    }

    /// Suspects `target` and tells it so at once: a ping to a suspect
    /// carries the suspicion (see `Members::piggyback`), so a live member
    /// that was only slow or unlucky refutes within a round trip instead of
    /// waiting for the news to reach it by chance. Its ack is not awaited.
    fn suspect(&mut self, target: NodeId, out: &mut Output<Self>) {
        self.members.suspect(target, self.now);
        let suspected = self
            .members
            .get(target)
            .is_some_and(|m| m.state == MemberState::Suspect);
        if suspected {
            let probe = self.next_probe_id;
            self.next_probe_id += 1;
            let members = self.piggyback(target);
            out.send(target, GossipMessage::Ping { probe, members });
        }
    }

    fn next_target(&mut self) -> Option<NodeId> {
        let live = self.members.live_peers();
        while let Some(t) = self.probe_order.pop() {
            if live.binary_search(&t).is_ok() {
                return Some(t);
            }
        }
        let mut order = live;
        self.rng.shuffle(&mut order);
        self.probe_order = order;
        self.probe_order.pop()
    }

    fn start_probe(&mut self, out: &mut Output<Self>) {
        let Some(target) = self.next_target() else {
            return;
        };
        let id = self.next_probe_id;
        self.next_probe_id += 1;
        self.probe = Some(Probe {
            target,
            id,
            started: self.now,
            indirect_sent: false,
            acked: false,
        });
        let members = self.piggyback(target);
        out.send(target, GossipMessage::Ping { probe: id, members });
    }

    fn send_ping_reqs(&mut self, out: &mut Output<Self>) {
        let Some(p) = self.probe.as_mut() else {
            return;
        };
        p.indirect_sent = true;
        let (target, probe) = (p.target, p.id);
        let helpers: Vec<NodeId> = self
            .members
            .live_peers()
            .into_iter()
            .filter(|&n| n != target)
            .collect();
        let k = self.config.ping_req_k;
        for helper in self.rng.sample(&helpers, k) {
            let members = self.piggyback(helper);
            out.send(
                helper,
                GossipMessage::PingReq {
                    probe,
                    target,
                    members,
                },
            );
        }
    }

    pub(crate) fn handle_ping(
        &mut self,
        from: NodeId,
        probe: u64,
        news: &[MemberUpdate],
        out: &mut Output<Self>,
    ) {
        self.hear(news, out);
        let members = self.piggyback(from);
        let alive = self.config.id;
        out.send(
            from,
            GossipMessage::Ack {
                probe,
                alive,
                members,
            },
        );
    }

    pub(crate) fn handle_ack(
        &mut self,
        probe: u64,
        alive: NodeId,
        news: &[MemberUpdate],
        out: &mut Output<Self>,
    ) {
        self.hear(news, out);
        if let Some(p) = self.probe.as_mut() {
            if p.id == probe && p.target == alive {
                p.acked = true;
                return;
            }
        }
        let relayed = self.relays.get(&probe).is_some_and(|r| r.target == alive);
        if relayed {
            let r = self.relays.remove(&probe).expect("relay present");
            let members = self.piggyback(r.requester);
            out.send(
                r.requester,
                GossipMessage::Ack {
                    probe: r.their_probe,
                    alive,
                    members,
                },
            );
        }
    }

    pub(crate) fn handle_ping_req(
        &mut self,
        from: NodeId,
        probe: u64,
        target: NodeId,
        news: &[MemberUpdate],
        out: &mut Output<Self>,
    ) {
        self.hear(news, out);
        if target == self.config.id {
            // Asked to ping ourselves: we are alive, say so directly.
            self.handle_ping(from, probe, &[], out);
            return;
        }
        if target == NodeId(0) || self.relays.len() >= MAX_RELAYS {
            return;
        }
        let id = self.next_probe_id;
        self.next_probe_id += 1;
        self.relays.insert(
            id,
            Relay {
                requester: from,
                their_probe: probe,
                target,
                expires: self.now + self.config.protocol_period_ticks,
            },
        );
        let members = self.piggyback(target);
        out.send(target, GossipMessage::Ping { probe: id, members });
    }
}
