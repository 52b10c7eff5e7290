//! The WAL under SIGKILL: a child process appends and syncs in a loop and
//! reports each synced record on stdout; the parent kills it at random
//! moments, reopens the directory, and checks that every reported record
//! is there, in order, with nothing corrupt; the next child continues in the
//! same directory.
//!
//! The child is this very test binary, re-executed with
//! `SYNOD_WAL_CRASH_CHILD_DIR` set and `--exact crash::crash_child`: in a
//! normal run that test returns at once. The schedule is seeded
//! (`SYNOD_WAL_CRASH_SEED` overrides the default) and printed on failure.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use std::{env, thread};

use synod_core::{SeededRng, Storage, StoredRecord};
use synod_wal::{FileStorage, WalOptions};

use crate::common::payload;

const CHILD_DIR_ENV: &str = "SYNOD_WAL_CRASH_CHILD_DIR";
const CHILD_MODE_ENV: &str = "SYNOD_WAL_CRASH_CHILD_MODE";
/// Marks the child's report lines (libtest writes its own text to stdout).
const REPORT: &str = "@wal ";
const BIG_RECORD_BYTES: usize = 32 << 20;
const ROUNDS: usize = 32;
/// The child compacts through `synced - KEEP`; the newest `KEEP` synced
/// records must always be present.
const KEEP: u64 = 200;

/// Small segments (many rolls) and a small pending buffer: appends are
/// written out (without sync) as they come, so kills land inside writes too.
fn opts() -> WalOptions {
    WalOptions {
        segment_bytes: 16 << 10,
        max_pending_bytes: 32 << 10,
        ..WalOptions::default()
    }
}

/// Record `n` has position `n` and a payload fixed by `n`: mostly small,
/// one in 13 large (a segment of its own, and a write long enough for a
/// kill to land inside it).
fn record(n: u64) -> StoredRecord {
    let len = if n % 13 == 0 {
        300_000 + n % 7 * 1000
    } else {
        n * 7919 % 1500
    };
    StoredRecord {
        position: n,
        payload: payload(n, len as usize),
    }
}

/// The child: continue the log in the directory, forever, reporting.
#[test]
fn crash_child() {
    let Ok(dir) = env::var(CHILD_DIR_ENV) else {
        return;
    };
    let mut wal = FileStorage::open(&dir, opts()).expect("child: open");
    let loaded = wal.load().expect("child: load");
    let mut next = loaded.records.last().map_or(0, |r| r.position + 1);
    if env::var(CHILD_MODE_ENV).as_deref() == Ok("big") {
        big_writer(wal, next);
    }
    let mut rng = SeededRng::new(next);
    let mut out = std::io::stdout().lock();
    for round in 0u64.. {
        let k = rng.range(1, 9);
        let batch: Vec<_> = (next..next + k).map(record).collect();
        wal.append(&batch).expect("child: append");
        next += k;
        if rng.chance(0.5) {
            continue; // written out (maybe), not synced, not reported
        }
        wal.sync().expect("child: sync");
        writeln!(out, "\n{REPORT}S {}", next - 1).unwrap();
        out.flush().unwrap();
        if round % 40 == 39 {
            wal.save_hard_state(&(next - 1).to_le_bytes()).unwrap();
            writeln!(out, "\n{REPORT}H {}", next - 1).unwrap();
            if next > KEEP {
                wal.compact(next - 1 - KEEP).unwrap();
            }
            out.flush().unwrap();
        }
    }
}

/// The child in "big" mode: one small synced record ("S n"), then one
/// large record written out but never synced, announced before ("B n+1")
/// and after ("W n+1") the append; then it idles until killed.
fn big_writer(mut wal: FileStorage, n: u64) -> ! {
    let mut out = std::io::stdout().lock();
    wal.append(&[StoredRecord {
        position: n,
        payload: vec![1; 100],
    }])
    .unwrap();
    wal.sync().unwrap();
    writeln!(out, "\n{REPORT}S {n}").unwrap();
    out.flush().unwrap();
    let big = [StoredRecord {
        position: n + 1,
        payload: vec![(n + 1) as u8; BIG_RECORD_BYTES],
    }];
    writeln!(out, "\n{REPORT}B {}", n + 1).unwrap();
    out.flush().unwrap();
    // max_pending_bytes is small: append writes it out at once.
    wal.append(&big).unwrap();
    writeln!(out, "\n{REPORT}W {}", n + 1).unwrap();
    out.flush().unwrap();
    loop {
        thread::sleep(Duration::from_secs(1));
    }
}

/// Kills and reaps the child even if the parent's checks panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A report line of the child: ('S', n) synced through n, ('H', n) hard
/// state saved as n.
fn parse(line: &str) -> Option<(char, u64)> {
    let rest = line.strip_prefix(REPORT)?;
    let (kind, n) = rest.split_once(' ')?;
    Some((kind.chars().next()?, n.parse().ok()?))
}

/// Waits for the child's first `kind` report and returns its number.
fn first_report(rx: &mpsc::Receiver<String>, kind: char) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => match parse(&line) {
                Some((k, n)) if k == kind => return Some(n),
                _ => {}
            },
            Err(_) => return None,
        }
    }
    None
}

fn first_synced(rx: &mpsc::Receiver<String>) -> Option<u64> {
    first_report(rx, 'S')
}

fn spawn_child(dir: &Path, mode: &str) -> (Killed, mpsc::Receiver<String>) {
    let mut child = Command::new(env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Killed(child), rx)
}

