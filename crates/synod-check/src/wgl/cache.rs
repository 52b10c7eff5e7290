//! The memo of configurations already explored: pairs (set of linearised
//! operations, model state), as in Lowe's improvement of the Wing & Gong
//! search.
//!
//! A configuration that was reached once and failed will fail again, so
//! the search never enters it twice. The set is a bitset of `words` 64-bit
//! words; its hash is kept incrementally by the caller (Zobrist hashing: the
//! XOR of one random key per linearised operation), so inserting costs a
//! probe and, on a hash match, one comparison of the bitset.
//!
//! Layout: an open-addressing table of slots (hash, state, entry) with
//! linear probing, and one flat arena of bitset words. Sets of at most 128
//! operations (two words, the common case of one key) live in the slot
//! itself, so a probe never leaves the table. Every byte it holds
//! is first taken from a shared [`MemoryBudget`]; when the budget is spent,
//! `insert` says so and the search answers `unknown` instead of growing.

use std::sync::atomic::{AtomicIsize, Ordering};

/// A memory budget shared by all searches running at once.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    remaining_bytes: AtomicIsize,
}

impl MemoryBudget {
    pub(crate) fn new(bytes: usize) -> MemoryBudget {
        MemoryBudget {
            remaining_bytes: AtomicIsize::new(isize::try_from(bytes).unwrap_or(isize::MAX)),
        }
    }

