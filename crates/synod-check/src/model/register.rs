//! Registers: `read`, `write`, and (for `cas-register`) `cas [from to]`.
//!
//! The state is the id of the value held. A `read` is legal when it returned
//! the value held; a `nil` read is a wildcard under [`NilRead::Wildcard`]
//! (Knossos) and a read of the `nil` state under [`NilRead::Absent`]
//! (Porcupine's etcd model). A `cas` is legal only when the register holds
//! `from`, and then sets `to`; a cas that reported failure was removed
//! before the search (it did not take effect). An indeterminate read is
//! dropped: it returned nothing and changed nothing.

use super::{Input, Interner, Spec};
use crate::history::{InputError, NilRead};
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RegOp {
    Read(u32),
    ReadAny,
    Write(u32),
    Cas(u32, u32),
}

/// A compiled register partition.
pub(crate) struct RegisterSpec {
    ops: Vec<RegOp>,
    values: Interner<Value>,
    init: u32,
}

pub(crate) fn compile(
    input: &Input<'_>,
    initial: &Value,
    cas: bool,
) -> Result<(RegisterSpec, Vec<usize>), InputError> {
    let mut values = Interner::new();
    let init = values.id(initial);
    let mut ops = Vec::with_capacity(input.ops.len());
    let mut kept = Vec::with_capacity(input.ops.len());
    for &i in input.ops {
        let op = &input.history.ops[i];
        let known = op.outcome.is_definite();
        let compiled = match op.f.as_str() {
            "read" if !known => continue,
            "read" if op.value.is_nil() && input.nil_read == NilRead::Wildcard => RegOp::ReadAny,
            "read" => RegOp::Read(values.id(&op.value)),
            "write" => RegOp::Write(values.id(&op.value)),
            "cas" if cas => match op.value.as_list() {
                Some([from, to]) => RegOp::Cas(values.id(from), values.id(to)),
                _ => return Err(input.error(i, "cas needs a value [from to]")),
            },
            "cas" => return Err(input.error(i, "the register model has no cas; use cas-register")),
            other => {
                let known = if cas {
                    "read, write or cas"
                } else {
                    "read or write"
                };
                return Err(
                    input.error(i, format!("unknown function {other:?} (expected {known})"))
                );
            }
        };
        ops.push(compiled);
        kept.push(i);
    }
    Ok((RegisterSpec { ops, values, init }, kept))
}

impl Spec for RegisterSpec {
    fn init(&self) -> u32 {
        self.init
    }

    #[inline]
    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        match self.ops[op] {
            RegOp::Read(v) => (state == v).then_some(state),
            RegOp::ReadAny => Some(state),
            RegOp::Write(v) => Some(v),
            RegOp::Cas(from, to) => (state == from).then_some(to),
        }
    }

    fn read_only(&self, op: usize) -> bool {
        matches!(self.ops[op], RegOp::Read(_) | RegOp::ReadAny)
    }

    fn show_state(&self, state: u32) -> String {
        self.values.get(state).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::{EventType, HistoryEvent};

    fn history(events: &[(u64, EventType, &str, Value)]) -> History {
        let evs: Vec<HistoryEvent> = events
            .iter()
            .map(|(p, k, f, v)| HistoryEvent::client(0, 0, *p, *k, f, v.clone()))
            .collect();
        History::from_events("t", &evs).unwrap()
    }

    fn spec(
        h: &History,
        nil_read: NilRead,
        cas: bool,
    ) -> Result<(RegisterSpec, Vec<usize>), InputError> {
        let ops: Vec<usize> = (0..h.ops.len()).collect();
        compile(
            &Input {
                history: h,
                ops: &ops,
                nil_read,
            },
            &Value::Int(0),
            cas,
        )
    }

    #[test]
    fn read_is_legal_only_when_it_returns_the_value_held() {
        let h = history(&[
            (0, EventType::Invoke, "read", Value::Nil),
            (0, EventType::Ok, "read", Value::Int(3)),
        ]);
        let (mut s, _) = spec(&h, NilRead::Absent, true).unwrap();
        let three = s.values.id(&Value::Int(3));
        assert_eq!(s.step(s.init(), 0), None);
        assert_eq!(s.step(three, 0), Some(three));
        assert!(s.read_only(0));
    }

    #[test]
    fn nil_read_is_a_wildcard_for_knossos_and_a_value_for_porcupine_etcd() {
        let h = history(&[
            (0, EventType::Invoke, "read", Value::Nil),
            (0, EventType::Ok, "read", Value::Nil),
        ]);
        let (mut s, _) = spec(&h, NilRead::Wildcard, true).unwrap();
        assert_eq!(s.step(s.init(), 0), Some(s.init()));
        let (mut s, _) = spec(&h, NilRead::Absent, true).unwrap();
        assert_eq!(s.step(s.init(), 0), None, "initial 0 is not nil");
        let nil = s.values.id(&Value::Nil);
        assert_eq!(s.step(nil, 0), Some(nil));
    }

    #[test]
    fn cas_sets_to_only_when_the_register_holds_from() {
        let cas = Value::List(vec![Value::Int(0), Value::Int(5)]);
        let h = history(&[
            (0, EventType::Invoke, "cas", cas.clone()),
            (0, EventType::Ok, "cas", cas),
        ]);
        let (mut s, _) = spec(&h, NilRead::Absent, true).unwrap();
        let five = s.values.id(&Value::Int(5));
        assert_eq!(s.step(s.init(), 0), Some(five));
        assert_eq!(s.step(five, 0), None);
    }

    #[test]
    fn write_always_applies() {
        let h = history(&[(0, EventType::Invoke, "write", Value::Int(7))]);
        let (mut s, kept) = spec(&h, NilRead::Absent, false).unwrap();
        assert_eq!(kept, vec![0], "an open write may still take effect");
        let seven = s.step(s.init(), 0).unwrap();
        assert_eq!(s.show_state(seven), "7");
    }

    #[test]
    fn indeterminate_reads_are_dropped() {
        let h = history(&[
            (0, EventType::Invoke, "read", Value::Nil),
            (0, EventType::Info, "read", Value::Nil),
        ]);
        let (_, kept) = spec(&h, NilRead::Absent, true).unwrap();
        assert!(kept.is_empty());
    }

    #[test]
    fn plain_register_rejects_cas_and_unknown_functions_with_the_line() {
        let cas = Value::List(vec![Value::Int(0), Value::Int(5)]);
        let h = history(&[(0, EventType::Invoke, "cas", cas)]);
        let err = spec(&h, NilRead::Absent, false).err().unwrap();
        assert!(err.message.contains("use cas-register"));
        assert_eq!(err.line, 1);
        let h = history(&[(0, EventType::Invoke, "add", Value::Int(1))]);
        assert!(spec(&h, NilRead::Absent, true).is_err());
        let h = history(&[(0, EventType::Invoke, "cas", Value::Int(1))]);
        assert!(spec(&h, NilRead::Absent, true)
            .err()
            .unwrap()
            .message
            .contains("[from to]"));
    }
}
