//! The self-contained HTML report of a run (`report.html`).
//!
//! One page, readable on its own: inline CSS and inline SVG, no scripts,
//! fonts or images from anywhere. From the top:
//!
//! 1. the verdict, big and coloured, with the run's parameters, the
//!    checks (linearizability per key, set, liveness), errors, and a table
//!    of outcomes and latency quantiles per `f`;
//! 2. when the history is not linearizable, the counterexample: the op
//!    that cannot be placed, a zoom on the ops of its key around it (a
//!    stale read is named as such), the longest linearisable prefix and the
//!    states tried, then the checker's own fragment if one is given;
//! 3. a timeline of every operation per process, faults shaded and
//!    labelled (the `timeline` module says how rows and down-sampling work);
//! 4. latency: a scatter of every op and p50/p95/p99 per second;
//! 5. throughput: completions per second by outcome;
//! 6. the faults, as a table.
//!
//! Every string that comes from the history or the results (keys, values,
//! errors, fault targets) is escaped. The page is plain `String` building,
//! deterministic for a given input.

mod counterexample;
mod data;
mod plots;
mod svg;
mod timeline;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::results::{FaultWindow, RunResults};
use data::{json_text, Counterexample};
use svg::{esc, ms, num};
use synod_check::{HistoryEvent, Verdict};

/// The page's style sheet.
const STYLE: &str = include_str!("style.css");

/// The hatch pattern the plots refer to, defined once per page.
const DEFS: &str = "<svg class=\"defs\" width=\"0\" height=\"0\" aria-hidden=\"true\"><defs>\
<pattern id=\"hatch-info\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" \
patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fde7b0\"/>\
<line x1=\"1\" y1=\"0\" x2=\"1\" y2=\"6\" stroke=\"#d99a0b\" stroke-width=\"2.4\"/></pattern>\
</defs></svg>";

/// Renders the report page of a run.
///
/// `events` is the whole history, nemesis events included (they are not
/// drawn as operations; the fault windows come from `results.faults`).
/// `counterexample_html`, when given, is a trusted fragment from the
/// checker, embedded as-is in the counterexample section.
pub fn render_report(
    results: &RunResults,
    events: &[HistoryEvent],
    counterexample_html: Option<&str>,
) -> String {
    render_with(results, events, counterexample_html, timeline::MAX_BARS)
}

/// [`render_report`] with the timeline's bar budget as a parameter.
pub(crate) fn render_with(
    results: &RunResults,
    events: &[HistoryEvent],
    counterexample_html: Option<&str>,
    max_bars: usize,
) -> String {
    let paired = data::pair(events);
    let ops = &paired.ops;
    let faults = &results.faults;
    let end_s = data::end_secs(events, faults);
    let cex = data::counterexample(results.linearizability.as_ref(), ops);
    let cex_op = cex.as_ref().and_then(|c| c.op);
    let keep = counterexample_ops(cex.as_ref());

    let mut out = String::with_capacity(64 * 1024 + ops.len() * 400);
    head(&mut out, results);
    verdict_header(&mut out, results, ops.len());
    out.push_str("<main>");
    nav(&mut out, cex.is_some() || counterexample_html.is_some());

    section(&mut out, "checks", "Checks");
    checks(&mut out, results, paired.anomalies);
    out.push_str("<h3>Operations by function</h3>");
    stats_table(&mut out, results);
    out.push_str("</section>");

    if cex.is_some() || counterexample_html.is_some() {
        section(&mut out, "counterexample", "Counterexample");
        if let Some(cex) = &cex {
            counterexample::render(&mut out, cex, ops, faults, end_s);
        }
        if let Some(html) = counterexample_html {
            out.push_str("<h3>From the checker</h3><div class=\"checker\">");
            out.push_str(html);
            out.push_str("</div>");
        }
        out.push_str("</section>");
    }

    section(&mut out, "timeline", "Timeline of operations");
    timeline::render(&mut out, ops, faults, end_s, cex_op, &keep, max_bars);
    out.push_str("</section>");

    section(&mut out, "latency", "Latency");
    if ops.is_empty() {
        out.push_str("<p class=\"empty\">There were no operations, so there is no latency.</p>");
    } else {
        plots::scatter(&mut out, ops, faults, end_s, cex_op);
        out.push_str("<h3>Quantiles over time</h3>");
        plots::quantiles(&mut out, ops, faults, end_s);
    }
    out.push_str("</section>");

    section(&mut out, "throughput", "Throughput");
    if ops.is_empty() {
        out.push_str("<p class=\"empty\">There were no operations, so there is no throughput.</p>");
    } else {
        plots::throughput(&mut out, ops, faults, end_s);
    }
    out.push_str("</section>");

    section(&mut out, "faults", "Faults");
    faults_table(&mut out, faults, end_s);
    out.push_str("</section></main>");
    let _ = write!(
        out,
        "<footer>synod test run · seed {} · this page is self-contained: no scripts, \
         fonts or images from elsewhere.</footer></body></html>",
        results.seed
    );
    out.push('\n');
    out
}

