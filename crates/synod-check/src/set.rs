//! Jepsen's `set-full` check, for eventually consistent sets (the runner's
//! gossip workload).
//!
//! Clients `add` elements and `read` (or `read_set`) the whole set from
//! some node; after the faults heal, the runner reads once more from every
//! node (the *final reads*). The check asks what a user of such a set may
//! rely on:
//!
//! - **lost**: an element whose add was acknowledged (`ok`) is missing from
//!   a final read that began after the add completed. The system promised
//!   the element and then forgot it. Makes the verdict false.
//! - **unexpected**: a read returned an element no client ever tried to add,
//!   or one whose only adds failed (a `fail` did not take effect). Makes the
//!   verdict false.
//! - **stale**: an acknowledged element that some read, begun after the add
//!   completed, did not show although a later read did. Allowed for an
//!   eventually consistent set (not for a linearizable one); reported with
//!   the lag, the time from the add's completion to the end of the last read
//!   that still missed it.
//! - **never read**: an acknowledged element no final read could judge
//!   (every final read began before the add completed).
//!
//! Final reads are the reads marked `final` (`"final": true`), if any read
//! is marked; otherwise the last `ok` read of each node (reads without a
//! node count as one node). A final read only judges the elements whose add
//! completed before it began. Earlier reads never make an element lost,
//! however much they miss: a gossiped set may lag. With no final read, or
//! no acknowledged add that a final read could judge, the verdict is
//! unknown. Order is the order of events in the history; lags use the
//! `time` field.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::check::Verdict;
use crate::history::{History, InputError, Outcome};
use crate::value::Value;

/// An element some read missed for a while.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaleElement {
    /// The element.
    pub element: Value,
    /// Nanoseconds from the add's completion to the completion of the last
    /// read that still missed it (`None` if the history has no times).
    pub lag_ns: Option<u64>,
}

/// The result of the set-full check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetResult {
    /// False if anything is lost or unexpected; unknown if nothing could be
    /// judged; else true.
    pub valid: Verdict,
    /// Distinct elements some client tried to add (ok, info or open).
    pub attempted: usize,
    /// Distinct elements with an acknowledged (`ok`) add.
    pub acknowledged: usize,
    /// Successful reads.
    pub reads: usize,
    /// Final reads used to judge losses.
    pub final_reads: usize,
    /// Acknowledged elements missing from a final read.
    pub lost: Vec<Value>,
    /// Elements read that were never attempted (or only failed).
    pub unexpected: Vec<Value>,
    /// Acknowledged elements some read missed before a later read saw them.
    pub stale: Vec<StaleElement>,
    /// Acknowledged elements no final read could judge.
    pub never_read: Vec<Value>,
    /// The largest lag among stale elements, in nanoseconds.
    pub max_stale_lag_ns: Option<u64>,
    /// Wall-clock time of the check.
    #[serde(rename = "elapsed_secs", serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

struct Read<'h> {
    op: &'h crate::history::Op,
    elements: HashSet<&'h Value>,
}

