//! The `synod-check` binary: exit codes, output modes and reports, as the
//! runner and CI rely on them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synod-check"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

const VALID: &str = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":"a","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"write","key":"a","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"read","key":"a","value":null}
{"index":3,"time":4,"process":1,"type":"ok","f":"read","key":"a","value":1}
"#;

const INVALID: &str = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":"a","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"write","key":"a","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"read","key":"a","value":null}
{"index":3,"time":4,"process":1,"type":"ok","f":"read","key":"a","value":2}
"#;

struct Files {
    _dir: TempDir,
    valid: String,
    invalid: String,
    malformed: String,
}

fn files() -> Files {
    let dir = TempDir::new().unwrap();
    let valid = write(dir.path(), "valid.jsonl", VALID)
        .display()
        .to_string();
    let invalid = write(dir.path(), "invalid.jsonl", INVALID)
        .display()
        .to_string();
    let malformed = write(
        dir.path(),
        "bad.jsonl",
        "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\nnot json\n",
    )
    .display()
    .to_string();
    Files {
        _dir: dir,
        valid,
        invalid,
        malformed,
    }
}

#[test]
fn exit_0_when_linearizable_and_1_when_not() {
    let f = files();
    assert_eq!(
        code(&run(&["linearizable", "--model", "register", &f.valid])),
        0
    );
    let out = run(&["linearizable", "--model", "register", &f.invalid]);
    assert_eq!(code(&out), 1);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NOT linearizable"), "{text}");
    assert!(text.contains("cannot place: p1 read 2"), "{text}");
}

#[test]
fn exit_2_when_the_budget_runs_out() {
    let f = files();
    let out = run(&[
        "linearizable",
        "--model",
        "register",
        "--max-memory-mb",
        "0",
        &f.valid,
    ]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stdout).contains("memory cap reached"));
}

#[test]
fn exit_254_for_unusable_input_naming_file_and_line() {
    let f = files();
    let out = run(&["linearizable", "--model", "register", &f.malformed]);
    assert_eq!(code(&out), 254);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2: bad JSON event"), "{err}");
    let out = run(&[
        "linearizable",
        "--model",
        "register",
        "/nonexistent/history.jsonl",
    ]);
    assert_eq!(code(&out), 254);
}

#[test]
fn exit_254_for_usage_errors_and_0_for_help() {
    assert_eq!(code(&run(&[])), 254);
    assert_eq!(code(&run(&["linearizable"])), 254);
    assert_eq!(
        code(&run(&["linearizable", "--model", "register"])),
        254,
        "no file"
    );
    assert_eq!(code(&run(&["linearizable", "--model", "queue", "x"])), 254);
    assert_eq!(
        code(&run(&[
            "linearizable",
            "--model",
            "register",
            "--format",
            "xml",
            "x"
        ])),
        254
    );
    assert_eq!(
        code(&run(&[
            "linearizable",
            "--model",
            "register",
            "--timeout",
            "-1",
            "x"
        ])),
        254
    );
    assert_eq!(
        code(&run(&[
            "linearizable",
            "--model",
            "mutex",
            "--initial",
            "0",
            "x"
        ])),
        254
    );
    assert_eq!(code(&run(&["frobnicate"])), 254);
    assert_eq!(code(&run(&["--help"])), 0);
    assert_eq!(code(&run(&["linearizable", "--help"])), 0);
}

#[test]
fn several_files_exit_with_the_worst() {
    let f = files();
    let lin = |files: &[&str]| {
        let mut args = vec!["linearizable", "--model", "register"];
        args.extend_from_slice(files);
        code(&run(&args))
    };
    assert_eq!(lin(&[&f.valid, &f.valid]), 0);
    assert_eq!(lin(&[&f.valid, &f.invalid]), 1);
    assert_eq!(lin(&[&f.invalid, &f.malformed, &f.valid]), 254);
    // False wins over unknown, although 1 < 2. Without memory the valid
    // file is unknown; a read of a value never written fails before the
    // search stores anything.
    let dir = TempDir::new().unwrap();
    let immediate = write(
        dir.path(),
        "immediate.jsonl",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":2}\n",
    );
    let no_memory = |files: &[&str]| {
        let mut args = vec![
            "linearizable",
            "--model",
            "register",
            "--max-memory-mb",
            "0",
        ];
        args.extend_from_slice(files);
        code(&run(&args))
    };
    assert_eq!(no_memory(&[&f.valid]), 2);
    assert_eq!(no_memory(&[&f.valid, immediate.to_str().unwrap()]), 1);
}

