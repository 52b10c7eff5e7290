//! The runner's history format: one [`HistoryEvent`] per line of JSON
//! (`history.jsonl`), and its export to Jepsen-style EDN (`history.edn`).
//!
//! An event is one half of an operation: the `invoke` a client sent, or the
//! completion it saw (`ok`, `fail`, `info`). The checker pairs them by
//! process (see `history`). The JSON field names are fixed, because the
//! runner writes them and CI archives them:
//!
//! ```json
//! {"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"k1","value":4}
//! {"index":1,"time":9800,"process":3,"type":"ok","f":"write","key":"k1","value":4,"node":"n2"}
//! {"index":2,"time":9900,"process":"nemesis","type":"info","f":"kill","value":"n1"}
//! ```
//!
//! The writers here are the only code that should produce these files, so
//! what the runner writes is by construction what the checker reads.

use std::fmt::Write as _;
use std::io;

use serde::{Deserialize, Serialize};

use crate::value::{write_edn_string, Value};

/// Who performed an event: a client process (an integer, as in Jepsen), or
/// a named actor such as `"nemesis"`, whose events are not client
/// operations and are dropped by the checker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    /// A client process. A process runs one operation at a time.
    Client(u64),
    /// A named actor, such as `"nemesis"`.
    Named(String),
}

/// The four kinds of event, as in Jepsen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The client sent the request.
    Invoke,
    /// The operation took effect, between its invocation and this event.
    Ok,
    /// The operation certainly did not take effect.
    Fail,
    /// Indeterminate: the operation may take effect at any time after its
    /// invocation, or never.
    Info,
}

impl EventType {
    /// The lowercase name (`"invoke"`, `"ok"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// One line of `history.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// Position of the event in the history, from 0.
    #[serde(default)]
    pub index: u64,
    /// Nanoseconds since the start of the run.
    #[serde(default)]
    pub time: u64,
    /// The process that performed the event.
    pub process: Process,
    /// Invocation or completion kind; `"type"` in JSON.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The function: `"read"`, `"write"`, `"cas"`, `"add"`, `"read_set"`, ...
    pub f: String,
    /// The key the operation addresses, for keyed models (checked per key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The operation's value: what is written, `[from, to]` for a cas, the
    /// value read (on `ok`), or the elements read for a set.
    #[serde(default)]
    pub value: Value,
    /// Why the operation failed or is indeterminate, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node that served the operation, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Marks a set read as one of the final reads done after the cluster
    /// healed (`"final": true`); see the set-full check.
    #[serde(default, rename = "final", skip_serializing_if = "is_false")]
    pub final_read: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl HistoryEvent {
    /// A client event with no key, error or node; fill those in as needed.
    pub fn client(
        index: u64,
        time: u64,
        process: u64,
        kind: EventType,
        f: &str,
        value: Value,
    ) -> Self {
        HistoryEvent {
            index,
            time,
            process: Process::Client(process),
            kind,
            f: f.to_owned(),
            key: None,
            value,
            error: None,
            node: None,
            final_read: false,
        }
    }

    /// The event as one line of EDN, without a trailing newline:
    /// `{:process 3, :type :ok, :f :write, :key "k1", :value 4, :time 9800, :index 1}`.
    pub fn to_edn(&self) -> String {
        let mut out = String::with_capacity(96);
        out.push_str("{:process ");
        match &self.process {
            Process::Client(p) => {
                let _ = write!(out, "{p}");
            }
            Process::Named(name) => write_keyword_or_string(&mut out, name),
        }
        let _ = write!(out, ", :type :{}, :f ", self.kind.as_str());
        write_keyword_or_string(&mut out, &self.f);
        if let Some(key) = &self.key {
            out.push_str(", :key ");
            let _ = write_edn_string(&mut out, key);
        }
        let _ = write!(out, ", :value {}", self.value);
        if let Some(error) = &self.error {
            out.push_str(", :error ");
            let _ = write_edn_string(&mut out, error);
        }
        if let Some(node) = &self.node {
            out.push_str(", :node ");
            let _ = write_edn_string(&mut out, node);
        }
        if self.final_read {
            out.push_str(", :final true");
        }
        let _ = write!(out, ", :time {}, :index {}}}", self.time, self.index);
        out
    }
}

/// Writes `name` as a keyword when it is a plain identifier, else as a
/// string, so the output always reads back.
fn write_keyword_or_string(out: &mut String, name: &str) {
    let plain = !name.is_empty()
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'?' | b'!'));
    if plain {
        out.push(':');
        out.push_str(name);
    } else {
        let _ = write_edn_string(out, name);
    }
}

/// Writes events as JSON lines (`history.jsonl`).
pub fn write_jsonl<'a, W: io::Write>(
    events: impl IntoIterator<Item = &'a HistoryEvent>,
    mut writer: W,
) -> io::Result<()> {
    for event in events {
        serde_json::to_writer(&mut writer, event)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

/// Writes events as Jepsen-style EDN, one map per line (`history.edn`).
/// Knossos and this crate's `edn` format both read the result.
pub fn write_edn<'a, W: io::Write>(
    events: impl IntoIterator<Item = &'a HistoryEvent>,
    mut writer: W,
) -> io::Result<()> {
    for event in events {
        writer.write_all(event.to_edn().as_bytes())?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HistoryEvent {
        let mut e = HistoryEvent::client(1, 9800, 3, EventType::Ok, "write", Value::Int(4));
        e.key = Some("k1".into());
        e.node = Some("n2".into());
        e
    }

    #[test]
    fn jsonl_uses_the_documented_field_names() {
        let text = serde_json::to_string(&sample()).unwrap();
        assert_eq!(
            text,
            r#"{"index":1,"time":9800,"process":3,"type":"ok","f":"write","key":"k1","value":4,"node":"n2"}"#
        );
        assert_eq!(
            serde_json::from_str::<HistoryEvent>(&text).unwrap(),
            sample()
        );
    }

    #[test]
    fn nemesis_process_is_a_string() {
        let e: HistoryEvent = serde_json::from_str(
            r#"{"index":2,"time":1,"process":"nemesis","type":"info","f":"kill"}"#,
        )
        .unwrap();
        assert_eq!(e.process, Process::Named("nemesis".into()));
        assert_eq!(e.value, Value::Nil);
    }

    #[test]
    fn edn_export_is_one_jepsen_map_per_line() {
        assert_eq!(
            sample().to_edn(),
            r#"{:process 3, :type :ok, :f :write, :key "k1", :value 4, :node "n2", :time 9800, :index 1}"#
        );
        let mut n = HistoryEvent::client(0, 0, 0, EventType::Info, "kill", Value::Nil);
        n.process = Process::Named("nemesis".into());
        assert!(n
            .to_edn()
            .starts_with("{:process :nemesis, :type :info, :f :kill"));
    }

    #[test]
    fn writers_emit_one_line_per_event() {
        let events = vec![sample(), sample()];
        let mut out = Vec::new();
        write_edn(&events, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);
        let mut out = Vec::new();
        write_jsonl(&events, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);
    }
}