/// Runs the set-full check. Operations must be `add` (value: the element)
/// or `read`/`read_set` (ok value: a list of elements); anything else is an
/// [`InputError`].
pub fn check_set(history: &History) -> Result<SetResult, InputError> {
    let start = Instant::now();
    let mut attempted = BTreeSet::new();
    // Element -> earliest completion position and time of an ok add.
    let mut acked: BTreeMap<&Value, (usize, Option<u64>)> = BTreeMap::new();
    let mut reads = Vec::new();
    for op in &history.ops {
        match op.f.as_str() {
            "add" => match op.outcome {
                // A failed add did not happen: its element is not attempted.
                Outcome::Fail => {}
                Outcome::Ok => {
                    attempted.insert(&op.value);
                    let done = op.complete.map_or((usize::MAX, None), |c| (c.pos, c.time));
                    let entry = acked.entry(&op.value).or_insert(done);
                    if done.0 < entry.0 {
                        *entry = done;
                    }
                }
                Outcome::Info | Outcome::Open => {
                    attempted.insert(&op.value);
                }
            },
            "read" | "read_set" => {
                if op.outcome != Outcome::Ok {
                    continue;
                }
                let Some(items) = op.value.as_list() else {
                    return Err(InputError::new(
                        &history.source,
                        op.complete.map_or(op.invoke.line, |c| c.line),
                        format!("{}: a set read needs a list of elements", op.describe()),
                    ));
                };
                reads.push(Read {
                    op,
                    elements: items.iter().collect(),
                });
            }
            other => {
                return Err(InputError::new(
                    &history.source,
                    op.invoke.line,
                    format!(
                    "unknown function {other:?} for the set check (expected add, read or read_set)"
                ),
                ))
            }
        }
    }
    reads.sort_by_key(|r| r.op.invoke.pos);
    let finals = final_reads(&reads);
    let mut unexpected = BTreeSet::new();
    for read in &reads {
        for &e in &read.elements {
            if !attempted.contains(e) {
                unexpected.insert(e);
            }
        }
    }
    let mut lost = Vec::new();
    let mut never_read = Vec::new();
    let mut stale = Vec::new();
    let mut judged = 0;
    for (&element, &(done_pos, done_time)) in &acked {
        let after: Vec<&Read<'_>> = reads
            .iter()
            .filter(|r| r.op.invoke.pos > done_pos)
            .collect();
        let judging: Vec<&&Read<'_>> = finals
            .iter()
            .filter(|r| r.op.invoke.pos > done_pos)
            .collect();
        if judging.is_empty() {
            never_read.push(element.clone());
            continue;
        }
        judged += 1;
        if judging.iter().any(|r| !r.elements.contains(element)) {
            lost.push(element.clone());
            continue;
        }
        let last_miss = after.iter().rposition(|r| !r.elements.contains(element));
        let seen_later =
            last_miss.is_some_and(|k| after[k + 1..].iter().any(|r| r.elements.contains(element)));
        if let (Some(k), true) = (last_miss, seen_later) {
            let end = after[k].op.complete.and_then(|c| c.time);
            let lag_ns = match (end, done_time) {
                (Some(end), Some(done)) => Some(end.saturating_sub(done)),
                _ => None,
            };
            stale.push(StaleElement {
                element: element.clone(),
                lag_ns,
            });
        }
    }
    let unexpected: Vec<Value> = unexpected.into_iter().cloned().collect();
    let valid = if !lost.is_empty() || !unexpected.is_empty() {
        Verdict::False
    } else if finals.is_empty() || (judged == 0 && !acked.is_empty()) {
        Verdict::Unknown
    } else {
        Verdict::True
    };
    Ok(SetResult {
        valid,
        attempted: attempted.len(),
        acknowledged: acked.len(),
        reads: reads.len(),
        final_reads: finals.len(),
        lost,
        unexpected,
        max_stale_lag_ns: stale.iter().filter_map(|s| s.lag_ns).max(),
        stale,
        never_read,
        elapsed: start.elapsed(),
    })
}

/// The final reads (see the module docs), in invocation order.
fn final_reads<'r, 'h>(reads: &'r [Read<'h>]) -> Vec<&'r Read<'h>> {
    if reads.iter().any(|r| r.op.final_read) {
        return reads.iter().filter(|r| r.op.final_read).collect();
    }
    let mut last_per_node: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for (i, r) in reads.iter().enumerate() {
        let done = |k: usize| reads[k].op.complete.map_or(0, |c| c.pos);
        let slot = last_per_node.entry(r.op.node.as_deref()).or_insert(i);
        if done(i) > done(*slot) {
            *slot = i;
        }
    }
    let chosen: BTreeSet<usize> = last_per_node.into_values().collect();
    chosen.into_iter().map(|i| &reads[i]).collect()
}
