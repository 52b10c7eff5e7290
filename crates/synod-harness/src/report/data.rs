//! From events to what the report draws: operations, the run's span, and
//! the counterexample read back from the checker's JSON.
//!
//! Events are paired into operations by the rules of `synod_check::history`
//! (a process runs one operation at a time; a completion closes its
//! process's open invocation; nemesis events are not operations), and the
//! operations are numbered in invocation order, exactly as
//! `synod_check::History::ops` numbers them, so a counterexample's `op`
//! index names the same operation here. Unlike the checker, the pairing
//! never fails: a report must still be drawn for a malformed history, so
//! oddities are counted and reported instead.

use std::collections::HashMap;

use synod_check::{EventType, HistoryEvent, Process, Value};

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Took effect between invocation and completion.
    Ok,
    /// Certainly did not take effect.
    Fail,
    /// Completed `info`: indeterminate.
    Info,
    /// Never completed: indeterminate to the end of the run.
    Open,
}

impl Outcome {
    /// The CSS class (`ok`, `fail`, `info`; an open op is drawn as `info`).
    pub(crate) fn class(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info | Outcome::Open => "info",
        }
    }

    /// The word for tooltips and tables.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Open => "info (never completed)",
        }
    }
}

/// One client operation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Op {
    /// Position in invocation order (`History::ops` index).
    pub id: usize,
    /// The client process.
    pub process: u64,
    /// The function.
    pub f: String,
    /// The key, if any.
    pub key: Option<String>,
    /// The invocation's value, replaced by the completion's on `ok`.
    pub value: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// Invocation time, ns since the start.
    pub start_ns: u64,
    /// Completion time, ns since the start (`None` if it never completed).
    pub end_ns: Option<u64>,
    /// The node that served it.
    pub node: Option<String>,
    /// The completion's error.
    pub error: Option<String>,
    /// Whether it is a final read.
    pub final_read: bool,
}

impl Op {
    /// Invocation time in seconds.
    pub(crate) fn start_s(&self) -> f64 {
        self.start_ns as f64 / 1e9
    }

    /// Completion time in seconds, if it completed.
    pub(crate) fn end_s(&self) -> Option<f64> {
        self.end_ns.map(|e| e as f64 / 1e9)
    }

    /// Milliseconds from invocation to completion, if it completed.
    pub(crate) fn latency_ms(&self) -> Option<f64> {
        self.end_ns
            .map(|e| e.saturating_sub(self.start_ns) as f64 / 1e6)
    }

    /// The value this op writes, for a `write` (its value) or a `cas`
    /// (the second of `[from, to]`).
    pub(crate) fn written(&self) -> Option<&Value> {
        match (self.f.as_str(), &self.value) {
            ("write", v) => Some(v),
            ("cas", Value::List(items)) if items.len() == 2 => Some(&items[1]),
            _ => None,
        }
    }

    /// A short label: `write 5`, `read → 3`, `cas 3→5`, `read ?` (at most
    /// 60 characters: a set read can hold thousands of elements).
    pub(crate) fn short(&self) -> String {
        let text = match (self.f.as_str(), &self.value) {
            ("read", v) if self.outcome == Outcome::Ok => format!("read → {v}"),
            ("read", _) => "read ?".into(),
            ("cas", Value::List(items)) if items.len() == 2 => {
                format!("cas {}→{}", items[0], items[1])
            }
            (f, Value::Nil) => f.to_owned(),
            (f, v) => format!("{f} {v}"),
        };
        super::svg::clip(&text, 60)
    }

    /// A one-line description for tooltips: what, where, how it ended.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("#{} p{} {}", self.id, self.process, self.f);
        if let Some(k) = &self.key {
            s.push_str(&format!(" key {k}"));
        }
        if !self.value.is_nil() || self.outcome == Outcome::Ok {
            let value = self.value.to_string();
            s.push_str(&format!(" value {}", super::svg::clip(&value, 160)));
        }
        s.push_str(&format!(" — {}", self.outcome.word()));
        match self.latency_ms() {
            Some(l) => s.push_str(&format!(", {} ms", super::svg::ms(l))),
            None => s.push_str(", no completion"),
        }
        s.push_str(&format!(
            ", invoked at {} s",
            super::svg::num(self.start_s())
        ));
        if let Some(n) = &self.node {
            s.push_str(&format!(", node {n}"));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(", error: {e}"));
        }
        if self.final_read {
            s.push_str(", final read");
        }
        s
    }
}

