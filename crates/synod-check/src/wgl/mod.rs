//! The linearizability search: Wing & Gong's algorithm as improved by Lowe
//! ("Testing for linearizability", 2017), for one partition of a history.
//!
//! # The search
//!
//! Every operation contributes a *call* entry at its invocation and, when it
//! is definite (`ok`), a *return* entry at its completion; the entries form
//! a doubly linked list in history order. An operation may be linearised
//! next exactly when its call comes before the first return entry still in
//! the list (no operation that finished before it started is still
//! pending). The search walks the list from the head:
//!
//! ```text
//! head -> call a -> call b -> ret a -> call c -> ret b -> ret c -> tail
//!         ^^^^^^    ^^^^^^    stop: a must be linearised before anything
//!         candidates          past this point
//! ```
//!
//! - At a call whose operation the model accepts in the current state, it
//!   *lifts* the operation (unlinks its call and return entries), pushes it
//!   on a stack, and starts again from the head in the new state.
//! - At a return entry, nothing further can be placed: it pops the last
//!   operation, *unlifts* it (relinks its entries: the list is restored
//!   exactly, as in Knuth's dancing links) and tries the next candidate.
//! - Success: every definite operation is linearised. Indeterminate
//!   operations (`info`, or never completed) have no return entry, so they
//!   never block and may stay unlinearised: "took effect after everything,
//!   or never".
//! - Failure: the stack is empty and the first return entry blocks.
//!
//! Lowe's memo: a configuration is the set of linearised operations and the
//! model state. Reaching a configuration a second time cannot succeed where
//! the first visit failed, so every configuration is entered once
//! ([`cache`]).
//!
//! # Read-only operations go first
//!
//! One reduction on top of Lowe's algorithm. Say a read-only operation `r`
//! (one that never changes the state when legal: a read, a `get`) is a
//! candidate and legal in the current state. If the history can be
//! linearised from here with `r` placed later, it can also be linearised
//! with `r` placed now: moving a state-preserving operation earlier leaves
//! every state along the order unchanged, and real-time order still holds
//! because `r` is a candidate (everything that finished before `r` started
//! is already placed). So such operations are lifted at once, with no
//! branch ([`Frame::forced`]), and read-only candidates the state rejects
//! are not tried. This prunes most of the search on read-heavy histories.
//! The differential tests check it against brute force.
//!
//! # Budget
//!
//! The search checks a deadline every few thousand steps and takes every
//! byte of its memo (and of the model's interned states) from a shared
//! budget. Either running out ends the search with `Unknown`, never with an
//! abort. A step limit instead pauses it ([`Outcome::OutOfSteps`]): the
//! list, stack and memo are kept, and the next call of `run` resumes, which
//! lets the caller interleave the searches of many keys.

pub(crate) mod cache;

use std::time::Instant;

use cache::{Cache, MemoryBudget};

use crate::model::Spec;

/// One partition's operations, in the form the search needs.
pub(crate) struct Problem {
    /// Position (history order) of each operation's invocation.
    pub calls: Vec<usize>,
    /// Position of each operation's completion, `None` if indeterminate.
    pub returns: Vec<Option<usize>>,
}

/// Limits on one call of [`Resumable::run`].
pub(crate) struct Limits {
    pub deadline: Option<Instant>,
    /// Steps after which the call returns [`Outcome::OutOfSteps`]; calling
    /// `run` again resumes where it stopped.
    pub max_steps: Option<u64>,
}

/// The deepest point the search reached, for the counterexample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frontier {
    /// The operation that could not be linearised: its return entry blocked
    /// the search at the furthest point reached.
    pub blocked_op: usize,
    /// The longest linearised sequence that reached that point, with the
    /// state after each operation.
    pub prefix: Vec<(usize, u32)>,
    /// The states in which `blocked_op` was tried there (at most
    /// [`MAX_TRIED_STATES`]).
    pub tried_states: Vec<u32>,
}

/// How many distinct states a counterexample lists.
pub(crate) const MAX_TRIED_STATES: usize = 16;

/// What a search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Linearizable,
    NotLinearizable(Frontier),
    Unknown(String),
    /// `Limits::max_steps` ran out first.
    OutOfSteps,
}

/// Search statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Configurations stored in the memo.
    pub configurations: usize,
    /// Peak bytes of the memo.
    pub cache_bytes: usize,
}

/// A stacked, linearised operation.
#[derive(Clone, Copy)]
struct Frame {
    op: u32,
    state_before: u32,
    /// Lifted by the read-only rule, not by a choice: backtracking undoes it
    /// without trying an alternative.
    forced: bool,
}

