//! A self-contained HTML report of a linearizability check: inline CSS and
//! SVG, no scripts, no fonts, no external resources, so it can be archived
//! with a run and opened anywhere.
//!
//! The page shows the verdict, then the counterexample in words (the op
//! that cannot be placed, the states it was tried in, the end of the
//! longest linearizable prefix), then a timeline per key: one row per
//! process, one bar per operation from invocation to completion (to the
//! right edge, faded, when it never completed). Bars of the prefix are
//! green and numbered in linearization order; the op that cannot be placed
//! is red. Every bar has a tooltip with the full operation. Long histories
//! show a window of events around the failure, and say so.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::check::{CheckResult, Counterexample, Verdict};
use crate::history::{History, Op, Outcome};

/// Most events drawn per key (a window when the key has more).
const MAX_EVENTS_PER_KEY: usize = 400;
/// Events drawn before and after the failing op's interval.
const EVENTS_BEFORE_FAILURE: usize = 64;
const EVENTS_AFTER_FAILURE: usize = 12;
/// Most keys drawn.
const MAX_KEYS: usize = 8;
/// Prefix steps listed in the counterexample box (all are in the details).
const MAX_PREFIX_ROWS: usize = 10;

const ROW_PX: usize = 24;
const LABEL_PX: usize = 64;
const TARGET_WIDTH_PX: usize = 1180;

/// Escapes text for HTML and SVG.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 6px}
h2{font-size:16px;margin:26px 0 8px}
.meta{color:#57606a}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
.true{background:#1a7f37}.false{background:#cf222e}.unknown{background:#6e7781}
.box{border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin:12px 0;max-width:1180px}
.cex{border-color:#cf222e;background:#fff8f8}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
table{border-collapse:collapse;margin-top:6px}
td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
th{color:#57606a;font-weight:600}
.scroll{overflow-x:auto;max-width:100%;border:1px solid #d0d7de;border-radius:6px;padding:6px 0}
.legend span{display:inline-block;margin-right:16px}
.sw{display:inline-block;width:14px;height:10px;border-radius:2px;margin-right:5px;vertical-align:middle}
.note{color:#57606a;font-size:13px}
";

/// Renders the report for `result`, a check of `history`.
pub fn render_html(history: &History, result: &CheckResult) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let verdict = match result.valid {
        Verdict::True => "linearizable",
        Verdict::False => "not linearizable",
        Verdict::Unknown => "unknown",
    };
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} — {}</title><style>{STYLE}</style></head><body>",
        esc(&history.source),
        verdict
    );
    let _ = writeln!(
        out,
        "<h1>{} <span class=\"badge {}\">{}</span></h1>\n<div class=\"meta\">model <code>{}</code> · {} operations · \
         {} key{} · checked in {}</div>",
        esc(&history.source),
        result.valid,
        verdict,
        esc(&result.model),
        result.ops,
        result.keys.len(),
        if result.keys.len() == 1 { "" } else { "s" },
        crate::report::duration(result.elapsed)
    );
    for key in result.keys.iter().filter(|k| k.valid == Verdict::Unknown) {
        let _ = writeln!(
            out,
            "<div class=\"box\">Key <code>{}</code>: unknown — {}</div>",
            esc(key.key.as_deref().unwrap_or("(none)")),
            esc(key.reason.as_deref().unwrap_or(""))
        );
    }
    if let Some(cex) = &result.counterexample {
        counterexample_box(&mut out, history, cex);
    }
    legend(&mut out);
    // The failing key first, then the others, in key order.
    let mut by_key: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        by_key.entry(op.key.as_deref()).or_default().push(i);
    }
    let failing_key = result.counterexample.as_ref().map(|c| c.key.as_deref());
    let mut keys: Vec<Option<&str>> = by_key.keys().copied().collect();
    keys.sort_by_key(|k| Some(*k) != failing_key);
    for (n, key) in keys.iter().enumerate() {
        if n == MAX_KEYS {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} more keys not drawn.</p>",
                keys.len() - MAX_KEYS
            );
            break;
        }
        let cex = result
            .counterexample
            .as_ref()
            .filter(|c| c.key.as_deref() == *key);
        timeline(&mut out, history, key, &by_key[key], cex);
    }
    if history.ops.is_empty() {
        out.push_str("<p class=\"note\">The history has no client operations.</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn counterexample_box(out: &mut String, history: &History, cex: &Counterexample) {
    let op = &history.ops[cex.op];
    out.push_str("<div class=\"box cex\"><b>Counterexample</b>");
    if let Some(key) = &cex.key {
        let _ = write!(out, " on key <code>{}</code>", esc(key));
    }
    let line = if op.invoke.line > 0 {
        format!(" (line {})", op.invoke.line)
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<p>The operation <code>{}</code>{line} cannot be linearized. The search found a valid order for at most {} \
         operation{} before this one had to take effect, and the model refuses it in every state the object could \
         be in at that point: ",
        esc(&cex.op_text),
        cex.prefix.len(),
        if cex.prefix.len() == 1 { "" } else { "s" },
    );
    for (i, state) in cex.tried_states.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "<code><b>{}</b></code>", esc(state));
    }
    out.push_str(".</p>");
    if cex.prefix.is_empty() {
        out.push_str("<p>It fails first thing: no operation can be placed before it.</p>");
    } else {
        let skip = cex.prefix.len().saturating_sub(MAX_PREFIX_ROWS);
        out.push_str("<p>The end of the longest linearizable prefix");
        if skip > 0 {
            let _ = write!(out, " (the full prefix is below the timeline)");
        }
        out.push_str(":</p>");
        prefix_table(out, cex, skip);
    }
    out.push_str("</div>\n");
}

