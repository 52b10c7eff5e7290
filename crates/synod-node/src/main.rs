//! `synod-node`: one replica of a replicated key-value store, served with a
//! synod protocol over TCP, with a durable write-ahead log.
//!
//! ```text
//! synod-node --protocol raft --id 1 --listen 127.0.0.1:7001 --client 127.0.0.1:8001 \
//!            --peer 2=127.0.0.1:7002 --peer 3=127.0.0.1:7003 --data-dir ./data/n1
//! ```
//!
//! Exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 2 for a bad
//! command line or configuration, 1 when the node fails (storage error, a
//! port already taken).

mod cli;
mod launch;
mod server;

use clap::Parser;
use std::process::ExitCode;
use tracing::Instrument;

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let spec = match args.validate() {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("synod-node: invalid configuration: {msg}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(false)
        .init();
    // One thread runs the node loop, the transport and the client port (the
    // storage thread is separate). A hand-off between them is then a task
    // switch on the same thread instead of a wakeup of another one, which on
    // a small machine shared with the other replicas costs more than the
    // work itself: on 2 vCPUs, one thread measured faster at 1 client and
    // under load than a multi-threaded runtime.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("synod-node: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let span = tracing::info_span!("node", id = spec.id.0);
    match runtime.block_on(launch::run(spec).instrument(span)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synod-node: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
