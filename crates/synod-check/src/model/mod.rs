//! Sequential specifications: what each operation does to the state of the
//! object under test, and which results it may return.
//!
//! A [`Model`] names a specification. Before a search, the model *compiles*
//! the operations of one partition into a [`Spec`]: it validates every
//! operation (an `f` the model does not know is an [`InputError`] with the
//! file and line), interns values and states into small integers, and drops
//! operations that cannot matter (an indeterminate read returns nothing to
//! check and changes nothing). The search then only ever sees `u32` states
//! and operation indices:
//!
//! - `step(state, op)` is the next state if `op` is legal in `state`, else
//!   `None`;
//! - `read_only(op)` promises that whenever `op` is legal it leaves the
//!   state unchanged, which lets the search place it without branching.
//!
//! Models whose states are built at run time (strings for `kv`, register
//! maps for `multi-register`, sets) intern every new state and memoise
//! transitions, so equal states are equal integers and the memo of the
//! search stays exact.

mod kv;
mod multi;
mod mutex;
mod register;
mod set;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::str::FromStr;

use crate::history::{History, InputError, NilRead};
use crate::value::Value;
use crate::wgl::cache::MemoryBudget;
use crate::wgl::{Problem, Resumable, Search};

/// A sequential specification to check a history against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Model {
    /// A register: `read` and `write`. Initially `initial` (default `nil`).
    Register {
        /// The value before any write.
        initial: Value,
    },
    /// A compare-and-set register: `read`, `write` and `cas [from to]`
    /// (legal only when the register holds `from`).
    CasRegister {
        /// The value before any write.
        initial: Value,
    },
    /// Porcupine's 6.824 key-value model, one string per key: `get`, `put`
    /// and `append` (concatenation). Initially `""`.
    Kv {
        /// The value of every key before any write (default `""`).
        initial: Value,
    },
    /// Knossos's multi-register: `txn` of `[:read k v]` and `[:write k v]`
    /// micro-operations, applied atomically, in order.
    MultiRegister {
        /// The value of every register before any write.
        initial: Value,
    },
    /// A mutex: `acquire` (legal when free) and `release` (legal when held).
    Mutex,
    /// A grow-only set: `add` an element; `read` (or `read_set`) returns
    /// exactly the elements added so far.
    Set,
}

impl Model {
    /// The model names, as on the command line.
    pub const NAMES: [&'static str; 6] = [
        "register",
        "cas-register",
        "kv",
        "multi-register",
        "mutex",
        "set",
    ];

    /// Builds a model from its name and an optional initial value.
    pub fn from_name(name: &str, initial: Option<Value>) -> Result<Model, String> {
        let with = |default: Value| initial.clone().unwrap_or(default);
        let model = match name {
            "register" => Model::Register {
                initial: with(Value::Nil),
            },
            "cas-register" => Model::CasRegister {
                initial: with(Value::Nil),
            },
            "kv" => Model::Kv {
                initial: with(Value::Str(String::new())),
            },
            "multi-register" => Model::MultiRegister {
                initial: with(Value::Nil),
            },
            "mutex" | "set" if initial.is_some() => {
                return Err(format!("model {name} takes no initial value"));
            }
            "mutex" => Model::Mutex,
            "set" => Model::Set,
            other => {
                return Err(format!(
                    "unknown model {other:?} (expected one of {})",
                    Model::NAMES.join(", ")
                ))
            }
        };
        Ok(model)
    }

    /// The model's name.
    pub fn name(&self) -> &'static str {
        match self {
            Model::Register { .. } => "register",
            Model::CasRegister { .. } => "cas-register",
            Model::Kv { .. } => "kv",
            Model::MultiRegister { .. } => "multi-register",
            Model::Mutex => "mutex",
            Model::Set => "set",
        }
    }

    /// The initial value, for models that have one.
    pub fn initial(&self) -> Option<&Value> {
        match self {
            Model::Register { initial }
            | Model::CasRegister { initial }
            | Model::Kv { initial }
            | Model::MultiRegister { initial } => Some(initial),
            Model::Mutex | Model::Set => None,
        }
    }
}

impl fmt::Display for Model {
    /// `name` or `name(initial)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.initial() {
            Some(initial) => write!(f, "{}({})", self.name(), initial),
            None => f.write_str(self.name()),
        }
    }
}

impl FromStr for Model {
    type Err = String;

    /// Parses `name` or `name(initial)`, e.g. `cas-register(0)`.
    fn from_str(s: &str) -> Result<Model, String> {
        match s.split_once('(') {
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix(')')
                    .ok_or_else(|| format!("model {s:?}: missing ')'"))?;
                Model::from_name(name, Some(Value::parse_cli(inner)?))
            }
            None => Model::from_name(s, None),
        }
    }
}

