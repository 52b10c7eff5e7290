//! Latency and throughput over time, with the faults shaded behind.
//!
//! - **Latency scatter**: one point per completed op at (invocation time,
//!   latency), latency on a log scale; colour by outcome, shape by `f`.
//!   Thinned like the timeline (every fail/info op kept).
//! - **Latency quantiles**: p50, p95 and p99 of the `ok` ops invoked in
//!   each time bucket, as lines on the same scale.
//! - **Throughput**: completions per second in each bucket, stacked by
//!   outcome (ops that never completed are not counted).
//!
//! Buckets are one second wide, wider for long runs (at most 600 buckets)
//! and narrower for runs under ten seconds.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::data::{Op, Outcome};
use super::svg::{self, c, esc, Frame, Log, LEFT, RIGHT, WIDTH};
use super::timeline::{fault_legend, select};
use crate::results::{FaultWindow, Quantiles};

/// Most points the scatter draws.
pub(crate) const MAX_POINTS: usize = 6_000;

/// The functions in the order their marker shapes are assigned.
const SHAPE_ORDER: [&str; 5] = ["read", "write", "cas", "add", "read_set"];

/// The marker shape of `f` among all the `fs` present.
fn shape_of(f: &str, fs: &[String]) -> usize {
    SHAPE_ORDER
        .iter()
        .position(|s| *s == f)
        .unwrap_or_else(|| SHAPE_ORDER.len() + fs.iter().position(|x| x == f).unwrap_or(0))
}

/// The functions present, sorted.
fn functions(ops: &[Op]) -> Vec<String> {
    let set: BTreeSet<&str> = ops.iter().map(|o| o.f.as_str()).collect();
    set.into_iter().map(str::to_owned).collect()
}

/// The bucket width in seconds for a run of `end_s` seconds.
pub(crate) fn bucket_secs(end_s: f64) -> f64 {
    if end_s < 10.0 {
        svg::nice_ceil(end_s / 10.0).min(1.0)
    } else if end_s > 600.0 {
        (end_s / 600.0).ceil()
    } else {
        1.0
    }
}

fn bucket_words(b: f64) -> String {
    if b == 1.0 {
        "1-second".into()
    } else {
        format!("{}-second", svg::num(b))
    }
}

/// The log scale covering every latency drawn.
fn latency_scale(ops: &[Op], frame: &Frame) -> Log {
    let (lo, hi) = ops
        .iter()
        .filter_map(Op::latency_ms)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), l| {
            (lo.min(l.max(0.001)), hi.max(l))
        });
    if lo.is_finite() {
        Log::covering(lo, hi, frame.bottom(), frame.top)
    } else {
        Log::covering(1.0, 10.0, frame.bottom(), frame.top)
    }
}

/// Writes the latency scatter.
pub(crate) fn scatter(
    out: &mut String,
    ops: &[Op],
    faults: &[FaultWindow],
    end_s: f64,
    cex_op: Option<usize>,
) {
    let timed: Vec<&Op> = ops.iter().filter(|o| o.end_ns.is_some()).collect();
    if timed.is_empty() {
        out.push_str("<p class=\"empty\">No operation completed, so there are no latencies.</p>");
        return;
    }
    let keep: BTreeSet<usize> = cex_op.into_iter().collect();
    let sel = select(ops, &keep, MAX_POINTS);
    let drawn: Vec<&Op> = sel
        .drawn
        .iter()
        .map(|&i| &ops[i])
        .filter(|o| o.end_ns.is_some())
        .collect();
    let _ = write!(
        out,
        "<p class=\"note\">{} completed operations; {} drawn{}. Latency is on a log scale; \
         operations that never completed have none.</p>",
        timed.len(),
        drawn.len(),
        if sel.omitted > 0 {
            format!(" (every fail and info op, and {})", sel.ok_words())
        } else {
            String::new()
        }
    );
    let frame = Frame {
        left: LEFT,
        top: 12.0,
        width: WIDTH - LEFT - RIGHT,
        height: 320.0,
    };
    let x = frame.time_scale(0.0, end_s);
    let y = latency_scale(ops, &frame);
    let fs = functions(ops);
    svg::open(
        out,
        "scatter",
        frame.bottom() + 42.0,
        "latency of each operation over time",
    );
    svg::fault_bands(out, &frame, &x, faults, end_s, false);
    svg::y_axis(out, &frame, &y.ticks(), |v| y.at(v), "latency (ms, log)");
    svg::time_axis(out, &frame, &x, "invocation time (s)");
    out.push_str("<g class=\"points\">");
    // ok first, so the rarer fail and info points are drawn on top.
    for pass in [true, false] {
        for op in drawn.iter().filter(|o| (o.outcome == Outcome::Ok) == pass) {
            let Some(l) = op.latency_ms() else { continue };
            let r = if pass { 2.2 } else { 3.2 };
            let mut class = format!("pt {}", op.outcome.class());
            if Some(op.id) == cex_op {
                class.push_str(" cex");
            }
            let tag = svg::marker(
                out,
                shape_of(&op.f, &fs),
                x.at(op.start_s()),
                y.at(l),
                r,
                &class,
            );
            let _ = write!(out, "><title>{}</title></{tag}>", esc(&op.describe()));
        }
    }
    out.push_str("</g>");
    svg::close(out);
    out.push_str("<div class=\"legend\"><span><i class=\"sw ok\"></i>ok</span>");
    out.push_str(
        "<span><i class=\"sw fail\"></i>fail</span><span><i class=\"sw info\"></i>info</span>",
    );
    for f in &fs {
        let _ = write!(
            out,
            "<span>{}{}</span>",
            svg::marker_swatch(shape_of(f, &fs), "pt plain"),
            esc(f)
        );
    }
    fault_legend(out, faults);
    out.push_str("</div>\n");
}

