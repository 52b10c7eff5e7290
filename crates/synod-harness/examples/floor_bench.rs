//! The floor under a replicated write on this machine: how fast one client's
//! sequential writes could go if replication cost nothing but what no
//! implementation can avoid, so that `cargo xtask bench cluster`'s 1-client
//! figure can be read against the hardware it ran on (`cargo xtask bench
//! floor`).
//!
//! The processes are those of a cluster on loopback: this one is the
//! client, and it starts a leader and `nodes - 1` followers (itself,
//! re-executed with a role). Per write the client sends 8 bytes to the
//! leader; the leader sends a 128-byte record to every follower, appends and
//! syncs its own copy, waits until its copy and the followers' answers make
//! a majority, and answers. A follower appends, syncs and answers. An append
//! is a `pwrite` into a file whose blocks were written with zeros and synced
//! beforehand, then `fdatasync`: the cheapest durable append, as synod-wal
//! prepares its segments. There is no protocol, no encoding and no log
//! format: only the syncs of every node on the one disk, the loopback hops
//! and the process wakeups that any replicated write pays.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// Bytes of one record, about a small key-value write with its framing.
const RECORD: usize = 128;
/// Bytes of the preallocated file; appends wrap around in it.
const FILE_BYTES: u64 = 64 << 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--follower") => follower(),
        Some("--leader") => leader(&args[1..]),
        _ => match parse(&args) {
            Ok((seconds, nodes)) => client(seconds, nodes),
            Err(e) => {
                eprintln!("floor_bench: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--seconds S --nodes N`, both optional.
fn parse(args: &[String]) -> Result<(f64, usize), String> {
    let (mut seconds, mut nodes) = (5.0_f64, 3_usize);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => {
                seconds = value
                    .parse()
                    .ok()
                    .filter(|s| *s > 0.0 && *s <= 3600.0)
                    .ok_or(format!("--seconds {value}: not in (0, 3600]"))?
            }
            "--nodes" => {
                nodes = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=9).contains(n))
                    .ok_or(format!("--nodes {value}: not in 1..=9"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok((seconds, nodes))
}

/// A child process, killed when dropped (also when the benchmark fails).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh directory under the system's temporary one, removed when
/// dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn create() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("synod-floor-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(io("temporary dir"))?;
        Ok(Self(path))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts this program with `role_args`; it prints the port it listens on.
fn spawn(role_args: &[String], dir: &std::path::Path) -> Result<(Proc, u16), String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut child = Command::new(exe)
        .args(role_args)
        .env("FLOOR_DIR", dir)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {role_args:?}: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let proc = Proc(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("reading {role_args:?}'s port: {e}"))?;
    let port = line
        .trim()
        .parse()
        .map_err(|_| format!("{role_args:?} printed {line:?}, not a port"))?;
    Ok((proc, port))
}

fn client(seconds: f64, nodes: usize) -> Result<(), String> {
    let dir = TempDir::create()?;
    let mut procs = Vec::new();
    let mut leader_args = vec!["--leader".to_string()];
    for _ in 1..nodes {
        let (proc, port) = spawn(&["--follower".to_string()], dir.path())?;
        procs.push(proc);
        leader_args.push(port.to_string());
    }
    let (proc, port) = spawn(&leader_args, dir.path())?;
    procs.push(proc);
    let mut leader = connect(port)?;
    let mut latencies = Vec::new();
    let (mut request, mut answer) = (0_u64, [0_u8; 8]);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    while Instant::now() < end {
        request += 1;
        let t = Instant::now();
        leader
            .write_all(&request.to_le_bytes())
            .map_err(io("send"))?;
        leader.read_exact(&mut answer).map_err(io("answer"))?;
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "floor: {nodes} nodes, 1 client, {RECORD}-byte records, fdatasync on every node, {seconds} s"
    );
    println!(
        "    {:.0} writes/s  p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms",
        latencies.len() as f64 / elapsed,
        at(0.50),
        at(0.95),
        at(0.99)
    );
    drop(procs);
    Ok(())
}

/// The leader runs on one thread with an event loop, as a synod node does:
/// a follower's answer is a task switch away, not a thread wakeup.
fn leader(follower_ports: &[String]) -> Result<(), String> {
    let (listener, mut log) = listen_and_prepare("leader")?;
    let mut ports = Vec::new();
    for p in follower_ports {
        ports.push(p.parse::<u16>().map_err(|_| format!("bad port {p}"))?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(io("runtime"))?;
    runtime.block_on(async move {
        // How many answers each follower has sent: its n-th answers write n.
        let answered: Arc<Vec<AtomicU64>> =
            Arc::new(ports.iter().map(|_| AtomicU64::new(0)).collect());
        let woken = Arc::new(Notify::new());
        let mut to_followers = Vec::new();
        for (i, port) in ports.into_iter().enumerate() {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(io("connect"))?;
            stream.set_nodelay(true).map_err(io("nodelay"))?;
            let (mut from, to) = stream.into_split();
            to_followers.push(to);
            let (answered, woken) = (answered.clone(), woken.clone());
            tokio::spawn(async move {
                let mut ack = [0_u8; 8];
                while from.read_exact(&mut ack).await.is_ok() {
                    answered[i].fetch_add(1, Ordering::Relaxed);
                    woken.notify_one();
                }
            });
        }
        listener.set_nonblocking(true).map_err(io("nonblocking"))?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(io("listener"))?;
        let (mut client, _) = listener.accept().await.map_err(io("accept"))?;
        client.set_nodelay(true).map_err(io("nodelay"))?;
        let nodes = to_followers.len() + 1;
        let majority = nodes / 2 + 1;
        let (mut written, mut request) = (0_u64, [0_u8; 8]);
        while client.read_exact(&mut request).await.is_ok() {
            written += 1;
            let record = [request[0]; RECORD];
            for to in &mut to_followers {
                to.write_all(&record).await.map_err(io("replicate"))?;
            }
            // Synced on this thread: the followers' answers wait in their
            // sockets meanwhile, and are counted right after.
            log.append(&record)?;
            loop {
                let copies = 1 + answered
                    .iter()
                    .filter(|a| a.load(Ordering::Relaxed) >= written)
                    .count();
                if copies >= majority {
                    break;
                }
                woken.notified().await;
            }
            client.write_all(&request).await.map_err(io("answer"))?;
        }
        Ok(())
    })
}

fn follower() -> Result<(), String> {
    let (listener, mut log) = listen_and_prepare("follower")?;
    let (leader, _) = listener.accept().map_err(io("accept"))?;
    let mut leader = nodelay(leader)?;
    let mut record = [0_u8; RECORD];
    while leader.read_exact(&mut record).is_ok() {
        log.append(&record)?;
        leader.write_all(&[1; 8]).map_err(io("acknowledge"))?;
    }
    Ok(())
}

/// Binds a loopback port, prints it for the parent, and prepares the log.
fn listen_and_prepare(role: &str) -> Result<(TcpListener, Log), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("bind"))?;
    let dir = std::env::var_os("FLOOR_DIR").ok_or("FLOOR_DIR is not set")?;
    let path = std::path::Path::new(&dir).join(format!("{role}-{}", std::process::id()));
    let log = Log::create(&path)?;
    let port = listener.local_addr().map_err(io("local addr"))?.port();
    println!("{port}");
    std::io::stdout().flush().map_err(io("stdout"))?;
    Ok((listener, log))
}

/// An append-only file of zeros written and synced ahead.
struct Log {
    file: std::fs::File,
    offset: u64,
}

impl Log {
    fn create(path: &std::path::Path) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io("create"))?;
        let zeros = vec![0_u8; 1 << 20];
        for i in 0..FILE_BYTES / zeros.len() as u64 {
            file.write_all_at(&zeros, i * zeros.len() as u64)
                .map_err(io("zero"))?;
        }
        file.sync_all().map_err(io("sync"))?;
        Ok(Self { file, offset: 0 })
    }

    fn append(&mut self, record: &[u8]) -> Result<(), String> {
        if self.offset + record.len() as u64 > FILE_BYTES {
            self.offset = 0;
        }
        self.file
            .write_all_at(record, self.offset)
            .map_err(io("append"))?;
        self.file.sync_data().map_err(io("fdatasync"))?;
        self.offset += record.len() as u64;
        Ok(())
    }
}

fn connect(port: u16) -> Result<TcpStream, String> {
    nodelay(TcpStream::connect(("127.0.0.1", port)).map_err(io("connect"))?)
}

fn nodelay(s: TcpStream) -> Result<TcpStream, String> {
    s.set_nodelay(true).map_err(io("nodelay"))?;
    Ok(s)
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> String {
    move |e| format!("{what}: {e}")
}
