//! The clients: Jepsen-style workers, each bound to one node.
//!
//! A worker is a *process* in Jepsen's sense: it runs one operation at a
//! time, recording the invocation before the request leaves and the
//! completion after. A definite error is recorded `fail`, an indefinite one
//! `info` — and then the worker takes a new process id, because the old
//! process may still have an operation in flight as far as the checker is
//! concerned. Worker *w* is bound to node `w mod n + 1`: local reads read
//! that node's state; writes and linearizable reads follow the client
//! library's redirects to the leader.
//!
//! The register workload reads, writes and compare-and-sets small integers
//! over `--keys` keys. Written values are unique across the run, so a stale
//! read names exactly which write it saw. A cas expects the value this worker
//! last saw for the key.

use crate::config::{RunConfig, Workload};
use crate::recorder::Recorder;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use synod_check::{EventType, Value};
use synod_core::{ClientError, NodeId, ReadConsistency, SeededRng};
use synod_kv::{ClientConfig, KvClient};
use tokio::time::Instant;

/// Live counters for the progress bar.
#[derive(Debug, Default)]
pub struct Counters {
    /// `ok` completions.
    pub ok: AtomicU64,
    /// `fail` completions.
    pub fail: AtomicU64,
    /// `info` completions.
    pub info: AtomicU64,
}

/// What every worker shares.
pub struct WorkloadCtx {
    /// The run's configuration.
    pub config: RunConfig,
    /// Client addresses of the nodes.
    pub nodes: BTreeMap<NodeId, SocketAddr>,
    /// The history.
    pub recorder: Arc<Recorder>,
    /// Live counts.
    pub counters: Arc<Counters>,
    /// Source of unique values.
    pub next_value: AtomicU64,
}

impl WorkloadCtx {
    /// A client bound to `home`.
    pub fn client(&self, home: NodeId) -> KvClient {
        let mut cc = ClientConfig::new(self.nodes.clone());
        cc.timeout = Duration::from_millis(self.config.op_timeout_ms);
        KvClient::new(cc, home)
    }

    fn unique(&self) -> i64 {
        self.next_value.fetch_add(1, Ordering::Relaxed) as i64 + 1
    }
}

/// The key names of the register workload.
pub fn key_name(i: usize) -> String {
    format!("k{i}")
}

/// The set the set workload adds to.
pub const SET_NAME: &str = "s";

pub(crate) fn encode_int(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

pub(crate) fn decode_value(bytes: Option<Vec<u8>>) -> Value {
    match bytes {
        None => Value::Nil,
        Some(b) => match std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(i) => Value::Int(i),
            None => Value::Str(String::from_utf8_lossy(&b).into_owned()),
        },
    }
}

/// One in-flight operation of a worker, recorded as it completes.
pub(crate) struct OpRecord<'a> {
    pub ctx: &'a WorkloadCtx,
    pub process: u64,
    pub f: &'static str,
    pub key: Option<String>,
    pub final_read: bool,
}

impl OpRecord<'_> {
    pub fn invoke(&self, value: Value) {
        self.ctx.recorder.client(
            self.process,
            EventType::Invoke,
            self.f,
            self.key.as_deref(),
            value,
            None,
            None,
            self.final_read,
        );
    }

    /// Records the completion; returns whether it was indeterminate.
    pub fn complete(&self, result: Result<Value, ClientError>, node: NodeId) -> bool {
        let (kind, value, error) = match result {
            Ok(v) => (EventType::Ok, v, None),
            Err(e) if e.is_definite() => (EventType::Fail, Value::Nil, Some(e.code().to_string())),
            Err(e) => (EventType::Info, Value::Nil, Some(e.code().to_string())),
        };
        let c = &self.ctx.counters;
        match kind {
            EventType::Ok => c.ok.fetch_add(1, Ordering::Relaxed),
            EventType::Fail => c.fail.fetch_add(1, Ordering::Relaxed),
            _ => c.info.fetch_add(1, Ordering::Relaxed),
        };
        self.ctx.recorder.client(
            self.process,
            kind,
            self.f,
            self.key.as_deref(),
            value,
            error,
            Some(format!("n{node}")),
            self.final_read,
        );
        kind == EventType::Info
    }
}