/// Picks one quantile.
type Pick = fn(&Quantiles) -> f64;

/// Writes the p50/p95/p99 lines per bucket of invocation time.
pub(crate) fn quantiles(out: &mut String, ops: &[Op], faults: &[FaultWindow], end_s: f64) {
    let b = bucket_secs(end_s);
    let n = (end_s / b).ceil().max(1.0) as usize;
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); n];
    for op in ops.iter().filter(|o| o.outcome == Outcome::Ok) {
        if let Some(l) = op.latency_ms() {
            let i = ((op.start_s() / b) as usize).min(n - 1);
            buckets[i].push(l);
        }
    }
    if buckets.iter().all(Vec::is_empty) {
        out.push_str(
            "<p class=\"empty\">No operation completed ok, so there are no quantiles.</p>",
        );
        return;
    }
    let qs: Vec<Option<Quantiles>> = buckets
        .iter_mut()
        .map(|v| {
            if v.is_empty() {
                None
            } else {
                Some(Quantiles::of(v))
            }
        })
        .collect();
    let _ = write!(
        out,
        "<p class=\"note\">Quantiles of the latency of ok operations invoked in each {} bucket; \
         gaps are buckets where no op completed ok.</p>",
        bucket_words(b)
    );
    let frame = Frame {
        left: LEFT,
        top: 12.0,
        width: WIDTH - LEFT - RIGHT,
        height: 240.0,
    };
    let x = frame.time_scale(0.0, end_s);
    let y = latency_scale(ops, &frame);
    svg::open(
        out,
        "quantiles",
        frame.bottom() + 42.0,
        "latency quantiles over time",
    );
    svg::fault_bands(out, &frame, &x, faults, end_s, false);
    svg::y_axis(out, &frame, &y.ticks(), |v| y.at(v), "latency (ms, log)");
    svg::time_axis(out, &frame, &x, "invocation time (s)");
    let lines: [(&str, Pick); 3] = [("p99", |q| q.p99), ("p95", |q| q.p95), ("p50", |q| q.p50)];
    let mut dots = String::new();
    for (name, get) in lines {
        let mut d = String::new();
        let mut pen_down = false;
        for (i, q) in qs.iter().enumerate() {
            match q {
                Some(q) => {
                    let px = x.at((i as f64 + 0.5) * b);
                    let py = y.at(get(q));
                    let _ = write!(
                        d,
                        "{}{} {}",
                        if pen_down { " L" } else { " M" },
                        c(px),
                        c(py)
                    );
                    pen_down = true;
                    // A bucket with no neighbours makes no line: a dot.
                    let alone = (i == 0 || qs[i - 1].is_none())
                        && qs.get(i + 1).is_none_or(|n| n.is_none());
                    if alone {
                        let _ = write!(
                            dots,
                            "<circle class=\"q {name}\" cx=\"{}\" cy=\"{}\" r=\"3\"/>",
                            c(px),
                            c(py)
                        );
                    }
                }
                None => pen_down = false,
            }
        }
        let _ = write!(out, "<path class=\"q {name}\" d=\"{}\"/>", d.trim_start());
    }
    out.push_str(&dots);
    // One invisible column per bucket carries the numbers as a tooltip.
    out.push_str("<g class=\"hover\">");
    for (i, q) in qs.iter().enumerate() {
        let Some(q) = q else { continue };
        let x0 = x.at(i as f64 * b);
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}–{} s: {} ok ops, \
             p50 {} ms, p95 {} ms, p99 {} ms, max {} ms</title></rect>",
            c(x0),
            c(frame.top),
            c((x.at((i + 1) as f64 * b) - x0).max(0.5)),
            c(frame.height),
            svg::num(i as f64 * b),
            svg::num((i + 1) as f64 * b),
            buckets[i].len(),
            svg::ms(q.p50),
            svg::ms(q.p95),
            svg::ms(q.p99),
            svg::ms(q.max),
        );
    }
    out.push_str("</g>");
    svg::close(out);
    out.push_str(
        "<div class=\"legend\"><span><i class=\"ln p50\"></i>p50</span>\
         <span><i class=\"ln p95\"></i>p95</span><span><i class=\"ln p99\"></i>p99</span>",
    );
    fault_legend(out, faults);
    out.push_str("</div>\n");
}

