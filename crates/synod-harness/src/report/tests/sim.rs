//! Synthetic register histories for the report's tests: linearizable by
//! construction (every op takes effect at a point inside its interval, and
//! reads return what the register held there), with faults that slow ops
//! down and make some fail or time out, and an optional stale read.

use std::collections::BTreeMap;

use synod_check::{EventType, HistoryEvent, Process, Value};

use crate::results::FaultWindow;

/// A seeded generator (splitmix64).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One simulated op.
#[derive(Clone, Debug)]
pub(super) struct SimOp {
    pub process: u64,
    pub f: &'static str,
    pub key: String,
    pub value: Value,
    pub start_ns: u64,
    pub end_ns: u64,
    pub kind: EventType,
    pub lin_ns: u64,
    pub node: String,
    pub error: Option<String>,
}

/// The shape of a simulated run.
pub(super) struct Spec<'a> {
    pub ops: usize,
    pub workers: u64,
    pub keys: &'a [&'a str],
    pub duration_s: f64,
    pub faults: &'a [FaultWindow],
    pub seed: u64,
}

fn in_fault(faults: &[FaultWindow], t_s: f64) -> bool {
    faults
        .iter()
        .any(|f| t_s >= f.start_secs && t_s < f.end_secs.unwrap_or(f64::INFINITY))
}

/// Simulates `spec.ops` ops; returns them in invocation order.
pub(super) fn simulate(spec: &Spec<'_>) -> Vec<SimOp> {
    let mut rng = Rng::new(spec.seed);
    let gap_s = spec.duration_s * spec.workers as f64 / spec.ops.max(1) as f64;
    let mut clock: Vec<f64> = (0..spec.workers).map(|_| rng.unit() * gap_s).collect();
    let mut process: Vec<u64> = (0..spec.workers).collect();
    let mut ops = Vec::with_capacity(spec.ops);
    let mut next_value = 1i64;
    while ops.len() < spec.ops {
        let w = (0..spec.workers as usize)
            .min_by(|&a, &b| clock[a].total_cmp(&clock[b]))
            .unwrap_or(0);
        let start = clock[w];
        let faulty = in_fault(spec.faults, start);
        let roll = rng.unit();
        let latency_ms = if faulty {
            10f64.powf(1.0 + rng.unit() * 1.8)
        } else {
            10f64.powf(rng.unit() * 1.2)
        };
        let (kind, latency_ms, error) = if roll < if faulty { 0.12 } else { 0.01 } {
            (EventType::Info, 500.0, Some("timeout".to_owned()))
        } else if roll < if faulty { 0.22 } else { 0.03 } {
            (EventType::Fail, latency_ms, Some("not leader".to_owned()))
        } else {
            (EventType::Ok, latency_ms, None)
        };
        let end = start + latency_ms / 1000.0;
        let f = match rng.unit() {
            r if r < 0.5 => "read",
            r if r < 0.8 => "write",
            _ => "cas",
        };
        let value = if f == "read" {
            Value::Nil
        } else {
            next_value += 1;
            Value::Int(next_value)
        };
        let key = spec.keys[(rng.unit() * spec.keys.len() as f64) as usize % spec.keys.len()];
        let start_ns = (start * 1e9) as u64;
        let end_ns = (end * 1e9) as u64;
        ops.push(SimOp {
            process: process[w],
            f,
            key: key.to_owned(),
            value,
            start_ns,
            end_ns,
            kind,
            lin_ns: start_ns + ((end_ns - start_ns) as f64 * rng.unit()) as u64,
            node: format!("n{}", w % 5 + 1),
            error,
        });
        if kind == EventType::Info {
            process[w] += spec.workers;
        }
        clock[w] = end + 0.000_01 + rng.unit() * 2.0 * gap_s;
    }
    apply(&mut ops);
    ops
}

