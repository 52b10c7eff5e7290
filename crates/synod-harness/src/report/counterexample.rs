//! The counterexample, drawn: the op the checker could not place, a zoom
//! on the ops of its key around it, the longest linearisable prefix and the
//! states it was tried against.
//!
//! The usual failure is a **stale read**: a read returns an old value
//! although a write of a newer one had completed before the read began. So
//! for a failing read the section names the last write that completed
//! before the read's invocation and the write of the value it returned, and
//! the zoom outlines both, with a dashed line where the read began: a bar
//! that ends left of that line happened before the read.

use std::fmt::Write as _;

use super::data::{Counterexample, Op, Outcome};
use super::svg::{self, c, clip, esc, num, Frame, WIDTH};
use crate::results::FaultWindow;

/// Ops of the key drawn before the failing op in the zoom.
const ZOOM_BEFORE: usize = 24;
/// Ops of the key drawn after it.
const ZOOM_AFTER: usize = 6;
/// Steps of the prefix listed (the last ones).
const PREFIX_ROWS: usize = 20;

/// The ops that explain a failing read.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Hint {
    /// The last write of the key that completed `ok` before the read began.
    pub last_done: Option<usize>,
    /// The latest write of the value the read returned (invoked before the
    /// read completed).
    pub source: Option<usize>,
    /// Whether this is certainly a stale read: the source completed before
    /// the newer write began, which completed before the read began.
    pub stale: bool,
}

/// Finds the writes that explain a failing `ok` read (see [`Hint`]).
pub(crate) fn hint(ops: &[Op], failing: &Op) -> Hint {
    if failing.f != "read" || failing.outcome != Outcome::Ok {
        return Hint::default();
    }
    let read_end = failing.end_ns.unwrap_or(u64::MAX);
    let writes = ops.iter().filter(|o| {
        o.key == failing.key
            && o.id != failing.id
            && o.outcome != Outcome::Fail
            && o.written().is_some()
    });
    let mut last_done: Option<&Op> = None;
    let mut source: Option<&Op> = None;
    for w in writes {
        if w.outcome == Outcome::Ok
            && w.end_ns.is_some_and(|e| e < failing.start_ns)
            && last_done.is_none_or(|l| w.end_ns > l.end_ns)
        {
            last_done = Some(w);
        }
        if w.written() == Some(&failing.value)
            && w.start_ns <= read_end
            && source.is_none_or(|s| w.start_ns > s.start_ns)
        {
            source = Some(w);
        }
    }
    let stale = match (last_done, source) {
        (Some(l), Some(s)) => {
            l.written() != Some(&failing.value)
                && s.outcome == Outcome::Ok
                && s.end_ns.is_some_and(|e| e < l.start_ns)
        }
        (Some(l), None) => l.written() != Some(&failing.value) && failing.value.is_nil(),
        _ => false,
    };
    Hint {
        last_done: last_done.map(|o| o.id),
        source: source.map(|o| o.id),
        stale,
    }
}

/// Writes the counterexample section's body.
pub(crate) fn render(
    out: &mut String,
    cex: &Counterexample,
    ops: &[Op],
    faults: &[FaultWindow],
    end_s: f64,
) {
    let key = cex.key.as_deref().unwrap_or("(no key)").to_owned();
    let _ = write!(
        out,
        "<p class=\"lead\">On key <code>{}</code> the checker linearised {} operation{} and then \
         could not place <strong class=\"bad\">{}</strong>: no order of the operations \
         that overlap it explains what it saw.</p>",
        esc(&key),
        cex.prefix.len(),
        if cex.prefix.len() == 1 { "" } else { "s" },
        esc(&cex.op_text),
    );
    let Some(failing) = cex.op.and_then(|i| ops.get(i)) else {
        let _ = write!(
            out,
            "<p class=\"warn\">The checker's op index {} does not name an operation of key {} \
             in this history, so it is not drawn.</p>",
            cex.op_raw.map_or("(none)".to_owned(), |i| i.to_string()),
            esc(&key)
        );
        prefix_table(out, cex, ops);
        return;
    };
    let h = hint(ops, failing);
    explain(out, ops, failing, &h);
    out.push_str("<h3>The ops of this key around it</h3>");
    zoom(out, ops, failing, &h, faults, end_s);
    prefix_table(out, cex, ops);
}

