//! Recording the history as it happens.
//!
//! Every client operation is two events — the invocation before the request
//! leaves, the completion after the answer (or the timeout) — stamped with
//! nanoseconds since the start of the run and numbered in the order they were
//! recorded. Nemesis events go to the same timeline with process `nemesis`.
//! The recorder is shared by every worker; a mutex around a `Vec` is plenty
//! at the rates a 2-core machine can drive.

use std::sync::Mutex;
use std::time::Instant;
use synod_check::{EventType, HistoryEvent, Process, Value};

/// Most events one run records; past it new operations are not started, so
/// a runaway run cannot exhaust memory.
pub const MAX_EVENTS: usize = 2_000_000;

/// A shared, append-only history.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    events: Mutex<Vec<HistoryEvent>>,
}

impl Recorder {
    /// A recorder whose time zero is now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since the start.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Seconds since the start.
    pub fn now_secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Whether the history is full (see [`MAX_EVENTS`]).
    pub fn is_full(&self) -> bool {
        self.events.lock().expect("recorder lock").len() >= MAX_EVENTS
    }

    /// Records an event, filling in its index and time.
    pub fn record(&self, mut event: HistoryEvent) -> u64 {
        let mut events = self.events.lock().expect("recorder lock");
        event.index = events.len() as u64;
        event.time = self.now_ns();
        events.push(event);
        events.len() as u64 - 1
    }

    /// Records a client event.
    #[allow(clippy::too_many_arguments)]
    pub fn client(
        &self,
        process: u64,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: Value,
        error: Option<String>,
        node: Option<String>,
        final_read: bool,
    ) -> u64 {
        self.record(HistoryEvent {
            index: 0,
            time: 0,
            process: Process::Client(process),
            kind,
            f: f.into(),
            key: key.map(Into::into),
            value,
            error,
            node,
            final_read,
        })
    }

    /// Records a nemesis event (`type: info`).
    pub fn nemesis(&self, f: &str, value: &str) -> u64 {
        self.record(HistoryEvent {
            index: 0,
            time: 0,
            process: Process::Named("nemesis".into()),
            kind: EventType::Info,
            f: f.into(),
            key: None,
            value: Value::Str(value.into()),
            error: None,
            node: None,
            final_read: false,
        })
    }

    /// A copy of every event so far.
    pub fn snapshot(&self) -> Vec<HistoryEvent> {
        self.events.lock().expect("recorder lock").clone()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}
