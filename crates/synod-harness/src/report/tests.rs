//! Tests of the report page, on synthetic histories checked by the real
//! checker. `cargo test -p synod-harness report_demo -- --ignored` writes
//! two demo pages to `/tmp` (or `$REPORT_DEMO_DIR`) to look at.

mod sim;

use std::collections::{BTreeMap, BTreeSet};

use synod_check::{
    check_linearizable, EventType, History, HistoryEvent, Model, Options, Value, Verdict,
};

use super::data::{self, Outcome};
use super::{counterexample, render_report, render_with, timeline};
use crate::results::{FaultWindow, Liveness, OpStats, Quantiles, RunResults};
use sim::{SimOp, Spec};

fn fault(kind: &str, target: &str, start: f64, end: f64) -> FaultWindow {
    FaultWindow {
        kind: kind.into(),
        target: target.into(),
        start_secs: start,
        end_secs: Some(end),
    }
}

fn two_faults() -> Vec<FaultWindow> {
    vec![
        fault("kill", "n1", 2.0, 4.0),
        fault("partition", "{1,2} | {3,4,5}", 5.0, 7.0),
    ]
}

/// Results for `events`, with stats and a real linearizability check.
fn results_for(events: &[HistoryEvent], faults: Vec<FaultWindow>) -> RunResults {
    let ops = data::pair(events).ops;
    let mut stats: BTreeMap<String, OpStats> = BTreeMap::new();
    let mut lat: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for op in &ops {
        let s = stats.entry(op.f.clone()).or_default();
        match op.outcome {
            Outcome::Ok => {
                s.ok += 1;
                lat.entry(op.f.clone()).or_default().extend(op.latency_ms());
            }
            Outcome::Fail => s.fail += 1,
            Outcome::Info | Outcome::Open => s.info += 1,
        }
    }
    for (f, mut l) in lat {
        stats.entry(f).or_default().latency_ms = Quantiles::of(&mut l);
    }
    let history = History::from_events("t", events).expect("well-formed history");
    let model = Model::from_name("cas-register", None).expect("model");
    let check = check_linearizable(&history, &model, &Options::default()).expect("check");
    let end = data::end_secs(events, &faults);
    RunResults {
        valid: check.valid,
        protocol: "raft".into(),
        workload: "register".into(),
        nodes: 5,
        seed: 42,
        time_limit_secs: end.round(),
        elapsed_secs: end + 3.0,
        ops: ops.len() as u64,
        ok_per_sec: ops.iter().filter(|o| o.outcome == Outcome::Ok).count() as f64 / end,
        stats,
        faults,
        linearizability: Some(serde_json::to_value(&check).expect("json")),
        set: None,
        liveness: Liveness {
            valid: true,
            recovered_after_secs: Some(0.4),
            bound_secs: 10.0,
        },
        errors: Vec::new(),
    }
}

fn small_run(seed: u64) -> (Vec<SimOp>, Vec<FaultWindow>) {
    let faults = two_faults();
    let spec = Spec {
        ops: 300,
        workers: 3,
        keys: &["k1", "k2"],
        duration_s: 9.0,
        faults: &faults,
        seed,
    };
    (sim::simulate(&spec), faults)
}

/// The part of `page` inside the section with `id`.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let len = page[start..].find("</section>").expect("section end");
    &page[start..start + len]
}

fn bars(html: &str) -> usize {
    html.matches("<rect class=\"op ").count()
}

fn assert_self_contained(page: &str) {
    for bad in [
        "http://", "https://", "<script", "<img", "<link", "@import", "url(http",
    ] {
        assert!(!page.contains(bad), "page contains {bad:?}");
    }
}

#[test]
fn valid_run_shows_the_verdict_one_bar_per_op_and_the_faults() {
    let (ops, faults) = small_run(7);
    let events = sim::events(&ops, &faults);
    let results = results_for(&events, faults);
    assert_eq!(
        results.valid,
        Verdict::True,
        "the simulator makes linearizable histories"
    );
    let page = render_report(&results, &events, None);
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("<header class=\"verdict valid\"><div class=\"word\">VALID</div>"));
    assert_eq!(bars(section(&page, "timeline")), ops.len());
    assert!(section(&page, "timeline").contains("Every operation is drawn."));
    for label in ["kill n1", "partition {1,2} | {3,4,5}"] {
        assert!(
            section(&page, "timeline").contains(label),
            "timeline lacks {label}"
        );
    }
    assert!(section(&page, "throughput").contains("kill n1"));
    assert!(section(&page, "latency").contains("class=\"band f-partition\""));
    assert!(!page.contains("id=\"counterexample\""));
    for f in ["read", "write", "cas"] {
        assert!(section(&page, "checks").contains(&format!("<code>{f}</code>")));
    }
    assert!(page.contains("<tr><th>liveness</th><td><span class=\"badge valid\">true</span>"));
    assert_self_contained(&page);
}

