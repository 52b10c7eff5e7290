//! Hand-written SVG: escaping, number formatting, scales, axes, fault
//! bands and the shapes the plots share.
//!
//! Every plot is an inline `<svg>` with a `viewBox` [`WIDTH`] units wide and
//! `width="100%"`, so it scales with the page; fonts and colours come from
//! the page's style sheet (`style.css`), which keeps the markup small.

use std::fmt::Write as _;

use crate::results::FaultWindow;

/// Width of every plot's `viewBox`, in SVG units.
pub(crate) const WIDTH: f64 = 1200.0;
/// Left margin of the time plots (room for y tick labels).
pub(crate) const LEFT: f64 = 92.0;
/// Right margin of the time plots.
pub(crate) const RIGHT: f64 = 16.0;
/// Height of one row of fault labels above a plot.
pub(crate) const LABEL_ROW: f64 = 17.0;

/// Escapes text for HTML and SVG, in text and in quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `s` to at most `max` characters, marking the cut with `…`.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A number with at most three decimals and no trailing zeros.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_owned()
    }
}

/// `n` and `word`, with an `s` unless `n` is one: `1 row`, `3 rows`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A duration in seconds, in ms below one second: `3.2 s`, `12.5 ms`.
pub(crate) fn duration(secs: f64) -> String {
    if secs < 1.0 {
        format!("{} ms", ms(secs * 1000.0))
    } else {
        format!("{} s", num(secs))
    }
}

/// Milliseconds with a precision that suits their size.
pub(crate) fn ms(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A coordinate, rounded to 0.1 unit (keeps the markup short).
pub(crate) fn c(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// A linear map from a data interval to a pixel interval.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Linear {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Linear {
    /// Maps `[d0, d1]` onto `[r0, r1]`; an empty domain is widened by one.
    pub(crate) fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        let d1 = if d1 > d0 { d1 } else { d0 + 1.0 };
        Self { d0, d1, r0, r1 }
    }

    /// The pixel position of `v`.
    pub(crate) fn at(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }

    /// The data domain.
    pub(crate) fn domain(&self) -> (f64, f64) {
        (self.d0, self.d1)
    }
}

/// A base-10 logarithmic map; values below the domain are clamped to it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Log {
    lo: f64,
    hi: f64,
    r0: f64,
    r1: f64,
}

impl Log {
    /// A log scale covering `[min, max]` rounded out to whole decades.
    pub(crate) fn covering(min: f64, max: f64, r0: f64, r1: f64) -> Self {
        let min = if min > 0.0 { min } else { 0.001 };
        let max = max.max(min);
        let lo = 10f64.powf(min.log10().floor());
        let mut hi = 10f64.powf(max.log10().ceil());
        if hi <= lo {
            hi = lo * 10.0;
        }
        Self { lo, hi, r0, r1 }
    }

    /// The pixel position of `v`.
    pub(crate) fn at(&self, v: f64) -> f64 {
        let v = v.clamp(self.lo, self.hi);
        let t = (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10());
        self.r0 + t * (self.r1 - self.r0)
    }

    /// Tick values: every decade, plus 2 and 5 when there are few decades.
    pub(crate) fn ticks(&self) -> Vec<f64> {
        let decades = (self.hi.log10() - self.lo.log10()).round() as i32;
        let mut out = Vec::new();
        let mut d = self.lo;
        for _ in 0..=decades {
            out.push(d);
            if decades <= 3 {
                for m in [2.0, 5.0] {
                    if d * m < self.hi {
                        out.push(d * m);
                    }
                }
            }
            d *= 10.0;
        }
        out
    }
}

/// About `n` round tick values (1, 2 or 5 times a power of ten) in `[lo, hi]`.
pub(crate) fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = hi - lo;
    if span <= 0.0 || !span.is_finite() {
        return vec![lo];
    }
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick value with as many decimals as the tick step needs.
pub(crate) fn tick_text(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        0
    };
    format!("{v:.decimals$}")
}

