//! A short run of the whole runner (≤ 20 s of cluster time): real nodes,
//! kills and partitions, a checked history, a report.

use std::time::Duration;
use synod_check::{EventType, Process, Verdict};
use synod_e2e::node_binary;
use synod_harness::{NemesisKind, RunConfig, RunOutcome};

/// A run of `seed` on 3 nodes in a fresh store, bounded to two minutes of
/// wall-clock time; `shape` sets everything else.
async fn short_run(
    seed: u64,
    store: &tempfile::TempDir,
    shape: impl FnOnce(&mut RunConfig),
) -> RunOutcome {
    let mut config = RunConfig::new(node_binary(), seed);
    config.nodes = 3;
    config.store = store.path().to_path_buf();
    shape(&mut config);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    tokio::time::timeout(
        Duration::from_secs(120),
        synod_harness::run(config, rx, false),
    )
    .await
    .expect("run finishes")
    .expect("run completes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_raft_run_under_kill_and_partition_is_valid() {
    let store = tempfile::tempdir().unwrap();
    let out = short_run(7, &store, |c| {
        c.time_limit_secs = 12.0;
        c.nemesis_interval_secs = 3.0;
        c.nemeses = vec![NemesisKind::Kill, NemesisKind::Partition];
    })
    .await;
    let r = &out.results;
    assert_eq!(
        r.valid,
        Verdict::True,
        "results: {}",
        serde_json::to_string_pretty(r).unwrap()
    );
    assert!(
        r.stats.values().map(|s| s.ok).sum::<u64>() > 100,
        "too few ok ops"
    );
    assert!(!r.faults.is_empty(), "no fault was injected");
    assert!(r.liveness.valid);
    for f in [
        "history.jsonl",
        "history.edn",
        "results.json",
        "report.html",
        "config.json",
    ] {
        assert!(out.dir.join(f).is_file(), "{f} missing");
    }
    let text = std::fs::read_to_string(out.dir.join("history.jsonl")).unwrap();
    let events: Vec<synod_check::HistoryEvent> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events.iter().any(
            |e| e.process == Process::Named("nemesis".into()) && e.f == "kill"
                || e.f == "partition"
        ),
        "no nemesis event in the history"
    );
    assert!(events.iter().any(|e| e.kind == EventType::Ok));
    assert!(store.path().join("latest").exists(), "store/latest missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_gossip_set_run_under_partition_and_kill_converges() {
    let store = tempfile::tempdir().unwrap();
    let out = short_run(8, &store, |c| {
        c.protocol = "gossip".into();
        c.workload = synod_harness::Workload::Set;
        c.time_limit_secs = 8.0;
        c.nemesis_interval_secs = 2.0;
        c.nemeses = vec![NemesisKind::Partition, NemesisKind::Kill];
    })
    .await;
    let r = &out.results;
    let pretty = serde_json::to_string_pretty(r).unwrap();
    assert_eq!(r.valid, Verdict::True, "results: {pretty}");
    assert!(!r.faults.is_empty(), "no fault was injected");
    let set = r.set.as_ref().expect("a set check");
    assert_eq!(set["lost"], serde_json::json!([]), "results: {pretty}");
    assert_eq!(
        set["unexpected"],
        serde_json::json!([]),
        "results: {pretty}"
    );
    assert!(
        set["convergence_secs"].is_number(),
        "no convergence time: {pretty}"
    );
    assert!(
        r.stats["add"].ok > 50,
        "too few acknowledged adds: {pretty}"
    );
}
