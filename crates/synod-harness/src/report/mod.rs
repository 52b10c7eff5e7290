//! The self-contained HTML report of a run (work in progress).

use crate::results::RunResults;
use synod_check::HistoryEvent;

/// Renders the report page.
pub fn render_report(
    results: &RunResults,
    events: &[HistoryEvent],
    counterexample_html: Option<&str>,
) -> String {
    let _ = (events, counterexample_html);
    format!(
        "<!doctype html><title>synod run</title><pre>{}</pre>",
        serde_json::to_string_pretty(results).unwrap_or_default()
    )
}
