//! Histories of operations: events paired into operations, with Jepsen's
//! (and Knossos's) semantics.
//!
//! A history is read as a sequence of events; every client event belongs to
//! a process, and a process runs one operation at a time, so each
//! completion closes the one open invocation of its process. The rules,
//! which every format shares:
//!
//! - **`ok`**: the operation took effect at one instant between its
//!   invocation and its completion. The completion's value replaces the
//!   invocation's (a read is invoked with `nil` and completes with what it
//!   read).
//! - **`fail`**: the operation did not take effect. It is kept in the
//!   [`History`] (reports draw it) but the checker removes it before the
//!   search.
//! - **`info`**, or no completion at all: indeterminate. The operation may
//!   take effect at any point after its invocation, or never; its completion
//!   time is +infinity. It keeps the invocation's value.
//! - Events whose process is not an integer (`nemesis`) are not client
//!   operations; they are counted and dropped.
//! - Anything else is malformed and is an [`InputError`] naming the file and
//!   line: a second invocation while the process has one open, a completion
//!   with no open invocation, a completion whose `f` differs from its
//!   invocation's. Nothing is skipped silently.
//!
//! Time is the order of events in the input (`pos`), not the `time` field:
//! clocks may tie or go backwards, the order the runner logged them in
//! cannot.

use std::collections::HashMap;
use std::fmt;

use crate::event::{EventType, HistoryEvent, Process};
use crate::value::Value;

/// Input that cannot be used: unreadable, malformed, or not understood by
/// the model. Names the file and the 1-based line (0 when no line applies).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// The file (or the name given to an in-memory history).
    pub file: String,
    /// 1-based line of the offending event, or 0.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    pub(crate) fn new(file: &str, line: usize, message: impl Into<String>) -> InputError {
        InputError {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// What a read that returned `nil` means. Formats disagree, so each format
/// sets a default and the caller may override it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NilRead {
    /// Knossos: a read whose `ok` value is `nil` tells nothing; it matches
    /// any state. Default for `edn` and `porcupine-kv`.
    Wildcard,
    /// The read saw no value (an absent key, state `nil`). Default for
    /// `porcupine-etcd` (Porcupine's etcd model) and the runner's `jsonl`.
    Absent,
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Took effect between invocation and completion.
    Ok,
    /// Did not take effect.
    Fail,
    /// Completed with `info`: indeterminate.
    Info,
    /// Never completed: indeterminate, like `Info`.
    Open,
}

impl Outcome {
    /// `Ok`: the operation certainly happened within its interval.
    pub fn is_definite(self) -> bool {
        self == Outcome::Ok
    }

    /// `Info` or `Open`: may happen any time after its invocation, or never.
    pub fn is_indeterminate(self) -> bool {
        matches!(self, Outcome::Info | Outcome::Open)
    }

    /// A lowercase name: `ok`, `fail`, `info`, `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Open => "open",
        }
    }
}

/// Where an event sits in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Order among client events, from 0. This is the history's clock.
    pub pos: usize,
    /// Order among all events of the input, nemesis events included, from
    /// 0: Jepsen's and Knossos's `:index` of the event.
    pub index: usize,
    /// The `time` field (ns), when the format has one.
    pub time: Option<u64>,
    /// 1-based line in the input (0 for in-memory histories).
    pub line: usize,
}

/// One client operation: an invocation and, maybe, its completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// The client process.
    pub process: u64,
    /// The function (`read`, `write`, `cas`, `add`, ...).
    pub f: String,
    /// The key, for keyed histories.
    pub key: Option<String>,
    /// The value: the invocation's, replaced by the completion's on `ok`.
    pub value: Value,
    /// How the operation ended.
    pub outcome: Outcome,
    /// The invocation event.
    pub invoke: Mark,
    /// The completion event (`None` when the operation never completed).
    pub complete: Option<Mark>,
    /// The node that served it, if known.
    pub node: Option<String>,
    /// The error the completion carried, if any.
    pub error: Option<String>,
    /// Whether the operation is marked as a final read.
    pub final_read: bool,
}

