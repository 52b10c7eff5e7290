//! Writes and linearizable reads that reach a learner: forwarded to the
//! leader, answered by the learner (ZooKeeper's REQUEST and `sync`).
//!
//! ```text
//!  client write ─▶ learner (synchronised, hearing the broadcast)
//!                  REQUEST{incarnation, request, command} ─▶ leader
//!  leader: a REQUEST newer than the last from that learner
//!          ─▶ proposed like its own client's write, the txn's origin =
//!             (learner, incarnation, request)         (or REFUSED{error} ─▶ learner)
//!  learner: delivers the txn (COMMIT, or INFORM for an observer)
//!           and its origin is this life's request ─▶ answers the client
//! ```
//!
//! The origin travels inside the transaction, so the learner answers
//! whichever way it learns the transaction committed: COMMIT, a PING's
//! commit point, or an INFORM. Request numbers start over when a server
//! restarts, so the origin (and a REFUSED) also names the server's
//! **incarnation**, which is durable and raised at every start: a
//! transaction forwarded by an earlier life, or a refusal of one, is never
//! taken for this life's request with the same number.
//!
//! A learner answers `LeadershipLost` (indefinite) to every write it
//! forwarded when it loses its leader, and `Timeout` (indefinite) to one
//! not delivered within `forward_timeout_ticks`: the REQUEST or its answer
//! may have been lost while the learner kept hearing its leader. Either way
//! the write may still commit; a client told so must not assume it did not.
//! The leader keeps, per learner, the newest (incarnation, request) it
//! proposed, and ignores a REQUEST that is not newer, so a duplicated
//! message never becomes two transactions.
//!
//! A linearizable read goes to the leader as a SYNCREQUEST. The leader
//! notes its commit point, confirms that it still leads with a ping round
//! (as for its own reads), and answers SYNCREPLY with that commit point; the
//! learner serves the read once it has applied it. Every write acknowledged
//! anywhere before the read reached the leader is at or below that point,
//! so the read sees them all. Reads time out and are abandoned like writes
//! (an error on a read changes nothing, whichever it is).

use crate::message::ZabMessage;
use crate::node::ZabNode;
use crate::zxid::{Origin, Zxid};
use synod_core::{ClientError, Output, RequestId};

/// A request this learner forwarded and has not answered yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forwarded {
    id: RequestId,
    /// The tick it was forwarded.
    since: u64,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A write (REQUEST), answered when its transaction is delivered here.
    Write,
    /// A linearizable read (SYNCREQUEST), served once the leader confirmed
    /// it and this learner applied the commit point the leader named.
    Read { ready_at: Option<Zxid> },
}

/// Who asked the leader for a write or a linearizable read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Requester {
    /// A client of the leader itself.
    Client(RequestId),
    /// A client of a learner, which forwarded the request.
    Learner(Origin),
}

impl Requester {
    /// The origin recorded in the transaction (none for the leader's own
    /// clients: it tracks those by zxid).
    pub(crate) fn origin(self) -> Option<Origin> {
        match self {
            Requester::Client(_) => None,
            Requester::Learner(o) => Some(o),
        }
    }

    /// A confirmed read: served here, or SYNCREPLY to the learner with the
    /// commit point at the read's arrival.
    pub(crate) fn serve_read(self, epoch: u64, committed: Zxid, out: &mut Output<ZabNode>) {
        match self {
            Requester::Client(id) => out.reads.push(id),
            Requester::Learner(o) => out.send(
                o.server,
                ZabMessage::SyncReply {
                    epoch,
                    incarnation: o.incarnation,
                    request: o.request,
                    zxid: committed,
                },
            ),
        }
    }

    /// Answers a write the leader will not propose: definitely not done.
    pub(crate) fn refuse(self, epoch: u64, reason: &str, out: &mut Output<ZabNode>) {
        let error = ClientError::Unavailable {
            reason: reason.into(),
        };
        match self {
            Requester::Client(id) => out.reply(id, Err(error)),
            Requester::Learner(o) => out.send(
                o.server,
                ZabMessage::Refused {
                    epoch,
                    incarnation: o.incarnation,
                    request: o.request,
                    error,
                },
            ),
        }
    }
}

impl ZabNode {
    /// A client's write at a serving learner: REQUEST to the leader.
    pub(crate) fn forward_write(
        &mut self,
        id: RequestId,
        command: Vec<u8>,
        out: &mut Output<Self>,
    ) {
        self.forward(id, Kind::Write, out, |epoch, incarnation| {
            ZabMessage::Request {
                epoch,
                incarnation,
                request: id.0,
                command,
            }
        });
    }

