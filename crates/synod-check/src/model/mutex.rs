//! A mutex: `acquire` is legal when the lock is free and takes it;
//! `release` is legal when it is held and frees it. Initially free.
//! An indeterminate acquire or release may still take effect, so it stays.

use super::{Input, Spec};
use crate::history::InputError;

const FREE: u32 = 0;
const HELD: u32 = 1;

/// A compiled mutex partition: `true` for acquire, `false` for release.
pub(crate) struct MutexSpec {
    acquire: Vec<bool>,
}

pub(crate) fn compile(input: &Input<'_>) -> Result<(MutexSpec, Vec<usize>), InputError> {
    let mut acquire = Vec::with_capacity(input.ops.len());
    for &i in input.ops {
        match input.history.ops[i].f.as_str() {
            "acquire" => acquire.push(true),
            "release" => acquire.push(false),
            other => {
                return Err(input.error(
                    i,
                    format!("unknown function {other:?} (expected acquire or release)"),
                ));
            }
        }
    }
    Ok((MutexSpec { acquire }, input.ops.to_vec()))
}

impl Spec for MutexSpec {
    fn init(&self) -> u32 {
        FREE
    }

    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        match (self.acquire[op], state) {
            (true, FREE) => Some(HELD),
            (false, HELD) => Some(FREE),
            _ => None,
        }
    }

    fn read_only(&self, _op: usize) -> bool {
        false
    }

    fn show_state(&self, state: u32) -> String {
        if state == HELD { "held" } else { "free" }.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_needs_free_and_release_needs_held() {
        let mut s = MutexSpec {
            acquire: vec![true, false],
        };
        assert_eq!(s.step(FREE, 0), Some(HELD));
        assert_eq!(s.step(HELD, 0), None);
        assert_eq!(s.step(HELD, 1), Some(FREE));
        assert_eq!(s.step(FREE, 1), None);
        assert_eq!(s.show_state(HELD), "held");
    }
}
