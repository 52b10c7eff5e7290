//! The set-full check, one rule per test (see `synod_check::check_set`).

use synod_check::{check_set, EventType, History, HistoryEvent, Value, Verdict};

/// A small script: `add P V ok|fail|info`, `read P NODE [..] [final]`.
struct Script {
    events: Vec<HistoryEvent>,
}

impl Script {
    fn new() -> Script {
        Script { events: Vec::new() }
    }

    fn event(
        &mut self,
        process: u64,
        kind: EventType,
        f: &str,
        value: Value,
        node: Option<&str>,
    ) -> &mut HistoryEvent {
        let n = self.events.len() as u64;
        let mut e = HistoryEvent::client(n, n * 1_000, process, kind, f, value);
        e.node = node.map(str::to_owned);
        self.events.push(e);
        self.events.last_mut().unwrap()
    }

    fn add(&mut self, process: u64, element: i64, outcome: EventType) -> &mut Script {
        self.event(process, EventType::Invoke, "add", Value::Int(element), None);
        self.event(process, outcome, "add", Value::Int(element), None);
        self
    }

    fn read(
        &mut self,
        process: u64,
        node: &str,
        elements: &[i64],
        marked_final: bool,
    ) -> &mut Script {
        self.event(
            process,
            EventType::Invoke,
            "read_set",
            Value::Nil,
            Some(node),
        );
        let list = Value::List(elements.iter().map(|&e| Value::Int(e)).collect());
        self.event(process, EventType::Ok, "read_set", list, Some(node))
            .final_read = marked_final;
        self
    }

    fn history(&self) -> History {
        History::from_events("set", &self.events).unwrap()
    }
}

#[test]
fn acknowledged_adds_in_every_final_read_are_valid() {
    let h = Script::new()
        .add(0, 1, EventType::Ok)
        .add(0, 2, EventType::Ok)
        .read(1, "n1", &[1, 2], false)
        .read(2, "n2", &[2, 1], false)
        .history();
    let r = check_set(&h).unwrap();
    assert_eq!(r.valid, Verdict::True);
    assert_eq!((r.attempted, r.acknowledged, r.final_reads), (2, 2, 2));
}

#[test]
fn an_acknowledged_add_missing_from_a_later_final_read_is_lost() {
    let h = Script::new()
        .add(0, 1, EventType::Ok)
        .read(1, "n1", &[1], false)
        .read(2, "n2", &[], false)
        .history();
    let r = check_set(&h).unwrap();
    assert_eq!(r.valid, Verdict::False);
    assert_eq!(r.lost, vec![Value::Int(1)]);
}

#[test]
fn a_read_that_began_before_the_add_completed_does_not_judge_it() {
    let mut s = Script::new();
    s.event(1, EventType::Invoke, "read_set", Value::Nil, Some("n1"));
    s.add(0, 1, EventType::Ok);
    s.event(
        1,
        EventType::Ok,
        "read_set",
        Value::List(vec![]),
        Some("n1"),
    );
    let r = check_set(&s.history()).unwrap();
    assert!(r.lost.is_empty());
    assert_eq!(r.never_read, vec![Value::Int(1)]);
    assert_eq!(r.valid, Verdict::Unknown, "nothing could be judged");
}

#[test]
fn an_element_never_attempted_is_unexpected() {
    let h = Script::new()
        .add(0, 1, EventType::Ok)
        .read(1, "n1", &[1, 7], false)
        .history();
    let r = check_set(&h).unwrap();
    assert_eq!(r.valid, Verdict::False);
    assert_eq!(r.unexpected, vec![Value::Int(7)]);
}

#[test]
fn an_element_whose_add_failed_is_unexpected_when_read() {
    let h = Script::new()
        .add(0, 1, EventType::Fail)
        .add(0, 2, EventType::Ok)
        .read(1, "n1", &[1, 2], false)
        .history();
    let r = check_set(&h).unwrap();
    assert_eq!(r.unexpected, vec![Value::Int(1)]);
}

#[test]
fn an_indeterminate_add_may_be_present_or_absent() {
    let present = Script::new()
        .add(0, 1, EventType::Info)
        .add(1, 2, EventType::Ok)
        .read(2, "n1", &[1, 2], false)
        .history();
    assert_eq!(check_set(&present).unwrap().valid, Verdict::True);
    let absent = Script::new()
        .add(0, 1, EventType::Info)
        .add(1, 2, EventType::Ok)
        .read(2, "n1", &[2], false)
        .history();
    assert_eq!(check_set(&absent).unwrap().valid, Verdict::True);
}

#[test]
fn a_missing_then_present_element_is_stale_not_lost() {
    let h = Script::new()
        .add(0, 1, EventType::Ok)
        .read(1, "n2", &[], false)
        .read(1, "n2", &[1], false)
        .read(2, "n1", &[1], false)
        .history();
    let r = check_set(&h).unwrap();
    assert_eq!(r.valid, Verdict::True);
    assert_eq!(r.stale.len(), 1);
    assert_eq!(r.stale[0].element, Value::Int(1));
    // Add completed at t=1000 ns, the missing read completed at t=3000 ns.
    assert_eq!(r.stale[0].lag_ns, Some(2_000));
    assert_eq!(r.max_stale_lag_ns, Some(2_000));
}

#[test]
fn marked_final_reads_are_the_only_final_reads() {
    // The last read of n1 misses 1 but is not marked; the marked one has it.
    let h = Script::new()
        .add(0, 1, EventType::Ok)
        .read(1, "n1", &[1], true)
        .read(2, "n1", &[], false)
        .history();
    let r = check_set(&h).unwrap();
    assert_eq!(r.final_reads, 1);
    assert!(r.lost.is_empty());
}

#[test]
fn no_reads_at_all_is_unknown() {
    let h = Script::new().add(0, 1, EventType::Ok).history();
    assert_eq!(check_set(&h).unwrap().valid, Verdict::Unknown);
}

#[test]
fn other_functions_are_input_errors() {
    let mut s = Script::new();
    s.event(0, EventType::Invoke, "cas", Value::Nil, None);
    let err = check_set(&s.history()).unwrap_err();
    assert!(err.message.contains("unknown function"));
}
