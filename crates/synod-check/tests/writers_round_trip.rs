//! What the runner writes, the checker reads: `write_jsonl` and `write_edn`
//! output parses back (auto-detected) into the same operations.

use synod_check::{
    parse_str, write_edn, write_jsonl, EventType, Format, HistoryEvent, Process, Value,
};

fn events() -> Vec<HistoryEvent> {
    let mut e = vec![
        HistoryEvent::client(
            0,
            10,
            0,
            EventType::Invoke,
            "cas",
            Value::List(vec![Value::Int(1), Value::Int(2)]),
        ),
        HistoryEvent::client(1, 20, 1, EventType::Invoke, "read", Value::Nil),
        HistoryEvent::client(
            2,
            30,
            0,
            EventType::Info,
            "cas",
            Value::List(vec![Value::Int(1), Value::Int(2)]),
        ),
        HistoryEvent::client(
            3,
            40,
            1,
            EventType::Ok,
            "read",
            Value::Str("a \"quoted\"\nvalue".into()),
        ),
        HistoryEvent::client(4, 50, 2, EventType::Invoke, "read_set", Value::Nil),
        HistoryEvent::client(
            5,
            60,
            2,
            EventType::Ok,
            "read_set",
            Value::List(vec![Value::Int(-3), Value::Int(7)]),
        ),
    ];
    e[0].key = Some("k 1".into());
    e[2].key = Some("k 1".into());
    e[2].error = Some("timeout".into());
    e[5].node = Some("n3".into());
    e[5].final_read = true;
    let mut nemesis = HistoryEvent::client(
        6,
        70,
        0,
        EventType::Info,
        "partition",
        Value::Str("majority".into()),
    );
    nemesis.process = Process::Named("nemesis".into());
    e.push(nemesis);
    e
}

fn check_round_trip(text: &str, expected_format: Format) {
    assert_eq!(synod_check::detect_format(text), Some(expected_format));
    let parsed = parse_str(text, Format::Auto, "out").unwrap();
    let direct = synod_check::History::from_events("out", &events()).unwrap();
    assert_eq!(parsed.ops.len(), 3);
    assert_eq!(parsed.dropped_events, 1);
    for (a, b) in parsed.ops.iter().zip(&direct.ops) {
        assert_eq!(
            (&a.f, &a.key, &a.value, a.outcome, a.process),
            (&b.f, &b.key, &b.value, b.outcome, b.process)
        );
        assert_eq!(
            (&a.node, &a.error, a.final_read),
            (&b.node, &b.error, b.final_read)
        );
        assert_eq!(a.invoke.time, Some(b.invoke.time.unwrap()));
    }
}

#[test]
fn jsonl_written_by_the_runner_reads_back() {
    let mut out = Vec::new();
    write_jsonl(&events(), &mut out).unwrap();
    check_round_trip(&String::from_utf8(out).unwrap(), Format::Jsonl);
}

#[test]
fn edn_export_reads_back() {
    let mut out = Vec::new();
    write_edn(&events(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.lines().all(|l| l.starts_with("{:process ")));
    check_round_trip(&text, Format::Edn);
}