#[test]
fn sigkill_at_random_moments_never_loses_a_synced_record() {
    let seed: u64 = env::var("SYNOD_WAL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0001);
    let mut rng = SeededRng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let deadline = Instant::now() + Duration::from_secs(90);

    let mut max_synced: Option<u64> = None;
    let mut max_hard: Option<u64> = None;
    let mut repairs = 0;
    for round in 0..ROUNDS {
        assert!(Instant::now() < deadline, "seed {seed}: out of time");
        let ctx = format!("seed {seed} round {round}");
        let (mut child, rx) = spawn_child(&dir, "loop");
        // One round in five kills at once (maybe during recovery); the rest
        // wait for the child to report progress, then a random while.
        if !rng.chance(0.2) {
            let first = first_synced(&rx);
            assert!(first.is_some(), "{ctx}: child reported nothing");
            max_synced = max_synced.max(first);
        }
        thread::sleep(Duration::from_millis(rng.range(0, 60)));
        child.0.kill().unwrap(); // SIGKILL
        let status = child.0.wait().unwrap();
        assert!(!status.success(), "{ctx}: child exited by itself: {status}");
        // Everything it printed before dying was synced.
        for (kind, n) in rx.iter().filter_map(|l| parse(&l)) {
            match kind {
                'S' => max_synced = max_synced.max(Some(n)),
                'H' => max_hard = max_hard.max(Some(n)),
                _ => {}
            }
        }

        let mut wal = FileStorage::open(&dir, opts())
            .unwrap_or_else(|e| panic!("{ctx}: reopen after SIGKILL: {e}"));
        let loaded = wal.load().unwrap_or_else(|e| panic!("{ctx}: load: {e}"));
        let torn = loaded.repairs.len();
        repairs += torn;
        for pair in loaded.records.windows(2) {
            assert_eq!(
                pair[1].position,
                pair[0].position + 1,
                "{ctx}: out of order"
            );
        }
        for r in &loaded.records {
            assert_eq!(
                r,
                &record(r.position),
                "{ctx}: record {} damaged",
                r.position
            );
        }
        if let Some(s) = max_synced {
            let first = loaded.records.first().map(|r| r.position);
            let last = loaded.records.last().map(|r| r.position);
            assert!(
                last >= Some(s),
                "{ctx}: synced {s} but the log ends at {last:?}"
            );
            let must_have = s.saturating_sub(KEEP);
            assert!(
                first <= Some(must_have),
                "{ctx}: log starts at {first:?}, synced records from {must_have} must be there"
            );
        }
        if let Some(h) = max_hard {
            let hs = loaded.hard_state.expect("hard state saved");
            let got = u64::from_le_bytes(hs.try_into().expect("8 bytes"));
            assert!(got >= h, "{ctx}: hard state {got} older than reported {h}");
        }
        drop(wal);
    }
    let synced = max_synced.expect("some records were synced");
    eprintln!("crash test: seed {seed}, {ROUNDS} rounds, {synced} records synced, {repairs} torn tails repaired");
    assert!(synced > 100, "too little progress: {synced}");
}

#[test]
fn sigkill_inside_a_large_write_leaves_a_torn_tail_that_is_repaired() {
    let seed: u64 = env::var("SYNOD_WAL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0002);
    let mut rng = SeededRng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    // The kill delay after "B" adapts: a kill that found the record absent
    // and nothing torn came too early (raise the low end), one that found
    // it whole came too late (lower the high end); so the delays close in
    // on the write whatever this machine's speed and load.
    let (mut lo_us, mut hi_us) = (0u64, 60_000u64);
    let (mut rounds, mut repairs, mut whole) = (0, 0, 0);
    while rounds < 8 || (repairs < 2 && rounds < 32) {
        let round = rounds;
        rounds += 1;
        let ctx = format!("seed {seed} round {round}");
        let (mut child, rx) = spawn_child(&dir, "big");
        let synced = first_synced(&rx).expect("child reported nothing");
        let big = first_report(&rx, 'B').expect("child did not start the big write");
        let delay_us = rng.range(lo_us, hi_us + 1);
        thread::sleep(Duration::from_micros(delay_us));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let written = rx.iter().any(|l| parse(&l) == Some(('W', big)));

        let mut wal = FileStorage::open(&dir, opts())
            .unwrap_or_else(|e| panic!("{ctx}: reopen after SIGKILL: {e}"));
        let loaded = wal.load().unwrap_or_else(|e| panic!("{ctx}: load: {e}"));
        let torn = loaded.repairs.len();
        repairs += torn;
        assert!(
            loaded
                .records
                .iter()
                .any(|r| r.position == synced && r.payload == [1; 100]),
            "{ctx}: synced record {synced} lost"
        );
        // The big record is whole or absent; whole if its write returned (a
        // killed process's page cache survives it).
        let got = loaded.records.iter().find(|r| r.position == big);
        if let Some(r) = got {
            assert_eq!(r.payload.len(), BIG_RECORD_BYTES, "{ctx}");
            assert!(r.payload.iter().all(|&b| b == big as u8), "{ctx}");
            whole += 1;
            hi_us = delay_us;
        } else if torn == 0 {
            lo_us = delay_us.min(hi_us);
        }
        assert!(
            got.is_some() || !written,
            "{ctx}: written record {big} lost"
        );
        assert_eq!(
            loaded.records.last().map(|r| r.position),
            Some(got.map_or(synced, |_| big))
        );
        // Keep the directory small: compact all but the active segment.
        wal.compact(u64::MAX).unwrap();
        drop(wal);
    }
    eprintln!(
        "big-write crash test: seed {seed}, {rounds} rounds: {repairs} torn tails repaired, \
         {whole} large records whole"
    );
    assert!(
        repairs > 0,
        "no kill landed inside a write in {rounds} rounds (seed {seed})"
    );
}