/// The operations of a history, and what did not fit the pairing rules.
#[derive(Debug, Default)]
pub(crate) struct Ops {
    /// Client operations in invocation order.
    pub ops: Vec<Op>,
    /// Events that broke the rules (a completion with nothing open, a
    /// second invocation while one is open); the checker would refuse them.
    pub anomalies: usize,
}

/// Pairs client events into operations (see the module docs).
pub(crate) fn pair(events: &[HistoryEvent]) -> Ops {
    let mut out = Ops::default();
    let mut open: HashMap<u64, usize> = HashMap::new();
    for e in events {
        let Process::Client(p) = e.process else {
            continue;
        };
        if e.kind == EventType::Invoke {
            if open.insert(p, out.ops.len()).is_some() {
                out.anomalies += 1;
            }
            out.ops.push(Op {
                id: out.ops.len(),
                process: p,
                f: e.f.clone(),
                key: e.key.clone(),
                value: e.value.clone(),
                outcome: Outcome::Open,
                start_ns: e.time,
                end_ns: None,
                node: e.node.clone(),
                error: None,
                final_read: e.final_read,
            });
            continue;
        }
        let Some(i) = open.remove(&p) else {
            out.anomalies += 1;
            continue;
        };
        let op = &mut out.ops[i];
        op.end_ns = Some(e.time.max(op.start_ns));
        op.error = e.error.clone();
        op.final_read |= e.final_read;
        if e.node.is_some() {
            op.node = e.node.clone();
        }
        op.outcome = match e.kind {
            EventType::Ok => {
                op.value = e.value.clone();
                Outcome::Ok
            }
            EventType::Fail => Outcome::Fail,
            EventType::Info | EventType::Invoke => Outcome::Info,
        };
    }
    out
}

/// The end of the run in seconds: the last event or fault, at least
/// a little past zero so scales are never empty.
pub(crate) fn end_secs(events: &[HistoryEvent], faults: &[crate::results::FaultWindow]) -> f64 {
    let last_event = events.iter().map(|e| e.time).max().unwrap_or(0) as f64 / 1e9;
    let last_fault = faults
        .iter()
        .map(|f| f.end_secs.unwrap_or(f.start_secs))
        .fold(0.0, f64::max);
    last_event.max(last_fault).max(0.001)
}

/// One step of the counterexample's linearisable prefix.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Step {
    /// The op's index, if given.
    pub op: Option<usize>,
    /// The op, described by the checker.
    pub op_text: String,
    /// The model state after it.
    pub state: String,
}

/// The counterexample of the linearizability check, read from its JSON.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Counterexample {
    /// The failing key.
    pub key: Option<String>,
    /// The op that cannot be placed, as an index into the ops (`None` if the
    /// JSON's index does not name an op of this history with that key).
    pub op: Option<usize>,
    /// The index the checker gave, valid or not.
    pub op_raw: Option<u64>,
    /// The op, described by the checker.
    pub op_text: String,
    /// The longest linearisable prefix, in order.
    pub prefix: Vec<Step>,
    /// The states the op was tried against.
    pub tried_states: Vec<String>,
}

/// A JSON value as text: strings bare, anything else as JSON.
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Reads the counterexample from the linearizability result, if it has one.
pub(crate) fn counterexample(
    lin: Option<&serde_json::Value>,
    ops: &[Op],
) -> Option<Counterexample> {
    let cex = lin?.get("counterexample")?;
    if !cex.is_object() {
        return None;
    }
    let key = cex.get("key").and_then(|k| k.as_str()).map(str::to_owned);
    let op_raw = cex.get("op").and_then(|o| o.as_u64());
    let op = op_raw
        .and_then(|i| usize::try_from(i).ok())
        .filter(|&i| ops.get(i).is_some_and(|o| o.key == key));
    let text = |v: &serde_json::Value, field: &str| v.get(field).map(json_text).unwrap_or_default();
    let prefix = cex
        .get("prefix")
        .and_then(|p| p.as_array())
        .map(|steps| {
            steps
                .iter()
                .map(|s| Step {
                    op: s
                        .get("op")
                        .and_then(|o| o.as_u64())
                        .and_then(|o| usize::try_from(o).ok()),
                    op_text: text(s, "op_text"),
                    state: text(s, "state"),
                })
                .collect()
        })
        .unwrap_or_default();
    let tried_states = cex
        .get("tried_states")
        .and_then(|t| t.as_array())
        .map(|t| t.iter().map(json_text).collect())
        .unwrap_or_default();
    Some(Counterexample {
        key,
        op,
        op_raw,
        op_text: text(cex, "op_text"),
        prefix,
        tried_states,
    })
}
