//! A small EDN reader: just enough of Clojure's data syntax for Jepsen and
//! Knossos histories, written as a recursive-descent parser.
//!
//! What it reads: `nil`, `true`, `false`, integers (with an optional `N`
//! suffix), floats, strings with escapes, characters (`\a`, `\newline`),
//! keywords, symbols, vectors `[...]`, lists `(...)`, maps `{...}`, sets
//! `#{...}`, tagged forms (`#inst "..."`, records such as
//! `#jepsen.history.Op{...}`) and `#_` discards. Commas are whitespace and
//! `;` starts a comment that runs to the end of the line.
//!
//! Guarantees, because histories may come from anywhere:
//!
//! - **No panic** on any input: every malformed byte sequence is an
//!   [`EdnError`] carrying the line it was found on.
//! - **Bounded recursion**: nesting deeper than [`MAX_DEPTH`] is an error, so
//!   `[[[[...` cannot overflow the stack.
//! - **No size taken from the input**: collections grow with what is actually
//!   read; nothing is preallocated from a number in the text.

use std::fmt;

use crate::value::Value;

/// The deepest nesting of collections the reader accepts.
pub const MAX_DEPTH: usize = 64;

/// One EDN form, as read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    /// An integer too large for `i64` (kept as text), or a float.
    Number(String),
    Str(String),
    Char(char),
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The entries of a map, looking through a record tag such as
    /// `#jepsen.history.Op{...}`.
    pub(crate) fn as_map(&self) -> Option<&[(Edn, Edn)]> {
        match self {
            Edn::Map(entries) => Some(entries),
            Edn::Tagged(_, inner) => inner.as_map(),
            _ => None,
        }
    }

    /// The value stored under keyword `:name` in a map.
    pub(crate) fn get(&self, name: &str) -> Option<&Edn> {
        self.as_map()?
            .iter()
            .find(|(k, _)| matches!(k, Edn::Keyword(kw) if kw == name))
            .map(|(_, v)| v)
    }

    /// A short description of the form's kind, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Edn::Nil => "nil",
            Edn::Bool(_) => "a boolean",
            Edn::Int(_) | Edn::Number(_) => "a number",
            Edn::Str(_) => "a string",
            Edn::Char(_) => "a character",
            Edn::Keyword(_) => "a keyword",
            Edn::Symbol(_) => "a symbol",
            Edn::Vector(_) => "a vector",
            Edn::List(_) => "a list",
            Edn::Set(_) => "a set",
            Edn::Map(_) => "a map",
            Edn::Tagged(..) => "a tagged form",
        }
    }
}

/// A syntax error, with the 1-based line where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for EdnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for EdnError {}

