//! `synod-check`: check Jepsen-style histories from the command line.
//!
//! ```text
//! synod-check linearizable --model MODEL [--initial V] [--format F] [--timeout SECS]
//!                          [--json] [--html OUT.html] FILE...
//! synod-check set [--format F] [--json] FILE...
//! ```
//!
//! Exit codes (Jepsen's): 0 valid, 1 invalid, 2 unknown, 254 bad arguments
//! or unusable input. With several files the exit is the worst: 254 if any
//! input is unusable, else false over unknown over true.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use synod_check::report::{set_summary, text_summary};
use synod_check::{
    check_linearizable, check_set, parse_file, render_html, Format, InputError, Model, NilRead,
    Options, Value, Verdict,
};

/// Prints to stdout; a closed pipe (`| head`) is not an error worth a
/// panic, so write errors are ignored.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Exit code for bad arguments or unusable input.
const EXIT_BAD_INPUT: u8 = 254;

#[derive(Parser)]
#[command(
    name = "synod-check",
    version,
    about = "Check histories of distributed systems: linearizability (WGL search) and set-full.",
    after_help = "Exit codes: 0 valid, 1 invalid, 2 unknown (budget ran out), 254 bad arguments or unusable input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that each history is linearizable with respect to a model.
    Linearizable(LinearizableArgs),
    /// Jepsen's set-full check: acknowledged adds present in every final read.
    Set(SetArgs),
}

#[derive(Args)]
struct LinearizableArgs {
    /// The model: register, cas-register, kv, multi-register, mutex, set
    /// (`cas-register(0)` also sets the initial value).
    #[arg(long)]
    model: String,
    /// Initial value, in EDN (`0`, `nil`, `"text"`); default nil, "" for kv.
    #[arg(long, value_name = "V")]
    initial: Option<String>,
    /// Input format: auto, jsonl, edn, porcupine-etcd, porcupine-kv.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    format: Format,
    /// Give up with `unknown` after this many seconds (per file).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Print one JSON result object per file (one per line).
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report (with several files: OUT-1.html, OUT-2.html, ...).
    #[arg(long, value_name = "OUT.html")]
    html: Option<PathBuf>,
    /// What a read of `nil` means: wildcard (Knossos) or absent (a nil state); default per format.
    #[arg(long, value_parser = parse_nil_read)]
    nil_read: Option<NilRead>,
    /// Memory the search's memo may use, in MiB, before answering unknown.
    #[arg(long, default_value_t = 4096, value_name = "MIB")]
    max_memory_mb: usize,
    /// Threads for checking keys in parallel (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Search every key even after one is found not linearizable.
    #[arg(long)]
    all_keys: bool,
    /// History files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct SetArgs {
    /// Input format: auto, jsonl, edn.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    format: Format,
    /// Print one JSON result object per file (one per line).
    #[arg(long)]
    json: bool,
    /// History files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn parse_nil_read(s: &str) -> Result<NilRead, String> {
    match s {
        "wildcard" => Ok(NilRead::Wildcard),
        "absent" => Ok(NilRead::Absent),
        other => Err(format!("expected wildcard or absent, not {other:?}")),
    }
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!(
            "timeout must be a positive number of seconds, not {s}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The worst outcome over files: `None` while all inputs were usable.
#[derive(Default)]
struct Exit {
    verdict: Option<Verdict>,
    bad_input: bool,
}

impl Exit {
    fn add(&mut self, v: Verdict) {
        self.verdict = Some(self.verdict.map_or(v, |w| w.worst(v)));
    }

    fn code(&self) -> ExitCode {
        if self.bad_input {
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        ExitCode::from(self.verdict.unwrap_or(Verdict::True).exit_code() as u8)
    }

    fn input_error(&mut self, json: bool, file: &Path, error: &InputError) {
        self.bad_input = true;
        eprintln!("synod-check: {error}");
        if json {
            let line = serde_json::json!({
                "file": file.display().to_string(),
                "error": error.to_string(),
            });
            emit(&format!("{line}\n"));
        }
    }
}

#[derive(Serialize)]
struct JsonLine<'a, T: Serialize> {
    file: String,
    #[serde(flatten)]
    result: &'a T,
}

fn print_json<T: Serialize>(file: &Path, result: &T) {
    let line = JsonLine {
        file: file.display().to_string(),
        result,
    };
    match serde_json::to_string(&line) {
        Ok(text) => emit(&format!("{text}\n")),
        Err(e) => eprintln!("synod-check: cannot encode the result as JSON: {e}"),
    }
}

/// `out.html` for one file; `out-N.html` (N from 1) when there are several.
fn html_path(base: &Path, index: usize, count: usize) -> PathBuf {
    if count == 1 {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "html".into());
    base.with_file_name(format!("{stem}-{}.{ext}", index + 1))
}

fn linearizable(args: LinearizableArgs) -> ExitCode {
    let initial = match args.initial.as_deref().map(Value::parse_cli).transpose() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("synod-check: --initial: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let model = match (args.model.parse::<Model>(), initial) {
        (Ok(m), None) => Ok(m),
        (Ok(m), Some(v)) if m.initial().is_some() => Model::from_name(m.name(), Some(v)),
        (Ok(m), Some(_)) => Err(format!("model {} takes no initial value", m.name())),
        (Err(e), _) => Err(e),
    };
    let model = match model {
        Ok(m) => m,
        Err(e) => {
            eprintln!("synod-check: --model: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let options = Options {
        timeout: args.timeout,
        max_memory_bytes: args.max_memory_mb.saturating_mul(1 << 20),
        threads: args.threads,
        nil_read: args.nil_read,
        check_all_keys: args.all_keys,
    };
    let mut exit = Exit::default();
    for (index, file) in args.files.iter().enumerate() {
        let checked = parse_file(file, args.format).and_then(|history| {
            check_linearizable(&history, &model, &options).map(|r| (history, r))
        });
        let (history, result) = match checked {
            Ok(pair) => pair,
            Err(e) => {
                exit.input_error(args.json, file, &e);
                continue;
            }
        };
        exit.add(result.valid);
        if args.json {
            print_json(file, &result);
        } else {
            emit(&text_summary(&history, &result));
        }
        if let Some(base) = &args.html {
            let path = html_path(base, index, args.files.len());
            if let Err(e) = std::fs::write(&path, render_html(&history, &result)) {
                eprintln!("synod-check: cannot write {}: {e}", path.display());
                exit.bad_input = true;
            } else if !args.json {
                emit(&format!("  report: {}\n", path.display()));
            }
        }
    }
    exit.code()
}

fn set(args: SetArgs) -> ExitCode {
    let mut exit = Exit::default();
    for file in &args.files {
        let checked = parse_file(file, args.format).and_then(|h| check_set(&h).map(|r| (h, r)));
        match checked {
            Ok((history, result)) => {
                exit.add(result.valid);
                if args.json {
                    print_json(file, &result);
                } else {
                    emit(&set_summary(&history, &result));
                }
            }
            Err(e) => exit.input_error(args.json, file, &e),
        }
    }
    exit.code()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Linearizable(args) => linearizable(args),
        Command::Set(args) => set(args),
    }
}
