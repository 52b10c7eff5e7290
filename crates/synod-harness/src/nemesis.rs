//! The nemesis: injects faults on a seeded schedule and ends them.
//!
//! The schedule alternates quiet and faulty periods: quiet for half an
//! interval, then a fault held for one interval, then healed, and again until
//! the time limit. Each fault is drawn from the enabled kinds with the run's
//! seed, so the same seed gives the same schedule (which nodes a `leader`
//! target hits depends on the cluster, as in Jepsen).
//!
//! | kind | start | end |
//! |---|---|---|
//! | kill | SIGKILL the targets | restart them on their data dirs |
//! | pause | SIGSTOP the targets | SIGCONT |
//! | partition | cut links between groups (halves, one node, the leader, majorities ring, bridge; some one-way) | heal every link |
//! | packet | delay with jitter, loss, duplication, reordering on every link | clean links |
//!
//! Targets of kill and pause: one node, a minority, a majority, or the
//! leader (found with `status`). Every start and end is recorded in the
//! history as a `nemesis` event, and returned as [`FaultWindow`]s.

use crate::cluster::Cluster;
use crate::config::NemesisKind;
use crate::proxy::LinkFaults;
use crate::recorder::Recorder;
use crate::results::FaultWindow;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synod_core::{NodeId, SeededRng};
use tokio::time::Instant;

/// A fault in force.
enum Active {
    Kill(Vec<NodeId>),
    Pause(Vec<NodeId>),
    Partition,
    Packet,
}

