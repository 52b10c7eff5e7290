//! Human-readable summaries of results, as `synod-check` prints them.
//!
//! A summary leads with the verdict, then says why: for a violation, the op
//! that cannot be placed, the states it was tried in, and the end of the
//! longest linearizable prefix; for an unknown, which keys ran out of what.

use std::fmt::Write as _;

use crate::check::{CheckResult, Verdict};
use crate::history::History;
use crate::set::SetResult;

/// Prefix steps a text summary lists.
const PREFIX_LINES: usize = 8;
/// Elements a set summary lists per category.
const ELEMENT_LINES: usize = 20;

/// `1.234 s`, `12.3 ms` or `45 µs`.
pub(crate) fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.3} s")
    } else if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

/// A multi-line summary of a linearizability check.
pub fn text_summary(history: &History, result: &CheckResult) -> String {
    let mut out = String::new();
    let verdict = match result.valid {
        Verdict::True => "linearizable",
        Verdict::False => "NOT linearizable",
        Verdict::Unknown => "UNKNOWN",
    };
    let keys = result.keys.len();
    let _ = writeln!(
        out,
        "{}: {verdict} ({}, {} ops, {} key{}, {})",
        history.source,
        result.model,
        result.ops,
        keys,
        if keys == 1 { "" } else { "s" },
        duration(result.elapsed)
    );
    for key in result.keys.iter().filter(|k| k.valid == Verdict::Unknown) {
        let _ = writeln!(
            out,
            "  key {}: unknown: {}",
            key.key.as_deref().unwrap_or("(none)"),
            key.reason.as_deref().unwrap_or("")
        );
    }
    let failing = result
        .keys
        .iter()
        .filter(|k| k.valid == Verdict::False)
        .count();
    if failing > 1 {
        let _ = writeln!(out, "  {failing} keys are not linearizable; the first one:");
    }
    if let Some(cex) = &result.counterexample {
        let op = &history.ops[cex.op];
        if let Some(key) = &cex.key {
            let _ = writeln!(out, "  key {key}:");
        }
        let completed = match op.complete {
            Some(c) => format!(", completed line {} index {}", c.line, c.index),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  cannot place: {} (invoked line {} index {}{completed})",
            cex.op_text, op.invoke.line, op.invoke.index
        );
        let _ = writeln!(out, "  tried in states: {}", cex.tried_states.join(", "));
        if cex.prefix.is_empty() {
            let _ = writeln!(out, "  no operation can be linearized before it");
        } else {
            let _ = writeln!(
                out,
                "  after the longest linearizable prefix ({} ops):",
                cex.prefix.len()
            );
            let skip = cex.prefix.len().saturating_sub(PREFIX_LINES);
            if skip > 0 {
                let _ = writeln!(out, "    ... {skip} earlier ops");
            }
            for (i, step) in cex.prefix.iter().enumerate().skip(skip) {
                let _ = writeln!(
                    out,
                    "    {:>4}. {:<40} -> {}",
                    i + 1,
                    step.op_text,
                    step.state
                );
            }
        }
    }
    out
}

fn list(out: &mut String, name: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let shown: Vec<&str> = items
        .iter()
        .take(ELEMENT_LINES)
        .map(String::as_str)
        .collect();
    let more = items.len().saturating_sub(ELEMENT_LINES);
    let _ = write!(out, "  {name}: {}", shown.join(" "));
    if more > 0 {
        let _ = write!(out, " ... and {more} more");
    }
    out.push('\n');
}

/// A multi-line summary of a set-full check.
pub fn set_summary(history: &History, result: &SetResult) -> String {
    let mut out = String::new();
    let verdict = match result.valid {
        Verdict::True => "valid",
        Verdict::False => "INVALID",
        Verdict::Unknown => "UNKNOWN",
    };
    let lag = result
        .max_stale_lag_ns
        .map(|ns| format!(" (max lag {:.3} s)", ns as f64 / 1e9))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{}: set-full {verdict}: {} attempted, {} acknowledged, {} lost, {} unexpected, {} stale{lag}, \
         {} never read; {} reads, {} final",
        history.source,
        result.attempted,
        result.acknowledged,
        result.lost.len(),
        result.unexpected.len(),
        result.stale.len(),
        result.never_read.len(),
        result.reads,
        result.final_reads
    );
    let text = |v: &[crate::Value]| v.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    list(&mut out, "lost", &text(&result.lost));
    list(&mut out, "unexpected", &text(&result.unexpected));
    let stale: Vec<crate::Value> = result.stale.iter().map(|s| s.element.clone()).collect();
    list(&mut out, "stale", &text(&stale));
    list(&mut out, "never read", &text(&result.never_read));
    if result.final_reads == 0 {
        out.push_str("  no final read: nothing to judge losses by\n");
    }
    out
}