/// The smallest round number (1, 2 or 5 times a power of ten) at least `v`.
pub(crate) fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= v - 1e-9)
        .unwrap_or(10.0 * mag)
}

/// The data area of a plot, in SVG units.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl Frame {
    /// The right edge.
    pub(crate) fn right(&self) -> f64 {
        self.left + self.width
    }

    /// The bottom edge.
    pub(crate) fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// A scale from seconds `[0, end_s]` to this frame's width.
    pub(crate) fn time_scale(&self, start_s: f64, end_s: f64) -> Linear {
        Linear::new(start_s, end_s, self.left, self.right())
    }
}

/// Opens a responsive `<svg>` of `height` units, described by `label`.
pub(crate) fn open(out: &mut String, class: &str, height: f64, label: &str) {
    let _ = write!(
        out,
        "<svg class=\"plot {class}\" viewBox=\"0 0 {w} {h}\" width=\"100%\" \
         role=\"img\" aria-label=\"{label}\">",
        w = WIDTH,
        h = c(height),
        label = esc(label),
    );
}

/// Closes an `<svg>`.
pub(crate) fn close(out: &mut String) {
    out.push_str("</svg>\n");
}

/// Draws the frame's border, vertical grid lines and the x axis (seconds).
pub(crate) fn time_axis(out: &mut String, frame: &Frame, x: &Linear, label: &str) {
    let (d0, d1) = x.domain();
    let n = (frame.width / 90.0).max(2.0) as usize;
    let ts = ticks(d0, d1, n);
    let step = if ts.len() > 1 { ts[1] - ts[0] } else { 1.0 };
    out.push_str("<g class=\"axis\">");
    for t in ts {
        let px = x.at(t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x}\" x2=\"{x}\" y1=\"{t0}\" y2=\"{b}\"/>\
             <line x1=\"{x}\" x2=\"{x}\" y1=\"{b}\" y2=\"{b5}\"/>\
             <text x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\">{v}</text>",
            x = c(px),
            t0 = c(frame.top),
            b = c(frame.bottom()),
            b5 = c(frame.bottom() + 5.0),
            ty = c(frame.bottom() + 18.0),
            v = tick_text(t, step),
        );
    }
    let _ = write!(
        out,
        "<rect class=\"border\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\
         <text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
        c(frame.left),
        c(frame.top),
        c(frame.width),
        c(frame.height),
        c(frame.left + frame.width / 2.0),
        c(frame.bottom() + 34.0),
        esc(label),
    );
}

/// Draws horizontal grid lines and labels at `ticks` (already in data
/// units, placed by `at`), and the y axis label.
pub(crate) fn y_axis(
    out: &mut String,
    frame: &Frame,
    ticks: &[f64],
    at: impl Fn(f64) -> f64,
    label: &str,
) {
    out.push_str("<g class=\"axis\">");
    for &t in ticks {
        let py = at(t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{l}\" x2=\"{r}\" y1=\"{y}\" y2=\"{y}\"/>\
             <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{v}</text>",
            l = c(frame.left),
            r = c(frame.right()),
            y = c(py),
            tx = c(frame.left - 6.0),
            ty = c(py + 4.0),
            v = num(t),
        );
    }
    let mid = frame.top + frame.height / 2.0;
    let _ = write!(
        out,
        "<text class=\"label\" transform=\"translate({x} {y}) rotate(-90)\" \
         text-anchor=\"middle\">{l}</text></g>",
        x = c(frame.left - 58.0),
        y = c(mid),
        l = esc(label),
    );
}

/// The colour class of a fault kind (`kill`, `pause`, `partition`, `packet`).
pub(crate) fn fault_class(kind: &str) -> &'static str {
    match kind {
        "kill" | "restart" => "f-kill",
        "pause" | "resume" => "f-pause",
        "partition" | "heal" => "f-partition",
        "packet" | "packet-heal" => "f-packet",
        _ => "f-other",
    }
}