#[test]
fn ops_are_numbered_as_the_checker_numbers_them() {
    let (ops, faults) = small_run(11);
    let events = sim::events(&ops, &faults);
    let mine = data::pair(&events);
    let theirs = History::from_events("t", &events).unwrap();
    assert_eq!(mine.anomalies, 0);
    assert_eq!(mine.ops.len(), theirs.ops.len());
    for (a, b) in mine.ops.iter().zip(&theirs.ops) {
        assert_eq!(
            (a.process, &a.f, &a.key, &a.value),
            (b.process, &b.f, &b.key, &b.value)
        );
        let expected = match b.outcome {
            synod_check::Outcome::Ok => Outcome::Ok,
            synod_check::Outcome::Fail => Outcome::Fail,
            synod_check::Outcome::Info => Outcome::Info,
            synod_check::Outcome::Open => Outcome::Open,
        };
        assert_eq!(a.outcome, expected);
        assert_eq!(Some(a.start_ns), b.invoke.time);
    }
}

#[test]
fn hostile_strings_are_escaped() {
    let evil = "<script>alert(1)</script>";
    let mut events = Vec::new();
    let mut w = HistoryEvent::client(
        0,
        1_000_000,
        1,
        EventType::Invoke,
        "write",
        Value::Str(evil.into()),
    );
    w.key = Some(evil.into());
    let mut ok = HistoryEvent::client(
        1,
        3_000_000,
        1,
        EventType::Fail,
        "write",
        Value::Str(evil.into()),
    );
    ok.key = Some(evil.into());
    ok.error = Some("\"><img src=x onerror=alert(1)>".into());
    ok.node = Some("<b>n1</b>".into());
    events.extend([w, ok]);
    let mut results = results_for(
        &events,
        vec![fault("partition", "<i>{1}</i> | 'x'", 0.0, 0.002)],
    );
    results.protocol = "<raft>".into();
    results.errors = vec!["node <n2> & friends".into()];
    let page = render_report(&results, &events, None);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;i&gt;{1}&lt;/i&gt; | &#39;x&#39;"));
    assert!(page.contains("node &lt;n2&gt; &amp; friends"));
    assert!(!page.contains("<raft>") && !page.contains("<b>n1"));
    assert_self_contained(&page);
}

#[test]
fn a_stale_read_is_drawn_as_the_counterexample() {
    let (mut ops, faults) = small_run(3);
    let stale = sim::inject_stale_read(&mut ops, 5.0).expect("a read to make stale");
    let events = sim::events(&ops, &faults);
    let results = results_for(&events, faults);
    assert_eq!(results.valid, Verdict::False);
    let fragment = "<p class=\"from-checker\">drawn by the checker</p>";
    let page = render_report(&results, &events, Some(fragment));
    assert!(page.contains("<div class=\"word\">INVALID</div>"));
    let cex = section(&page, "counterexample");
    assert!(
        cex.contains(fragment),
        "the checker's fragment is embedded as-is"
    );
    assert!(cex.contains("<h3>The longest linearisable prefix</h3>"));
    assert!(cex.contains("class=\"plot zoom\""));
    assert!(cex.contains("Stale read."), "the hint names it: {cex}");
    let cex_json = &results.linearizability.as_ref().unwrap()["counterexample"];
    assert_eq!(
        cex_json["op"].as_u64(),
        Some(stale as u64),
        "the checker blames the injected read"
    );
    // The failing op is outlined in the timeline, once.
    let tl = section(&page, "timeline");
    assert_eq!(tl.matches("<rect class=\"op ok cex\"").count(), 1);
    assert!(tl.contains(&format!("op #{stale} cannot be linearised: read → ")));
    assert_self_contained(&page);
}