/// Runs worker `w` until `deadline`.
pub async fn run_worker(ctx: Arc<WorkloadCtx>, w: usize, deadline: Instant) {
    let n = ctx.nodes.len().max(1);
    let home = NodeId((w % n) as u64 + 1);
    let mut client = ctx.client(home);
    let mut rng = SeededRng::new(ctx.config.seed).fork(w as u64 + 1);
    let concurrency = ctx.config.concurrency as u64;
    let mut process = w as u64;
    let period = Duration::from_secs_f64(ctx.config.concurrency as f64 / ctx.config.rate);
    let mut last_seen: BTreeMap<usize, i64> = BTreeMap::new();
    // Stagger the workers' first operations over one period.
    let mut next = Instant::now() + period.mul_f64(rng.unit());
    while Instant::now() < deadline && !ctx.recorder.is_full() {
        tokio::time::sleep_until(next.min(deadline)).await;
        if Instant::now() >= deadline {
            break;
        }
        // Poisson-ish pacing: exponential gaps with the right mean.
        next = Instant::now() + period.mul_f64(-(1.0 - rng.unit()).ln().min(5.0));
        let indeterminate = match ctx.config.workload {
            Workload::Register => {
                register_op(&ctx, &mut client, &mut rng, process, &mut last_seen).await
            }
            Workload::Set => set_add(&ctx, &mut client, process).await,
        };
        if indeterminate {
            process += concurrency;
        }
    }
}

async fn register_op(
    ctx: &WorkloadCtx,
    client: &mut KvClient,
    rng: &mut SeededRng,
    process: u64,
    last_seen: &mut BTreeMap<usize, i64>,
) -> bool {
    let k = rng.index(ctx.config.keys);
    let key = key_name(k);
    let roll = rng.unit();
    let served_by = |c: &KvClient, local: bool| {
        if local {
            c.home()
        } else {
            c.leader_hint().unwrap_or(c.home())
        }
    };
    // A cas needs a value to expect; until this worker has seen one, read.
    let has_seen = last_seen.contains_key(&k);
    if roll < 0.5 || (roll >= 0.75 && !has_seen) {
        let rec = OpRecord {
            ctx,
            process,
            f: "read",
            key: Some(key.clone()),
            final_read: false,
        };
        rec.invoke(Value::Nil);
        let r = client.read(&key, ctx.config.reads).await.map(decode_value);
        if let Ok(Value::Int(v)) = &r {
            last_seen.insert(k, *v);
        }
        let local = ctx.config.reads == ReadConsistency::Local;
        rec.complete(r, served_by(client, local))
    } else if roll < 0.75 {
        let v = ctx.unique();
        let rec = OpRecord {
            ctx,
            process,
            f: "write",
            key: Some(key.clone()),
            final_read: false,
        };
        rec.invoke(Value::Int(v));
        let r = client
            .write(&key, encode_int(v))
            .await
            .map(|()| Value::Int(v));
        if r.is_ok() {
            last_seen.insert(k, v);
        }
        rec.complete(r, served_by(client, false))
    } else {
        let to = ctx.unique();
        let from = last_seen[&k];
        let rec = OpRecord {
            ctx,
            process,
            f: "cas",
            key: Some(key.clone()),
            final_read: false,
        };
        let pair = Value::List(vec![Value::Int(from), Value::Int(to)]);
        rec.invoke(pair.clone());
        let r = client
            .cas(&key, Some(encode_int(from)), encode_int(to))
            .await
            .map(|()| pair);
        if r.is_ok() {
            last_seen.insert(k, to);
        }
        rec.complete(r, served_by(client, false))
    }
}

async fn set_add(ctx: &WorkloadCtx, client: &mut KvClient, process: u64) -> bool {
    let v = ctx.unique();
    let rec = OpRecord {
        ctx,
        process,
        f: "add",
        key: None,
        final_read: false,
    };
    rec.invoke(Value::Int(v));
    let r = client
        .add(SET_NAME, encode_int(v))
        .await
        .map(|()| Value::Int(v));
    let node = client.leader_hint().unwrap_or(client.home());
    rec.complete(r, node)
}