fn prefix_table(out: &mut String, cex: &Counterexample, skip: usize) {
    out.push_str("<table><tr><th>#</th><th>operation</th><th>state after</th></tr>");
    for (i, step) in cex.prefix.iter().enumerate().skip(skip) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
            i + 1,
            esc(&step.op_text),
            esc(&step.state)
        );
    }
    out.push_str("</table>");
}

fn legend(out: &mut String) {
    out.push_str(
        "<p class=\"legend note\">\
         <span><i class=\"sw\" style=\"background:#2da44e\"></i>linearized prefix (numbered in order)</span>\
         <span><i class=\"sw\" style=\"background:#cf222e\"></i>cannot be placed</span>\
         <span><i class=\"sw\" style=\"background:#8fb8e8\"></i>ok</span>\
         <span><i class=\"sw\" style=\"background:#f2c46d\"></i>info / never completed (may happen any time after)</span>\
         <span><i class=\"sw\" style=\"background:#eaeef2;border:1px dashed #8c959f\"></i>fail (did not happen)</span>\
         </p>\n",
    );
}

/// A short label for a bar: `w 3`, `r 4`, `cas 1→2`.
fn short(op: &Op) -> String {
    let f = match op.f.as_str() {
        "read" => "r",
        "write" => "w",
        other => other,
    };
    let value = match (op.f.as_str(), op.value.as_list()) {
        ("cas", Some([from, to])) => format!("{from}→{to}"),
        _ => op.value.to_string(),
    };
    format!("{f} {value}")
}

/// The end of an operation's bar: its completion, or never.
fn end_pos(op: &Op) -> usize {
    match (op.outcome, op.complete) {
        (Outcome::Ok | Outcome::Fail, Some(c)) => c.pos,
        _ => usize::MAX,
    }
}

