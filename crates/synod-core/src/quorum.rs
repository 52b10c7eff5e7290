//! The value a quorum has reached.
//!
//! Every leader asks the same question of its followers' reports: what is
//! the highest value that at least a quorum of voters has reached? With
//! replicated indexes (Raft's match index, ZAB's acknowledged zxid) the
//! answer is what may commit; with echoed read rounds it is the highest
//! round a quorum confirmed. The answer is the quorum-th highest report.

/// The highest value at least `quorum` of `values` have reached, or `None`
/// when there are fewer than `quorum` values (or `quorum` is zero).
pub fn quorum_value<T: Ord + Copy>(mut values: Vec<T>, quorum: usize) -> Option<T> {
    if quorum == 0 || values.len() < quorum {
        return None;
    }
    values.sort_unstable_by(|a, b| b.cmp(a));
    Some(values[quorum - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quorum_th_highest_value_is_reached_by_a_quorum() {
        assert_eq!(quorum_value(vec![5, 9, 1], 2), Some(5));
        assert_eq!(quorum_value(vec![5, 9, 1], 3), Some(1));
        assert_eq!(quorum_value(vec![5], 2), None);
        assert_eq!(quorum_value(Vec::<u64>::new(), 0), None);
    }
}