/// The text of a fault's label: `kill n1`, `partition {1,2} | {3,4,5}`.
pub(crate) fn fault_label(f: &FaultWindow) -> String {
    if f.target.is_empty() {
        f.kind.clone()
    } else {
        format!("{} {}", f.kind, f.target)
    }
}

/// Estimated width of `text` at the 11-unit label font.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * 6.2 + 6.0
}

/// Where each fault's label goes: one row index per fault (labels that
/// would overlap go to a lower row), and the number of rows.
pub(crate) fn label_rows(faults: &[FaultWindow], x: &Linear, frame: &Frame) -> (Vec<usize>, usize) {
    let mut row_ends: Vec<f64> = Vec::new();
    let mut rows = Vec::with_capacity(faults.len());
    for f in faults {
        let (x0, x1) = label_span(f, x, frame);
        let row = match row_ends.iter().position(|&end| end < x0) {
            Some(r) => r,
            None => {
                row_ends.push(f64::NEG_INFINITY);
                row_ends.len() - 1
            }
        };
        row_ends[row] = x1;
        rows.push(row);
    }
    (rows, row_ends.len())
}

fn label_span(f: &FaultWindow, x: &Linear, frame: &Frame) -> (f64, f64) {
    let w = text_width(&clip(&fault_label(f), 48));
    let x0 = x
        .at(f.start_secs)
        .clamp(frame.left, (frame.right() - w).max(frame.left));
    (x0, x0 + w)
}

/// Shades every fault window across the frame's height. With `labels`,
/// writes each label above the frame in the row `label_rows` chose (the
/// frame's top must leave room for them).
pub(crate) fn fault_bands(
    out: &mut String,
    frame: &Frame,
    x: &Linear,
    faults: &[FaultWindow],
    end_s: f64,
    labels: bool,
) {
    let (rows, nrows) = label_rows(faults, x, frame);
    out.push_str("<g class=\"faults\">");
    for (f, row) in faults.iter().zip(rows) {
        let end = f.end_secs.unwrap_or(end_s);
        let x0 = x.at(f.start_secs).clamp(frame.left, frame.right());
        let x1 = x.at(end).clamp(frame.left, frame.right()).max(x0 + 1.0);
        let text = fault_label(f);
        let title = format!(
            "{} from {} s to {}",
            text,
            num(f.start_secs),
            f.end_secs
                .map_or("the heal".to_owned(), |e| format!("{} s", num(e)))
        );
        let class = fault_class(&f.kind);
        let _ = write!(
            out,
            "<rect class=\"band {class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">\
             <title>{}</title></rect>",
            c(x0),
            c(frame.top),
            c(x1 - x0),
            c(frame.height),
            esc(&title),
        );
        if labels {
            // The label, over a bracket spanning the window, and a tick
            // from the bracket's start down to the frame.
            let (lx, _) = label_span(f, x, frame);
            let ly = frame.top - 7.0 - (nrows - 1 - row) as f64 * LABEL_ROW;
            let _ = write!(
                out,
                "<line class=\"tick {class}\" x1=\"{bx}\" x2=\"{bx}\" y1=\"{by}\" y2=\"{y1}\"/>\
                 <line class=\"bracket {class}\" x1=\"{bx}\" x2=\"{bx1}\" y1=\"{by}\" y2=\"{by}\"/>\
                 <text class=\"flabel {class}\" x=\"{}\" y=\"{}\"><title>{}</title>{}</text>",
                c(lx + 2.0),
                c(ly),
                esc(&title),
                esc(&clip(&text, 48)),
                bx = c(x0),
                bx1 = c(x1),
                by = c(ly + 3.5),
                y1 = c(frame.top),
            );
        }
    }
    out.push_str("</g>");
}