/// Writes completions per second, stacked by outcome.
pub(crate) fn throughput(out: &mut String, ops: &[Op], faults: &[FaultWindow], end_s: f64) {
    let b = bucket_secs(end_s);
    let n = (end_s / b).ceil().max(1.0) as usize;
    // [ok, fail, info] per bucket of completion time
    let mut counts = vec![[0u32; 3]; n];
    for op in ops {
        let Some(e) = op.end_s() else { continue };
        let k = match op.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info | Outcome::Open => 2,
        };
        counts[((e / b) as usize).min(n - 1)][k] += 1;
    }
    if counts.iter().all(|c| c.iter().all(|&v| v == 0)) {
        out.push_str("<p class=\"empty\">No operation completed.</p>");
        return;
    }
    let _ = write!(
        out,
        "<p class=\"note\">Operations completed per second, in {} buckets of completion time, \
         stacked: ok at the bottom, then fail, then info.</p>",
        bucket_words(b)
    );
    let peak = counts
        .iter()
        .map(|c| c.iter().sum::<u32>())
        .max()
        .unwrap_or(0) as f64
        / b;
    let y_max = svg::nice_ceil(peak.max(1.0));
    let top = svg::labels_height(faults, end_s) + 4.0;
    let frame = Frame {
        left: LEFT,
        top,
        width: WIDTH - LEFT - RIGHT,
        height: 220.0,
    };
    let x = frame.time_scale(0.0, end_s);
    let y = svg::Linear::new(0.0, y_max, frame.bottom(), frame.top);
    svg::open(
        out,
        "throughput",
        frame.bottom() + 42.0,
        "throughput over time",
    );
    svg::fault_bands(out, &frame, &x, faults, end_s, true);
    svg::y_axis(
        out,
        &frame,
        &svg::ticks(0.0, y_max, 5),
        |v| y.at(v),
        "ops / s",
    );
    svg::time_axis(out, &frame, &x, "completion time (s)");
    out.push_str("<g class=\"cols\">");
    for (i, cnt) in counts.iter().enumerate() {
        if cnt.iter().all(|&v| v == 0) {
            continue;
        }
        let x0 = x.at(i as f64 * b);
        let w = x.at((i + 1) as f64 * b) - x0;
        let gap = if w > 4.0 { 1.0 } else { 0.0 };
        let _ = write!(
            out,
            "<g><title>{}–{} s: {} ok, {} fail, {} info</title>",
            svg::num(i as f64 * b),
            svg::num((i + 1) as f64 * b),
            cnt[0],
            cnt[1],
            cnt[2]
        );
        let mut base = 0.0;
        for (k, class) in ["ok", "fail", "info"].iter().enumerate() {
            if cnt[k] == 0 {
                continue;
            }
            let rate = f64::from(cnt[k]) / b;
            let (y0, y1) = (y.at(base), y.at(base + rate));
            let _ = write!(
                out,
                "<rect class=\"col {class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                c(x0 + gap / 2.0),
                c(y1),
                c((w - gap).max(0.5)),
                c((y0 - y1).max(0.5)),
            );
            base += rate;
        }
        out.push_str("</g>");
    }
    out.push_str("</g>");
    svg::close(out);
    out.push_str(
        "<div class=\"legend\"><span><i class=\"sw ok\"></i>ok</span>\
         <span><i class=\"sw fail\"></i>fail</span><span><i class=\"sw infos\"></i>info</span>",
    );
    fault_legend(out, faults);
    out.push_str("</div>\n");
}
