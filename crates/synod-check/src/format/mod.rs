//! Reading histories: the runner's JSONL, Jepsen/Knossos EDN, and
//! Porcupine's etcd and kv logs.
//!
//! Every reader turns its lines into the same raw events and hands them to
//! one pairing step (`history::Builder`), so the semantics of `ok`, `fail`,
//! `info` and `nemesis` are identical whatever the format. Formats differ
//! only in syntax and in what a `nil` read means ([`NilRead`]):
//!
//! | format | syntax | `nil` read |
//! |---|---|---|
//! | `jsonl` | one [`HistoryEvent`](crate::HistoryEvent) JSON object a line | absent (state `nil`) |
//! | `edn` | a vector or list of maps, or maps one after another | wildcard (Knossos) |
//! | `porcupine-etcd` | `INFO  jepsen.util - <process> <type> <f> <value>` | absent (Porcupine's etcd model) |
//! | `porcupine-kv` | EDN maps, one a line, each with `:key` | wildcard |
//!
//! Readers never panic and never skip: anything they cannot read is an
//! [`InputError`] naming the file and line.

mod edn_events;
mod etcd;
mod jsonl;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::history::{Builder, History, InputError, NilRead};

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Detect from the first characters of the text.
    Auto,
    /// The runner's JSON lines.
    Jsonl,
    /// Jepsen/Knossos EDN.
    Edn,
    /// Porcupine's etcd logs (`test_data/jepsen/etcd_NNN.log`).
    PorcupineEtcd,
    /// Porcupine's kv logs (`test_data/kv/*.txt`).
    PorcupineKv,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 5] = [
        Format::Auto,
        Format::Jsonl,
        Format::Edn,
        Format::PorcupineEtcd,
        Format::PorcupineKv,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }

    /// What a `nil` read means in this format.
    pub fn default_nil_read(self) -> NilRead {
        match self {
            Format::Edn | Format::PorcupineKv => NilRead::Wildcard,
            Format::Auto | Format::Jsonl | Format::PorcupineEtcd => NilRead::Absent,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown format {s:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// Guesses the format from the first meaningful characters: `{"` is JSONL,
/// `{:`, `[` or `(` is EDN, `INFO` is a Porcupine etcd log. An empty text
/// (or only comments) is an empty JSONL history.
pub fn detect_format(text: &str) -> Option<Format> {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.starts_with(';') {
            rest = rest.split_once('\n').map_or("", |(_, after)| after);
            continue;
        }
        break;
    }
    if rest.is_empty() {
        return Some(Format::Jsonl);
    }
    if rest.starts_with("INFO") {
        return Some(Format::PorcupineEtcd);
    }
    if let Some(after) = rest.strip_prefix('{') {
        return Some(if after.trim_start().starts_with('"') {
            Format::Jsonl
        } else {
            Format::Edn
        });
    }
    if rest.starts_with('[') || rest.starts_with('(') || rest.starts_with("#jepsen") {
        return Some(Format::Edn);
    }
    None
}

/// Parses a history held in memory. `source` names it in errors.
pub fn parse_str(text: &str, format: Format, source: &str) -> Result<History, InputError> {
    let format = match format {
        Format::Auto => detect_format(text).ok_or_else(|| {
            InputError::new(
                source,
                1,
                "cannot detect the format (expected JSON lines, EDN or a Porcupine etcd log); \
                 use --format",
            )
        })?,
        other => other,
    };
    let mut builder = Builder::new(source);
    match format {
        Format::Jsonl | Format::Auto => jsonl::read(text, &mut builder)?,
        Format::Edn => edn_events::read(text, &mut builder, false)?,
        Format::PorcupineKv => edn_events::read(text, &mut builder, true)?,
        Format::PorcupineEtcd => etcd::read(text, &mut builder)?,
    }
    Ok(builder.finish(format.default_nil_read()))
}

/// Reads and parses a history file.
pub fn parse_file(path: impl AsRef<Path>, format: Format) -> Result<History, InputError> {
    let path = path.as_ref();
    let source = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(&source, 0, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        InputError::new(&source, line, "not valid UTF-8")
    })?;
    parse_str(&text, format, &source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_reads_the_first_meaningful_characters() {
        assert_eq!(detect_format("{\"index\":0}"), Some(Format::Jsonl));
        assert_eq!(detect_format("; c\n[{:process 1}]"), Some(Format::Edn));
        assert_eq!(detect_format("{:process 1}"), Some(Format::Edn));
        assert_eq!(
            detect_format("INFO  jepsen.util - 1\t:invoke\t:read\tnil"),
            Some(Format::PorcupineEtcd)
        );
        assert_eq!(detect_format("   "), Some(Format::Jsonl));
        assert_eq!(detect_format("hello"), None);
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn undetectable_input_is_an_error_naming_the_source() {
        let err = parse_str("hello", Format::Auto, "h.txt").unwrap_err();
        assert!(err.to_string().starts_with("h.txt:1: cannot detect"));
    }

    #[test]
    fn an_empty_file_is_an_empty_history() {
        let h = parse_str("", Format::Auto, "e").unwrap();
        assert!(h.ops.is_empty());
    }
}
