//! # synod-check
//!
//! A checker for histories of distributed systems, in the style of Jepsen:
//! linearizability by the Wing & Gong / Lowe search (with Lowe's memo,
//! per-key P-compositionality, and a time and memory budget that answers
//! `unknown` rather than dying), and Jepsen's `set-full` check for
//! eventually consistent sets.
//!
//! ```no_run
//! use synod_check::{check_linearizable, parse_file, Format, Model, Options, Verdict};
//!
//! let history = parse_file("history.jsonl", Format::Auto)?;
//! let model: Model = "cas-register".parse().unwrap();
//! let result = check_linearizable(&history, &model, &Options::default())?;
//! if result.valid == Verdict::False {
//!     let html = synod_check::render_html(&history, &result);
//!     std::fs::write("report.html", html).unwrap();
//! }
//! # Ok::<(), synod_check::InputError>(())
//! ```
//!
//! Semantics (Jepsen's and Knossos's) are in [`history`]; the formats in
//! [`format`]; the search in the `wgl` module. The crate depends on nothing
//! else of synod.

#![deny(missing_docs)]

mod check;
mod edn;
pub mod event;
pub mod format;
pub mod history;
mod html;
mod model;
pub mod report;
mod set;
mod value;
mod wgl;

pub use check::{
    check_linearizable, CheckResult, Counterexample, KeyResult, Options, PrefixStep, Verdict,
};
pub use edn::EdnError;
pub use event::{write_edn, write_jsonl, EventType, HistoryEvent, Process};
pub use format::{detect_format, parse_file, parse_str, Format};
pub use history::{History, InputError, Mark, NilRead, Op, Outcome};
pub use html::render_html;
pub use model::Model;
pub use set::{check_set, SetResult, StaleElement};
pub use value::Value;
