//! The values that operations carry.
//!
//! Every input format (the runner's JSONL, Jepsen's EDN, Porcupine's logs)
//! is read into one small dynamic [`Value`] type, so the models and the
//! search never care where a history came from. A value is `nil`, a
//! boolean, a 64-bit integer, a string, an EDN keyword, or a list of values
//! (cas `[from to]`, set reads, multi-register micro-operations).
//!
//! Values are totally ordered and hashable, so models can intern them into
//! small integer ids before the search starts (see `model`).
//!
//! In JSON a value is `null`, a boolean, an integer, a string or an array;
//! keywords are written as plain strings. Floats and integers outside `i64`
//! are rejected rather than rounded: a checker must not silently change what
//! a client saw.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value carried by an operation: what was written, read, or compared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// EDN `nil`, JSON `null`: no value (an absent key, or a read's
    /// invocation before its result is known).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A string.
    Str(String),
    /// An EDN keyword, stored without its leading colon (`:x` is `"x"`).
    Keyword(String),
    /// A list of values: EDN vector, list or set, JSON array.
    List(Vec<Value>),
}

impl Value {
    /// Whether this is `nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// Parses a value written on a command line (`--initial`): EDN syntax
    /// (`nil`, `0`, `"text"`, `:kw`, `[1 2]`), plus JSON's `null`. A bare
    /// word that is not a number is taken as a string.
    pub fn parse_cli(text: &str) -> Result<Value, String> {
        let trimmed = text.trim();
        if trimmed == "null" {
            return Ok(Value::Nil);
        }
        let form = crate::edn::parse_one(trimmed).map_err(|e| e.to_string())?;
        crate::edn::to_value(&form).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Value {
    /// Writes the value in EDN syntax, as Jepsen prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write_edn_string(f, s),
            Value::Keyword(k) => write!(f, ":{k}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Writes `s` as an EDN string literal, escaping quotes, backslashes and
/// control characters.
pub(crate) fn write_edn_string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\t' => out.write_str("\\t")?,
            '\r' => out.write_str("\\r")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Str(s) | Value::Keyword(s) => serializer.serialize_str(s),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null, a boolean, an integer, a string or an array")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("integer {v} does not fit in 64 signed bits")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Err(E::custom(format!(
            "float {v} is not supported (values are integers, strings or lists)"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // No size hint is trusted: the vector grows with the elements seen.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_edn() {
        let v = Value::List(vec![
            Value::Keyword("read".into()),
            Value::Nil,
            Value::Int(-3),
            Value::Str("a\"b".into()),
        ]);
        assert_eq!(v.to_string(), r#"[:read nil -3 "a\"b"]"#);
    }

    #[test]
    fn json_round_trip_keeps_integers_strings_and_lists() {
        let v = Value::List(vec![Value::Int(1), Value::Str("x".into()), Value::Nil]);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(text, r#"[1,"x",null]"#);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn json_floats_are_rejected_not_rounded() {
        assert!(serde_json::from_str::<Value>("1.5").is_err());
        assert!(serde_json::from_str::<Value>("18446744073709551615").is_err());
    }

    #[test]
    fn cli_values_accept_edn_and_json_null() {
        assert_eq!(Value::parse_cli("0").unwrap(), Value::Int(0));
        assert_eq!(Value::parse_cli("nil").unwrap(), Value::Nil);
        assert_eq!(Value::parse_cli("null").unwrap(), Value::Nil);
        assert_eq!(Value::parse_cli("\"\"").unwrap(), Value::Str(String::new()));
        assert_eq!(Value::parse_cli("abc").unwrap(), Value::Str("abc".into()));
    }
}