    /// A client's linearizable read at a serving learner: SYNCREQUEST to
    /// the leader.
    pub(crate) fn forward_read(&mut self, id: RequestId, out: &mut Output<Self>) {
        let kind = Kind::Read { ready_at: None };
        self.forward(id, kind, out, |epoch, incarnation| {
            ZabMessage::SyncRequest {
                epoch,
                incarnation,
                request: id.0,
            }
        });
    }

    /// Notes a forwarded request and sends `message(epoch, incarnation)` to
    /// the leader; it leaves after this output is durable, like every
    /// message that names the incarnation.
    fn forward(
        &mut self,
        id: RequestId,
        kind: Kind,
        out: &mut Output<Self>,
        message: impl FnOnce(u64, u64) -> ZabMessage,
    ) {
        let Some(f) = self.follower.as_ref() else {
            return;
        };
        out.send(f.leader, message(f.epoch, self.incarnation));
        let since = self.now;
        self.forwarded.insert(id.0, Forwarded { id, since, kind });
    }

    /// The leader confirmed a read (of this life): serve it once `zxid` is
    /// applied here.
    pub(crate) fn handle_sync_reply(
        &mut self,
        incarnation: u64,
        request: u64,
        zxid: Zxid,
        out: &mut Output<Self>,
    ) {
        if incarnation != self.incarnation {
            return;
        }
        if let Some(f) = self.forwarded.get_mut(&request) {
            if let Kind::Read { ready_at } = &mut f.kind {
                *ready_at = Some(zxid);
                self.serve_forwarded_reads(out);
            }
        }
    }

    /// Serves every confirmed read whose commit point is applied (after
    /// `applied` moved or a SYNCREPLY came).
    pub(crate) fn serve_forwarded_reads(&mut self, out: &mut Output<Self>) {
        let applied = self.applied;
        self.forwarded.retain(|_, f| match f.kind {
            Kind::Read { ready_at: Some(z) } if z <= applied => {
                out.reads.push(f.id);
                false
            }
            _ => true,
        });
    }

    /// The leader refused a forwarded write.
    pub(crate) fn handle_refused(
        &mut self,
        incarnation: u64,
        request: u64,
        error: ClientError,
        out: &mut Output<Self>,
    ) {
        if let Some(id) = self.take_write(incarnation, request) {
            out.reply(id, Err(error));
        }
    }

    /// The client request a delivered transaction answers here, if this
    /// server forwarded it and still waits for it.
    pub(crate) fn take_forwarded(&mut self, origin: Option<Origin>) -> Option<RequestId> {
        let o = origin.filter(|o| o.server == self.cfg.id)?;
        self.take_write(o.incarnation, o.request)
    }

    /// The write `request` this life forwarded, no longer waiting: an
    /// earlier life's answer says nothing about this life's request of the
    /// same number.
    fn take_write(&mut self, incarnation: u64, request: u64) -> Option<RequestId> {
        if incarnation != self.incarnation || self.forwarded.get(&request)?.kind != Kind::Write {
            return None;
        }
        self.forwarded.remove(&request).map(|f| f.id)
    }

    /// The learner lost its leader: whether its forwarded writes commit is
    /// now unknown here, and its forwarded reads cannot be confirmed.
    pub(crate) fn abandon_forwarded(&mut self, out: &mut Output<Self>) {
        for (_, f) in std::mem::take(&mut self.forwarded) {
            out.reply(f.id, Err(ClientError::LeadershipLost));
        }
    }

    /// Answers `Timeout` to forwarded writes not delivered, and reads not
    /// served, in time.
    pub(crate) fn expire_forwarded(&mut self, out: &mut Output<Self>) {
        let (now, limit) = (self.now, self.cfg.forward_timeout_ticks);
        self.forwarded.retain(|_, f| {
            let expired = now.saturating_sub(f.since) >= limit;
            if expired {
                out.reply(f.id, Err(ClientError::Timeout));
            }
            !expired
        });
    }

    /// The leader's side: a learner's REQUEST, proposed once.
    pub(crate) fn handle_request(
        &mut self,
        origin: Origin,
        command: Vec<u8>,
        out: &mut Output<Self>,
    ) {
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let key = (origin.incarnation, origin.request);
        if lead
            .requests_seen
            .get(&origin.server)
            .is_some_and(|seen| *seen >= key)
        {
            return;
        }
        lead.requests_seen.insert(origin.server, key);
        let requester = Requester::Learner(origin);
        if lead.is_established() {
            self.leader_write(requester, command, out);
        } else {
            requester.refuse(lead.epoch, "leader not established yet", out);
        }
    }
}
