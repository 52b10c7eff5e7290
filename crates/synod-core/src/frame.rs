//! Length-prefixed framing, shared by the peer transport and the client
//! protocol: every frame is a `u32` big-endian payload length, then the
//! payload.
//!
//! The length is checked against a maximum **before** anything is allocated,
//! so a peer that claims a 4 GiB frame gets an error, not an allocation. The
//! [`FrameDecoder`] is pure (bytes in, frames out) so it can be fuzzed; the
//! async readers in the runtime and the client library use
//! [`check_frame_len`] on the header they read.

/// Bytes in a frame header.
pub const HEADER_BYTES: usize = 4;

/// The default maximum payload of one frame (8 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 8 << 20;

/// Why a frame was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header claims more than the configured maximum.
    #[error("frame of {claimed} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The length the header claimed.
        claimed: u64,
        /// The configured maximum.
        max: usize,
    },
}

/// Validates a frame header, returning the payload length it announces.
pub fn check_frame_len(header: [u8; HEADER_BYTES], max: usize) -> Result<usize, FrameError> {
    let claimed = u32::from_be_bytes(header);
    if claimed as u64 > max as u64 {
        return Err(FrameError::TooLarge {
            claimed: claimed.into(),
            max,
        });
    }
    Ok(claimed as usize)
}

/// Encodes `payload` as one frame. Fails if it is over `max`.
pub fn encode_frame(payload: &[u8], max: usize) -> Result<Vec<u8>, FrameError> {
    let mut v = Vec::with_capacity(HEADER_BYTES + payload.len());
    append_frame(&mut v, payload, max)?;
    Ok(v)
}

/// Appends `payload` to `out` as one frame (for writers that batch frames
/// into one buffer). Fails, leaving `out` as it was, if it is over `max` or
/// over what a `u32` header can announce.
pub fn append_frame(out: &mut Vec<u8>, payload: &[u8], max: usize) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|_| payload.len() <= max)
        .ok_or(FrameError::TooLarge {
            claimed: payload.len() as u64,
            max,
        })?;
    out.reserve(HEADER_BYTES + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Splits a byte stream into frames, holding at most one partial frame.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Where the unread bytes of `buf` begin. Frames are taken by moving
    /// this mark; the consumed prefix is dropped only when it is at least
    /// half the buffer, so taking many small frames costs no memmove each.
    start: usize,
    max: usize,
}

impl FrameDecoder {
    /// A decoder refusing frames over `max` payload bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max,
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or an
    /// error if the stream announced an oversized frame (the stream is then
    /// unusable: close it).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let unread = &self.buf[self.start..];
        if unread.len() < HEADER_BYTES {
            return Ok(None);
        }
        let header = [unread[0], unread[1], unread[2], unread[3]];
        let len = match check_frame_len(header, self.max) {
            Ok(len) => len,
            Err(e) => {
                // The stream is unusable: keep no more than the header.
                self.buf.truncate(self.start + HEADER_BYTES);
                return Err(e);
            }
        };
        if unread.len() < HEADER_BYTES + len {
            return Ok(None);
        }
        let payload = unread[HEADER_BYTES..HEADER_BYTES + len].to_vec();
        self.start += HEADER_BYTES + len;
        Ok(Some(payload))
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_arbitrary_splits() {
        let payloads: Vec<Vec<u8>> = vec![vec![], vec![1], vec![7; 300]];
        let stream: Vec<u8> = payloads
            .iter()
            .flat_map(|p| encode_frame(p, 1024).unwrap())
            .collect();
        for split in 1..stream.len() {
            let mut d = FrameDecoder::new(1024);
            let mut got = Vec::new();
            for chunk in stream.chunks(split) {
                d.push(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, payloads, "split {split}");
        }
    }

    #[test]
    fn oversized_header_is_refused_before_the_payload_arrives() {
        let mut d = FrameDecoder::new(1024);
        d.push(&u32::MAX.to_be_bytes());
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                claimed: u32::MAX.into(),
                max: 1024
            })
        );
        assert!(d.buffered() <= HEADER_BYTES);
    }

    #[test]
    fn encoding_refuses_oversized_payloads() {
        assert!(encode_frame(&[0; 11], 10).is_err());
    }

    #[test]
    fn appending_adds_whole_frames_or_nothing() {
        let mut out = Vec::new();
        append_frame(&mut out, b"ab", 10).unwrap();
        assert!(append_frame(&mut out, &[0; 11], 10).is_err());
        append_frame(&mut out, b"c", 10).unwrap();
        assert_eq!(out, [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 1, b'c']);
    }
}
