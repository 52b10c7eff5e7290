//! The progress bar while a run is under way: time left, ops/s, ok / fail /
//! info counts and the fault in force.

use crate::workload::Counters;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running progress bar; [`finish`](Progress::finish) clears it.
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts drawing (to stderr; hidden when stderr is not a terminal).
    pub fn start(limit: Duration, counters: Arc<Counters>, fault: Arc<Mutex<String>>) -> Self {
        let bar = ProgressBar::new(limit.as_millis() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = (start, 0u64);
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let ok = counters.ok.load(Ordering::Relaxed);
                let fail = counters.fail.load(Ordering::Relaxed);
                let info = counters.info.load(Ordering::Relaxed);
                let now = Instant::now();
                let done = ok + fail + info;
                let rate =
                    (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
                last = (now, done);
                let left = limit.saturating_sub(start.elapsed()).as_secs();
                let f = fault.lock().map(|f| f.clone()).unwrap_or_default();
                b.set_position(start.elapsed().as_millis() as u64);
                b.set_message(format!(
                    "{left:>3}s left  {rate:>6.0} ops/s  ok {ok}  fail {fail}  info {info}  fault: {f}"
                ));
            }
        });
        Self { bar, task }
    }

    /// Stops and clears the bar.
    pub fn finish(&self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
