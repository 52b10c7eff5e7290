//! Porcupine's key-value model (MIT 6.824 labs): one string per key, with
//! `get`, `put` and `append`. Histories are split by key before the search
//! (P-compositionality), so a partition holds one string.
//!
//! The state is a node of a trie of appends: a node is (parent node,
//! appended piece), and the root is the empty string, so `append` costs
//! O(1) instead of copying a string that grows with the history. Nodes are
//! hash-consed on a rolling hash and length (`H(s·t) = H(s)·B^|t| + H(t)`
//! mod 2^61-1), and a hash match is confirmed by comparing the strings, so
//! equal strings are always the same node, whatever sequence of `put`s and
//! `append`s built them. The search's memo therefore stays exact.
//!
//! `put v` goes to the node (root, v); `get` is legal when it returned the
//! string held (compared by length and hash, then exactly). A `get` that
//! returned `nil` is a wildcard under [`NilRead::Wildcard`], and reads the
//! empty string (an absent key) under [`NilRead::Absent`]. Integers and
//! keywords are read as their text.

use super::{FxMap, Input, Interner, Spec};
use crate::history::{InputError, NilRead};
use crate::value::Value;

#[derive(Clone, Copy, Debug)]
enum KvOp {
    /// Legal when the state is this piece's string.
    Get(u32),
    GetAny,
    /// Sets the state to this piece.
    Put(u32),
    /// Appends this piece.
    Append(u32),
}

const MODULUS: u64 = (1 << 61) - 1;
const BASE: u64 = 0x1F3D_5B79_A2C4_E607 % MODULUS;
const NONE: u32 = u32::MAX;

fn mul_mod(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    let folded = (p as u64 & MODULUS) + (p >> 61) as u64;
    if folded >= MODULUS {
        folded - MODULUS
    } else {
        folded
    }
}

fn add_mod(a: u64, b: u64) -> u64 {
    let s = a + b;
    if s >= MODULUS {
        s - MODULUS
    } else {
        s
    }
}

/// A compile-time string: the text, its hash and `BASE^len`.
struct Piece {
    text: String,
    hash: u64,
    power: u64,
}

impl Piece {
    fn new(text: String) -> Piece {
        let (mut hash, mut power) = (0, 1);
        for b in text.bytes() {
            hash = add_mod(mul_mod(hash, BASE), u64::from(b) + 1);
            power = mul_mod(power, BASE);
        }
        Piece { text, hash, power }
    }
}

/// A state: the string of `parent` followed by `piece`.
#[derive(Clone, Copy)]
struct Node {
    parent: u32,
    piece: u32,
    len: u64,
    hash: u64,
    /// The next node with the same (hash, len), if any.
    same_key: u32,
}