/// The ops the timeline must draw: those the counterexample names.
fn counterexample_ops(cex: Option<&Counterexample>) -> BTreeSet<usize> {
    let Some(cex) = cex else {
        return BTreeSet::new();
    };
    cex.op
        .into_iter()
        .chain(cex.prefix.iter().filter_map(|s| s.op))
        .collect()
}

fn verdict_word(v: Verdict) -> (&'static str, &'static str, &'static str) {
    match v {
        Verdict::True => ("valid", "VALID", "Every check passed."),
        Verdict::False => ("invalid", "INVALID", "A check failed: see below."),
        Verdict::Unknown => (
            "unknown",
            "UNKNOWN",
            "A check could not decide (its budget ran out, or there was nothing to judge).",
        ),
    }
}

fn head(out: &mut String, r: &RunResults) {
    let (_, word, _) = verdict_word(r.valid);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{word} · {} {} · seed {}</title><style>{STYLE}</style></head><body>{DEFS}\n",
        esc(&r.protocol),
        esc(&r.workload),
        r.seed
    );
}

fn verdict_header(out: &mut String, r: &RunResults, n_ops: usize) {
    let (class, word, sentence) = verdict_word(r.valid);
    let _ = write!(
        out,
        "<header class=\"verdict {class}\"><div class=\"word\">{word}</div>\
         <div class=\"what\"><div class=\"sentence\">{sentence}</div>\
         <div class=\"run\">{} · {} · {} nodes</div></div></header>",
        esc(&r.protocol),
        esc(&r.workload),
        r.nodes
    );
    out.push_str("\n<dl class=\"facts\">");
    let facts: [(&str, String); 9] = [
        ("protocol", esc(&r.protocol)),
        ("workload", esc(&r.workload)),
        ("nodes", r.nodes.to_string()),
        ("seed", r.seed.to_string()),
        ("time limit", format!("{} s", num(r.time_limit_secs))),
        ("whole run", format!("{} s", num(r.elapsed_secs))),
        (
            "ops invoked",
            if r.ops == n_ops as u64 {
                r.ops.to_string()
            } else {
                format!("{} <small>({n_ops} in the history)</small>", r.ops)
            },
        ),
        ("ok / s", format!("{:.1}", r.ok_per_sec)),
        ("faults", r.faults.len().to_string()),
    ];
    for (k, v) in facts {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
    out.push_str("</dl>\n");
}

fn nav(out: &mut String, cex: bool) {
    out.push_str("<nav><a href=\"#checks\">checks</a>");
    if cex {
        out.push_str("<a href=\"#counterexample\">counterexample</a>");
    }
    out.push_str(
        "<a href=\"#timeline\">timeline</a><a href=\"#latency\">latency</a>\
         <a href=\"#throughput\">throughput</a><a href=\"#faults\">faults</a></nav>\n",
    );
}

fn section(out: &mut String, id: &str, title: &str) {
    let _ = write!(out, "<section id=\"{id}\"><h2>{title}</h2>");
}

/// A verdict as a coloured badge, from JSON (`true`, `false`, `"unknown"`).
fn badge(v: Option<&serde_json::Value>) -> String {
    let text = v.map(json_text).unwrap_or_else(|| "unknown".into());
    let class = match text.as_str() {
        "true" => "valid",
        "false" => "invalid",
        _ => "unknown",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(&text))
}

fn checks(out: &mut String, r: &RunResults, anomalies: usize) {
    out.push_str("<table class=\"checks\"><tbody>");
    if let Some(lin) = &r.linearizability {
        let _ = write!(
            out,
            "<tr><th>linearizability</th><td>{}",
            badge(lin.get("valid"))
        );
        let model = lin.get("model").map(json_text).unwrap_or_default();
        if !model.is_empty() {
            let _ = write!(out, " against <code>{}</code>", esc(&model));
        }
        if let Some(n) = lin.get("ops").and_then(|v| v.as_u64()) {
            let _ = write!(out, ", {n} ops");
        }
        if let Some(s) = lin.get("elapsed_secs").and_then(|v| v.as_f64()) {
            let _ = write!(out, ", checked in {}", svg::duration(s));
        }
        if let Some(e) = lin.get("error") {
            let _ = write!(out, "<div class=\"err\">{}</div>", esc(&json_text(e)));
        }
        if let Some(keys) = lin.get("keys").and_then(|k| k.as_array()) {
            key_table(out, keys);
        }
        out.push_str("</td></tr>");
    }
    if let Some(set) = &r.set {
        let _ = write!(out, "<tr><th>set-full</th><td>{}", badge(set.get("valid")));
        if let Some(obj) = set.as_object() {
            out.push_str("<table class=\"kv\">");
            for (k, v) in obj.iter().filter(|(k, _)| k.as_str() != "valid") {
                let _ = write!(
                    out,
                    "<tr><th>{}</th><td><code>{}</code></td></tr>",
                    esc(k),
                    esc(&svg::clip(&json_text(v), 400))
                );
            }
            out.push_str("</table>");
        }
        out.push_str("</td></tr>");
    }
    let l = &r.liveness;
    let _ = write!(
        out,
        "<tr><th>liveness</th><td>{}",
        badge(Some(&serde_json::json!(l.valid)))
    );
    let _ = match l.recovered_after_secs {
        Some(s) if l.valid => write!(
            out,
            " served again {} s after the heal (bound {} s)",
            num(s),
            num(l.bound_secs)
        ),
        _ if l.valid => write!(
            out,
            " served again within {} s of the heal",
            num(l.bound_secs)
        ),
        _ => write!(
            out,
            " did not serve again within {} s of the heal",
            num(l.bound_secs)
        ),
    };
    out.push_str("</td></tr><tr><th>errors</th><td>");
    if r.errors.is_empty() {
        out.push_str("none");
    } else {
        out.push_str("<ul class=\"errors\">");
        for e in &r.errors {
            let _ = write!(out, "<li>{}</li>", esc(e));
        }
        out.push_str("</ul>");
    }
    out.push_str("</td></tr>");
    if anomalies > 0 {
        let _ = write!(
            out,
            "<tr><th>history</th><td class=\"err\">{anomalies} events break the pairing rules \
             (a completion without an invocation, or two invocations at once); the drawing \
             pairs what it can.</td></tr>"
        );
    }
    out.push_str("</tbody></table>");
}

/// Per-key verdicts: all keys when few, else only those not `true`.
fn key_table(out: &mut String, keys: &[serde_json::Value]) {
    let verdict = |k: &serde_json::Value| k.get("valid").map(json_text).unwrap_or_default();
    let bad = keys.iter().filter(|k| verdict(k) != "true").count();
    let _ = write!(out, "<div>{} keys, {} not valid.</div>", keys.len(), bad);
    let shown: Vec<&serde_json::Value> = if keys.len() <= 16 {
        keys.iter().collect()
    } else {
        keys.iter()
            .filter(|k| verdict(k) != "true")
            .take(50)
            .collect()
    };
    if shown.is_empty() {
        return;
    }
    out.push_str(
        "<table class=\"keys\"><thead><tr><th>key</th><th>verdict</th><th>ops</th>\
         <th>configurations</th><th>time</th><th>note</th></tr></thead><tbody>",
    );
    for k in shown {
        let field = |f: &str| k.get(f).map(json_text).unwrap_or_default();
        let secs = k
            .get("elapsed_secs")
            .and_then(|v| v.as_f64())
            .map(svg::duration)
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{secs}</td><td>{}</td></tr>",
            esc(&field("key")),
            badge(k.get("valid")),
            esc(&field("ops")),
            esc(&field("configurations")),
            esc(&field("reason")),
        );
    }
    out.push_str("</tbody></table>");
}

