//! The timeline of operations: one row per worker, one bar per operation
//! from its invocation to its completion, faults shaded behind.
//!
//! **Rows.** A worker whose operation ends `info` takes a new process id,
//! so a long run with many timeouts has many processes, each of which runs
//! for a while and then stops. Drawing one row per process would give
//! hundreds of mostly empty rows, so processes are packed into *lanes*: a
//! process goes to the lane whose previous process stopped last before it
//! started (which finds the worker that took the new id). A lane is
//! labelled with its first process and how many followed; its tooltip
//! lists them all. Without indeterminate operations, lanes are processes.
//!
//! **Indeterminate operations.** An `info` op may take effect at any time
//! after its invocation, so its bar is hatched up to the moment the client
//! gave up and a dashed tail runs on to the end of the run; an op that
//! never completed is hatched to the end.
//!
//! **Down-sampling.** At most `max_bars` bars are drawn: every `fail` and
//! `info` op and every op the counterexample names are always drawn, and
//! `ok` ops are thinned to every n-th when there are too many. The page
//! says how many were left out.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use super::data::{Op, Outcome};
use super::svg::{self, c, esc, Frame, LEFT, RIGHT, WIDTH};
use crate::results::FaultWindow;

/// Most bars the timeline draws (see the module docs).
pub(crate) const MAX_BARS: usize = 5_000;

/// Processes packed into lanes.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    /// The processes of each lane, in the order they ran.
    pub lanes: Vec<Vec<u64>>,
    /// The lane of each process.
    pub of: HashMap<u64, usize>,
}

/// Packs processes into lanes (see the module docs).
pub(crate) fn lanes(ops: &[Op]) -> Lanes {
    // (first invocation, last completion or +inf, process)
    let mut spans: HashMap<u64, (u64, u64)> = HashMap::new();
    for op in ops {
        let end = op.end_ns.unwrap_or(u64::MAX);
        let span = spans.entry(op.process).or_insert((op.start_ns, end));
        span.0 = span.0.min(op.start_ns);
        span.1 = span.1.max(end);
    }
    let mut order: Vec<(u64, u64, u64)> = spans.iter().map(|(&p, &(s, e))| (s, e, p)).collect();
    order.sort_unstable();
    let mut free_at: Vec<u64> = Vec::new();
    let mut lanes: Vec<Vec<u64>> = Vec::new();
    for (start, end, p) in order {
        let best = free_at
            .iter()
            .enumerate()
            .filter(|(_, &f)| f < start)
            .max_by_key(|(i, &f)| (f, std::cmp::Reverse(*i)))
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                free_at[i] = end;
                lanes[i].push(p);
            }
            None => {
                free_at.push(end);
                lanes.push(vec![p]);
            }
        }
    }
    lanes.sort_by_key(|l| l.first().copied());
    let of = lanes
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |&p| (p, i)))
        .collect();
    Lanes { lanes, of }
}

/// Which ops get a bar.
#[derive(Debug, PartialEq)]
pub(crate) struct Selection {
    /// Ids of the ops drawn, ascending.
    pub drawn: Vec<usize>,
    /// `ok` ops left out.
    pub omitted: usize,
    /// One `ok` op in `stride` is drawn (1: all; `usize::MAX`: none).
    pub stride: usize,
}

impl Selection {
    /// Which `ok` ops are drawn, in words: `one ok op in 3`.
    pub(crate) fn ok_words(&self) -> String {
        match self.stride {
            1 => "every ok op".into(),
            usize::MAX => "no other ok op".into(),
            n => format!("one ok op in {n}"),
        }
    }
}

/// Chooses the bars (see the module docs): every non-`ok` op and every op
/// in `keep`, then every `stride`-th other op so the total stays within
/// `max_bars` where it can.
pub(crate) fn select(ops: &[Op], keep: &BTreeSet<usize>, max_bars: usize) -> Selection {
    let must = |op: &Op| op.outcome != Outcome::Ok || keep.contains(&op.id);
    let n_must = ops.iter().filter(|o| must(o)).count();
    let n_rest = ops.len() - n_must;
    let budget = max_bars.saturating_sub(n_must);
    let stride = if n_rest <= budget {
        1
    } else if budget == 0 {
        usize::MAX
    } else {
        n_rest.div_ceil(budget)
    };
    let mut drawn = Vec::new();
    let mut rest_seen = 0usize;
    for op in ops {
        if must(op) {
            drawn.push(op.id);
        } else {
            if stride != usize::MAX && rest_seen % stride == 0 {
                drawn.push(op.id);
            }
            rest_seen += 1;
        }
    }
    let omitted = ops.len() - drawn.len();
    Selection {
        drawn,
        omitted,
        stride,
    }
}