const NONE: u32 = u32::MAX;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A search in progress on one partition; see the module docs.
pub(crate) struct Search<'b, S: Spec> {
    spec: S,
    /// Linked list: node 0 is the head, `tail` the end sentinel.
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Per node: operation index << 1 | 1 if a return entry.
    node: Vec<u32>,
    tail: u32,
    call_node: Vec<u32>,
    ret_node: Vec<u32>,
    read_only: Vec<bool>,
    zobrist: Vec<u64>,
    bits: Vec<u64>,
    hash: u64,
    state: u32,
    stack: Vec<Frame>,
    placed_definite: usize,
    definite: usize,
    cache: Cache<'b>,
    best: Option<Frontier>,
    best_node: u32,
    /// Bytes of the spec's growth charged to the budget so far.
    spec_bytes: usize,
    budget: &'b MemoryBudget,
    /// Where the walk of the list resumes.
    entry: u32,
    started: bool,
    too_big: bool,
}

/// A search that can be run in slices of steps, whatever its model.
pub(crate) trait Resumable: Send {
    /// Runs until a verdict or a limit; after `OutOfSteps`, calling again
    /// resumes exactly where the search stopped.
    fn run(&mut self, limits: &Limits) -> Outcome;
    /// Statistics so far.
    fn stats(&self) -> Stats;
    /// A model state, for people.
    fn show_state(&self, state: u32) -> String;
}

impl<S: Spec + Send> Resumable for Search<'_, S> {
    fn run(&mut self, limits: &Limits) -> Outcome {
        if self.too_big {
            return Outcome::Unknown("too many operations in one partition".into());
        }
        Search::run(self, limits)
    }

    fn stats(&self) -> Stats {
        Stats {
            configurations: self.cache.len(),
            cache_bytes: self.cache.bytes(),
        }
    }

    fn show_state(&self, state: u32) -> String {
        self.spec.show_state(state)
    }
}

impl<S: Spec> Drop for Search<'_, S> {
    fn drop(&mut self) {
        self.budget.give_back(self.spec_bytes);
    }
}

