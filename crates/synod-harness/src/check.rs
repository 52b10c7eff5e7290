//! From a recorded history to verdicts, with synod-check.
//!
//! Register workloads are checked for linearizability per key against a
//! cas-register starting absent (`nil`), under Jepsen's semantics: `fail`
//! did not happen, `info` may have happened at any point after its
//! invocation. Set workloads get the set-full check.

use crate::config::{RunConfig, Workload};
use crate::results::RunResults;
use std::time::Duration;
use synod_check::{check_linearizable, History, HistoryEvent, Model, Options, Verdict};

/// Checks `events`; returns the linearizability result, the set result (as
/// JSON) and their composed verdict.
pub fn check_history(
    config: &RunConfig,
    events: &[HistoryEvent],
) -> (
    Option<serde_json::Value>,
    Option<serde_json::Value>,
    Verdict,
) {
    match config.workload {
        Workload::Register => {
            let (json, verdict) = linearizability(config, events);
            (Some(json), None, verdict)
        }
        Workload::Set => {
            let (json, verdict) = set_full(events);
            (None, Some(json), verdict)
        }
    }
}

fn unusable(reason: String) -> (serde_json::Value, Verdict) {
    (
        serde_json::json!({ "valid": "unknown", "error": reason }),
        Verdict::Unknown,
    )
}

fn linearizability(config: &RunConfig, events: &[HistoryEvent]) -> (serde_json::Value, Verdict) {
    let history = match History::from_events("history.jsonl", events) {
        Ok(h) => h,
        Err(e) => return unusable(format!("history does not parse: {e}")),
    };
    let model = match Model::from_name("cas-register", None) {
        Ok(m) => m,
        Err(e) => return unusable(e),
    };
    let options = Options {
        timeout: Some(Duration::from_secs_f64(config.check_timeout_secs)),
        max_memory_bytes: 4 << 30,
        ..Options::default()
    };
    match check_linearizable(&history, &model, &options) {
        Ok(r) => (serde_json::to_value(&r).unwrap_or_default(), r.valid),
        Err(e) => unusable(format!("history does not fit the model: {e}")),
    }
}

fn set_full(events: &[HistoryEvent]) -> (serde_json::Value, Verdict) {
    let history = match History::from_events("history.jsonl", events) {
        Ok(h) => h,
        Err(e) => return unusable(format!("history does not parse: {e}")),
    };
    match synod_check::check_set(&history) {
        Ok(r) => (serde_json::to_value(&r).unwrap_or_default(), r.valid),
        Err(e) => unusable(format!("history does not fit the set check: {e}")),
    }
}

/// The checker's own page drawing the counterexample, when there is one.
pub fn counterexample_html(events: &[HistoryEvent], results: &RunResults) -> Option<String> {
    let lin = results.linearizability.as_ref()?;
    if lin.get("counterexample").is_none_or(|c| c.is_null()) {
        return None;
    }
    let history = History::from_events("history.jsonl", events).ok()?;
    let model = Model::from_name("cas-register", None).ok()?;
    let result = check_linearizable(&history, &model, &Options::default()).ok()?;
    Some(synod_check::render_html(&history, &result))
}