/// A compiled specification for one partition (see the module docs).
pub(crate) trait Spec {
    /// The initial state.
    fn init(&self) -> u32;
    /// The state after `op` in `state`, or `None` if `op` is illegal there.
    fn step(&mut self, state: u32, op: usize) -> Option<u32>;
    /// `op` never changes the state when it is legal.
    fn read_only(&self, op: usize) -> bool;
    /// The state, for people (EDN syntax).
    fn show_state(&self, state: u32) -> String;
    /// Bytes of memory the spec has grown to (interned states, memoised
    /// transitions), charged to the search's memory budget.
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// A compiled partition: the spec, and for each of its operations the index
/// of the operation in the [`History`].
pub(crate) struct Compiled {
    pub spec: AnySpec,
    pub ops: Vec<usize>,
}

/// The compiled spec of any model (static dispatch into the search).
pub(crate) enum AnySpec {
    Register(register::RegisterSpec),
    Kv(kv::KvSpec),
    Multi(multi::MultiSpec),
    Mutex(mutex::MutexSpec),
    Set(set::SetSpec),
}

impl AnySpec {
    /// Prepares the search of `problem` with this spec.
    pub(crate) fn into_search<'b>(
        self,
        problem: &Problem,
        budget: &'b MemoryBudget,
    ) -> Box<dyn Resumable + 'b> {
        match self {
            AnySpec::Register(s) => Box::new(Search::new(s, problem, budget)),
            AnySpec::Kv(s) => Box::new(Search::new(s, problem, budget)),
            AnySpec::Multi(s) => Box::new(Search::new(s, problem, budget)),
            AnySpec::Mutex(s) => Box::new(Search::new(s, problem, budget)),
            AnySpec::Set(s) => Box::new(Search::new(s, problem, budget)),
        }
    }
}

/// What every model's compiler gets: the operations of one partition (by
/// index in the history, failed operations already removed).
pub(crate) struct Input<'h> {
    pub history: &'h History,
    pub ops: &'h [usize],
    pub nil_read: NilRead,
}

impl Input<'_> {
    pub(crate) fn error(&self, op: usize, message: impl Into<String>) -> InputError {
        let o = &self.history.ops[op];
        InputError::new(
            &self.history.source,
            o.invoke.line,
            format!("{}: {}", o.describe(), message.into()),
        )
    }
}

/// Compiles one partition for `model`.
pub(crate) fn compile(model: &Model, input: &Input<'_>) -> Result<Compiled, InputError> {
    let (spec, ops) = match model {
        Model::Register { initial } => {
            let (s, ops) = register::compile(input, initial, false)?;
            (AnySpec::Register(s), ops)
        }
        Model::CasRegister { initial } => {
            let (s, ops) = register::compile(input, initial, true)?;
            (AnySpec::Register(s), ops)
        }
        Model::Kv { initial } => {
            let (s, ops) = kv::compile(input, initial)?;
            (AnySpec::Kv(s), ops)
        }
        Model::MultiRegister { initial } => {
            let (s, ops) = multi::compile(input, initial)?;
            (AnySpec::Multi(s), ops)
        }
        Model::Mutex => {
            let (s, ops) = mutex::compile(input)?;
            (AnySpec::Mutex(s), ops)
        }
        Model::Set => {
            let (s, ops) = set::compile(input)?;
            (AnySpec::Set(s), ops)
        }
    };
    Ok(Compiled { spec, ops })
}

/// A fast, non-cryptographic hasher (the multiply-rotate scheme used by
/// rustc's FxHash), for the memo tables of the models. Keys are our own
/// small integers and strings, not attacker-chosen in a way that matters:
/// a collision costs time, bounded by the search's deadline.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut word = [0u8; 8];
        let rest = chunks.remainder();
        word[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(word) ^ (rest.len() as u64) << 56);
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Gives each distinct value a dense `u32` id.
pub(crate) struct Interner<T> {
    ids: FxMap<T, u32>,
    items: Vec<T>,
}

impl<T: Hash + Eq + Clone> Interner<T> {
    pub(crate) fn new() -> Interner<T> {
        Interner {
            ids: FxMap::default(),
            items: Vec::new(),
        }
    }

    pub(crate) fn id(&mut self, item: &T) -> u32 {
        if let Some(&id) = self.ids.get(item) {
            return id;
        }
        let id = self.items.len() as u32;
        self.items.push(item.clone());
        self.ids.insert(item.clone(), id);
        id
    }

    pub(crate) fn get(&self, id: u32) -> &T {
        &self.items[id as usize]
    }

    /// Number of distinct items.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

/// Memoised transitions `(state, op) -> next state or illegal`.
#[derive(Default)]
pub(crate) struct Transitions {
    memo: FxMap<u64, u32>,
}

impl Transitions {
    const ILLEGAL: u32 = u32::MAX;

    /// Looks up `(state, op)`, computing and storing it on a miss.
    pub(crate) fn get_or(
        &mut self,
        state: u32,
        op: usize,
        f: impl FnOnce() -> Option<u32>,
    ) -> Option<u32> {
        let key = u64::from(state) << 32 | op as u64;
        let next = *self
            .memo
            .entry(key)
            .or_insert_with(|| f().unwrap_or(Self::ILLEGAL));
        (next != Self::ILLEGAL).then_some(next)
    }

    /// Approximate bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.memo.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_parse_with_and_without_initial_values() {
        assert_eq!(
            "cas-register(0)".parse::<Model>().unwrap(),
            Model::CasRegister {
                initial: Value::Int(0)
            }
        );
        assert_eq!(
            "register".parse::<Model>().unwrap(),
            Model::Register {
                initial: Value::Nil
            }
        );
        assert_eq!(
            "kv".parse::<Model>().unwrap(),
            Model::Kv {
                initial: Value::Str(String::new())
            }
        );
        assert!("mutex(0)".parse::<Model>().is_err());
        assert!("queue".parse::<Model>().is_err());
        for name in Model::NAMES {
            assert_eq!(name.parse::<Model>().unwrap().name(), name);
        }
    }

    #[test]
    fn interned_equal_values_get_equal_ids() {
        let mut i = Interner::new();
        let a = i.id(&Value::Int(1));
        let b = i.id(&Value::Str("1".into()));
        assert_ne!(a, b);
        assert_eq!(i.id(&Value::Int(1)), a);
        assert_eq!(i.get(b), &Value::Str("1".into()));
    }
}
