//! Third-party histories with known verdicts: every row of Knossos's and
//! Porcupine's `expected.tsv` (in `shared/histories/`, beside the
//! workspace) must get its expected verdict.
//!
//! The folder is required: if it is missing the test fails, it does not
//! skip, so a CI that lost the data cannot pass by accident.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use synod_check::{
    check_linearizable, parse_file, Format, Model, NilRead, Options, Value, Verdict,
};

fn histories_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/histories"
    ));
    assert!(
        dir.join("knossos/expected.tsv").is_file() && dir.join("porcupine/expected.tsv").is_file(),
        "ground-truth histories are missing: expected {}/{{knossos,porcupine}}/expected.tsv \
         (the shared/ folder beside the workspace)",
        dir.display()
    );
    dir.to_path_buf()
}

/// How a model name of `expected.tsv` is checked: model, format, `nil` reads.
fn setup(name: &str) -> (Model, Format, NilRead) {
    match name {
        "cas-register(0)" => (
            Model::CasRegister {
                initial: Value::Int(0),
            },
            Format::Edn,
            NilRead::Wildcard,
        ),
        "multi-register{:x 0 :y 0}" => (
            Model::MultiRegister {
                initial: Value::Int(0),
            },
            Format::Edn,
            NilRead::Wildcard,
        ),
        "mutex" => (Model::Mutex, Format::Edn, NilRead::Wildcard),
        "etcd-cas-register" => (
            Model::CasRegister {
                initial: Value::Nil,
            },
            Format::PorcupineEtcd,
            NilRead::Absent,
        ),
        "kv-per-key" => (
            Model::Kv {
                initial: Value::Str(String::new()),
            },
            Format::PorcupineKv,
            NilRead::Wildcard,
        ),
        other => panic!("expected.tsv names a model this test does not know: {other}"),
    }
}

struct Row {
    file: PathBuf,
    model: String,
    expected: Verdict,
}

fn rows(suite: &str) -> Vec<Row> {
    let dir = histories_dir().join(suite);
    let text = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut rows = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "bad expected.tsv row: {line}");
        let expected = match cols[2] {
            "linearizable" => Verdict::True,
            "not" => Verdict::False,
            other => panic!("bad expected verdict {other}"),
        };
        rows.push(Row {
            file: dir.join(cols[0]),
            model: cols[1].to_owned(),
            expected,
        });
    }
    rows
}

fn check_suite(suite: &str, expected_rows: usize) {
    let rows = rows(suite);
    assert_eq!(rows.len(), expected_rows, "{suite}/expected.tsv rows");
    let options = Options {
        timeout: Some(Duration::from_secs(60)),
        threads: 1,
        ..Options::default()
    };
    let mut wrong = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    for row in &rows {
        let (model, format, nil_read) = setup(&row.model);
        let history = parse_file(&row.file, format).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            history.nil_read,
            nil_read,
            "{}: format default for nil reads",
            row.file.display()
        );
        let start = Instant::now();
        let result =
            check_linearizable(&history, &model, &options).unwrap_or_else(|e| panic!("{e}"));
        let took = start.elapsed();
        if took > slowest.0 {
            slowest = (took, row.file.display().to_string());
        }
        if result.valid != row.expected {
            wrong.push(format!(
                "{}: got {}, expected {}",
                row.file.display(),
                result.valid,
                row.expected
            ));
        }
        if result.valid == Verdict::False {
            assert!(
                result.counterexample.is_some(),
                "{}: no counterexample",
                row.file.display()
            );
        }
    }
    eprintln!(
        "{suite}: {} rows, slowest {:?} ({})",
        rows.len(),
        slowest.0,
        slowest.1
    );
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_knossos_history_gets_its_expected_verdict() {
    check_suite("knossos", 122);
}

#[test]
fn every_porcupine_history_gets_its_expected_verdict() {
    check_suite("porcupine", 108);
}

/// Knossos runs out of time or memory on these; they must be quick here.
#[test]
fn histories_knossos_cannot_finish_are_decided_quickly() {
    let dir = histories_dir().join("porcupine/jepsen");
    let model = Model::CasRegister {
        initial: Value::Nil,
    };
    for n in ["007", "040", "057", "085", "097", "099"] {
        let history = parse_file(dir.join(format!("etcd_{n}.log")), Format::PorcupineEtcd).unwrap();
        let start = Instant::now();
        let result = check_linearizable(&history, &model, &Options::default()).unwrap();
        assert_ne!(result.valid, Verdict::Unknown, "etcd_{n}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "etcd_{n} took {:?}",
            start.elapsed()
        );
    }
}

/// Knossos's tests name the operation each bad history fails on (process,
/// value read, and `:index` of its completion); the counterexample must
/// blame the same one.
#[test]
fn bad_knossos_histories_blame_the_operation_knossos_blames() {
    let dir = histories_dir().join("knossos/cas-register/bad");
    let model = Model::CasRegister {
        initial: Value::Int(0),
    };
    let cases = [
        ("bad-analysis.edn", 21, 2, 14),
        ("cas-failure.edn", 70, 0, 491),
        ("immediate-failure.edn", 1, 3, 3),
        ("rethink-fail-minimal.edn", 1, 3, 4),
        ("rethink-fail-smaller.edn", 12, 3, 217),
    ];
    for (file, process, value, index) in cases {
        let history = parse_file(dir.join(file), Format::Edn).unwrap();
        let result = check_linearizable(&history, &model, &Options::default()).unwrap();
        let cex = result
            .counterexample
            .unwrap_or_else(|| panic!("{file}: no counterexample"));
        let op = &history.ops[cex.op];
        assert_eq!(
            (
                op.process,
                op.f.as_str(),
                &op.value,
                op.complete.map(|c| c.index)
            ),
            (process, "read", &Value::Int(value), Some(index)),
            "{file}: blamed {}",
            cex.op_text
        );
        assert!(
            !cex.tried_states.is_empty(),
            "{file}: the states tried are listed"
        );
    }
}