/// A compiled partition (one key) of the kv model.
pub(crate) struct KvSpec {
    ops: Vec<KvOp>,
    pieces: Vec<Piece>,
    nodes: Vec<Node>,
    /// (hash, len) -> first node with that key; the others with the same
    /// key follow through `Node::same_key`.
    index: FxMap<(u64, u64), u32>,
    /// Edges (parent, piece) whose string equals a node built along another
    /// edge, resolved once by comparing strings.
    aliases: FxMap<(u32, u32), u32>,
    /// Exact answers for `get`s whose hash and length matched: (state, op).
    confirmed: FxMap<(u32, u32), bool>,
    init: u32,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) | Value::Keyword(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(crate) fn compile(
    input: &Input<'_>,
    initial: &Value,
) -> Result<(KvSpec, Vec<usize>), InputError> {
    let initial = match initial {
        Value::Nil => String::new(),
        other => text(other).ok_or_else(|| {
            InputError::new(
                &input.history.source,
                0,
                format!("kv initial value {other} is not a string"),
            )
        })?,
    };
    let mut names = Interner::new();
    let initial_piece = names.id(&initial);
    let mut ops = Vec::with_capacity(input.ops.len());
    let mut kept = Vec::with_capacity(input.ops.len());
    for &i in input.ops {
        let op = &input.history.ops[i];
        let need_text = |what: &str| match text(&op.value) {
            Some(s) => Ok(s),
            None => Err(input.error(i, format!("{what} needs a string value"))),
        };
        let compiled = match op.f.as_str() {
            "get" | "read" if !op.outcome.is_definite() => continue,
            "get" | "read" if op.value.is_nil() => match input.nil_read {
                NilRead::Wildcard => KvOp::GetAny,
                NilRead::Absent => KvOp::Get(names.id(&String::new())),
            },
            "get" | "read" => KvOp::Get(names.id(&need_text("get")?)),
            "put" | "write" => KvOp::Put(names.id(&need_text("put")?)),
            "append" => KvOp::Append(names.id(&need_text("append")?)),
            other => {
                return Err(input.error(
                    i,
                    format!("unknown function {other:?} (expected get, put or append)"),
                ));
            }
        };
        ops.push(compiled);
        kept.push(i);
    }
    let mut spec = KvSpec {
        ops,
        pieces: names.items.into_iter().map(Piece::new).collect(),
        nodes: vec![Node {
            parent: NONE,
            piece: NONE,
            len: 0,
            hash: 0,
            same_key: NONE,
        }],
        index: FxMap::default(),
        aliases: FxMap::default(),
        confirmed: FxMap::default(),
        init: 0,
    };
    spec.index.insert((0, 0), 0);
    spec.init = spec.node(0, initial_piece);
    Ok((spec, kept))
}

impl KvSpec {
    /// The string of a node.
    fn string(&self, mut node: u32) -> String {
        let mut parts = Vec::new();
        while node != NONE && self.nodes[node as usize].piece != NONE {
            let n = self.nodes[node as usize];
            parts.push(n.piece);
            node = n.parent;
        }
        let mut out = String::new();
        for &p in parts.iter().rev() {
            out.push_str(&self.pieces[p as usize].text);
        }
        out
    }

    /// The node for `string(parent) + piece`, created if new.
    ///
    /// One hash lookup: the candidates with the same (hash, length) are
    /// checked first by their edge (the same parent and piece is the same
    /// string, the usual case when a transition is computed again), and
    /// only then by comparing strings.
    fn node(&mut self, parent: u32, piece: u32) -> u32 {
        let (p, pc) = (self.nodes[parent as usize], &self.pieces[piece as usize]);
        let len = p.len + pc.text.len() as u64;
        let hash = add_mod(mul_mod(p.hash, pc.power), pc.hash);
        let first = self.index.get(&(hash, len)).copied().unwrap_or(NONE);
        let mut candidate = first;
        while candidate != NONE {
            let c = self.nodes[candidate as usize];
            if c.parent == parent && c.piece == piece {
                return candidate;
            }
            candidate = c.same_key;
        }
        if first != NONE {
            if let Some(&alias) = self.aliases.get(&(parent, piece)) {
                return alias;
            }
            let mut wanted = self.string(parent);
            wanted.push_str(&self.pieces[piece as usize].text);
            let mut candidate = first;
            while candidate != NONE {
                if self.string(candidate) == wanted {
                    self.aliases.insert((parent, piece), candidate);
                    return candidate;
                }
                candidate = self.nodes[candidate as usize].same_key;
            }
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(Node {
            parent,
            piece,
            len,
            hash,
            same_key: first,
        });
        self.index.insert((hash, len), id);
        id
    }

    /// Bytes held by the states built so far.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.len() * (std::mem::size_of::<Node>() + 24)
            + (self.aliases.len() + self.confirmed.len()) * 24
    }
}

impl Spec for KvSpec {
    fn init(&self) -> u32 {
        self.init
    }

    #[inline]
    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        match self.ops[op] {
            KvOp::GetAny => Some(state),
            KvOp::Get(piece) => {
                let (n, pc) = (self.nodes[state as usize], &self.pieces[piece as usize]);
                if n.len != pc.text.len() as u64 || n.hash != pc.hash {
                    return None;
                }
                let key = (state, op as u32);
                if let Some(&ok) = self.confirmed.get(&key) {
                    return ok.then_some(state);
                }
                let ok = self.string(state) == self.pieces[piece as usize].text;
                self.confirmed.insert(key, ok);
                ok.then_some(state)
            }
            KvOp::Put(piece) => Some(self.node(0, piece)),
            KvOp::Append(piece) => Some(self.node(state, piece)),
        }
    }

    fn read_only(&self, op: usize) -> bool {
        matches!(self.ops[op], KvOp::Get(_) | KvOp::GetAny)
    }

    fn show_state(&self, state: u32) -> String {
        Value::Str(self.string(state)).to_string()
    }

    fn heap_bytes(&self) -> usize {
        KvSpec::heap_bytes(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::{EventType, HistoryEvent};

    fn spec(ops: &[(&str, Value)]) -> KvSpec {
        let mut evs = Vec::new();
        for (p, (f, v)) in ops.iter().enumerate() {
            evs.push(HistoryEvent::client(
                0,
                0,
                p as u64,
                EventType::Invoke,
                f,
                v.clone(),
            ));
            evs.push(HistoryEvent::client(
                0,
                0,
                p as u64,
                EventType::Ok,
                f,
                v.clone(),
            ));
        }
        let h = History::from_events("t", &evs).unwrap();
        let idx: Vec<usize> = (0..h.ops.len()).collect();
        let input = Input {
            history: &h,
            ops: &idx,
            nil_read: NilRead::Absent,
        };
        compile(&input, &Value::Str(String::new())).unwrap().0
    }

    #[test]
    fn append_concatenates_and_get_must_see_the_whole_string() {
        let mut s = spec(&[
            ("append", Value::Str("x 0 0 y".into())),
            ("append", Value::Str("x 1 0 y".into())),
            ("get", Value::Str("x 0 0 yx 1 0 y".into())),
        ]);
        let a = s.step(s.init(), 0).unwrap();
        let ab = s.step(a, 1).unwrap();
        assert_eq!(s.step(ab, 2), Some(ab));
        assert_eq!(s.step(a, 2), None);
        // The same string is the same state, however it was built.
        assert_eq!(s.step(s.init(), 0), Some(a));
        let direct = s.node(0, 3);
        assert_eq!(direct, ab, "put of the whole string is the appended state");
        assert_eq!(s.show_state(ab), "\"x 0 0 yx 1 0 y\"");
    }

    #[test]
    fn put_replaces_and_nil_get_reads_the_empty_string_when_absent() {
        let mut s = spec(&[("put", Value::Str("v".into())), ("get", Value::Nil)]);
        assert_eq!(s.step(s.init(), 1), Some(s.init()));
        let v = s.step(s.init(), 0).unwrap();
        assert_eq!(s.step(v, 1), None);
        assert!(s.read_only(1) && !s.read_only(0));
    }
}