fn timeline(
    out: &mut String,
    history: &History,
    key: &Option<&str>,
    ops: &[usize],
    cex: Option<&Counterexample>,
) {
    let title = match key {
        Some(k) => format!("Key <code>{}</code>", esc(k)),
        None => "Timeline".to_owned(),
    };
    let _ = writeln!(
        out,
        "<h2>{title} <span class=\"note\">({} operations)</span></h2>",
        ops.len()
    );
    // The x axis counts this key's events only, so a key whose operations
    // are sparse in a long history is still drawn compactly.
    let mut ranks: Vec<usize> = ops
        .iter()
        .flat_map(|&i| {
            let op = &history.ops[i];
            std::iter::once(op.invoke.pos).chain(op.complete.map(|c| c.pos))
        })
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    let rank = |pos: usize| ranks.partition_point(|&p| p < pos);
    let last = ranks.len().saturating_sub(1);
    let event = |r: usize| ranks.get(r).copied().unwrap_or(0);
    // The window of events drawn: around the failure, or from the start.
    let centre = cex.map(|c| c.op);
    let (lo, hi) = match centre.map(|c| &history.ops[c]) {
        Some(failing) => {
            let done = rank(failing.complete.map_or(failing.invoke.pos, |c| c.pos));
            let lo = rank(failing.invoke.pos).saturating_sub(EVENTS_BEFORE_FAILURE);
            (lo, (done + EVENTS_AFTER_FAILURE).min(last))
        }
        None => (0, last.min(MAX_EVENTS_PER_KEY)),
    };
    if lo > 0 || hi < last {
        let _ = writeln!(
            out,
            "<p class=\"note\">Showing this key's events {} to {} of {} to {}{}.</p>",
            event(lo),
            event(hi),
            event(0),
            event(last),
            if centre.is_some() {
                ", around the failure"
            } else {
                ""
            }
        );
    }
    let shown: Vec<usize> = ops
        .iter()
        .copied()
        .filter(|&i| rank(history.ops[i].invoke.pos) <= hi && rank(end_pos(&history.ops[i])) >= lo)
        .collect();
    let order: BTreeMap<usize, usize> = cex
        .map(|c| {
            c.prefix
                .iter()
                .enumerate()
                .map(|(n, s)| (s.op, n + 1))
                .collect()
        })
        .unwrap_or_default();
    let span = hi - lo + 1;
    let unit = (TARGET_WIDTH_PX as f64 / span as f64).max(14.0);
    let x_of_rank = |r: usize| LABEL_PX as f64 + (r.clamp(lo, hi + 1) - lo) as f64 * unit;
    let x = |pos: usize| x_of_rank(rank(pos));
    let right_edge = x_of_rank(hi + 1);
    let mut processes: Vec<u64> = shown.iter().map(|&i| history.ops[i].process).collect();
    processes.sort_unstable();
    processes.dedup();
    let row = |p: u64| processes.binary_search(&p).unwrap_or(0);
    let width = right_edge + 16.0;
    let rows_bottom = processes.len() * ROW_PX + 18;
    let height = rows_bottom + if centre.is_some() { 22 } else { 6 };
    // Where the next bar of the same process starts: a label that does not
    // fit in its bar may use the free space up to there.
    let mut next_start: BTreeMap<usize, f64> = BTreeMap::new();
    let mut by_process: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for &i in &shown {
        by_process
            .entry(history.ops[i].process)
            .or_default()
            .push(i);
    }
    for row_ops in by_process.values_mut() {
        row_ops.sort_by_key(|&i| history.ops[i].invoke.pos);
        for pair in row_ops.windows(2) {
            next_start.insert(pair[0], x(history.ops[pair[1]].invoke.pos));
        }
    }
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height}\" \
         font-family=\"ui-monospace,Menlo,Consolas,monospace\" font-size=\"11\">"
    );
    for (r, p) in processes.iter().enumerate() {
        let y = r * ROW_PX + 18;
        if r % 2 == 1 {
            let _ = writeln!(
                out,
                "<rect x=\"0\" y=\"{}\" width=\"{width:.0}\" height=\"{ROW_PX}\" fill=\"#f6f8fa\"/>",
                y - 2
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"6\" y=\"{}\" fill=\"#57606a\">p{p}</text>",
            y + 14
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{LABEL_PX}\" y=\"11\" fill=\"#57606a\">event {} →</text>\
         <text x=\"{right_edge:.0}\" y=\"11\" fill=\"#57606a\" text-anchor=\"end\">event {}</text>",
        event(lo),
        event(hi)
    );
    if let Some(done) = centre.and_then(|c| history.ops[c].complete) {
        let xs = x(done.pos) + unit * 0.6;
        let anchor = if xs > right_edge / 2.0 {
            "end"
        } else {
            "start"
        };
        let tx = if anchor == "end" { xs - 4.0 } else { xs + 4.0 };
        let _ = writeln!(
            out,
            "<line x1=\"{xs:.1}\" y1=\"14\" x2=\"{xs:.1}\" y2=\"{}\" stroke=\"#cf222e\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{tx:.1}\" y=\"{}\" fill=\"#cf222e\" text-anchor=\"{anchor}\">the search cannot get past \
             the completion of the red operation</text>",
            rows_bottom + 8,
            rows_bottom + 16
        );
    }
    // Draw the failing op last, so it is on top.
    let mut drawn = shown.clone();
    drawn.sort_by_key(|&i| Some(i) == centre);
    for &i in &drawn {
        let geometry = BarGeometry {
            x: &x,
            unit,
            right_edge,
            free_until: next_start.get(&i).copied().unwrap_or(right_edge + 12.0),
            y: row(history.ops[i].process) * ROW_PX + 20,
        };
        bar(out, history, i, &geometry, order.get(&i), centre, cex);
    }
    out.push_str("</svg></div>\n");
    if let Some(c) = cex.filter(|c| c.prefix.len() > MAX_PREFIX_ROWS) {
        let _ = write!(
            out,
            "<details><summary>The full linearizable prefix ({} operations)</summary>",
            c.prefix.len()
        );
        prefix_table(out, c, 0);
        out.push_str("</details>\n");
    }
}

/// Where a bar goes.
struct BarGeometry<'a> {
    x: &'a dyn Fn(usize) -> f64,
    unit: f64,
    right_edge: f64,
    /// Where the next bar in the same row starts.
    free_until: f64,
    y: usize,
}