impl Op {
    /// A one-line description: `p3 cas [1 2] (ok)`, with the key if any.
    pub fn describe(&self) -> String {
        let key = match &self.key {
            Some(k) => format!(" key {k:?}"),
            None => String::new(),
        };
        format!(
            "p{} {} {}{} ({})",
            self.process,
            self.f,
            self.value,
            key,
            self.outcome.as_str()
        )
    }
}

/// A parsed history: client operations in invocation order.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Where it came from (a path, or a name given by the caller).
    pub source: String,
    /// What `nil` reads mean in this history (set from the format).
    pub nil_read: NilRead,
    /// Client operations, ordered by invocation.
    pub ops: Vec<Op>,
    /// Number of client events (invocations and completions).
    pub client_events: usize,
    /// Number of events dropped because their process is not a client.
    pub dropped_events: usize,
}

impl History {
    /// Builds a history from the runner's events, in the order given. Use
    /// this to check a run without writing and rereading its file.
    pub fn from_events<'a>(
        source: &str,
        events: impl IntoIterator<Item = &'a HistoryEvent>,
    ) -> Result<History, InputError> {
        let mut builder = Builder::new(source);
        for (i, event) in events.into_iter().enumerate() {
            builder.push(RawEvent::from_event(event.clone(), i + 1))?;
        }
        Ok(builder.finish(NilRead::Absent))
    }

    /// The number of distinct keys (an unkeyed history has one).
    pub fn key_count(&self) -> usize {
        let mut keys: Vec<Option<&str>> = self.ops.iter().map(|op| op.key.as_deref()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len().max(1)
    }
}

/// One event as read from any format, before pairing.
#[derive(Clone, Debug)]
pub(crate) struct RawEvent {
    pub line: usize,
    pub process: Process,
    pub kind: EventType,
    pub f: String,
    pub key: Option<String>,
    pub value: Value,
    pub time: Option<u64>,
    pub error: Option<String>,
    pub node: Option<String>,
    pub final_read: bool,
}

impl RawEvent {
    pub(crate) fn from_event(e: HistoryEvent, line: usize) -> RawEvent {
        RawEvent {
            line,
            process: e.process,
            kind: e.kind,
            f: e.f,
            key: e.key,
            value: e.value,
            time: Some(e.time),
            error: e.error,
            node: e.node,
            final_read: e.final_read,
        }
    }
}

/// Pairs events into operations, enforcing the rules in the module docs.
pub(crate) struct Builder {
    source: String,
    ops: Vec<Op>,
    /// The open operation of each process, by index in `ops`.
    open: HashMap<u64, usize>,
    pos: usize,
    index: usize,
    dropped: usize,
}

impl Builder {
    pub(crate) fn new(source: &str) -> Builder {
        Builder {
            source: source.to_owned(),
            ops: Vec::new(),
            open: HashMap::new(),
            pos: 0,
            index: 0,
            dropped: 0,
        }
    }

    pub(crate) fn error(&self, line: usize, message: impl Into<String>) -> InputError {
        InputError::new(&self.source, line, message)
    }

    pub(crate) fn push(&mut self, e: RawEvent) -> Result<(), InputError> {
        let index = self.index;
        self.index += 1;
        let process = match e.process {
            Process::Client(p) => p,
            Process::Named(_) => {
                self.dropped += 1;
                return Ok(());
            }
        };
        let mark = Mark {
            pos: self.pos,
            index,
            time: e.time,
            line: e.line,
        };
        self.pos += 1;
        if e.kind == EventType::Invoke {
            if let Some(&open) = self.open.get(&process) {
                return Err(self.error(
                    e.line,
                    format!(
                        "process {process} invokes {} while its {} from line {} is still open \
                         (a process runs one operation at a time)",
                        e.f, self.ops[open].f, self.ops[open].invoke.line
                    ),
                ));
            }
            self.open.insert(process, self.ops.len());
            self.ops.push(Op {
                process,
                f: e.f,
                key: e.key,
                value: e.value,
                outcome: Outcome::Open,
                invoke: mark,
                complete: None,
                node: e.node,
                error: None,
                final_read: e.final_read,
            });
            return Ok(());
        }
        let Some(index) = self.open.remove(&process) else {
            return Err(self.error(
                e.line,
                format!(
                    "process {process} completes {} ({}) without an open invocation",
                    e.f,
                    e.kind.as_str()
                ),
            ));
        };
        let op = &mut self.ops[index];
        if op.f != e.f {
            let message = format!(
                "process {process} completes {} but invoked {} on line {}",
                e.f, op.f, op.invoke.line
            );
            return Err(InputError::new(&self.source, e.line, message));
        }
        if op.key != e.key && e.key.is_some() {
            let message = format!(
                "process {process} completes key {:?} but invoked key {:?} on line {}",
                e.key, op.key, op.invoke.line
            );
            return Err(InputError::new(&self.source, e.line, message));
        }
        op.complete = Some(mark);
        op.error = e.error;
        op.final_read |= e.final_read;
        if e.node.is_some() {
            op.node = e.node;
        }
        op.outcome = match e.kind {
            EventType::Ok => {
                op.value = e.value;
                Outcome::Ok
            }
            EventType::Fail => Outcome::Fail,
            EventType::Info | EventType::Invoke => Outcome::Info,
        };
        Ok(())
    }