    /// Takes `bytes` from the budget, or returns false (taking nothing).
    pub(crate) fn take(&self, bytes: usize) -> bool {
        let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
        let before = self.remaining_bytes.fetch_sub(bytes, Ordering::Relaxed);
        if before < bytes {
            self.remaining_bytes.fetch_add(bytes, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Returns bytes taken earlier.
    pub(crate) fn give_back(&self, bytes: usize) {
        let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
        self.remaining_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

const EMPTY: u32 = u32::MAX;

/// Bitsets up to this many words are stored in the slot.
const INLINE_WORDS: usize = 2;

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    state: u32,
    entry: u32,
    inline: [u64; INLINE_WORDS],
}

/// The set of explored configurations.
pub(crate) struct Cache<'b> {
    words: usize,
    /// Slots of the table when it is first allocated.
    first_slots: usize,
    slots: Vec<Slot>,
    arena: Vec<u64>,
    len: usize,
    taken_bytes: usize,
    budget: &'b MemoryBudget,
}

/// The budget ran out.
#[derive(Debug)]
pub(crate) struct OutOfMemory;

impl<'b> Cache<'b> {
    /// A cache for sets of `words` words; `expected` is a guess at how many
    /// configurations it will hold (the table starts big enough for it).
    pub(crate) fn new(words: usize, expected: usize, budget: &'b MemoryBudget) -> Cache<'b> {
        Cache {
            words: words.max(1),
            first_slots: (expected * 2).next_power_of_two().clamp(1024, 1 << 14),
            slots: Vec::new(),
            arena: Vec::new(),
            len: 0,
            taken_bytes: 0,
            budget,
        }
    }

    /// Number of configurations stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held (slots and arena).
    pub(crate) fn bytes(&self) -> usize {
        self.taken_bytes
    }

    fn take(&mut self, bytes: usize) -> Result<(), OutOfMemory> {
        if !self.budget.take(bytes) {
            return Err(OutOfMemory);
        }
        self.taken_bytes += bytes;
        Ok(())
    }

    /// Inserts the configuration; returns whether it was new.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        state: u32,
        bits: &[u64],
    ) -> Result<bool, OutOfMemory> {
        debug_assert_eq!(bits.len(), self.words);
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow()?;
        }
        let mask = self.slots.len() - 1;
        let mut i = (hash as usize) & mask;
        loop {
            let slot = self.slots[i];
            if slot.entry == EMPTY {
                break;
            }
            if slot.hash == hash && slot.state == state {
                let same = if self.words <= INLINE_WORDS {
                    slot.inline[..self.words] == *bits
                } else {
                    let start = slot.entry as usize * self.words;
                    self.arena[start..start + self.words]
                        .iter()
                        .zip(bits)
                        .all(|(a, b)| a == b)
                };
                if same {
                    return Ok(false);
                }
            }
            i = (i + 1) & mask;
        }
        let entry = u32::try_from(self.len).map_err(|_| OutOfMemory)?;
        let mut inline = [0; INLINE_WORDS];
        if self.words <= INLINE_WORDS {
            inline[..self.words].copy_from_slice(bits);
        } else {
            if self.arena.len() + self.words > self.arena.capacity() {
                let extra = self.arena.capacity().max(self.words * 64);
                self.take(extra * 8)?;
                self.arena.reserve_exact(extra);
            }
            self.arena.extend_from_slice(bits);
        }
        self.slots[i] = Slot {
            hash,
            state,
            entry,
            inline,
        };
        self.len += 1;
        Ok(true)
    }

    fn grow(&mut self) -> Result<(), OutOfMemory> {
        let new_len = (self.slots.len() * 2).max(self.first_slots);
        self.take(new_len * std::mem::size_of::<Slot>())?;
        let old = std::mem::replace(
            &mut self.slots,
            vec![
                Slot {
                    hash: 0,
                    state: 0,
                    entry: EMPTY,
                    inline: [0; INLINE_WORDS],
                };
                new_len
            ],
        );
        let mask = new_len - 1;
        for slot in old.iter().filter(|s| s.entry != EMPTY) {
            let mut i = (slot.hash as usize) & mask;
            while self.slots[i].entry != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = *slot;
        }
        let old_bytes = old.len() * std::mem::size_of::<Slot>();
        self.taken_bytes -= old_bytes;
        self.budget.give_back(old_bytes);
        Ok(())
    }
}

impl Drop for Cache<'_> {
    fn drop(&mut self) {
        self.budget.give_back(self.taken_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_is_new_once() {
        let budget = MemoryBudget::new(1 << 20);
        let mut cache = Cache::new(2, 0, &budget);
        assert!(cache.insert(7, 1, &[1, 2]).unwrap());
        assert!(!cache.insert(7, 1, &[1, 2]).unwrap());
        // Same hash, other state or other set: distinct configurations.
        assert!(cache.insert(7, 2, &[1, 2]).unwrap());
        assert!(cache.insert(7, 1, &[1, 3]).unwrap());
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn long_sets_are_compared_in_the_arena() {
        let budget = MemoryBudget::new(1 << 20);
        let mut cache = Cache::new(3, 0, &budget);
        assert!(cache.insert(7, 1, &[1, 2, 3]).unwrap());
        assert!(!cache.insert(7, 1, &[1, 2, 3]).unwrap());
        assert!(cache.insert(7, 1, &[1, 2, 4]).unwrap());
        assert!(
            cache.insert(8, 1, &[1, 2, 3]).unwrap(),
            "another hash is another slot"
        );
    }

    #[test]
    fn growing_keeps_every_entry() {
        let budget = MemoryBudget::new(1 << 26);
        let mut cache = Cache::new(1, 0, &budget);
        for i in 0..10_000u64 {
            assert!(cache
                .insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), 0, &[i])
                .unwrap());
        }
        for i in 0..10_000u64 {
            assert!(!cache
                .insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), 0, &[i])
                .unwrap());
        }
    }

    #[test]
    fn the_budget_stops_growth_and_is_returned_on_drop() {
        let budget = MemoryBudget::new(64 * 1024);
        {
            let mut cache = Cache::new(4, 0, &budget);
            let mut failed = false;
            for i in 0..100_000u64 {
                if cache
                    .insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), 0, &[i, 0, 0, 0])
                    .is_err()
                {
                    failed = true;
                    break;
                }
            }
            assert!(failed, "the cache must refuse to grow past its budget");
            assert!(cache.bytes() <= 64 * 1024);
        }
        assert!(budget.take(64 * 1024), "all bytes are given back on drop");
    }
}