/// Dashed lines at the start and end of every fault, across the frame: drawn
/// over dense marks (the timeline's bars) that hide the bands behind them.
pub(crate) fn fault_edges(
    out: &mut String,
    frame: &Frame,
    x: &Linear,
    faults: &[FaultWindow],
    end_s: f64,
) {
    out.push_str("<g class=\"edges\">");
    for f in faults {
        let class = fault_class(&f.kind);
        for t in [Some(f.start_secs), f.end_secs.or(Some(end_s))]
            .into_iter()
            .flatten()
        {
            let px = x.at(t);
            if px < frame.left || px > frame.right() {
                continue;
            }
            let _ = write!(
                out,
                "<line class=\"edge {class}\" x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"/>",
                c(frame.top),
                c(frame.bottom()),
                x = c(px),
            );
        }
    }
    out.push_str("</g>");
}

/// Height needed above a frame for the fault labels.
pub(crate) fn labels_height(faults: &[FaultWindow], end_s: f64) -> f64 {
    let frame = Frame {
        left: LEFT,
        top: 0.0,
        width: WIDTH - LEFT - RIGHT,
        height: 1.0,
    };
    let x = frame.time_scale(0.0, end_s);
    let (_, n) = label_rows(faults, &x, &frame);
    n as f64 * LABEL_ROW + 6.0
}

/// A marker of shape `shape` (0 circle, 1 square, 2 triangle, 3 diamond,
/// 4 inverted triangle) centred on `(x, y)` with radius `r`. The tag is
/// left open (no `>`) so the caller can close it or add a `<title>`; the
/// tag's name is returned.
pub(crate) fn marker(
    out: &mut String,
    shape: usize,
    x: f64,
    y: f64,
    r: f64,
    class: &str,
) -> &'static str {
    match shape % 5 {
        0 => {
            let _ = write!(
                out,
                "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"{}\"",
                c(x),
                c(y),
                c(r)
            );
            "circle"
        }
        1 => {
            let s = r * 0.9;
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{w}\" height=\"{w}\"",
                c(x - s),
                c(y - s),
                w = c(2.0 * s),
            );
            "rect"
        }
        k => {
            let r = r * 1.2;
            let pts = match k {
                2 => [
                    (x, y - r),
                    (x + r, y + r * 0.8),
                    (x - r, y + r * 0.8),
                    (x, y - r),
                ],
                3 => [(x, y - r), (x + r, y), (x, y + r), (x - r, y)],
                _ => [
                    (x, y + r),
                    (x + r, y - r * 0.8),
                    (x - r, y - r * 0.8),
                    (x, y + r),
                ],
            };
            let p: Vec<String> = pts
                .iter()
                .map(|(a, b)| format!("{},{}", c(*a), c(*b)))
                .collect();
            let _ = write!(out, "<polygon class=\"{class}\" points=\"{}\"", p.join(" "));
            "polygon"
        }
    }
}

/// A small inline SVG of a marker, for HTML legends.
pub(crate) fn marker_swatch(shape: usize, class: &str) -> String {
    let mut s = String::from("<svg class=\"sw\" viewBox=\"0 0 14 14\" width=\"14\" height=\"14\">");
    let _ = marker(&mut s, shape, 7.0, 7.0, 5.0, class);
    s.push_str("/></svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn ticks_are_round_and_inside_the_domain() {
        assert_eq!(
            ticks(0.0, 30.0, 6),
            vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
        assert_eq!(ticks(0.0, 0.0, 6), vec![0.0]);
        assert_eq!(nice_ceil(37.0), 50.0);
        assert_eq!(num(2.50), "2.5");
        let log = Log::covering(0.3, 80.0, 100.0, 0.0);
        assert_eq!(log.ticks().first(), Some(&0.1));
        assert!((log.at(0.1) - 100.0).abs() < 1e-9 && (log.at(100.0)).abs() < 1e-9);
    }
}