    pub(crate) fn finish(self, nil_read: NilRead) -> History {
        History {
            source: self.source,
            nil_read,
            ops: self.ops,
            client_events: self.pos,
            dropped_events: self.dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(process: u64, kind: EventType, f: &str, value: Value) -> HistoryEvent {
        HistoryEvent::client(0, 0, process, kind, f, value)
    }

    #[test]
    fn ok_completion_value_fills_in_the_invocation() {
        let h = History::from_events(
            "t",
            &[
                ev(1, EventType::Invoke, "read", Value::Nil),
                ev(1, EventType::Ok, "read", Value::Int(3)),
            ],
        )
        .unwrap();
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].value, Value::Int(3));
        assert_eq!(h.ops[0].outcome, Outcome::Ok);
        assert_eq!(h.ops[0].complete.unwrap().pos, 1);
    }

    #[test]
    fn info_completion_keeps_the_invocation_value() {
        let h = History::from_events(
            "t",
            &[
                ev(1, EventType::Invoke, "write", Value::Int(3)),
                ev(
                    1,
                    EventType::Info,
                    "write",
                    Value::Keyword("timed-out".into()),
                ),
            ],
        )
        .unwrap();
        assert_eq!(h.ops[0].value, Value::Int(3));
        assert!(h.ops[0].outcome.is_indeterminate());
    }

    #[test]
    fn missing_completion_is_open_and_indeterminate() {
        let h =
            History::from_events("t", &[ev(1, EventType::Invoke, "write", Value::Int(1))]).unwrap();
        assert_eq!(h.ops[0].outcome, Outcome::Open);
        assert!(h.ops[0].outcome.is_indeterminate());
    }

    #[test]
    fn nemesis_events_are_not_client_operations() {
        let mut n = ev(0, EventType::Info, "kill", Value::Nil);
        n.process = Process::Named("nemesis".into());
        let h = History::from_events("t", &[n]).unwrap();
        assert!(h.ops.is_empty());
        assert_eq!(h.dropped_events, 1);
    }

    #[test]
    fn a_process_runs_one_operation_at_a_time() {
        let err = History::from_events(
            "t",
            &[
                ev(1, EventType::Invoke, "write", Value::Int(1)),
                ev(1, EventType::Invoke, "write", Value::Int(2)),
            ],
        )
        .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("one operation at a time"));
    }

    #[test]
    fn completion_without_invocation_is_an_error() {
        let err =
            History::from_events("t", &[ev(1, EventType::Ok, "read", Value::Int(1))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t:1: process 1 completes read (ok) without an open invocation"
        );
    }

    #[test]
    fn completion_must_match_the_invoked_function() {
        let err = History::from_events(
            "t",
            &[
                ev(1, EventType::Invoke, "read", Value::Nil),
                ev(1, EventType::Ok, "write", Value::Int(1)),
            ],
        )
        .unwrap_err();
        assert!(err.message.contains("but invoked read"));
    }

    #[test]
    fn a_process_may_invoke_again_after_info() {
        let h = History::from_events(
            "t",
            &[
                ev(1, EventType::Invoke, "write", Value::Int(1)),
                ev(1, EventType::Info, "write", Value::Nil),
                ev(1, EventType::Invoke, "write", Value::Int(2)),
            ],
        )
        .unwrap();
        assert_eq!(h.ops.len(), 2);
    }
}