/// Writes the timeline: a note on what was drawn, the SVG, the legend.
pub(crate) fn render(
    out: &mut String,
    ops: &[Op],
    faults: &[FaultWindow],
    end_s: f64,
    cex_op: Option<usize>,
    keep: &BTreeSet<usize>,
    max_bars: usize,
) {
    if ops.is_empty() {
        out.push_str("<p class=\"empty\">There were no client operations to draw.</p>");
        return;
    }
    let lanes = lanes(ops);
    let sel = select(ops, keep, max_bars);
    let n_lanes = lanes.lanes.len().max(1);
    let _ = write!(
        out,
        "<p class=\"note\">{} by {} in {} (a worker that took a new process id after an \
         indeterminate op keeps its row). ",
        svg::plural(ops.len(), "operation"),
        svg::plural(lanes.of.len(), "process"),
        svg::plural(n_lanes, "row"),
    );
    if sel.omitted == 0 {
        out.push_str("Every operation is drawn.");
    } else {
        let _ = write!(
            out,
            "<strong>{} of {} operations are drawn</strong>: every fail and info op and the \
             counterexample's ops, and {}; {} ok ops are left out.",
            sel.drawn.len(),
            ops.len(),
            sel.ok_words(),
            sel.omitted
        );
    }
    out.push_str(" Hover a bar for its details.</p>\n");

    let row_h = (520.0 / n_lanes as f64).clamp(4.0, 24.0);
    // With a counterexample, one more row on top for its marker's words.
    let cex_row = if cex_op.is_some() {
        svg::LABEL_ROW
    } else {
        0.0
    };
    let top = svg::labels_height(faults, end_s) + 4.0 + cex_row;
    let frame = Frame {
        left: LEFT,
        top,
        width: WIDTH - LEFT - RIGHT,
        height: n_lanes as f64 * row_h,
    };
    let x = frame.time_scale(0.0, end_s);
    svg::open(
        out,
        "timeline",
        frame.bottom() + 42.0,
        "timeline of operations per process",
    );
    lane_backgrounds(out, &frame, &lanes, row_h);
    svg::fault_bands(out, &frame, &x, faults, end_s, true);
    svg::time_axis(out, &frame, &x, "time since the start of the run (s)");

    out.push_str("<g class=\"bars\">");
    let bar_h = (row_h * 0.72).max(2.0);
    let mut cex_bar = None;
    for &id in &sel.drawn {
        let op = &ops[id];
        let lane = lanes.of.get(&op.process).copied().unwrap_or(0);
        let y = frame.top + lane as f64 * row_h + (row_h - bar_h) / 2.0;
        let x0 = x.at(op.start_s());
        let x1 = match (op.outcome, op.end_s()) {
            (Outcome::Open, _) | (_, None) => x.at(end_s),
            (_, Some(e)) => x.at(e),
        };
        let w = (x1 - x0).max(1.2);
        let extra = if Some(id) == cex_op { " cex" } else { "" };
        let _ = write!(
            out,
            "<rect class=\"op {}{extra}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">\
             <title>{}</title></rect>",
            op.outcome.class(),
            c(x0),
            c(y),
            c(w),
            c(bar_h),
            esc(&op.describe()),
        );
        if op.outcome == Outcome::Info {
            let ty = y + bar_h - 0.5;
            let _ = write!(
                out,
                "<line class=\"tail\" x1=\"{}\" x2=\"{}\" y1=\"{ty}\" y2=\"{ty}\"/>",
                c(x0 + w),
                c(x.at(end_s)),
                ty = c(ty),
            );
        }
        if Some(id) == cex_op {
            cex_bar = Some((x0, w, y, op));
        }
    }
    out.push_str("</g>");
    svg::fault_edges(out, &frame, &x, faults, end_s);
    if let Some((x0, w, y, op)) = cex_bar {
        cex_marker(out, &frame, (x0, y, w, bar_h), op);
    }
    svg::close(out);
    legend(out, faults, cex_op.is_some());
}