/// Reads successive top-level forms from a text.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Reader<'a> {
        Reader {
            bytes: text.as_bytes(),
            text,
            pos: 0,
            line: 1,
        }
    }

    /// The next top-level form and the line it starts on, or `None` at the
    /// end of the text.
    pub(crate) fn next_form(&mut self) -> Result<Option<(usize, Edn)>, EdnError> {
        loop {
            self.skip_ws();
            if self.pos >= self.bytes.len() {
                return Ok(None);
            }
            if self.starts_with("#_") {
                self.pos += 2;
                self.read(1)?;
                continue;
            }
            let line = self.line;
            return self.read(0).map(|form| Some((line, form)));
        }
    }

    /// If the next form opens a vector or list, consumes the opening
    /// bracket and returns the closing one; histories are often one
    /// top-level vector, whose elements are read one by one with
    /// [`Reader::next_item`] so each keeps its own line number.
    pub(crate) fn enter_sequence(&mut self) -> Option<u8> {
        self.skip_ws();
        let close = match self.peek()? {
            b'[' => b']',
            b'(' => b')',
            _ => return None,
        };
        self.pos += 1;
        Some(close)
    }

    /// The next element of a sequence opened by [`Reader::enter_sequence`],
    /// with its line, or `None` once the closing bracket is consumed.
    pub(crate) fn next_item(&mut self, close: u8) -> Result<Option<(usize, Edn)>, EdnError> {
        loop {
            self.skip_ws();
            match self.peek() {
                None => return self.err(format!("missing '{}' at end of input", close as char)),
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(None);
                }
                Some(_) if self.starts_with("#_") => {
                    self.pos += 2;
                    self.read(1)?;
                }
                Some(_) => {
                    let line = self.line;
                    return self.read(1).map(|form| Some((line, form)));
                }
            }
        }
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            message: message.into(),
        })
    }

    fn starts_with(&self, s: &str) -> bool {
        self.bytes[self.pos..].starts_with(s.as_bytes())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' | 0x0c => self.pos += 1,
                b';' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Reads one form at nesting `depth`.
    fn read(&mut self, depth: usize) -> Result<Edn, EdnError> {
        if depth > MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.skip_ws();
        let Some(b) = self.peek() else {
            return self.err("unexpected end of input");
        };
        match b {
            b'[' => {
                self.pos += 1;
                self.read_seq(b']', depth).map(Edn::Vector)
            }
            b'(' => {
                self.pos += 1;
                self.read_seq(b')', depth).map(Edn::List)
            }
            b'{' => {
                self.pos += 1;
                self.read_map(depth)
            }
            b']' | b')' | b'}' => self.err(format!("unexpected '{}'", b as char)),
            b'"' => {
                self.pos += 1;
                self.read_string().map(Edn::Str)
            }
            b'\\' => {
                self.pos += 1;
                self.read_char()
            }
            b'#' => {
                self.pos += 1;
                self.read_dispatch(depth)
            }
            _ => self.read_atom(),
        }
    }

    fn read_seq(&mut self, close: u8, depth: usize) -> Result<Vec<Edn>, EdnError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return self.err(format!("missing '{}'", close as char)),
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) if self.starts_with("#_") => {
                    self.pos += 2;
                    self.read(depth + 1)?;
                }
                Some(_) => items.push(self.read(depth + 1)?),
            }
        }
    }

    fn read_map(&mut self, depth: usize) -> Result<Edn, EdnError> {
        let line = self.line;
        let items = self.read_seq(b'}', depth)?;
        if items.len() % 2 != 0 {
            return Err(EdnError {
                line,
                message: "map with an odd number of forms".into(),
            });
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut iter = items.into_iter();
        while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
            entries.push((k, v));
        }
        Ok(Edn::Map(entries))
    }

    fn read_dispatch(&mut self, depth: usize) -> Result<Edn, EdnError> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                self.read_seq(b'}', depth).map(Edn::Set)
            }
            Some(b'_') => {
                self.pos += 1;
                self.read(depth + 1)?;
                self.read(depth)
            }
            Some(b'"') => {
                // A regex literal: keep its text.
                self.pos += 1;
                self.read_string().map(Edn::Str)
            }
            Some(b) if is_symbol_start(b) => {
                let tag = self.read_token();
                let inner = self.read(depth + 1)?;
                Ok(Edn::Tagged(tag.to_owned(), Box::new(inner)))
            }
            _ => self.err("'#' must be followed by '{', '_', '\"' or a tag"),
        }
    }

    fn read_string(&mut self) -> Result<String, EdnError> {
        let start_line = self.line;
        let mut out = String::new();
        loop {
            // Copy the run of ordinary characters in one go.
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' {
                    break;
                }
                if b == b'\n' {
                    self.line += 1;
                }
                self.pos += 1;
            }
            // Safe to slice: we stopped on an ASCII byte or at the end.
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                None => {
                    return Err(EdnError {
                        line: start_line,
                        message: "unterminated string".into(),
                    })
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => {
                    self.pos += 1;
                    let escaped = match self.peek() {
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        Some(b'r') => '\r',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.read_hex4()?;
                            out.push(c);
                            continue;
                        }
                        _ => return self.err("bad escape in string"),
                    };
                    self.pos += 1;
                    out.push(escaped);
                }
            }
        }
    }

    fn read_hex4(&mut self) -> Result<char, EdnError> {
        let Some(digits) = self.text.get(self.pos..self.pos + 4) else {
            return self.err("\\u needs four hex digits");
        };
        let Ok(code) = u32::from_str_radix(digits, 16) else {
            return self.err("\\u needs four hex digits");
        };
        self.pos += 4;
        Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn read_char(&mut self) -> Result<Edn, EdnError> {
        // A character literal is a backslash followed by one character, or
        // by a name such as `newline`.
        let Some(first) = self.text[self.pos..].chars().next() else {
            return self.err("'\\' at end of input");
        };
        self.pos += first.len_utf8();
        if !first.is_ascii_alphanumeric() {
            return Ok(Edn::Char(first));
        }
        let rest_start = self.pos;
        while let Some(b) = self.peek() {
            if is_delimiter(b) {
                break;
            }
            self.pos += 1;
        }
        let name = &self.text[rest_start - first.len_utf8()..self.pos];
        let c = match name {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "backspace" => '\u{8}',
            "formfeed" => '\u{c}',
            _ if name.len() == first.len_utf8() => first,
            _ if name.starts_with('u') && name.len() == 5 => {
                match u32::from_str_radix(&name[1..], 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(c) => c,
                    None => return self.err(format!("bad character \\{name}")),
                }
            }
            _ => return self.err(format!("bad character \\{name}")),
        };
        Ok(Edn::Char(c))
    }

    /// Reads a run of non-delimiter bytes; it always ends on an ASCII byte,
    /// so the slice is valid UTF-8.
    fn read_token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_delimiter(b) {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn read_atom(&mut self) -> Result<Edn, EdnError> {
        let token = self.read_token();
        if token.is_empty() {
            // The byte is a delimiter we do not handle here (cannot happen
            // for the bytes `read` dispatches on, but stay total).
            self.pos += 1;
            return self.err("unexpected character");
        }
        match token {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        let bytes = token.as_bytes();
        let numeric = bytes[0].is_ascii_digit()
            || (bytes.len() > 1
                && (bytes[0] == b'-' || bytes[0] == b'+')
                && bytes[1].is_ascii_digit());
        if numeric {
            return self.read_number(token);
        }
        if let Some(name) = token.strip_prefix(':') {
            if name.is_empty() || name == ":" {
                return self.err("empty keyword");
            }
            return Ok(Edn::Keyword(name.trim_start_matches(':').to_owned()));
        }
        Ok(Edn::Symbol(token.to_owned()))
    }

    fn read_number(&self, token: &str) -> Result<Edn, EdnError> {
        let digits = token.strip_suffix('N').unwrap_or(token);
        if let Ok(i) = digits.parse::<i64>() {
            return Ok(Edn::Int(i));
        }
        let all_digits = digits
            .trim_start_matches(['+', '-'])
            .bytes()
            .all(|b| b.is_ascii_digit());
        let float_text = token.strip_suffix('M').unwrap_or(token);
        if all_digits || float_text.parse::<f64>().is_ok() {
            return Ok(Edn::Number(token.to_owned()));
        }
        self.err(format!("bad number {token:?}"))
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b','
            | 0x0c
            | b'['
            | b']'
            | b'('
            | b')'
            | b'{'
            | b'}'
            | b'"'
            | b';'
    )
}

fn is_symbol_start(b: u8) -> bool {
    b.is_ascii_alphabetic()
        || matches!(
            b,
            b'*' | b'!' | b'_' | b'?' | b'-' | b'+' | b'.' | b'<' | b'>' | b'='
        )
}

/// Renders a form back to EDN text (for messages and `:error` fields).
pub(crate) fn to_text(form: &Edn) -> String {
    fn seq(out: &mut String, open: &str, items: &[Edn], close: &str) {
        out.push_str(open);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&to_text(item));
        }
        out.push_str(close);
    }
    let mut out = String::new();
    match form {
        Edn::Nil => out.push_str("nil"),
        Edn::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Edn::Int(i) => out.push_str(&i.to_string()),
        Edn::Number(n) | Edn::Symbol(n) | Edn::Str(n) => out.push_str(n),
        Edn::Char(c) => out.push(*c),
        Edn::Keyword(k) => {
            out.push(':');
            out.push_str(k);
        }
        Edn::Vector(items) => seq(&mut out, "[", items, "]"),
        Edn::List(items) => seq(&mut out, "(", items, ")"),
        Edn::Set(items) => seq(&mut out, "#{", items, "}"),
        Edn::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&to_text(k));
                out.push(' ');
                out.push_str(&to_text(v));
            }
            out.push('}');
        }
        Edn::Tagged(tag, inner) => {
            out.push('#');
            out.push_str(tag);
            out.push(' ');
            out.push_str(&to_text(inner));
        }
    }
    out
}