fn stats_table(out: &mut String, r: &RunResults) {
    if r.stats.is_empty() {
        out.push_str("<p class=\"empty\">No operations were recorded.</p>");
        return;
    }
    out.push_str(
        "<table class=\"stats\"><thead><tr><th>f</th><th>ok</th><th>fail</th><th>info</th>\
         <th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr></thead><tbody>",
    );
    let (mut ok, mut fail, mut info) = (0, 0, 0);
    for (f, s) in &r.stats {
        ok += s.ok;
        fail += s.fail;
        info += s.info;
        let q = &s.latency_ms;
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td><td class=\"{}\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(f),
            s.ok,
            if s.fail > 0 { "n-fail" } else { "" },
            s.fail,
            if s.info > 0 { "n-info" } else { "" },
            s.info,
            ms(q.p50),
            ms(q.p95),
            ms(q.p99),
            ms(q.max)
        );
    }
    let _ = write!(
        out,
        "</tbody><tfoot><tr><th>all</th><th>{ok}</th><th>{fail}</th><th>{info}</th>\
         <th colspan=\"4\"></th></tr></tfoot></table>"
    );
}

fn faults_table(out: &mut String, faults: &[FaultWindow], end_s: f64) {
    if faults.is_empty() {
        out.push_str("<p class=\"empty\">No faults were injected.</p>");
        return;
    }
    out.push_str(
        "<table class=\"faults\"><thead><tr><th>fault</th><th>target</th><th>from (s)</th>\
         <th>to (s)</th><th>lasted (s)</th></tr></thead><tbody>",
    );
    for f in faults {
        let end = f.end_secs.unwrap_or(end_s);
        let _ = write!(
            out,
            "<tr><td><i class=\"sw band {}\"></i>{}</td><td><code>{}</code></td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            svg::fault_class(&f.kind),
            esc(&f.kind),
            esc(&f.target),
            num(f.start_secs),
            f.end_secs.map_or("the heal".to_owned(), num),
            num(end - f.start_secs)
        );
    }
    out.push_str("</tbody></table>");
}