#[test]
fn a_set_run_shows_the_set_check_and_clips_long_reads() {
    let mut events = Vec::new();
    for i in 0..40u64 {
        events.push(HistoryEvent::client(
            0,
            i * 1000,
            i % 4,
            EventType::Invoke,
            "add",
            Value::Int(i as i64),
        ));
        events.push(HistoryEvent::client(
            0,
            i * 1000 + 500,
            i % 4,
            EventType::Ok,
            "add",
            Value::Int(i as i64),
        ));
    }
    let all = Value::List((0..2000).map(Value::Int).collect());
    let mut read = HistoryEvent::client(0, 50_000, 9, EventType::Ok, "read_set", all);
    read.final_read = true;
    events.push(HistoryEvent::client(
        0,
        49_000,
        9,
        EventType::Invoke,
        "read_set",
        Value::Nil,
    ));
    events.push(read);
    let mut results = results_for(&[], Vec::new());
    results.workload = "set".into();
    results.linearizability = None;
    results.set = Some(
        serde_json::json!({"valid": true, "acknowledged": 40, "lost": [], "convergence_secs": 0.2}),
    );
    let page = render_report(&results, &events, None);
    let checks = section(&page, "checks");
    assert!(checks.contains("<tr><th>set-full</th><td><span class=\"badge valid\">true</span>"));
    assert!(checks.contains("<tr><th>convergence_secs</th><td><code>0.2</code></td></tr>"));
    assert_eq!(bars(section(&page, "timeline")), 41);
    assert!(
        !page.contains("1999]") && page.contains("…"),
        "a 2000-element read is clipped"
    );
    assert!(page.len() < 200_000);
}

#[test]
fn a_violation_on_the_very_first_op_renders() {
    let mut inv = HistoryEvent::client(0, 5, 0, EventType::Invoke, "read", Value::Nil);
    inv.key = Some("k".into());
    let mut done = HistoryEvent::client(1, 9, 0, EventType::Ok, "read", Value::Int(5));
    done.key = Some("k".into());
    let events = vec![inv, done];
    let results = results_for(&events, Vec::new());
    assert_eq!(results.valid, Verdict::False);
    let page = render_report(&results, &events, None);
    let cex = section(&page, "counterexample");
    assert!(cex.contains("Empty: the failing op could not be placed even first"));
    assert!(cex.contains("No operation wrote that value"));
    assert_eq!(bars(section(&page, "timeline")), 1);
    assert!(section(&page, "faults").contains("No faults were injected."));
}

#[test]
fn an_empty_history_says_there_were_no_ops() {
    let results = RunResults {
        valid: Verdict::Unknown,
        protocol: "raft".into(),
        workload: "register".into(),
        nodes: 3,
        seed: 1,
        time_limit_secs: 0.0,
        elapsed_secs: 0.0,
        ops: 0,
        ok_per_sec: 0.0,
        stats: BTreeMap::new(),
        faults: Vec::new(),
        linearizability: None,
        set: None,
        liveness: Liveness {
            valid: false,
            recovered_after_secs: None,
            bound_secs: 5.0,
        },
        errors: vec!["node n1 would not start".into()],
    };
    let page = render_report(&results, &[], None);
    assert!(page.contains("<div class=\"word\">UNKNOWN</div>"));
    assert!(section(&page, "timeline").contains("There were no client operations to draw."));
    assert!(section(&page, "latency").contains("There were no operations"));
    assert!(page.contains("did not serve again within 5 s"));
    assert!(page.contains("node n1 would not start"));
    assert_self_contained(&page);
}

#[test]
fn down_sampling_keeps_every_non_ok_op_and_says_so() {
    let (ops, faults) = small_run(5);
    let events = sim::events(&ops, &faults);
    let results = results_for(&events, faults);
    let non_ok = ops.iter().filter(|o| o.kind != EventType::Ok).count();
    let page = render_with(&results, &events, None, non_ok + 20);
    let tl = section(&page, "timeline");
    let drawn = bars(tl);
    assert!(drawn <= non_ok + 20 && drawn > non_ok, "drew {drawn}");
    assert_eq!(
        tl.matches("class=\"op fail").count(),
        ops.iter().filter(|o| o.kind == EventType::Fail).count()
    );
    assert!(tl.contains(&format!(
        "<strong>{drawn} of {} operations are drawn</strong>",
        ops.len()
    )));
}

#[test]
fn selection_keeps_the_counterexample_ops_even_with_no_budget() {
    let (ops, faults) = small_run(9);
    let paired = data::pair(&sim::events(&ops, &faults)).ops;
    let ok_id = paired.iter().find(|o| o.outcome == Outcome::Ok).unwrap().id;
    let keep = BTreeSet::from([ok_id]);
    let sel = timeline::select(&paired, &keep, 0);
    assert!(sel.drawn.contains(&ok_id));
    assert!(sel
        .drawn
        .iter()
        .all(|&i| i == ok_id || paired[i].outcome != Outcome::Ok));
    assert_eq!(sel.omitted + sel.drawn.len(), paired.len());
}

