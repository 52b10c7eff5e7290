//! Knossos's multi-register: every operation is a `txn`, a list of
//! micro-operations `[:read k v]` and `[:write k v]` applied atomically and
//! in order to a map of registers.
//!
//! The registers are the keys named anywhere in the partition, each
//! starting at the initial value (`--initial 0` sets them all to 0). A
//! state is an interned vector of value ids, one per register; transitions
//! are memoised. A micro-read is legal when the register holds `v`; a `nil`
//! read is a wildcard under [`NilRead::Wildcard`], and every read of an
//! indeterminate transaction is a wildcard (its results are unknown). An
//! indeterminate transaction with no write is dropped.

use super::{Input, Interner, Spec, Transitions};
use crate::history::{InputError, NilRead};
use crate::value::Value;

#[derive(Clone, Copy, Debug)]
enum Micro {
    Read(usize, u32),
    ReadAny,
    Write(usize, u32),
}

/// A compiled multi-register partition.
pub(crate) struct MultiSpec {
    txns: Vec<Vec<Micro>>,
    registers: Vec<Value>,
    values: Interner<Value>,
    states: Interner<Vec<u32>>,
    transitions: Transitions,
    init: u32,
}

pub(crate) fn compile(
    input: &Input<'_>,
    initial: &Value,
) -> Result<(MultiSpec, Vec<usize>), InputError> {
    let mut values = Interner::new();
    let mut registers = Interner::new();
    let initial_id = values.id(initial);
    let mut txns = Vec::new();
    let mut kept = Vec::new();
    for &i in input.ops {
        let op = &input.history.ops[i];
        if op.f != "txn" {
            return Err(input.error(i, format!("unknown function {:?} (expected txn)", op.f)));
        }
        let Some(micros) = op.value.as_list() else {
            return Err(input.error(i, "txn needs a list of [f k v] micro-operations"));
        };
        let known = op.outcome.is_definite();
        let mut txn = Vec::with_capacity(micros.len());
        for micro in micros {
            let Some([f, k, v]) = micro.as_list() else {
                return Err(input.error(i, format!("micro-operation {micro} is not [f k v]")));
            };
            let reg = registers.id(k) as usize;
            let name = match f {
                Value::Keyword(s) | Value::Str(s) => s.as_str(),
                _ => "",
            };
            txn.push(match name {
                "read" if !known || (v.is_nil() && input.nil_read == NilRead::Wildcard) => {
                    Micro::ReadAny
                }
                "read" => Micro::Read(reg, values.id(v)),
                "write" => Micro::Write(reg, values.id(v)),
                _ => {
                    return Err(input.error(
                        i,
                        format!("micro-operation {micro}: expected :read or :write"),
                    ))
                }
            });
        }
        if !known
            && txn
                .iter()
                .all(|m| matches!(m, Micro::ReadAny | Micro::Read(..)))
        {
            continue;
        }
        txns.push(txn);
        kept.push(i);
    }
    let register_count = registers.items.len();
    let registers: Vec<Value> = registers.items;
    let mut states = Interner::new();
    let init = states.id(&vec![initial_id; register_count]);
    Ok((
        MultiSpec {
            txns,
            registers,
            values,
            states,
            transitions: Transitions::default(),
            init,
        },
        kept,
    ))
}

impl Spec for MultiSpec {
    fn init(&self) -> u32 {
        self.init
    }

    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        let (txns, states) = (&self.txns, &mut self.states);
        self.transitions.get_or(state, op, || {
            let mut regs = states.get(state).clone();
            for micro in &txns[op] {
                match *micro {
                    Micro::ReadAny => {}
                    Micro::Read(r, v) if regs[r] == v => {}
                    Micro::Read(..) => return None,
                    Micro::Write(r, v) => regs[r] = v,
                }
            }
            Some(states.id(&regs))
        })
    }

    fn read_only(&self, op: usize) -> bool {
        self.txns[op].iter().all(|m| !matches!(m, Micro::Write(..)))
    }

    fn heap_bytes(&self) -> usize {
        self.transitions.heap_bytes() + self.states.len() * (2 * self.registers.len() * 4 + 64)
    }

    fn show_state(&self, state: u32) -> String {
        let regs = self.states.get(state);
        let parts: Vec<String> = self
            .registers
            .iter()
            .zip(regs)
            .map(|(k, v)| format!("{k} {}", self.values.get(*v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::{EventType, HistoryEvent};

    fn kw(s: &str) -> Value {
        Value::Keyword(s.into())
    }

    fn micro(f: &str, k: &str, v: Value) -> Value {
        Value::List(vec![kw(f), kw(k), v])
    }

    fn spec(txns: &[Vec<Value>]) -> MultiSpec {
        let mut evs = Vec::new();
        for (p, t) in txns.iter().enumerate() {
            let v = Value::List(t.clone());
            evs.push(HistoryEvent::client(
                0,
                0,
                p as u64,
                EventType::Invoke,
                "txn",
                v.clone(),
            ));
            evs.push(HistoryEvent::client(
                0,
                0,
                p as u64,
                EventType::Ok,
                "txn",
                v,
            ));
        }
        let h = History::from_events("t", &evs).unwrap();
        let idx: Vec<usize> = (0..h.ops.len()).collect();
        let input = Input {
            history: &h,
            ops: &idx,
            nil_read: NilRead::Wildcard,
        };
        compile(&input, &Value::Int(0)).unwrap().0
    }

    #[test]
    fn a_txn_applies_its_micro_operations_in_order_and_atomically() {
        let mut s = spec(&[
            vec![
                micro("write", "x", Value::Int(1)),
                micro("read", "x", Value::Int(1)),
            ],
            vec![
                micro("read", "x", Value::Int(0)),
                micro("read", "y", Value::Int(0)),
            ],
        ]);
        let after = s.step(s.init(), 0).unwrap();
        assert_eq!(s.show_state(after), "{:x 1, :y 0}");
        assert_eq!(s.step(after, 1), None);
        assert_eq!(s.step(s.init(), 1), Some(s.init()));
        assert!(s.read_only(1) && !s.read_only(0));
    }

    #[test]
    fn a_failed_micro_read_rejects_the_whole_txn() {
        let mut s = spec(&[vec![
            micro("write", "y", Value::Int(5)),
            micro("read", "x", Value::Int(9)),
        ]]);
        assert_eq!(s.step(s.init(), 0), None);
    }
}