/// Zebra stripes and lane labels.
fn lane_backgrounds(out: &mut String, frame: &Frame, lanes: &Lanes, row_h: f64) {
    out.push_str("<g class=\"lanes\">");
    let label_every = (11.0 / row_h).ceil().max(1.0) as usize;
    for (i, procs) in lanes.lanes.iter().enumerate() {
        let y = frame.top + i as f64 * row_h;
        if i % 2 == 1 {
            let _ = write!(
                out,
                "<rect class=\"zebra\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                c(frame.left),
                c(y),
                c(frame.width),
                c(row_h),
            );
        }
        if i % label_every != 0 {
            continue;
        }
        let first = procs.first().copied().unwrap_or(0);
        let text = if procs.len() > 1 {
            format!("p{first} +{}", procs.len() - 1)
        } else {
            format!("p{first}")
        };
        let list: Vec<String> = procs.iter().take(40).map(|p| format!("p{p}")).collect();
        let more = if procs.len() > 40 { " …" } else { "" };
        let _ = write!(
            out,
            "<text class=\"lane\" x=\"{}\" y=\"{}\" text-anchor=\"end\">\
             <title>row {}: processes {}{more}</title>{}</text>",
            c(frame.left - 6.0),
            c(y + row_h / 2.0 + 4.0),
            i + 1,
            list.join(", "),
            esc(&text),
        );
    }
    out.push_str("</g>");
}

/// The halo, line and words that point at the op the checker could not
/// place (`bar` is its rectangle: x, y, width, height). The words go in
/// the top row of the plot, the line runs from them through every row.
fn cex_marker(out: &mut String, frame: &Frame, bar: (f64, f64, f64, f64), op: &Op) {
    let (x0, y, w, h) = bar;
    let key = op
        .key
        .as_deref()
        .map(|k| format!(" on {k}"))
        .unwrap_or_default();
    let text = format!(
        "✗ op #{} cannot be linearised: {}{key} (p{})",
        op.id,
        op.short(),
        op.process
    );
    let text = svg::clip(&text, 90);
    let width = text.chars().count() as f64 * 7.0;
    let xm = x0 + w / 2.0;
    let (tx, anchor) = if xm + 4.0 + width < frame.right() {
        (xm + 4.0, "start")
    } else {
        (xm - 4.0, "end")
    };
    let _ = write!(
        out,
        "<g class=\"cexmark\"><line x1=\"{xm}\" x2=\"{xm}\" y1=\"18\" y2=\"{}\"/>\
         <rect class=\"halo\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\"/>\
         <text x=\"{}\" y=\"14\" text-anchor=\"{anchor}\">{}</text></g>",
        c(frame.bottom()),
        c(x0 - 4.0),
        c(y - 4.0),
        c(w + 8.0),
        c(h + 8.0),
        c(tx),
        esc(&text),
        xm = c(xm),
    );
}

/// The legend under the timeline.
fn legend(out: &mut String, faults: &[FaultWindow], cex: bool) {
    out.push_str(
        "<div class=\"legend\"><span><i class=\"sw ok\"></i>ok</span>\
         <span><i class=\"sw fail\"></i>fail (did not happen)</span>\
         <span><i class=\"sw info\"></i>info: indeterminate, may take effect until the end \
         (dashed tail)</span>",
    );
    if cex {
        out.push_str("<span><i class=\"sw cexhalo\"></i>the op the checker could not place</span>");
    }
    fault_legend(out, faults);
    out.push_str("</div>\n");
}

/// Legend entries for the kinds of fault present.
pub(crate) fn fault_legend(out: &mut String, faults: &[FaultWindow]) {
    let mut seen = BTreeSet::new();
    for f in faults {
        let class = svg::fault_class(&f.kind);
        if seen.insert(class) {
            let name = match class {
                "f-kill" => "kill",
                "f-pause" => "pause",
                "f-partition" => "partition",
                "f-packet" => "packet loss/delay",
                _ => "other fault",
            };
            let _ = write!(out, "<span><i class=\"sw band {class}\"></i>{name}</span>");
        }
    }
}
