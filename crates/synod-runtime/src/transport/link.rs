//! The send side of one directed link: a frame queue that the sender writes
//! straight into the socket when it can.
//!
//! A send on an idle, connected link is one non-blocking `write` on the
//! caller's own thread: no channel, no task wakeup. Only what the socket
//! does not take at once (a full send buffer, a link that is down) waits in
//! the queue, and the link's writer task drains it when the socket becomes
//! writable or a new connection is up. That matters on the commit path:
//! a handoff to another task costs a wakeup, often tens of microseconds on a
//! busy machine, twice per replicated write.
//!
//! Guarantees:
//! - Frames leave in the order `send` was called; the queue lock is held
//!   across every write, so a direct write never overtakes queued frames.
//! - A frame cut short by a broken connection is sent again whole on the
//!   next connection (a peer may see it twice; the protocols tolerate
//!   duplicates, never a torn frame).
//! - At most `limit` frames wait; beyond that new ones are dropped and
//!   counted, so a dead peer never grows memory without bound.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Frames handed to one `writev` at most.
const MAX_SLICES: usize = 64;

/// The shared send side of one link.
pub(crate) struct Link {
    state: Mutex<LinkState>,
    /// Wakes the writer task: frames are waiting, or the connection broke.
    wake: Notify,
    limit: usize,
}

struct LinkState {
    /// The connected socket, once its hello is written.
    stream: Option<Arc<TcpStream>>,
    /// Whole frames (header and payload), oldest first.
    frames: VecDeque<Vec<u8>>,
    /// Bytes of `frames[0]` already written on the current connection.
    written: usize,
}

/// Whether a flush emptied the queue.
pub(crate) enum Flushed {
    /// Everything is written.
    Drained,
    /// The socket's buffer is full; wait until it is writable.
    Blocked,
    /// No connection is up.
    Disconnected,
}

impl Link {
    pub fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(LinkState {
                stream: None,
                frames: VecDeque::new(),
                written: 0,
            }),
            wake: Notify::new(),
            limit: limit.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LinkState> {
        // A panic while holding the lock cannot leave the queue inconsistent
        // (every update is a single push, pop or counter change).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends whole frames in order: writes them now (in one `writev`) if
    /// nothing is queued ahead of them and the socket takes them, else
    /// queues them for the writer task. Returns how many were dropped for a
    /// full queue.
    pub fn send(&self, frames: impl IntoIterator<Item = Vec<u8>>) -> usize {
        let mut s = self.lock();
        let idle = s.frames.is_empty();
        let mut dropped = 0;
        for frame in frames {
            if s.frames.len() >= self.limit {
                dropped += 1;
                continue;
            }
            s.frames.push_back(frame);
        }
        if !idle || s.frames.is_empty() {
            // The writer already owns a backlog and will take these too.
            return dropped;
        }
        match s.flush() {
            Ok(Flushed::Drained) | Ok(Flushed::Disconnected) => {}
            Ok(Flushed::Blocked) => self.wake.notify_one(),
            Err(_) => {
                s.disconnect();
                self.wake.notify_one();
            }
        }
        dropped
    }

    /// Makes `stream` the link's connection. A frame the last connection cut
    /// short is sent again from its start.
    pub fn connect(&self, stream: Arc<TcpStream>) {
        let mut s = self.lock();
        s.stream = Some(stream);
        s.written = 0;
    }

    /// Writes queued frames until the queue is empty or the socket is full.
    /// An error drops the connection.
    pub fn flush(&self) -> std::io::Result<Flushed> {
        let mut s = self.lock();
        let r = s.flush();
        if r.is_err() {
            s.disconnect();
        }
        r
    }

    /// Waits until a send leaves work for the writer task.
    pub async fn woken(&self) {
        self.wake.notified().await
    }
}

impl LinkState {
    fn disconnect(&mut self) {
        self.stream = None;
    }

    fn flush(&mut self) -> std::io::Result<Flushed> {
        let Some(stream) = self.stream.clone() else {
            return Ok(Flushed::Disconnected);
        };
        while !self.frames.is_empty() {
            let mut slices = Vec::with_capacity(self.frames.len().min(MAX_SLICES));
            for (i, f) in self.frames.iter().take(MAX_SLICES).enumerate() {
                let start = if i == 0 { self.written } else { 0 };
                slices.push(IoSlice::new(&f[start..]));
            }
            match stream.try_write_vectored(&slices) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok(Flushed::Blocked)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Flushed::Drained)
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(first) = self.frames.front() else {
                return;
            };
            let left = first.len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.frames.pop_front();
            self.written = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(frames: &[&[u8]]) -> LinkState {
        LinkState {
            stream: None,
            frames: frames.iter().map(|f| f.to_vec()).collect(),
            written: 0,
        }
    }

    #[test]
    fn advance_keeps_a_partly_written_frame_at_the_front() {
        let mut s = state(&[b"abcd", b"ef", b"ghi"]);
        s.advance(3);
        assert_eq!((s.frames.len(), s.written), (3, 3));
        s.advance(1 + 2 + 1);
        assert_eq!((s.frames.len(), s.written), (1, 1));
        s.advance(2);
        assert!(s.frames.is_empty());
        assert_eq!(s.written, 0);
    }

    #[test]
    fn a_full_queue_drops_new_frames() {
        let link = Link::new(3);
        let frames = |names: &[&[u8]]| names.iter().map(|n| n.to_vec()).collect::<Vec<_>>();
        assert_eq!(link.send(frames(&[b"a", b"b"])), 0);
        assert_eq!(link.send(frames(&[b"c", b"d", b"e"])), 2);
        assert_eq!(link.lock().frames.len(), 3);
    }
}
