//! The checker against brute force: on small random histories (at most 8
//! operations, 4 processes, with `fail`, `info` and never-completed
//! operations, one or two keys), `check_linearizable` must agree with a
//! direct reading of the definition.
//!
//! The reference tries every order of every subset of the indeterminate
//! operations: it places, one at a time, any operation that no remaining
//! `ok` operation finished before, and succeeds once every `ok` operation is
//! placed. No memo, no read-first rule, no partitioning by key (the state
//! is the product of all keys' states): everything the checker does to go
//! fast is checked by this test.

use proptest::prelude::*;
use synod_check::{
    check_linearizable, EventType, History, HistoryEvent, Model, NilRead, Op, Options, Outcome,
    Value, Verdict,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    CasRegister,
    Mutex,
}

/// The reference sequential spec: `None` if `op` is illegal in `state`.
fn step(kind: Kind, nil: NilRead, state: &Value, op: &Op) -> Option<Value> {
    match (kind, op.f.as_str()) {
        (Kind::CasRegister, "read") => {
            let wildcard = op.value.is_nil() && nil == NilRead::Wildcard;
            (op.outcome != Outcome::Ok || wildcard || &op.value == state).then(|| state.clone())
        }
        (Kind::CasRegister, "write") => Some(op.value.clone()),
        (Kind::CasRegister, "cas") => match op.value.as_list() {
            Some([from, to]) if from == state => Some(to.clone()),
            _ => None,
        },
        (Kind::Mutex, "acquire") => (state == &Value::Bool(false)).then_some(Value::Bool(true)),
        (Kind::Mutex, "release") => (state == &Value::Bool(true)).then_some(Value::Bool(false)),
        _ => None,
    }
}

fn key_index(op: &Op) -> usize {
    usize::from(op.key.as_deref() == Some("b"))
}

/// Depth-first search over all linearizations (see the module docs).
fn brute_force(kind: Kind, nil: NilRead, initial: &Value, ops: &[&Op]) -> bool {
    fn go(
        kind: Kind,
        nil: NilRead,
        ops: &[&Op],
        placed: &mut Vec<bool>,
        states: &mut [Value; 2],
    ) -> bool {
        let pending_ok: Vec<usize> = (0..ops.len())
            .filter(|&i| !placed[i] && ops[i].outcome == Outcome::Ok)
            .collect();
        if pending_ok.is_empty() {
            return true;
        }
        for i in 0..ops.len() {
            if placed[i] {
                continue;
            }
            let blocked = pending_ok
                .iter()
                .any(|&j| ops[j].complete.is_some_and(|c| c.pos < ops[i].invoke.pos));
            if blocked {
                continue;
            }
            let k = key_index(ops[i]);
            let Some(next) = step(kind, nil, &states[k], ops[i]) else {
                continue;
            };
            let before = std::mem::replace(&mut states[k], next);
            placed[i] = true;
            if go(kind, nil, ops, placed, states) {
                return true;
            }
            placed[i] = false;
            states[k] = before;
        }
        false
    }
    let ops: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| op.outcome != Outcome::Fail)
        .collect();
    let mut placed = vec![false; ops.len()];
    let mut states = [initial.clone(), initial.clone()];
    go(kind, nil, &ops, &mut placed, &mut states)
}

/// Builds a history from random choices: each choice picks a process; an
/// idle process invokes a new operation, a busy one completes its
/// operation as ok, fail or info.
fn history(kind: Kind, choices: &[(u8, u8, u8, u8)], keyed: bool) -> History {
    let mut open: [Option<HistoryEvent>; 4] = Default::default();
    let mut events = Vec::new();
    let mut invoked = 0;
    for (i, &(p, what, a, b)) in choices.iter().enumerate() {
        let p = usize::from(p % 4);
        let value = |v: u8| {
            if v % 5 == 4 {
                Value::Nil
            } else {
                Value::Int(i64::from(v % 5))
            }
        };
        match open[p].take() {
            None if invoked < 8 => {
                invoked += 1;
                let (f, v) = match (kind, what % 3) {
                    (Kind::CasRegister, 0) => ("read", Value::Nil),
                    (Kind::CasRegister, 1) => ("write", Value::Int(i64::from(a % 3))),
                    (Kind::CasRegister, _) => (
                        "cas",
                        Value::List(vec![
                            Value::Int(i64::from(a % 3)),
                            Value::Int(i64::from(b % 3)),
                        ]),
                    ),
                    (Kind::Mutex, 0 | 1) => ("acquire", Value::Nil),
                    (Kind::Mutex, _) => ("release", Value::Nil),
                };
                let mut e =
                    HistoryEvent::client(i as u64, i as u64, p as u64, EventType::Invoke, f, v);
                if keyed {
                    e.key = Some(if b % 2 == 0 { "a" } else { "b" }.to_owned());
                }
                events.push(e.clone());
                open[p] = Some(e);
            }
            None => {}
            Some(inv) => {
                let kind = match what % 6 {
                    0 => EventType::Fail,
                    1 => EventType::Info,
                    _ => EventType::Ok,
                };
                let mut done = inv.clone();
                done.index = i as u64;
                done.kind = kind;
                if kind == EventType::Ok && inv.f == "read" {
                    done.value = value(a);
                }
                events.push(done);
            }
        }
    }
    History::from_events("random", &events).expect("generated histories are well formed")
}

fn agree(
    kind: Kind,
    choices: &[(u8, u8, u8, u8)],
    keyed: bool,
    nil: NilRead,
    threads: usize,
) -> Result<(), TestCaseError> {
    let h = history(kind, choices, keyed);
    let (model, initial) = match kind {
        Kind::CasRegister => (
            Model::CasRegister {
                initial: Value::Int(0),
            },
            Value::Int(0),
        ),
        Kind::Mutex => (Model::Mutex, Value::Bool(false)),
    };
    let options = Options {
        threads,
        nil_read: Some(nil),
        check_all_keys: threads == 2,
        ..Options::default()
    };
    let result = check_linearizable(&h, &model, &options).expect("check");
    let ops: Vec<&Op> = h.ops.iter().collect();
    let expected = brute_force(kind, nil, &initial, &ops);
    prop_assert_eq!(
        result.valid == Verdict::True,
        expected,
        "history: {:#?}",
        h.ops
    );
    prop_assert_ne!(result.valid, Verdict::Unknown);
    if let Some(cex) = &result.counterexample {
        prop_assert_eq!(
            h.ops[cex.op].outcome,
            Outcome::Ok,
            "only an ok op can block the search"
        );
        prop_assert!(!cex.tried_states.is_empty());
    }
    Ok(())
}

fn choices() -> impl Strategy<Value = Vec<(u8, u8, u8, u8)>> {
    prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn cas_register_agrees_with_brute_force(c in choices()) {
        agree(Kind::CasRegister, &c, false, NilRead::Absent, 1)?;
    }

    #[test]
    fn cas_register_with_wildcard_nil_reads_agrees_with_brute_force(c in choices()) {
        agree(Kind::CasRegister, &c, false, NilRead::Wildcard, 1)?;
    }

    #[test]
    fn keyed_cas_register_agrees_with_brute_force_over_the_product(c in choices(), threads in 1usize..3) {
        agree(Kind::CasRegister, &c, true, NilRead::Absent, threads)?;
    }

    #[test]
    fn mutex_agrees_with_brute_force(c in choices(), keyed in any::<bool>()) {
        agree(Kind::Mutex, &c, keyed, NilRead::Absent, 1)?;
    }
}
