//! The on-disk format: segment files, records, and the two small metadata
//! files (hard state and snapshot).
//!
//! Everything is little-endian and every byte that matters is covered by a
//! CRC32C (Castagnoli, hardware-accelerated on x86-64 and aarch64).
//!
//! # Segment file `wal-<first seq, 20 digits>.log`
//!
//! ```text
//! offset size field
//!      0    8 magic         b"SYNODWAL"
//!      8    4 version       2
//!     12    4 header CRC    CRC32C of bytes 0..12 and 16..32
//!     16    8 first seq     sequence number of the segment's first record
//!     24    4 salt          random, new for every life of the file
//!     28    4 flags         bit 0: recycled (the file held an older segment)
//!     32      records, each 8-byte aligned
//! ```
//!
//! The sequence number counts every record ever appended to the log (0, 1,
//! 2, ...; never reused). A segment is named after its first one, so the
//! names sort in log order and the records of segment `k` must end exactly
//! where segment `k + 1` begins: a missing or shortened closed segment is
//! detected, not skipped.
//!
//! After the last record comes zeros in a new file (pre-allocated) or, in a
//! *recycled* one, whatever an older segment left there. Each record's
//! header CRC is seeded with the segment's salt, so those old records fail
//! their check exactly like random bytes do: nothing a file held in an
//! earlier life can be read as a record of this one (see
//! `recycle` in the crate's source).
//!
//! # Record
//!
//! ```text
//! offset size field
//!      0    4 length        payload bytes (at most the configured maximum)
//!      4    4 CRC           CRC32C of length ‖ position ‖ payload
//!      8    8 position      StoredRecord::position
//!     16    4 seq           low 32 bits of the record's sequence number
//!     20    4 header CRC    CRC32C of salt ‖ bytes 0..20
//!     24    n payload
//!   24+n  0-7 zero padding to the next multiple of 8
//! ```
//!
//! The header CRC lets recovery ask "does a record start at offset `o`?" in
//! constant time (20 bytes hashed) without trusting a length field first;
//! that is what makes scanning the bytes after a damaged record for later
//! valid records cheap (see [`crate`] docs, *Recovery*). A header of zeros
//! is never a record, so the zeros of a pre-allocated segment end the log.
//!
//! # Metadata files `hardstate` and `snapshot`
//!
//! ```text
//! offset size field
//!      0    8 magic         b"SYNODHST" (hard state) or b"SYNODSNP" (snapshot)
//!      8    4 version       1
//!     12    4 CRC           CRC32C of bytes 0..12 and 16..end
//!     16    8 body length   the file is exactly 24 + body length bytes
//!     24      body
//! ```
//!
//! The hard state body is the protocol's bytes. The snapshot body is
//! `position: u64, meta length: u64, meta, data`.

use crc32c::{crc32c, crc32c_append};

/// Magic bytes opening every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SYNODWAL";
/// The segment format version this crate writes and reads.
pub const SEGMENT_VERSION: u32 = 2;
/// Size of the segment header; the first record starts here.
pub const SEGMENT_HEADER_BYTES: u64 = 32;
/// Size of a record header.
pub const RECORD_HEADER_BYTES: u64 = 24;
/// Records start at multiples of this.
pub const RECORD_ALIGN_BYTES: u64 = 8;
/// Magic bytes of the hard state file.
pub const HARD_STATE_MAGIC: [u8; 8] = *b"SYNODHST";
/// Magic bytes of the snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"SYNODSNP";
/// The metadata file format version.
pub const META_VERSION: u32 = 1;
/// Size of a metadata file header.
pub const META_HEADER_BYTES: u64 = 24;
/// Name of the hard state file in the WAL directory.
pub const HARD_STATE_FILE: &str = "hardstate";
/// Name of the snapshot file in the WAL directory.
pub const SNAPSHOT_FILE: &str = "snapshot";
/// Name of the lock file that keeps a second process out of the directory.
pub const LOCK_FILE: &str = "LOCK";

/// The file name of the segment whose first record has sequence `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

/// The first sequence number encoded in a segment file name, if `name` is
/// one (`wal-` + exactly 20 digits + `.log`).
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    digits_in_name(name, "wal-", ".log")?.parse().ok()
}

/// The file name of a spare: a compacted segment, first seq `old_first_seq`,
/// kept to be reused (see `recycle` in the crate's source).
pub fn spare_file_name(old_first_seq: u64) -> String {
    format!("spare-{old_first_seq:020}.wal")
}

/// Whether `name` is a spare's file name (`spare-` + 20 digits + `.wal`).
pub fn is_spare_file_name(name: &str) -> bool {
    digits_in_name(name, "spare-", ".wal").is_some()
}

/// The 20 digits of `name` if it is `prefix` + exactly 20 ASCII digits +
/// `suffix`.
fn digits_in_name<'a>(name: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The bytes a record with a payload of `payload_len` bytes occupies on disk,
/// header and padding included.
pub fn record_bytes(payload_len: u64) -> u64 {
    (RECORD_HEADER_BYTES + payload_len).next_multiple_of(RECORD_ALIGN_BYTES)
}

