//! Checks shared by the protocols' configurations.
//!
//! Every protocol has sizes, windows and periods that must be positive (a
//! batch of zero entries never empties a queue; a period of zero ticks
//! never fires). Each configuration lists them, in the order its docs give,
//! and reports the first that is zero by name.

/// The name of the first of `fields` whose value is zero, if any.
pub fn first_zero(fields: &[(&'static str, u64)]) -> Option<&'static str> {
    fields.iter().find(|(_, v)| *v == 0).map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_zero_field_is_named() {
        assert_eq!(first_zero(&[("a", 1), ("b", 0), ("c", 0)]), Some("b"));
        assert_eq!(first_zero(&[("a", 1)]), None);
    }
}
