//! One run from start to verdict.
//!
//! ```text
//! start nodes ─▶ workload + nemesis (--time-limit) ─▶ heal ─▶ liveness ─▶ final reads
//!             ─▶ stop nodes ─▶ write history ─▶ check ─▶ results.json + report.html
//! ```
//!
//! Whatever happens — a node that will not start, Ctrl-C, a panic in a
//! worker — every process the run started is killed (the [`Cluster`] kills
//! its children when dropped) and the history recorded so far is written.

use crate::cluster::{Cluster, ClusterError, ClusterSpec};
use crate::config::{RunConfig, Workload};
use crate::nemesis::Nemesis;
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::results::{Liveness, OpStats, Quantiles, RunResults};
use crate::workload::{
    decode_value, encode_int, key_name, run_worker, Counters, OpRecord, WorkloadCtx, SET_NAME,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use synod_check::{EventType, HistoryEvent, Process, Value, Verdict};
use synod_core::{NodeId, ReadConsistency};
use synod_kv::{Op, OpResult};
use tokio::sync::watch;
use tokio::time::Instant;

/// Process ids at and above this are the runner's own final and liveness
/// operations, never a workload worker's.
const RUNNER_PROCESS_BASE: u64 = 1_000_000;

/// Why a run could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store could not be written.
    #[error("store: {0}")]
    Store(#[from] std::io::Error),
    /// The cluster failed (a node would not start: its log tail is included).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The run was interrupted; the history so far is in `dir`.
    #[error("interrupted; the history so far is in {}", .0.display())]
    Interrupted(PathBuf),
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's directory in the store.
    pub dir: PathBuf,
    /// What it found.
    pub results: RunResults,
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

/// Writes `history.jsonl` and `history.edn`.
pub fn write_history(dir: &Path, events: &[HistoryEvent]) -> std::io::Result<()> {
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
    synod_check::write_jsonl(events, &mut jsonl)?;
    let mut edn = std::io::BufWriter::new(std::fs::File::create(dir.join("history.edn"))?);
    synod_check::write_edn(events, &mut edn)?;
    Ok(())
}

/// Runs `config` to a verdict. `cancel` turning `true` stops the run early
/// (the history so far is written and [`RunError::Interrupted`] returned).
pub async fn run(
    config: RunConfig,
    mut cancel: watch::Receiver<bool>,
    progress: bool,
) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let dir = crate::store::new_run_dir(
        &config.store,
        &config.protocol,
        &config.workload.to_string(),
    )?;
    write_json(&dir.join("config.json"), &config)?;
    let mut cluster = Cluster::start(ClusterSpec {
        node_binary: config.node_binary.clone(),
        protocol: config.protocol.clone(),
        nodes: config.nodes,
        dir: dir.clone(),
        seed: config.seed,
        extra_args: config.node_args.clone(),
        start_timeout: Duration::from_secs(20),
        link_proxies: true,
    })
    .await?;

    let recorder = Arc::new(Recorder::new());
    let counters = Arc::new(Counters::default());
    let ctx = Arc::new(WorkloadCtx {
        config: config.clone(),
        nodes: cluster.client_addrs(),
        recorder: recorder.clone(),
        counters: counters.clone(),
        next_value: AtomicU64::new(0),
    });
    let mut nemesis = Nemesis::new(
        config.nemeses.clone(),
        Duration::from_secs_f64(config.nemesis_interval_secs),
        config.seed,
        recorder.clone(),
    );
    let bar = progress.then(|| {
        Progress::start(
            config.time_limit(),
            counters.clone(),
            nemesis.current.clone(),
        )
    });

    // Workload and nemesis together.
    let deadline = Instant::now() + config.time_limit();
    let workers: Vec<_> = (0..config.concurrency)
        .map(|w| tokio::spawn(run_worker(ctx.clone(), w, deadline)))
        .collect();
    let aborts: Vec<_> = workers.iter().map(|w| w.abort_handle()).collect();
    let both = async {
        let all = async {
            for w in workers {
                let _ = w.await;
            }
        };
        tokio::join!(nemesis.run(&mut cluster, deadline), all);
    };
    let interrupted = tokio::select! {
        _ = both => false,
        _ = cancel.wait_for(|c| *c) => true,
    };
    if interrupted {
        for a in &aborts {
            a.abort();
        }
    }
    if let Some(b) = &bar {
        b.finish();
    }
    let mut errors = std::mem::take(&mut nemesis.errors);
    if interrupted {
        drop(cluster);
        write_history(&dir, &recorder.snapshot())?;
        return Err(RunError::Interrupted(dir));
    }

    // Heal, then check the cluster serves again.
    for (id, e) in cluster.heal_all().await {
        errors.push(format!("node {id} would not restart after the heal: {e}"));
    }
    recorder.nemesis("heal-all", "every fault ended");
    let healed_at = Instant::now();
    let liveness = check_liveness(&ctx, config.recovery_bound_secs).await;
    let convergence_secs = match config.workload {
        Workload::Register => {
            final_register_reads(&ctx).await;
            None
        }
        Workload::Set => {
            final_set_reads(&ctx, &cluster, healed_at, config.recovery_bound_secs).await
        }
    };
    cluster.shutdown(Duration::from_secs(3)).await;
    drop(cluster);

    let events = recorder.snapshot();
    write_history(&dir, &events)?;
    let mut results = analyse(
        &config,
        &events,
        nemesis.windows().to_vec(),
        liveness,
        errors,
    );
    if let (Some(set), Some(c)) = (results.set.as_mut(), convergence_secs) {
        set["convergence_secs"] = serde_json::json!(c);
    }
    results.elapsed_secs = started.elapsed().as_secs_f64();
    finish(&dir, &events, &results)?;
    Ok(RunOutcome { dir, results })
}

/// Writes `results.json` and `report.html` for a checked run.
pub fn finish(dir: &Path, events: &[HistoryEvent], results: &RunResults) -> std::io::Result<()> {
    write_json(&dir.join("results.json"), results)?;
    // The checker draws its own counterexample page; the report links to it.
    let link = match crate::check::counterexample_html(events, results) {
        Some(page) => {
            std::fs::write(dir.join("counterexample.html"), page)?;
            Some(
                "<p>The checker's own drawing of the counterexample: \
                 <a href=\"counterexample.html\">counterexample.html</a>.</p>"
                    .to_string(),
            )
        }
        None => None,
    };
    let html = crate::report::render_report(results, events, link.as_deref());
    std::fs::write(dir.join("report.html"), html)
}

/// Checks a history and builds the results (also used by `analyze`).
pub fn analyse(
    config: &RunConfig,
    events: &[HistoryEvent],
    faults: Vec<crate::results::FaultWindow>,
    liveness: Liveness,
    errors: Vec<String>,
) -> RunResults {
    let (linearizability, set, mut verdict) = crate::check::check_history(config, events);
    if !liveness.valid {
        verdict = verdict.worst(Verdict::False);
    }
    let stats = op_stats(events);
    let ok: u64 = stats.values().map(|s| s.ok).sum();
    let ops = events
        .iter()
        .filter(|e| e.kind == EventType::Invoke)
        .count() as u64;
    RunResults {
        valid: verdict,
        protocol: config.protocol.clone(),
        workload: config.workload.to_string(),
        nodes: config.nodes,
        seed: config.seed,
        time_limit_secs: config.time_limit_secs,
        elapsed_secs: 0.0,
        ops,
        ok_per_sec: ok as f64 / config.time_limit_secs.max(1e-9),
        stats,
        faults,
        linearizability,
        set,
        liveness,
        errors,
    }
}

/// Outcome counts and latencies per `f`, pairing invocations with
/// completions by process.
pub fn op_stats(events: &[HistoryEvent]) -> BTreeMap<String, OpStats> {
    let mut open: BTreeMap<u64, (String, u64)> = BTreeMap::new();
    let mut stats: BTreeMap<String, OpStats> = BTreeMap::new();
    let mut latencies: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for e in events {
        let Process::Client(p) = e.process else {
            continue;
        };
        match e.kind {
            EventType::Invoke => {
                open.insert(p, (e.f.clone(), e.time));
            }
            kind => {
                let Some((f, t0)) = open.remove(&p) else {
                    continue;
                };
                let s = stats.entry(f.clone()).or_default();
                match kind {
                    EventType::Ok => {
                        s.ok += 1;
                        latencies
                            .entry(f)
                            .or_default()
                            .push((e.time - t0) as f64 / 1e6);
                    }
                    EventType::Fail => s.fail += 1,
                    _ => s.info += 1,
                }
            }
        }
    }
    for (f, _) in open.into_values() {
        stats.entry(f).or_default().info += 1;
    }
    for (f, mut l) in latencies {
        stats.entry(f).or_default().latency_ms = Quantiles::of(&mut l);
    }
    stats
}

/// After the heal: does a write succeed within the bound?
async fn check_liveness(ctx: &WorkloadCtx, bound_secs: f64) -> Liveness {
    let start = Instant::now();
    let bound = Duration::from_secs_f64(bound_secs);
    let mut process = RUNNER_PROCESS_BASE;
    let mut client = ctx.client(NodeId(1));
    // A write of its own key for registers; one more add for sets, whose
    // history holds nothing but adds and reads.
    let set = ctx.config.workload == Workload::Set;
    let key = "__liveness".to_string();
    while start.elapsed() < bound {
        let v = ctx
            .next_value
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed) as i64
            + 1;
        let (f, k) = if set {
            ("add", None)
        } else {
            ("write", Some(key.clone()))
        };
        let rec = OpRecord {
            ctx,
            process,
            f,
            key: k,
            final_read: false,
        };
        rec.invoke(Value::Int(v));
        let r = if set {
            client.add(SET_NAME, encode_int(v)).await
        } else {
            client.write(&key, encode_int(v)).await
        }
        .map(|()| Value::Int(v));
        let ok = r.is_ok();
        let node = client.leader_hint().unwrap_or(NodeId(1));
        if rec.complete(r, node) {
            process += 1;
        }
        if ok {
            return Liveness {
                valid: true,
                recovered_after_secs: Some(start.elapsed().as_secs_f64()),
                bound_secs,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Liveness {
        valid: false,
        recovered_after_secs: None,
        bound_secs,
    }
}

/// One linearizable read of every key, so the history ends on what the
/// cluster finally holds.
async fn final_register_reads(ctx: &WorkloadCtx) {
    let n = ctx.nodes.len() as u64;
    let mut process = RUNNER_PROCESS_BASE + 1000;
    for k in 0..ctx.config.keys {
        let key = key_name(k);
        let mut client = ctx.client(NodeId(k as u64 % n + 1));
        for _attempt in 0..3 {
            let rec = OpRecord {
                ctx,
                process,
                f: "read",
                key: Some(key.clone()),
                final_read: true,
            };
            rec.invoke(Value::Nil);
            let r = client
                .read(&key, ReadConsistency::Linearizable)
                .await
                .map(decode_value);
            let ok = r.is_ok();
            let node = client.leader_hint().unwrap_or(client.home());
            if rec.complete(r, node) {
                process += 1;
            }
            if ok {
                break;
            }
        }
    }
}

/// Reads the set from every node until they agree and hold every
/// acknowledged add (or the bound passes); records the last round as the
/// final reads. Returns seconds from the heal to convergence.
async fn final_set_reads(
    ctx: &WorkloadCtx,
    cluster: &Cluster,
    healed_at: Instant,
    bound_secs: f64,
) -> Option<f64> {
    let acked: std::collections::BTreeSet<Vec<u8>> = {
        let events = ctx.recorder.snapshot();
        let mut open = BTreeMap::new();
        let mut acked = std::collections::BTreeSet::new();
        for e in &events {
            if let Process::Client(p) = e.process {
                match e.kind {
                    EventType::Invoke if e.f == "add" => {
                        open.insert(p, e.value.clone());
                    }
                    EventType::Ok => {
                        if let Some(Value::Int(v)) = open.remove(&p) {
                            acked.insert(encode_int(v));
                        }
                    }
                    _ => {
                        open.remove(&p);
                    }
                }
            }
        }
        acked
    };
    let deadline = healed_at + Duration::from_secs_f64(bound_secs);
    let mut converged = None;
    loop {
        let mut reads = BTreeMap::new();
        for id in cluster.ids() {
            let mut c = ctx.client(id);
            let r = c
                .call_node(
                    id,
                    Op::ReadSet {
                        set: SET_NAME.into(),
                    },
                    ReadConsistency::Local,
                )
                .await;
            reads.insert(id, r);
        }
        let all_ok: Vec<&Vec<Vec<u8>>> = reads
            .values()
            .filter_map(|r| match r {
                Ok(OpResult::Set(s)) => Some(s),
                _ => None,
            })
            .collect();
        let agree = all_ok.len() == reads.len()
            && all_ok.windows(2).all(|w| w[0] == w[1])
            && all_ok
                .first()
                .is_some_and(|s| acked.iter().all(|a| s.contains(a)));
        if agree {
            converged = Some(healed_at.elapsed().as_secs_f64());
        }
        if agree || Instant::now() >= deadline {
            for (i, (id, r)) in reads.into_iter().enumerate() {
                let process = RUNNER_PROCESS_BASE + 2000 + i as u64;
                let rec = OpRecord {
                    ctx,
                    process,
                    f: "read_set",
                    key: None,
                    final_read: true,
                };
                rec.invoke(Value::Nil);
                let r = r.map(|res| match res {
                    OpResult::Set(s) => {
                        Value::List(s.into_iter().map(|b| decode_value(Some(b))).collect())
                    }
                    _ => Value::Nil,
                });
                rec.complete(r, id);
            }
            return converged;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