/// Segment header flag: the file held an older segment before this one.
pub const FLAG_RECYCLED: u32 = 1;

/// What a segment header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Sequence number of the segment's first record.
    pub first_seq: u64,
    /// Seeds every record header CRC of this segment.
    pub salt: u32,
    /// The bytes after the last record may be an older segment's, not zeros.
    pub recycled: bool,
}

/// The encoded segment header.
pub fn encode_segment_header(h: SegmentHeader) -> [u8; SEGMENT_HEADER_BYTES as usize] {
    let mut b = [0u8; SEGMENT_HEADER_BYTES as usize];
    b[0..8].copy_from_slice(&SEGMENT_MAGIC);
    b[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    b[16..24].copy_from_slice(&h.first_seq.to_le_bytes());
    b[24..28].copy_from_slice(&h.salt.to_le_bytes());
    let flags = if h.recycled { FLAG_RECYCLED } else { 0 };
    b[28..32].copy_from_slice(&flags.to_le_bytes());
    let crc = crc32c_append(crc32c(&b[0..12]), &b[16..32]);
    b[12..16].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Checks a segment header and returns what it says, or why it is invalid.
pub fn decode_segment_header(b: &[u8]) -> Result<SegmentHeader, String> {
    if b.len() < SEGMENT_HEADER_BYTES as usize {
        return Err("segment file is shorter than its header".into());
    }
    if b[0..8] != SEGMENT_MAGIC {
        return Err("bad segment magic (not a synod WAL segment)".into());
    }
    let version = u32_at(b, 8);
    let crc = crc32c_append(crc32c(&b[0..12]), &b[16..32]);
    if crc != u32_at(b, 12) {
        return Err("segment header checksum mismatch".into());
    }
    if version != SEGMENT_VERSION {
        return Err(format!(
            "unsupported segment version {version} (this build reads version {SEGMENT_VERSION})"
        ));
    }
    let flags = u32_at(b, 28);
    if flags & !FLAG_RECYCLED != 0 {
        return Err(format!("unknown segment flags {flags:#x}"));
    }
    Ok(SegmentHeader {
        first_seq: u64_at(b, 16),
        salt: u32_at(b, 24),
        recycled: flags & FLAG_RECYCLED != 0,
    })
}

/// A record header that passed its own checksum (the payload is not checked
/// yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Payload length in bytes.
    pub len: u32,
    /// CRC32C of length, position and payload.
    pub crc: u32,
    /// The record's position.
    pub position: u64,
    /// Low 32 bits of the record's sequence number.
    pub seq: u32,
}

impl RecordHeader {
    /// Parses and checks the header CRC (seeded with the segment's `salt`)
    /// of the 24 bytes at the start of `b`; `None` if they are not a record
    /// header of this segment (zeros, garbage, a torn write, a record of
    /// the file's earlier life).
    pub fn decode(b: &[u8], salt: u32) -> Option<RecordHeader> {
        let b = b.get(..RECORD_HEADER_BYTES as usize)?;
        if b.iter().all(|&x| x == 0) || header_crc(salt, &b[0..20]) != u32_at(b, 20) {
            return None;
        }
        Some(RecordHeader {
            len: u32_at(b, 0),
            crc: u32_at(b, 4),
            position: u64_at(b, 8),
            seq: u32_at(b, 16),
        })
    }

    /// Whether `payload` (exactly `len` bytes) matches the record CRC.
    pub fn payload_matches(&self, payload: &[u8]) -> bool {
        payload.len() == self.len as usize
            && record_crc(self.len, self.position, payload) == self.crc
    }

    /// The bytes the whole record occupies, padding included.
    pub fn total_bytes(&self) -> u64 {
        record_bytes(u64::from(self.len))
    }
}

/// CRC32C of `salt ‖ header bytes 0..20` (the record header checksum).
fn header_crc(salt: u32, first_20: &[u8]) -> u32 {
    crc32c_append(crc32c(&salt.to_le_bytes()), first_20)
}

/// CRC32C of `length ‖ position ‖ payload` (the record checksum).
pub fn record_crc(len: u32, position: u64, payload: &[u8]) -> u32 {
    let crc = crc32c(&len.to_le_bytes());
    let crc = crc32c_append(crc, &position.to_le_bytes());
    crc32c_append(crc, payload)
}

/// Appends one encoded record (header, payload, padding) for a segment
/// with `salt` to `buf`. The caller has checked that the payload fits in a
/// `u32` and the configured maximum. No allocation beyond `buf`'s own
/// growth.
pub fn encode_record(buf: &mut Vec<u8>, salt: u32, seq: u64, position: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("record length checked by the caller");
    let mut h = [0u8; RECORD_HEADER_BYTES as usize];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[4..8].copy_from_slice(&record_crc(len, position, payload).to_le_bytes());
    h[8..16].copy_from_slice(&position.to_le_bytes());
    h[16..20].copy_from_slice(&(seq as u32).to_le_bytes());
    let hcrc = header_crc(salt, &h[0..20]);
    h[20..24].copy_from_slice(&hcrc.to_le_bytes());
    buf.extend_from_slice(&h);
    buf.extend_from_slice(payload);
    let pad = (record_bytes(u64::from(len)) - RECORD_HEADER_BYTES - u64::from(len)) as usize;
    buf.extend_from_slice(&[0u8; RECORD_ALIGN_BYTES as usize][..pad]);
}

/// The header of a metadata file holding `body` (given in pieces, so a large
/// snapshot is never copied into one buffer).
pub fn encode_meta_header(magic: [u8; 8], body: &[&[u8]]) -> [u8; META_HEADER_BYTES as usize] {
    let mut h = [0u8; META_HEADER_BYTES as usize];
    h[0..8].copy_from_slice(&magic);
    h[8..12].copy_from_slice(&META_VERSION.to_le_bytes());
    let len: u64 = body.iter().map(|p| p.len() as u64).sum();
    h[16..24].copy_from_slice(&len.to_le_bytes());
    let mut crc = crc32c_append(crc32c(&h[0..12]), &h[16..24]);
    for piece in body {
        crc = crc32c_append(crc, piece);
    }
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a whole metadata file (`file` is its content) and returns its body,
/// or why it is invalid.
pub fn decode_meta(magic: [u8; 8], file: &[u8]) -> Result<&[u8], String> {
    if file.len() < META_HEADER_BYTES as usize {
        return Err("file is shorter than its header".into());
    }
    if file[0..8] != magic {
        return Err("bad magic".into());
    }
    let body_len = u64_at(file, 16);
    if body_len != file.len() as u64 - META_HEADER_BYTES {
        return Err(format!(
            "header says {body_len} body bytes but the file holds {}",
            file.len() as u64 - META_HEADER_BYTES
        ));
    }
    let crc = crc32c_append(crc32c(&file[0..12]), &file[16..]);
    if crc != u32_at(file, 12) {
        return Err("checksum mismatch".into());
    }
    let version = u32_at(file, 8);
    if version != META_VERSION {
        return Err(format!("unsupported version {version}"));
    }
    Ok(&file[META_HEADER_BYTES as usize..])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zeroed_record_header_is_never_valid() {
        for salt in [0, 1, 0xdead_beef] {
            assert!(RecordHeader::decode(&[0u8; 24], salt).is_none());
        }
    }

    #[test]
    fn a_record_is_valid_only_under_its_segments_salt() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 41, 0, 1, b"x");
        assert!(RecordHeader::decode(&buf, 41).is_some());
        assert!(RecordHeader::decode(&buf, 42).is_none());
    }

    #[test]
    fn record_round_trips_and_is_aligned() {
        for len in [0usize, 1, 7, 8, 9, 4096, 5000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let mut buf = Vec::new();
            encode_record(&mut buf, 9, 7, 42, &payload);
            assert_eq!(buf.len() as u64, record_bytes(len as u64));
            assert_eq!(buf.len() % 8, 0);
            let h = RecordHeader::decode(&buf, 9).expect("valid header");
            assert_eq!((h.len as usize, h.position, h.seq), (len, 42, 7));
            assert!(h.payload_matches(&buf[24..24 + len]));
        }
    }

    #[test]
    fn segment_header_round_trips_and_detects_damage() {
        let header = SegmentHeader {
            first_seq: 123,
            salt: 77,
            recycled: true,
        };
        let h = encode_segment_header(header);
        assert_eq!(decode_segment_header(&h), Ok(header));
        for i in 0..h.len() {
            let mut bad = h;
            bad[i] ^= 0x10;
            assert!(decode_segment_header(&bad).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn segment_names_parse_only_the_canonical_form() {
        assert_eq!(parse_segment_file_name(&segment_file_name(99)), Some(99));
        assert_eq!(parse_segment_file_name("wal-1.log"), None);
        assert_eq!(
            parse_segment_file_name("wal-0000000000000000000a.log"),
            None
        );
        assert_eq!(
            parse_segment_file_name("wal-00000000000000000001.log.tmp"),
            None
        );
        assert!(is_spare_file_name(&spare_file_name(7)));
        assert!(!is_spare_file_name("spare-7.wal"));
        assert_eq!(parse_segment_file_name(&spare_file_name(7)), None);
    }

    #[test]
    fn meta_round_trips_and_detects_damage() {
        let body = [&b"abc"[..], &b"defg"[..]];
        let mut file = encode_meta_header(HARD_STATE_MAGIC, &body).to_vec();
        file.extend_from_slice(b"abcdefg");
        assert_eq!(decode_meta(HARD_STATE_MAGIC, &file), Ok(&b"abcdefg"[..]));
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 1;
            assert!(decode_meta(HARD_STATE_MAGIC, &bad).is_err(), "flip at {i}");
        }
        assert!(decode_meta(HARD_STATE_MAGIC, &file[..file.len() - 1]).is_err());
    }
}
