//! Random bytes fed to the frame decoder never panic, never yield a frame
//! over the maximum, and never buffer more than one frame's worth.

use proptest::prelude::*;
use synod_core::frame::{FrameDecoder, HEADER_BYTES};

proptest! {
    #[test]
    fn random_bytes_never_panic_the_decoder(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..32),
        max in 0usize..256,
    ) {
        let mut d = FrameDecoder::new(max);
        'outer: for c in chunks {
            d.push(&c);
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => prop_assert!(f.len() <= max),
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
            prop_assert!(d.buffered() < HEADER_BYTES + max + 64);
        }
    }
}
