//! A grow-only set, checked for linearizability: `add e` inserts `e`;
//! `read` (or `read_set`) must return exactly the elements added so far,
//! in any order. (The weaker, eventual `set-full` check is in `crate::set`.)
//!
//! A state is an interned sorted list of element ids; adds are memoised.

use super::{Input, Interner, Spec, Transitions};
use crate::history::InputError;
use crate::value::Value;

#[derive(Clone, Copy, Debug)]
enum SetOp {
    Add(u32),
    /// Legal when the state is exactly this set.
    Read(u32),
}

/// A compiled set partition.
pub(crate) struct SetSpec {
    ops: Vec<SetOp>,
    elements: Interner<Value>,
    sets: Interner<Vec<u32>>,
    transitions: Transitions,
    /// Element ids held by all interned sets together.
    set_elements: usize,
}

pub(crate) fn compile(input: &Input<'_>) -> Result<(SetSpec, Vec<usize>), InputError> {
    let mut elements = Interner::new();
    let mut sets = Interner::new();
    sets.id(&Vec::new());
    let mut ops = Vec::new();
    let mut kept = Vec::new();
    for &i in input.ops {
        let op = &input.history.ops[i];
        let compiled = match op.f.as_str() {
            "add" => SetOp::Add(elements.id(&op.value)),
            "read" | "read_set" if !op.outcome.is_definite() => continue,
            "read" | "read_set" => {
                let Some(items) = op.value.as_list() else {
                    return Err(input.error(i, "a set read needs a list value"));
                };
                let mut ids: Vec<u32> = items.iter().map(|e| elements.id(e)).collect();
                ids.sort_unstable();
                ids.dedup();
                SetOp::Read(sets.id(&ids))
            }
            other => {
                return Err(input.error(
                    i,
                    format!("unknown function {other:?} (expected add, read or read_set)"),
                ));
            }
        };
        ops.push(compiled);
        kept.push(i);
    }
    Ok((
        SetSpec {
            ops,
            elements,
            sets,
            transitions: Transitions::default(),
            set_elements: 0,
        },
        kept,
    ))
}

impl Spec for SetSpec {
    fn init(&self) -> u32 {
        0
    }

    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        match self.ops[op] {
            SetOp::Read(set) => (state == set).then_some(state),
            SetOp::Add(e) => {
                let (sets, held) = (&mut self.sets, &mut self.set_elements);
                self.transitions.get_or(state, op, || {
                    let mut ids = sets.get(state).clone();
                    if let Err(at) = ids.binary_search(&e) {
                        ids.insert(at, e);
                    }
                    let before = sets.len();
                    let id = sets.id(&ids);
                    if sets.len() > before {
                        *held += ids.len();
                    }
                    Some(id)
                })
            }
        }
    }

    fn read_only(&self, op: usize) -> bool {
        matches!(self.ops[op], SetOp::Read(_))
    }

    fn heap_bytes(&self) -> usize {
        // Each set is held twice (list and map key).
        self.transitions.heap_bytes() + self.sets.len() * 96 + self.set_elements * 8
    }

    fn show_state(&self, state: u32) -> String {
        let mut items: Vec<&Value> = self
            .sets
            .get(state)
            .iter()
            .map(|&e| self.elements.get(e))
            .collect();
        items.sort();
        let parts: Vec<String> = items.iter().map(|v| v.to_string()).collect();
        format!("#{{{}}}", parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, NilRead};
    use crate::{EventType, HistoryEvent};

    #[test]
    fn a_read_must_return_exactly_the_elements_added() {
        let evs = vec![
            HistoryEvent::client(0, 0, 0, EventType::Invoke, "add", Value::Int(1)),
            HistoryEvent::client(0, 0, 0, EventType::Ok, "add", Value::Int(1)),
            HistoryEvent::client(0, 0, 1, EventType::Invoke, "read", Value::Nil),
            HistoryEvent::client(
                0,
                0,
                1,
                EventType::Ok,
                "read",
                Value::List(vec![Value::Int(1)]),
            ),
        ];
        let h = History::from_events("t", &evs).unwrap();
        let idx = [0, 1];
        let input = Input {
            history: &h,
            ops: &idx,
            nil_read: NilRead::Absent,
        };
        let (mut s, _) = compile(&input).unwrap();
        assert_eq!(s.step(s.init(), 1), None);
        let one = s.step(s.init(), 0).unwrap();
        assert_eq!(s.step(one, 1), Some(one));
        assert_eq!(s.step(one, 0), Some(one), "adding twice changes nothing");
        assert_eq!(s.show_state(one), "#{1}");
    }
}