/// The sentence that says what went wrong, for a read.
fn explain(out: &mut String, ops: &[Op], failing: &Op, h: &Hint) {
    let when = |o: &Op| {
        o.end_s().map_or("never completed".into(), |e| {
            format!("completed at {} s", num(e))
        })
    };
    let on = failing
        .node
        .as_deref()
        .map(|n| format!(" on {n}"))
        .unwrap_or_default();
    if failing.f != "read" || failing.outcome != Outcome::Ok {
        let _ = write!(
            out,
            "<p class=\"hint\">#{} ({}) was invoked at {} s and {}. The zoom below shows the ops \
             of the same key that overlap it.</p>",
            failing.id,
            esc(&failing.short()),
            num(failing.start_s()),
            esc(&when(failing)),
        );
        return;
    }
    out.push_str("<p class=\"hint\">");
    if h.stale {
        out.push_str("<strong>Stale read.</strong> ");
    }
    let _ = write!(
        out,
        "Read #{} returned <code>{}</code>{}; it began at {} s and {}. ",
        failing.id,
        esc(&failing.value.to_string()),
        esc(&on),
        num(failing.start_s()),
        esc(&when(failing))
    );
    match h.last_done.map(|i| &ops[i]) {
        Some(l) => {
            let _ = write!(
                out,
                "The last write to complete before the read began was \
                 <span class=\"newer\">#{} ({})</span>, {}. ",
                l.id,
                esc(&l.short()),
                esc(&when(l)).replace("completed", "done"),
            );
        }
        None => out.push_str("No write of this key had completed before the read began. "),
    }
    match h.source.map(|i| &ops[i]) {
        Some(s) => {
            let _ = write!(
                out,
                "The value read was written by <span class=\"source\">#{} ({}, {})</span>, which {}.",
                s.id,
                esc(&s.short()),
                s.outcome.word(),
                esc(&when(s))
            );
        }
        None if failing.value.is_nil() => {
            out.push_str("<code>nil</code> is the value before any write.")
        }
        None => out.push_str("No operation wrote that value before the read completed."),
    }
    out.push_str("</p>");
}

/// The per-key zoom: one row per op, values as labels.
fn zoom(out: &mut String, ops: &[Op], failing: &Op, h: &Hint, faults: &[FaultWindow], end_s: f64) {
    let key_ops: Vec<&Op> = ops.iter().filter(|o| o.key == failing.key).collect();
    let j = key_ops.iter().position(|o| o.id == failing.id).unwrap_or(0);
    let lo = j.saturating_sub(ZOOM_BEFORE);
    let hi = (j + ZOOM_AFTER + 1).min(key_ops.len());
    let mut rows: Vec<&Op> = key_ops[lo..hi].to_vec();
    // The time range is that of the ops around the failing one; the newer
    // write and the source are added as rows even when they lie further
    // back, and are then pinned to the left edge.
    let t0 = rows
        .iter()
        .map(|o| o.start_s())
        .fold(f64::INFINITY, f64::min);
    let t1 = rows
        .iter()
        .map(|o| o.end_s().unwrap_or(o.start_s()))
        .fold(failing.end_s().unwrap_or(failing.start_s()), f64::max);
    for extra in [h.last_done, h.source].into_iter().flatten() {
        if !rows.iter().any(|o| o.id == extra) {
            rows.push(&ops[extra]);
        }
    }
    rows.sort_by_key(|o| o.id);
    let pad = ((t1 - t0) * 0.03).max(0.0005);
    let (w0, w1) = (t0 - pad, t1 + pad);
    let _ = write!(
        out,
        "<p class=\"note\">{} of the {} ops of this key, in invocation order, from {} s to {} s; \
         the dashed line marks the moment the failing op was invoked. Hatched bars are \
         indeterminate and may take effect any time after they begin.</p>",
        rows.len(),
        key_ops.len(),
        num(t0),
        num(t1)
    );
    let in_window: Vec<FaultWindow> = faults
        .iter()
        .filter(|f| f.start_secs < w1 && f.end_secs.unwrap_or(end_s) > w0)
        .cloned()
        .collect();
    let row_h = 22.0;
    let mut frame = Frame {
        left: 150.0,
        top: 0.0,
        width: WIDTH - 150.0 - 200.0,
        height: rows.len() as f64 * row_h,
    };
    let x = frame.time_scale(w0, w1);
    let (_, label_rows) = svg::label_rows(&in_window, &x, &frame);
    frame.top = (label_rows + 1) as f64 * svg::LABEL_ROW + 8.0;
    svg::open(
        out,
        "zoom",
        frame.bottom() + 42.0,
        "the operations of the failing key around the failing op",
    );
    svg::fault_bands(out, &frame, &x, &in_window, end_s, true);
    svg::time_axis(out, &frame, &x, "time since the start of the run (s)");
    let inv = x.at(failing.start_s());
    let _ = write!(
        out,
        "<line class=\"invoked\" x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"/>\
         <text class=\"invoked\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">#{} invoked</text>",
        c(frame.top - 7.0 - label_rows as f64 * svg::LABEL_ROW + 3.0),
        c(frame.bottom()),
        c(frame.top - 7.0 - label_rows as f64 * svg::LABEL_ROW),
        failing.id,
        x = c(inv),
    );
    for (i, op) in rows.iter().enumerate() {
        zoom_row(out, &frame, &x, w1, i as f64 * row_h, row_h, op, failing, h);
    }
    svg::close(out);
    out.push_str(
        "<div class=\"legend\"><span><i class=\"sw ok\"></i>ok</span>\
         <span><i class=\"sw fail\"></i>fail</span><span><i class=\"sw info\"></i>info</span>\
         <span><i class=\"sw cex\"></i>could not be placed</span>",
    );
    if h.last_done.is_some() {
        out.push_str("<span><i class=\"sw newer\"></i>last write done before it began</span>");
    }
    if h.source.is_some() {
        out.push_str("<span><i class=\"sw source\"></i>wrote the value read</span>");
    }
    out.push_str("</div>\n");
}