/// Parses a text that must hold exactly one form.
pub(crate) fn parse_one(text: &str) -> Result<Edn, EdnError> {
    let mut reader = Reader::new(text);
    let Some((_, form)) = reader.next_form()? else {
        return Err(EdnError {
            line: 1,
            message: "empty input".into(),
        });
    };
    if let Some((line, _)) = reader.next_form()? {
        return Err(EdnError {
            line,
            message: "more than one form".into(),
        });
    }
    Ok(form)
}

/// Converts a form to a [`Value`]. Maps, characters, floats and oversized
/// integers have no `Value` and are errors; symbols become strings.
pub(crate) fn to_value(form: &Edn) -> Result<Value, EdnError> {
    fn list(items: &[Edn]) -> Result<Value, EdnError> {
        items
            .iter()
            .map(to_value)
            .collect::<Result<_, _>>()
            .map(Value::List)
    }
    let unsupported = |what: &str| EdnError {
        line: 0,
        message: format!("{what} is not a supported operation value"),
    };
    match form {
        Edn::Nil => Ok(Value::Nil),
        Edn::Bool(b) => Ok(Value::Bool(*b)),
        Edn::Int(i) => Ok(Value::Int(*i)),
        Edn::Str(s) | Edn::Symbol(s) => Ok(Value::Str(s.clone())),
        Edn::Keyword(k) => Ok(Value::Keyword(k.clone())),
        Edn::Vector(items) | Edn::List(items) => list(items),
        Edn::Set(items) => {
            let mut value = list(items)?;
            if let Value::List(items) = &mut value {
                items.sort();
            }
            Ok(value)
        }
        Edn::Number(text) => Err(unsupported(&format!("number {text}"))),
        Edn::Char(_) | Edn::Map(_) | Edn::Tagged(..) => Err(unsupported(form.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(text: &str) -> Vec<Edn> {
        let mut r = Reader::new(text);
        let mut out = Vec::new();
        while let Some((_, f)) = r.next_form().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn commas_are_whitespace_and_semicolons_start_comments() {
        let f = forms("; header\n[1, 2 ,3] ; trailing\n");
        assert_eq!(
            f,
            vec![Edn::Vector(vec![Edn::Int(1), Edn::Int(2), Edn::Int(3)])]
        );
    }

    #[test]
    fn maps_read_keywords_nil_strings_and_nested_vectors() {
        let f = parse_one(r#"{:process 7, :type :ok, :f :cas, :value [2 3], :k "a\nb" :n nil}"#)
            .unwrap();
        assert_eq!(f.get("process"), Some(&Edn::Int(7)));
        assert_eq!(f.get("type"), Some(&Edn::Keyword("ok".into())));
        assert_eq!(
            f.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(2), Edn::Int(3)]))
        );
        assert_eq!(f.get("k"), Some(&Edn::Str("a\nb".into())));
        assert_eq!(f.get("n"), Some(&Edn::Nil));
    }

    #[test]
    fn maps_over_several_lines_report_their_first_line() {
        let mut r = Reader::new("\n\n{:a 1\n :b 2}\n{:c\n3}");
        assert_eq!(r.next_form().unwrap().unwrap().0, 3);
        assert_eq!(r.next_form().unwrap().unwrap().0, 5);
        assert!(r.next_form().unwrap().is_none());
    }

    #[test]
    fn sets_tags_records_and_discards_are_read() {
        let f = forms("#{:a :b} #inst \"2020\" #jepsen.history.Op{:f :read} #_ [1 2] :end");
        assert_eq!(f.len(), 4);
        assert_eq!(f[2].get("f"), Some(&Edn::Keyword("read".into())));
        assert_eq!(f[3], Edn::Keyword("end".into()));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        let err = parse_one(&text).unwrap_err();
        assert!(err.message.contains("nesting"), "{err}");
    }

    #[test]
    fn unterminated_forms_are_errors_with_lines() {
        assert_eq!(parse_one("[1 2").unwrap_err().message, "missing ']'");
        assert_eq!(parse_one("\n\"abc").unwrap_err().line, 2);
        assert!(parse_one("{:a}").is_err());
        assert!(parse_one(")").is_err());
        assert!(parse_one("12abc").is_err());
    }

    #[test]
    fn big_integers_and_floats_are_read_but_are_not_values() {
        let f = parse_one("[99999999999999999999 1.5 3N]").unwrap();
        let Edn::Vector(items) = &f else { panic!() };
        assert_eq!(items[2], Edn::Int(3));
        assert!(to_value(&items[0]).is_err());
        assert!(to_value(&items[1]).is_err());
    }

    #[test]
    fn characters_and_unicode_escapes() {
        assert_eq!(parse_one("\\a").unwrap(), Edn::Char('a'));
        assert_eq!(parse_one("\\newline").unwrap(), Edn::Char('\n'));
        assert_eq!(parse_one("\"\\u00e9\"").unwrap(), Edn::Str("é".into()));
        assert!(parse_one("\"\\u00\"").is_err());
    }
}