/// Gives reads their values and cas their `[from, to]` in the order the
/// ops take effect. A cas on an empty register becomes a write.
fn apply(ops: &mut [SimOp]) {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| ops[i].lin_ns);
    let mut reg: BTreeMap<String, Value> = BTreeMap::new();
    for i in order {
        let op = &mut ops[i];
        let takes_effect =
            op.kind == EventType::Ok || (op.kind == EventType::Info && op.lin_ns % 2 == 0);
        let current = reg.get(&op.key).cloned().unwrap_or(Value::Nil);
        match op.f {
            "read" => {
                if op.kind == EventType::Ok {
                    op.value = current;
                }
            }
            "cas" if current.is_nil() => {
                op.f = "write";
                if takes_effect {
                    reg.insert(op.key.clone(), op.value.clone());
                }
            }
            "cas" => {
                let to = op.value.clone();
                let from = if op.kind == EventType::Fail {
                    Value::Int(-1)
                } else {
                    current
                };
                op.value = Value::List(vec![from, to.clone()]);
                if takes_effect {
                    reg.insert(op.key.clone(), to);
                }
            }
            _ => {
                if takes_effect {
                    reg.insert(op.key.clone(), op.value.clone());
                }
            }
        }
    }
}

/// The value an op writes (write value, cas `to`).
fn written(op: &SimOp) -> Option<&Value> {
    match (op.f, &op.value) {
        ("write", v) => Some(v),
        ("cas", Value::List(l)) if l.len() == 2 => Some(&l[1]),
        _ => None,
    }
}

/// Turns the first suitable `ok` read invoked after `after_s` into a stale
/// read: it returns the value of a write X although a later write W, which
/// began after X completed, had completed before the read began. Returns
/// the read's index. Certainly not linearizable (written values are unique).
pub(super) fn inject_stale_read(ops: &mut [SimOp], after_s: f64) -> Option<usize> {
    let after_ns = (after_s * 1e9) as u64;
    for r in 0..ops.len() {
        let read = &ops[r];
        if read.f != "read" || read.kind != EventType::Ok || read.start_ns < after_ns {
            continue;
        }
        let done: Vec<&SimOp> = ops
            .iter()
            .filter(|o| o.key == read.key && o.kind == EventType::Ok && written(o).is_some())
            .collect();
        // The most recent such X, as a lagging replica would return.
        let stale = done
            .iter()
            .filter(|x| {
                written(x) != Some(&read.value)
                    && done.iter().any(|w| {
                        w.start_ns > x.end_ns
                            && w.end_ns < read.start_ns
                            && written(w) != written(x)
                    })
            })
            .max_by_key(|x| x.end_ns)
            .and_then(|x| written(x).cloned());
        if let Some(v) = stale {
            ops[r].value = v;
            ops[r].node = "n3".into();
            return Some(r);
        }
    }
    None
}

/// The events of `ops` and of the fault windows, in time order, numbered.
pub(super) fn events(ops: &[SimOp], faults: &[FaultWindow]) -> Vec<HistoryEvent> {
    // (time, order within a time, event)
    let mut evs: Vec<(u64, u8, HistoryEvent)> = Vec::new();
    for op in ops {
        let invoke_value = if op.f == "read" {
            Value::Nil
        } else {
            op.value.clone()
        };
        let mut inv = HistoryEvent::client(
            0,
            op.start_ns,
            op.process,
            EventType::Invoke,
            op.f,
            invoke_value,
        );
        inv.key = Some(op.key.clone());
        let mut done =
            HistoryEvent::client(0, op.end_ns, op.process, op.kind, op.f, op.value.clone());
        done.key = Some(op.key.clone());
        done.node = Some(op.node.clone());
        done.error = op.error.clone();
        evs.push((op.start_ns, 1, inv));
        evs.push((op.end_ns, 0, done));
    }
    for f in faults {
        let nemesis = |time: f64, name: &str| HistoryEvent {
            index: 0,
            time: (time * 1e9) as u64,
            process: Process::Named("nemesis".into()),
            kind: EventType::Info,
            f: name.to_owned(),
            key: None,
            value: Value::Str(f.target.clone()),
            error: None,
            node: None,
            final_read: false,
        };
        evs.push((
            (f.start_secs * 1e9) as u64,
            2,
            nemesis(f.start_secs, &f.kind),
        ));
        if let Some(end) = f.end_secs {
            let heal = match f.kind.as_str() {
                "kill" => "restart",
                "pause" => "resume",
                "packet" => "packet-heal",
                _ => "heal",
            };
            evs.push(((end * 1e9) as u64, 2, nemesis(end, heal)));
        }
    }
    evs.sort_by_key(|(t, o, _)| (*t, *o));
    evs.into_iter()
        .enumerate()
        .map(|(i, (_, _, mut e))| {
            e.index = i as u64;
            e
        })
        .collect()
}