fn bar(
    out: &mut String,
    history: &History,
    i: usize,
    g: &BarGeometry<'_>,
    number: Option<&usize>,
    centre: Option<usize>,
    cex: Option<&Counterexample>,
) {
    let op = &history.ops[i];
    let x0 = (g.x)(op.invoke.pos);
    let open_ended = end_pos(op) == usize::MAX;
    let x1 = if open_ended {
        g.right_edge
    } else {
        (g.x)(end_pos(op)) + g.unit * 0.6
    };
    let w = (x1 - x0).max(4.0);
    let failing = Some(i) == centre;
    let (fill, stroke, dash) = if failing {
        ("#cf222e", "#82071e", "")
    } else if number.is_some() {
        ("#2da44e", "#116329", "")
    } else {
        match op.outcome {
            Outcome::Ok => ("#8fb8e8", "#3b73b9", ""),
            Outcome::Fail => ("#eaeef2", "#8c959f", " stroke-dasharray=\"3 2\""),
            Outcome::Info | Outcome::Open => ("#f2c46d", "#9a6700", " stroke-dasharray=\"4 2\""),
        }
    };
    let opacity = if open_ended {
        " fill-opacity=\"0.5\""
    } else {
        ""
    };
    let mut tip = format!("{} — invoked at event {}", op.describe(), op.invoke.pos);
    if let Some(c) = op.complete {
        let _ = write!(tip, ", completed at event {}", c.pos);
    }
    if op.invoke.line > 0 {
        let _ = write!(tip, ", line {}", op.invoke.line);
    }
    if let Some(n) = number {
        let _ = write!(tip, "; linearized #{n}");
    }
    if let (true, Some(c)) = (failing, cex) {
        let _ = write!(
            tip,
            "; CANNOT BE PLACED; tried in states {}",
            c.tried_states.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "<g><title>{}</title><rect x=\"{x0:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" rx=\"3\" fill=\"{fill}\" \
         stroke=\"{stroke}\"{dash}{opacity}/>",
        esc(&tip),
        g.y,
        ROW_PX - 6
    );
    let mut label = short(op);
    if let Some(n) = number {
        label = format!("{n}:{label}");
    }
    const CHAR_PX: f64 = 6.7;
    let fits = (w - 6.0) / CHAR_PX;
    let label_px = label.chars().count() as f64 * CHAR_PX;
    if fits < label.chars().count() as f64 && x1 + 4.0 + label_px + 4.0 <= g.free_until {
        // Beside the bar, where there is room before the next one.
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" fill=\"#1f2328\">{}</text>",
            x1 + 3.0,
            g.y + 13,
            esc(&label)
        );
    } else if fits >= 2.0 {
        let text: String = if label.chars().count() as f64 > fits {
            let keep = (fits as usize).saturating_sub(1);
            label
                .chars()
                .take(keep)
                .chain(std::iter::once('…'))
                .collect()
        } else {
            label
        };
        let colour = if failing || number.is_some() {
            "#fff"
        } else {
            "#1f2328"
        };
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" fill=\"{colour}\">{}</text>",
            x0 + 4.0,
            g.y + 13,
            esc(&text)
        );
    }
    out.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check_linearizable, Options};
    use crate::format::{parse_str, Format};
    use crate::model::Model;

    #[test]
    fn the_page_is_self_contained_and_names_the_failing_op() {
        let text = "[{:process 0 :type :invoke :f :write :value 1}\n{:process 0 :type :ok :f :write :value 1}\n\
                    {:process 1 :type :invoke :f :read :value nil}\n{:process 1 :type :ok :f :read :value 2}]";
        let h = parse_str(text, Format::Edn, "t<1>.edn").unwrap();
        let r = check_linearizable(
            &h,
            &"cas-register(0)".parse::<Model>().unwrap(),
            &Options::default(),
        )
        .unwrap();
        let page = render_html(&h, &r);
        assert!(page.contains("not linearizable"));
        assert!(page.contains("t&lt;1&gt;.edn"), "source is escaped");
        assert!(page.contains("p1 read 2 (ok)"));
        assert!(!page.contains("<script") && !page.contains("https://"));
        assert!(!page.contains("@import") && !page.contains("url(") && !page.contains("<link"));
        // The only address is the SVG namespace, which is never fetched.
        assert_eq!(
            page.matches("http://").count(),
            page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
    }

    #[test]
    fn a_violation_on_the_very_first_op_renders() {
        let text = "[{:process 1 :type :invoke :f :read :value nil}\n{:process 1 :type :ok :f :read :value 2}]";
        let h = parse_str(text, Format::Edn, "t.edn").unwrap();
        let r = check_linearizable(
            &h,
            &"cas-register(0)".parse::<Model>().unwrap(),
            &Options::default(),
        )
        .unwrap();
        let page = render_html(&h, &r);
        assert!(page.contains("fails first thing"));
        assert!(page.contains("the search cannot get past"));
    }

    #[test]
    fn an_empty_history_renders() {
        let h = parse_str("", Format::Jsonl, "e").unwrap();
        let r = check_linearizable(
            &h,
            &"register".parse::<Model>().unwrap(),
            &Options::default(),
        )
        .unwrap();
        assert!(render_html(&h, &r).contains("no client operations"));
    }
}
