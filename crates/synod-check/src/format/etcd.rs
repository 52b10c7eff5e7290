//! Porcupine's etcd logs: Jepsen's `jepsen.util` log lines for one CAS
//! register,
//!
//! ```text
//! INFO  jepsen.util - 2<TAB>:invoke<TAB>:cas<TAB>[3 0]
//! INFO  jepsen.util - 4<TAB>:info<TAB>:write<TAB>:timed-out
//! ```
//!
//! Fields are separated by tabs or by runs of spaces (files 100 to 102), so
//! the line is split on whitespace; the value is the rest of the line, read
//! as EDN. Blank lines are allowed; any other line is an error.

use crate::edn;
use crate::event::{EventType, Process};
use crate::history::{Builder, InputError, RawEvent};

pub(super) fn read(text: &str, builder: &mut Builder) -> Result<(), InputError> {
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_line(line).map_err(|message| builder.error(line_no, message))?;
        builder.push(RawEvent {
            line: line_no,
            ..event
        })?;
    }
    Ok(())
}

/// Splits off the next whitespace-separated token.
fn token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

fn parse_line(line: &str) -> Result<RawEvent, String> {
    const SHAPE: &str = "expected `INFO  jepsen.util - <process> <type> <f> <value>`";
    let mut rest = line;
    for expected in ["INFO", "jepsen.util", "-"] {
        match token(rest) {
            Some((t, r)) if t == expected => rest = r,
            _ => return Err(SHAPE.into()),
        }
    }
    let (process, r) = token(rest).ok_or(SHAPE)?;
    let (kind, r) = token(r).ok_or(SHAPE)?;
    let (f, r) = token(r).ok_or(SHAPE)?;
    let value_text = r.trim();
    if value_text.is_empty() {
        return Err(format!("{SHAPE}: the value is missing"));
    }
    let process = match process.parse::<u64>() {
        Ok(p) => Process::Client(p),
        Err(_) if process.starts_with(':') => Process::Named(process[1..].to_owned()),
        Err(_) => {
            return Err(format!(
                "process {process:?} is neither an integer nor a keyword"
            ))
        }
    };
    let kind = match kind {
        ":invoke" => EventType::Invoke,
        ":ok" => EventType::Ok,
        ":fail" => EventType::Fail,
        ":info" => EventType::Info,
        other => return Err(format!("unknown type {other:?}")),
    };
    let Some(f) = f.strip_prefix(':').filter(|f| !f.is_empty()) else {
        return Err(format!("function {f:?} is not a keyword"));
    };
    let value = edn::parse_one(value_text)
        .and_then(|form| edn::to_value(&form))
        .map_err(|e| format!("value {value_text:?}: {}", e.message))?;
    Ok(RawEvent {
        line: 0,
        process,
        kind,
        f: f.to_owned(),
        key: None,
        value,
        time: None,
        error: None,
        node: None,
        final_read: false,
    })
}

#[cfg(test)]
mod tests {
    use crate::format::{parse_str, Format};
    use crate::history::{NilRead, Outcome};
    use crate::Value;

    #[test]
    fn tab_and_space_separated_lines_both_parse() {
        let text = "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n\
                    INFO  jepsen.util - 2   :ok     :cas    [3 0]\n";
        let h = parse_str(text, Format::PorcupineEtcd, "etcd.log").unwrap();
        assert_eq!(
            h.ops[0].value,
            Value::List(vec![Value::Int(3), Value::Int(0)])
        );
        assert_eq!(h.ops[0].outcome, Outcome::Ok);
        assert_eq!(h.nil_read, NilRead::Absent);
    }

    #[test]
    fn timed_out_info_keeps_the_written_value() {
        let text = "INFO  jepsen.util - 4\t:invoke\t:write\t1\nINFO  jepsen.util - 4\t:info\t:write\t:timed-out\n";
        let h = parse_str(text, Format::PorcupineEtcd, "etcd.log").unwrap();
        assert_eq!(h.ops[0].value, Value::Int(1));
        assert_eq!(h.ops[0].outcome, Outcome::Info);
    }

    #[test]
    fn lines_of_another_shape_are_errors_not_skipped() {
        let text = "INFO  jepsen.util - 4\t:invoke\t:write\t1\nWARN something else\n";
        let err = parse_str(text, Format::PorcupineEtcd, "etcd.log").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse_str(
            "INFO  jepsen.util - x\t:invoke\t:read\tnil",
            Format::PorcupineEtcd,
            "e",
        )
        .unwrap_err();
        assert!(err.message.contains("process"));
        let err = parse_str(
            "INFO  jepsen.util - 1\t:invoke\t:read",
            Format::PorcupineEtcd,
            "e",
        )
        .unwrap_err();
        assert!(err.message.contains("value is missing"));
    }
}