/// One row of the zoom.
#[allow(clippy::too_many_arguments)]
fn zoom_row(
    out: &mut String,
    frame: &Frame,
    x: &svg::Linear,
    w1: f64,
    dy: f64,
    row_h: f64,
    op: &Op,
    failing: &Op,
    h: &Hint,
) {
    let y = frame.top + dy;
    let mid = y + row_h / 2.0;
    let role = if op.id == failing.id {
        " cex"
    } else if Some(op.id) == h.last_done {
        " newer"
    } else if Some(op.id) == h.source {
        " source"
    } else {
        ""
    };
    let node = op
        .node
        .as_deref()
        .map(|n| format!(" {n}"))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<text class=\"lane{role}\" x=\"{}\" y=\"{}\" text-anchor=\"end\">#{} p{}{}</text>",
        c(frame.left - 8.0),
        c(mid + 4.0),
        op.id,
        op.process,
        esc(&clip(&node, 12)),
    );
    let x0 = x.at(op.start_s()).max(frame.left);
    let x1 = match (op.outcome, op.end_s()) {
        (Outcome::Ok | Outcome::Fail, Some(e)) => x.at(e),
        _ => x.at(w1),
    };
    let mut label = op.short();
    if op.outcome != Outcome::Ok {
        label.push_str(&format!(" ({})", op.outcome.class()));
    }
    if x1 < frame.left {
        // Done before the range drawn: a notch at the left edge says when.
        let _ = write!(
            out,
            "<polygon class=\"op {}{role}\" points=\"{},{} {},{} {},{}\"><title>{}</title></polygon>\
             <text class=\"val{role}\" x=\"{}\" y=\"{}\">◀ {} — done at {} s, before the range drawn</text>",
            op.outcome.class(),
            c(frame.left + 2.0),
            c(mid),
            c(frame.left + 12.0),
            c(mid - 6.0),
            c(frame.left + 12.0),
            c(mid + 6.0),
            esc(&op.describe()),
            c(frame.left + 18.0),
            c(mid + 4.0),
            esc(&clip(&label, 40)),
            op.end_s().map(num).unwrap_or_default(),
        );
        return;
    }
    let w = (x1 - x0).max(2.0);
    let _ = write!(
        out,
        "<rect class=\"op {}{role}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">\
         <title>{}</title></rect>",
        op.outcome.class(),
        c(x0),
        c(y + 4.0),
        c(w),
        c(row_h - 8.0),
        esc(&op.describe()),
    );
    let label = clip(&label, 40);
    let est = label.chars().count() as f64 * 7.0;
    let (lx, anchor) = if x0 + w + 6.0 + est <= WIDTH - 4.0 {
        (x0 + w + 6.0, "start")
    } else {
        (x0 - 6.0, "end")
    };
    let _ = write!(
        out,
        "<text class=\"val{role}\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
        c(lx),
        c(mid + 4.0),
        esc(&label),
    );
}

/// The tail of the linearisable prefix and the states tried.
fn prefix_table(out: &mut String, cex: &Counterexample, ops: &[Op]) {
    out.push_str("<h3>The longest linearisable prefix</h3>");
    if cex.prefix.is_empty() {
        out.push_str(
            "<p class=\"note\">Empty: the failing op could not be placed even first, \
             against the initial state.</p>",
        );
    } else {
        let skip = cex.prefix.len().saturating_sub(PREFIX_ROWS);
        if skip > 0 {
            let _ = write!(
                out,
                "<p class=\"note\">The last {PREFIX_ROWS} of {} steps ({skip} earlier steps not listed).</p>",
                cex.prefix.len()
            );
        }
        out.push_str(
            "<table class=\"prefix\"><thead><tr><th>step</th><th>op</th><th>operation</th>\
             <th>invoked (s)</th><th>state after</th></tr></thead><tbody>",
        );
        for (i, step) in cex.prefix.iter().enumerate().skip(skip) {
            let at = step
                .op
                .and_then(|o| ops.get(o))
                .map_or(String::new(), |o| num(o.start_s()));
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{at}</td>\
                 <td><code>{}</code></td></tr>",
                i + 1,
                step.op.map_or(String::new(), |o| format!("#{o}")),
                esc(&step.op_text),
                esc(&step.state)
            );
        }
        out.push_str("</tbody></table>");
    }
    let _ = write!(
        out,
        "<p>Then <code class=\"bad\">{}</code> was tried against {} and refused: ",
        esc(&cex.op_text),
        if cex.tried_states.len() == 1 {
            "this state"
        } else {
            "these states"
        }
    );
    if cex.tried_states.is_empty() {
        out.push_str("<em>(none listed)</em>");
    }
    for s in &cex.tried_states {
        let _ = write!(out, "<code class=\"state\">{}</code> ", esc(s));
    }
    out.push_str("</p>");
}
