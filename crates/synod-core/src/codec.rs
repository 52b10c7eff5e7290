//! The one binary encoding used for messages, records and snapshots.
//!
//! bincode with a hard size limit: decoding input that claims a 4 GiB vector
//! fails with an error instead of trying to allocate it, so a corrupt record
//! or a hostile peer can never make a node allocate an attacker-chosen size.

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest value [`decode`] accepts, in bytes (64 MiB).
pub const MAX_DECODE_BYTES: u64 = 64 << 20;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("codec: {0}")]
pub struct CodecError(pub String);

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(MAX_DECODE_BYTES)
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

/// Encodes `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    options()
        .serialize(value)
        .map_err(|e| CodecError(e.to_string()))
}

/// Decodes a value from exactly `bytes`; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    options()
        .deserialize(bytes)
        .map_err(|e| CodecError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let v: (u64, String, Vec<u8>) = (7, "x".into(), vec![1, 2, 3]);
        assert_eq!(
            decode::<(u64, String, Vec<u8>)>(&encode(&v).unwrap()).unwrap(),
            v
        );
    }

    #[test]
    fn claimed_huge_length_is_refused_without_allocating() {
        // A Vec<u8> whose length prefix claims u64::MAX / 2 bytes.
        let bytes = (u64::MAX / 2).to_le_bytes();
        assert!(decode::<Vec<u8>>(&bytes).is_err());
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut b = encode(&5u32).unwrap();
        b.push(0);
        assert!(decode::<u32>(&b).is_err());
    }
}