impl<'b, S: Spec> Search<'b, S> {
    /// Prepares the search of `problem` (nothing runs until [`Resumable::run`]).
    pub(crate) fn new(spec: S, problem: &Problem, budget: &'b MemoryBudget) -> Search<'b, S> {
        let too_big = problem.calls.len() >= (NONE as usize) / 2;
        let n = if too_big { 0 } else { problem.calls.len() };
        // Entries sorted by position: (position, node payload).
        let mut entries: Vec<(usize, u32)> = Vec::with_capacity(2 * n);
        for (i, &c) in problem.calls.iter().enumerate().take(n) {
            entries.push((c, (i as u32) << 1));
            if let Some(r) = problem.returns[i] {
                entries.push((r, (i as u32) << 1 | 1));
            }
        }
        entries.sort_unstable();
        let m = entries.len() as u32;
        let tail = m + 1;
        let mut node = vec![NONE; m as usize + 2];
        let mut call_node = vec![NONE; n];
        let mut ret_node = vec![NONE; n];
        for (k, &(_, payload)) in entries.iter().enumerate() {
            let id = k as u32 + 1;
            node[id as usize] = payload;
            if payload & 1 == 0 {
                call_node[(payload >> 1) as usize] = id;
            } else {
                ret_node[(payload >> 1) as usize] = id;
            }
        }
        let next: Vec<u32> = (0..=tail).map(|i| (i + 1).min(tail)).collect();
        let prev: Vec<u32> = (0..=tail).map(|i| i.saturating_sub(1)).collect();
        let words = n.div_ceil(64).max(1);
        let read_only = (0..n).map(|i| spec.read_only(i)).collect();
        let init = spec.init();
        let definite = ret_node.iter().filter(|&&r| r != NONE).count();
        Search {
            spec,
            next,
            prev,
            node,
            tail,
            call_node,
            ret_node,
            read_only,
            zobrist: (0..n as u64).map(|i| splitmix64(i ^ 0x5EED)).collect(),
            bits: vec![0; words],
            hash: 0,
            state: init,
            stack: Vec::with_capacity(n),
            placed_definite: 0,
            definite,
            cache: Cache::new(words, 8 * n, budget),
            best: None,
            best_node: 0,
            spec_bytes: 0,
            budget,
            entry: 0,
            started: false,
            too_big,
        }
    }

    fn lift(&mut self, op: usize) {
        for node in [self.call_node[op], self.ret_node[op]] {
            if node != NONE {
                let (p, n) = (self.prev[node as usize], self.next[node as usize]);
                self.next[p as usize] = n;
                self.prev[n as usize] = p;
            }
        }
    }

    fn unlift(&mut self, op: usize) {
        // Reverse order of `lift`, so the list is restored exactly.
        for node in [self.ret_node[op], self.call_node[op]] {
            if node != NONE {
                let (p, n) = (self.prev[node as usize], self.next[node as usize]);
                self.next[p as usize] = node;
                self.prev[n as usize] = node;
            }
        }
    }

    fn push(&mut self, op: usize, new_state: u32, forced: bool) {
        self.lift(op);
        self.stack.push(Frame {
            op: op as u32,
            state_before: self.state,
            forced,
        });
        self.state = new_state;
        self.bits[op / 64] |= 1 << (op % 64);
        self.hash ^= self.zobrist[op];
        self.placed_definite += usize::from(self.ret_node[op] != NONE);
    }

    fn pop(&mut self) -> Option<Frame> {
        let frame = self.stack.pop()?;
        let op = frame.op as usize;
        self.unlift(op);
        self.state = frame.state_before;
        self.bits[op / 64] &= !(1 << (op % 64));
        self.hash ^= self.zobrist[op];
        self.placed_definite -= usize::from(self.ret_node[op] != NONE);
        Some(frame)
    }

    /// Lifts every candidate read-only operation the state accepts.
    fn place_reads(&mut self) {
        let mut e = self.next[0];
        while e != self.tail && self.node[e as usize] & 1 == 0 {
            let op = (self.node[e as usize] >> 1) as usize;
            if self.read_only[op] && self.spec.step(self.state, op).is_some() {
                let before = self.prev[e as usize];
                self.push(op, self.state, true);
                e = self.next[before as usize];
            } else {
                e = self.next[e as usize];
            }
        }
    }

    fn config_hash(&self) -> u64 {
        self.hash ^ splitmix64(u64::from(self.state) ^ 0xC0FF_EE00)
    }

    /// Notes that the search is blocked at `node` in the current state.
    fn note_blocked(&mut self, node: u32) {
        if node == self.tail {
            return;
        }
        if self.best.is_none() || node > self.best_node {
            let mut prefix = Vec::with_capacity(self.stack.len());
            for (k, f) in self.stack.iter().enumerate() {
                let after = self.stack.get(k + 1).map_or(self.state, |g| g.state_before);
                prefix.push((f.op as usize, after));
            }
            self.best_node = node;
            self.best = Some(Frontier {
                blocked_op: (self.node[node as usize] >> 1) as usize,
                prefix,
                tried_states: vec![self.state],
            });
        } else if node == self.best_node {
            if let Some(best) = &mut self.best {
                if best.tried_states.len() < MAX_TRIED_STATES
                    && !best.tried_states.contains(&self.state)
                {
                    best.tried_states.push(self.state);
                }
            }
        }
    }

    fn run(&mut self, limits: &Limits) -> Outcome {
        let out_of_memory = || Outcome::Unknown("memory cap reached".into());
        if !self.started {
            self.started = true;
            self.place_reads();
            self.entry = self.next[0];
        }
        let mut entry = self.entry;
        let mut steps: u64 = 0;
        let max_steps = limits.max_steps.unwrap_or(u64::MAX);
        loop {
            if self.placed_definite == self.definite {
                return Outcome::Linearizable;
            }
            steps += 1;
            if steps % 4096 == 0 {
                if let Some(deadline) = limits.deadline {
                    if Instant::now() >= deadline {
                        return Outcome::Unknown("time limit reached".into());
                    }
                }
                if steps >= max_steps {
                    self.entry = entry;
                    return Outcome::OutOfSteps;
                }
                let grown = self.spec.heap_bytes();
                if grown > self.spec_bytes {
                    if !self.budget.take(grown - self.spec_bytes) {
                        return out_of_memory();
                    }
                    self.spec_bytes = grown;
                }
            }
            let payload = if entry == self.tail {
                1
            } else {
                self.node[entry as usize]
            };
            if payload & 1 == 0 {
                let op = (payload >> 1) as usize;
                if !self.read_only[op] {
                    if let Some(new_state) = self.spec.step(self.state, op) {
                        let depth = self.stack.len();
                        self.push(op, new_state, false);
                        self.place_reads();
                        match self
                            .cache
                            .insert(self.config_hash(), self.state, &self.bits)
                        {
                            Ok(true) => {
                                entry = self.next[0];
                                continue;
                            }
                            Ok(false) => {
                                while self.stack.len() > depth {
                                    self.pop();
                                }
                            }
                            Err(_) => return out_of_memory(),
                        }
                    }
                }
                entry = self.next[entry as usize];
            } else {
                self.note_blocked(entry);
                while self.stack.last().is_some_and(|f| f.forced) {
                    self.pop();
                }
                let Some(frame) = self.pop() else {
                    return match self.best.take() {
                        Some(frontier) => Outcome::NotLinearizable(frontier),
                        None => Outcome::Unknown("search ended without a frontier".into()),
                    };
                };
                entry = self.next[self.call_node[frame.op as usize] as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register: op `i` writes `i` if `i < writes`, else reads `read`.
    struct Writes {
        writes: usize,
        read: u32,
    }

    impl Spec for Writes {
        fn init(&self) -> u32 {
            u32::MAX
        }
        fn step(&mut self, state: u32, op: usize) -> Option<u32> {
            if op < self.writes {
                Some(op as u32)
            } else {
                (state == self.read).then_some(state)
            }
        }
        fn read_only(&self, op: usize) -> bool {
            op >= self.writes
        }
        fn show_state(&self, state: u32) -> String {
            state.to_string()
        }
    }

    /// `writes` concurrent writes, then a read of `read` after all of them.
    fn problem(writes: usize) -> Problem {
        let mut calls: Vec<usize> = (0..writes).collect();
        let mut returns: Vec<Option<usize>> = (0..writes).map(|i| Some(writes + i)).collect();
        calls.push(2 * writes);
        returns.push(Some(2 * writes + 1));
        Problem { calls, returns }
    }

    fn run_to_end(search: &mut Search<'_, Writes>, max_steps: Option<u64>) -> (Outcome, usize) {
        let limits = Limits {
            deadline: None,
            max_steps,
        };
        let mut slices = 1;
        loop {
            match search.run(&limits) {
                Outcome::OutOfSteps => slices += 1,
                other => return (other, slices),
            }
        }
    }

    #[test]
    fn a_search_resumed_in_slices_ends_as_one_run_does() {
        let budget = MemoryBudget::new(1 << 30);
        for read in [3, 99] {
            let spec = || Writes { writes: 14, read };
            let mut whole = Search::new(spec(), &problem(14), &budget);
            let (expected, _) = run_to_end(&mut whole, None);
            let mut sliced = Search::new(spec(), &problem(14), &budget);
            let (outcome, slices) = run_to_end(&mut sliced, Some(4096));
            assert_eq!(outcome, expected);
            assert!(
                slices > 1 || read == 3,
                "the unlinearizable case needs several slices"
            );
            assert_eq!(Resumable::stats(&sliced), Resumable::stats(&whole));
        }
    }

    #[test]
    fn the_blocking_read_is_the_counterexample() {
        let budget = MemoryBudget::new(1 << 30);
        let mut search = Search::new(
            Writes {
                writes: 3,
                read: 99,
            },
            &problem(3),
            &budget,
        );
        let (outcome, _) = run_to_end(&mut search, None);
        let Outcome::NotLinearizable(frontier) = outcome else {
            panic!("expected a violation, got {outcome:?}");
        };
        assert_eq!(frontier.blocked_op, 3);
        assert_eq!(frontier.prefix.len(), 3, "all writes placed first");
        let mut tried = frontier.tried_states.clone();
        tried.sort_unstable();
        assert_eq!(
            tried,
            vec![0, 1, 2],
            "the read was tried after each last write"
        );
    }

    #[test]
    fn the_memory_budget_ends_the_search_with_unknown() {
        let budget = MemoryBudget::new(0);
        let mut search = Search::new(
            Writes {
                writes: 5,
                read: 99,
            },
            &problem(5),
            &budget,
        );
        let (outcome, _) = run_to_end(&mut search, None);
        assert_eq!(outcome, Outcome::Unknown("memory cap reached".into()));
    }

    #[test]
    fn the_deadline_ends_the_search_with_unknown() {
        let budget = MemoryBudget::new(1 << 30);
        let mut search = Search::new(
            Writes {
                writes: 20,
                read: 99,
            },
            &problem(20),
            &budget,
        );
        let limits = Limits {
            deadline: Some(Instant::now()),
            max_steps: None,
        };
        assert_eq!(
            search.run(&limits),
            Outcome::Unknown("time limit reached".into())
        );
    }
}
