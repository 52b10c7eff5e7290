//! Spreading data: rumour mongering for fresh updates, scuttlebutt
//! anti-entropy for everything else.
//!
//! **Rumours** (infect-and-forward with a counter): every `gossip_ticks`
//! a member that holds fresh updates pushes them to `fanout` random live
//! members; each update rides in `≈ λ·log N` rounds at every member that
//! learned it as a rumour, then stops. Fast (about `log_{fanout+1} N`
//! rounds to reach almost everyone) but probabilistic: a member can miss a
//! rumour, and one that was down or cut off misses it for sure.
//!
//! **Anti-entropy** (push-pull with digests, scuttlebutt): every
//! `anti_entropy_ticks` a member sends one random member — dead or alive
//! in its view, so that healed partitions and restarted members are found
//! again — its version vector and membership table:
//!
//! ```text
//!   A ── SyncRequest{digest_A, members_A} ──▶ B   B merges members_A
//!   A ◀── SyncReply{digest_B, updates B has above digest_A, members_B} ── B
//!   A merges, then ── SyncPush{updates A has above digest_B} ──▶ B
//! ```
//!
//! A member that comes back from the dead in this member's view is synced
//! with at once (by about `fanout` of the members that notice), so a
//! restarted member or a healed partition does not wait for the next
//! period.
//!
//! Only updates above the peer's per-origin high-water marks travel, never
//! the whole store, and at most `max_updates_per_message` updates and
//! about `max_message_bytes` per leg: a member
//! that missed more catches up over several exchanges. Updates learned by
//! anti-entropy are not rumoured again (they are old news; rumouring them
//! would flood a cluster with a restarted member's catch-up).

use crate::message::{Digest, GossipMessage, MemberUpdate, Update};
use crate::node::GossipNode;
use synod_core::{NodeId, Output};

impl GossipNode {
    pub(crate) fn rumour_tick(&mut self, out: &mut Output<Self>) {
        if self.now < self.next_gossip_at {
            return;
        }
        self.next_gossip_at = self.now + self.config.gossip_ticks;
        if !self.store.has_rumours() {
            return;
        }
        let peers = self
            .rng
            .sample(&self.members.live_peers(), self.config.fanout);
        if peers.is_empty() {
            return;
        }
        let updates = self.store.rumour_round(self.budget());
        for peer in peers {
            let members = self.piggyback(peer);
            out.send(
                peer,
                GossipMessage::Rumour {
                    updates: updates.clone(),
                    members,
                },
            );
        }
    }

    pub(crate) fn sync_tick(&mut self, out: &mut Output<Self>) {
        if self.now < self.next_sync_at {
            return;
        }
        self.next_sync_at = self.now + self.config.anti_entropy_ticks;
        let peers = self.members.all_peers();
        if peers.is_empty() {
            return;
        }
        let peer = peers[self.rng.index(peers.len())];
        self.send_sync_request(peer, out);
    }

    pub(crate) fn send_sync_request(&mut self, peer: NodeId, out: &mut Output<Self>) {
        out.send(
            peer,
            GossipMessage::SyncRequest {
                digest: self.store.digest(),
                members: self.members.full_table(),
            },
        );
    }

    fn missing_for(&mut self, digest: &Digest) -> Vec<Update> {
        self.sync_rotation = self.sync_rotation.wrapping_add(1);
        let budget = self.budget();
        self.store.missing_for(digest, budget, self.sync_rotation)
    }

    pub(crate) fn handle_sync_request(
        &mut self,
        from: NodeId,
        digest: &Digest,
        news: &[MemberUpdate],
        out: &mut Output<Self>,
    ) {
        self.hear(news, out);
        let updates = self.missing_for(digest);
        out.send(
            from,
            GossipMessage::SyncReply {
                digest: self.store.digest(),
                updates,
                members: self.members.full_table(),
            },
        );
    }

    pub(crate) fn handle_sync_reply(
        &mut self,
        from: NodeId,
        digest: &Digest,
        updates: Vec<Update>,
        news: &[MemberUpdate],
        out: &mut Output<Self>,
    ) {
        self.hear(news, out);
        for u in updates {
            self.learn(u, false, out);
        }
        let push = self.missing_for(digest);
        if !push.is_empty() {
            out.send(from, GossipMessage::SyncPush { updates: push });
        }
    }
}