fn names(ids: &[NodeId]) -> String {
    ids.iter()
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Picks kill/pause targets: one, minority, majority or the leader.
async fn pick_targets(cluster: &Cluster, rng: &mut SeededRng) -> Vec<NodeId> {
    let ids = cluster.ids();
    let n = ids.len();
    let roll = rng.unit();
    if roll < 0.3 {
        if let Some(l) = cluster.leader().await {
            return vec![l];
        }
    }
    let k = if roll < 0.6 || n < 3 {
        1
    } else if roll < 0.9 {
        rng.range(1, (n - majority(n)) as u64 + 1) as usize
    } else {
        majority(n)
    };
    let mut t = rng.sample(&ids, k);
    t.sort();
    t
}

/// Groups for a partition, and how it is described.
async fn pick_partition(cluster: &Cluster, rng: &mut SeededRng) -> (Vec<(NodeId, NodeId)>, String) {
    let ids = cluster.ids();
    let n = ids.len();
    let mut cuts = Vec::new();
    let cut_between = |a: &[NodeId], b: &[NodeId], cuts: &mut Vec<(NodeId, NodeId)>| {
        for &x in a {
            for &y in b {
                cuts.push((x, y));
                cuts.push((y, x));
            }
        }
    };
    let fmt = |g: &[NodeId]| {
        format!(
            "{{{}}}",
            g.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let roll = rng.unit();
    if roll < 0.3 || n < 3 {
        let mut s = ids.clone();
        rng.shuffle(&mut s);
        let (a, b) = s.split_at(n / 2);
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        a.sort();
        b.sort();
        cut_between(&a, &b, &mut cuts);
        return (cuts, format!("halves {} | {}", fmt(&a), fmt(&b)));
    }
    if roll < 0.55 {
        let (victim, what) = match cluster.leader().await {
            Some(l) if rng.chance(0.6) => (l, "isolate leader"),
            _ => (ids[rng.index(n)], "isolate"),
        };
        let rest: Vec<NodeId> = ids.iter().copied().filter(|i| *i != victim).collect();
        if rng.chance(0.25) {
            // One way: the victim still hears the others but cannot answer.
            for &r in &rest {
                cuts.push((victim, r));
            }
            return (cuts, format!("{what} n{victim} (outbound only)"));
        }
        cut_between(&[victim], &rest, &mut cuts);
        return (cuts, format!("{what} n{victim}"));
    }
    if roll < 0.8 && n >= 5 {
        // Majorities ring: each node sees a majority, no two the same one.
        let reach = (majority(n) - 1).div_ceil(2);
        let mut ring = ids.clone();
        rng.shuffle(&mut ring);
        for i in 0..n {
            for j in 0..n {
                let d = (i as i64 - j as i64).unsigned_abs() as usize;
                let d = d.min(n - d);
                if i != j && d > reach {
                    cuts.push((ring[i], ring[j]));
                }
            }
        }
        let order = ring
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("-");
        return (cuts, format!("majorities ring {order}"));
    }
    // Bridge: two halves that only one node connects.
    let mut s = ids.clone();
    rng.shuffle(&mut s);
    let bridge = s[0];
    let rest = &s[1..];
    let (a, b) = rest.split_at(rest.len() / 2);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    cut_between(&a, &b, &mut cuts);
    (
        cuts,
        format!("bridge n{bridge} between {} and {}", fmt(&a), fmt(&b)),
    )
}

fn pick_packet(rng: &mut SeededRng) -> (LinkFaults, String) {
    let ms = Duration::from_millis;
    let profiles = [
        (
            LinkFaults {
                delay: ms(50),
                jitter: ms(50),
                ..Default::default()
            },
            "delay 50ms ±50ms",
        ),
        (
            LinkFaults {
                loss: 0.2,
                ..Default::default()
            },
            "loss 20%",
        ),
        (
            LinkFaults {
                duplicate: 0.2,
                reorder: 0.2,
                jitter: ms(10),
                ..Default::default()
            },
            "duplicate 20% reorder 20%",
        ),
        (
            LinkFaults {
                delay: ms(20),
                jitter: ms(30),
                loss: 0.1,
                duplicate: 0.05,
                reorder: 0.1,
                ..Default::default()
            },
            "delay 20ms ±30ms loss 10% duplicate 5% reorder 10%",
        ),
    ];
    let (f, d) = &profiles[rng.index(profiles.len())];
    (f.clone(), d.to_string())
}

/// The nemesis of one run.
pub struct Nemesis {
    kinds: Vec<NemesisKind>,
    interval: Duration,
    rng: SeededRng,
    recorder: Arc<Recorder>,
    windows: Vec<FaultWindow>,
    /// What is in force now, for the progress bar.
    pub current: Arc<Mutex<String>>,
    /// Run problems (a node that would not restart).
    pub errors: Vec<String>,
}

impl Nemesis {
    /// A nemesis drawing from `kinds` every `interval`.
    pub fn new(
        kinds: Vec<NemesisKind>,
        interval: Duration,
        seed: u64,
        recorder: Arc<Recorder>,
    ) -> Self {
        Self {
            kinds,
            interval,
            rng: SeededRng::new(seed ^ 0x6E65_6D65_7369_7300),
            recorder,
            windows: Vec::new(),
            current: Arc::new(Mutex::new("none".into())),
            errors: Vec::new(),
        }
    }

    fn set_current(&self, s: &str) {
        *self.current.lock().expect("lock") = s.to_string();
    }

    /// Runs the schedule until `deadline`, then ends the fault in force.
    pub async fn run(&mut self, cluster: &mut Cluster, deadline: Instant) {
        if self.kinds.is_empty() {
            return;
        }
        loop {
            let quiet = self.interval / 2;
            if Instant::now() + quiet >= deadline {
                break;
            }
            tokio::time::sleep(quiet).await;
            let kind = self.kinds[self.rng.index(self.kinds.len())];
            let (active, target) = self.start(kind, cluster).await;
            let started = self.recorder.now_secs();
            self.set_current(&format!("{} {target}", kind.name()));
            tokio::time::sleep_until((Instant::now() + self.interval).min(deadline)).await;
            self.end(active, cluster).await;
            self.set_current("none");
            self.windows.push(FaultWindow {
                kind: kind.name().into(),
                target,
                start_secs: started,
                end_secs: Some(self.recorder.now_secs()),
            });
            if Instant::now() >= deadline {
                break;
            }
        }
    }

    async fn start(&mut self, kind: NemesisKind, cluster: &mut Cluster) -> (Active, String) {
        match kind {
            NemesisKind::Kill => {
                let t = pick_targets(cluster, &mut self.rng).await;
                self.recorder.nemesis("kill", &names(&t));
                for &id in &t {
                    cluster.kill(id).await;
                }
                let d = names(&t);
                (Active::Kill(t), d)
            }
            NemesisKind::Pause => {
                let t = pick_targets(cluster, &mut self.rng).await;
                self.recorder.nemesis("pause", &names(&t));
                for &id in &t {
                    cluster.pause(id);
                }
                let d = names(&t);
                (Active::Pause(t), d)
            }
            NemesisKind::Partition => {
                let (cuts, d) = pick_partition(cluster, &mut self.rng).await;
                self.recorder.nemesis("partition", &d);
                let cuts: BTreeSet<_> = cuts.into_iter().collect();
                for (a, b) in cuts {
                    cluster.set_link(
                        a,
                        b,
                        LinkFaults {
                            cut: true,
                            ..Default::default()
                        },
                    );
                }
                (Active::Partition, d)
            }
            NemesisKind::Packet => {
                let (f, d) = pick_packet(&mut self.rng);
                self.recorder.nemesis("packet", &d);
                for a in cluster.ids() {
                    for b in cluster.ids() {
                        if a != b {
                            cluster.set_link(a, b, f.clone());
                        }
                    }
                }
                (Active::Packet, d)
            }
        }
    }

    async fn end(&mut self, active: Active, cluster: &mut Cluster) {
        match active {
            Active::Kill(t) => {
                for &id in &t {
                    if let Err(e) = cluster.restart(id).await {
                        self.errors.push(format!("restart after kill: {e}"));
                    }
                }
                self.recorder.nemesis("restart", &names(&t));
            }
            Active::Pause(t) => {
                for &id in &t {
                    cluster.resume(id);
                }
                self.recorder.nemesis("resume", &names(&t));
            }
            Active::Partition => {
                cluster.heal_network();
                self.recorder.nemesis("heal", "all links");
            }
            Active::Packet => {
                cluster.heal_network();
                self.recorder.nemesis("packet-heal", "all links");
            }
        }
    }

    /// The faults injected.
    pub fn windows(&self) -> &[FaultWindow] {
        &self.windows
    }
}