#[test]
fn json_prints_one_object_per_file() {
    let f = files();
    let out = run(&[
        "linearizable",
        "--model",
        "register",
        "--json",
        &f.valid,
        &f.invalid,
        &f.malformed,
    ]);
    assert_eq!(code(&out), 254);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["valid"], serde_json::json!(true));
    assert_eq!(lines[0]["ops"], serde_json::json!(2));
    assert_eq!(lines[0]["keys"].as_array().unwrap().len(), 1);
    assert!(lines[0]["elapsed_secs"].is_number());
    assert_eq!(lines[1]["valid"], serde_json::json!(false));
    assert_eq!(
        lines[1]["counterexample"]["op_text"],
        serde_json::json!("p1 read 2 key \"a\" (ok)")
    );
    assert!(lines[2]["error"].as_str().unwrap().contains("bad.jsonl:2"));
    let out = run(&[
        "linearizable",
        "--model",
        "register",
        "--json",
        "--max-memory-mb",
        "0",
        &f.valid,
    ]);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["valid"], serde_json::json!("unknown"));
}

#[test]
fn html_report_is_written_for_each_file() {
    let f = files();
    let dir = TempDir::new().unwrap();
    let out_path = dir.path().join("report.html");
    let out = run(&[
        "linearizable",
        "--model",
        "register",
        "--html",
        out_path.to_str().unwrap(),
        &f.invalid,
    ]);
    assert_eq!(code(&out), 1);
    let page = std::fs::read_to_string(&out_path).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"));
    let out = run(&[
        "linearizable",
        "--model",
        "register",
        "--html",
        out_path.to_str().unwrap(),
        &f.valid,
        &f.invalid,
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        dir.path().join("report-1.html").is_file() && dir.path().join("report-2.html").is_file()
    );
}

#[test]
fn initial_value_and_format_options_apply() {
    let dir = TempDir::new().unwrap();
    let edn = write(
        dir.path(),
        "h.edn",
        "[{:process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok :f :read :value 0}]",
    );
    let edn = edn.to_str().unwrap();
    assert_eq!(
        code(&run(&["linearizable", "--model", "cas-register", edn])),
        1,
        "initially nil"
    );
    assert_eq!(
        code(&run(&[
            "linearizable",
            "--model",
            "cas-register",
            "--initial",
            "0",
            edn
        ])),
        0
    );
    assert_eq!(
        code(&run(&[
            "linearizable",
            "--model",
            "cas-register(0)",
            "--format",
            "edn",
            edn
        ])),
        0
    );
    assert_eq!(
        code(&run(&[
            "linearizable",
            "--model",
            "cas-register",
            "--format",
            "jsonl",
            edn
        ])),
        254
    );
}

#[test]
fn set_subcommand_checks_set_full() {
    let dir = TempDir::new().unwrap();
    let ok = write(
        dir.path(),
        "set.jsonl",
        r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"add","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"add","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"read_set","node":"n1"}
{"index":3,"time":4,"process":1,"type":"ok","f":"read_set","value":[1],"node":"n1"}
"#,
    );
    let lost = write(
        dir.path(),
        "lost.jsonl",
        r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"add","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"add","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"read_set","node":"n1"}
{"index":3,"time":4,"process":1,"type":"ok","f":"read_set","value":[],"node":"n1"}
"#,
    );
    assert_eq!(code(&run(&["set", ok.to_str().unwrap()])), 0);
    let out = run(&["set", "--json", lost.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["lost"], serde_json::json!([1]));
    assert_eq!(code(&run(&["set"])), 254);
}