#[test]
fn a_worker_that_took_a_new_process_id_keeps_its_row() {
    let mk = |p: u64, t0: u64, t1: u64, kind: EventType| {
        [
            HistoryEvent::client(0, t0, p, EventType::Invoke, "write", Value::Int(1)),
            HistoryEvent::client(0, t1, p, kind, "write", Value::Int(1)),
        ]
    };
    let mut events = Vec::new();
    events.extend(mk(0, 0, 10, EventType::Info)); // worker 0 times out...
    events.extend(mk(1, 1, 30, EventType::Ok));
    events.extend(mk(2, 12, 20, EventType::Ok)); // ...and goes on as process 2
    let ops = data::pair(&events).ops;
    let lanes = timeline::lanes(&ops);
    assert_eq!(lanes.lanes, vec![vec![0, 2], vec![1]]);
}

#[test]
fn the_hint_names_the_newer_write_and_the_source_of_a_stale_read() {
    let mut events = Vec::new();
    let mut push = |p: u64, t0: u64, t1: u64, f: &str, v: Value, out: Value| {
        let mut a = HistoryEvent::client(0, t0, p, EventType::Invoke, f, v);
        a.key = Some("k".into());
        let mut b = HistoryEvent::client(0, t1, p, EventType::Ok, f, out);
        b.key = Some("k".into());
        events.extend([a, b]);
    };
    push(0, 0, 10, "write", Value::Int(1), Value::Int(1));
    push(1, 20, 30, "write", Value::Int(2), Value::Int(2));
    push(2, 40, 50, "read", Value::Nil, Value::Int(1));
    let ops = data::pair(&events).ops;
    let h = counterexample::hint(&ops, &ops[2]);
    assert_eq!(
        h,
        counterexample::Hint {
            last_done: Some(1),
            source: Some(0),
            stale: true
        }
    );
}

/// Writes a valid and an invalid demo page of a larger run, to look at.
#[test]
#[ignore = "writes demo pages to /tmp for a human (or a headless browser) to look at"]
fn report_demo() {
    let dir = std::env::var("REPORT_DEMO_DIR").unwrap_or_else(|_| "/tmp".into());
    let faults = vec![
        fault("kill", "n1", 3.0, 6.5),
        fault("partition", "{1,2} | {3,4,5}", 9.0, 14.0),
        fault("pause", "n4", 12.5, 15.0),
        fault("packet", "drop 20% n2→n3", 18.0, 22.0),
        fault("partition", "isolate leader n3", 25.0, 28.5),
    ];
    let keys = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
    let spec = Spec {
        ops: 12_000,
        workers: 10,
        keys: &keys,
        duration_s: 30.0,
        faults: &faults,
        seed: 2024,
    };
    let ops = sim::simulate(&spec);
    let events = sim::events(&ops, &faults);
    let results = results_for(&events, faults.clone());
    let page = render_report(&results, &events, None);
    std::fs::write(format!("{dir}/report_demo.html"), &page).unwrap();

    let mut bad = ops;
    sim::inject_stale_read(&mut bad, 10.0).expect("a read to make stale");
    let events = sim::events(&bad, &faults);
    let results = results_for(&events, faults);
    let link = "<p>The checker's own drawing: <a href=\"counterexample.html\">counterexample.html</a>.</p>";
    let page = render_report(&results, &events, Some(link));
    std::fs::write(format!("{dir}/report_demo_invalid.html"), &page).unwrap();

    let (mut ops, faults) = small_run(3);
    sim::inject_stale_read(&mut ops, 5.0).expect("a read to make stale");
    let events = sim::events(&ops, &faults);
    let page = render_report(&results_for(&events, faults), &events, None);
    std::fs::write(format!("{dir}/report_demo_small.html"), &page).unwrap();

    let mut inv = HistoryEvent::client(0, 5_000, 0, EventType::Invoke, "read", Value::Nil);
    inv.key = Some("k".into());
    let mut done = HistoryEvent::client(1, 9_000_000, 0, EventType::Ok, "read", Value::Int(5));
    done.key = Some("k".into());
    let events = vec![inv, done];
    let page = render_report(&results_for(&events, Vec::new()), &events, None);
    std::fs::write(format!("{dir}/report_demo_first.html"), &page).unwrap();
}
