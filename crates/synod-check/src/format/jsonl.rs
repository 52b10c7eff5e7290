//! The runner's JSON lines: one [`HistoryEvent`] per non-blank line.

use crate::event::HistoryEvent;
use crate::history::{Builder, InputError, RawEvent};

pub(super) fn read(text: &str, builder: &mut Builder) -> Result<(), InputError> {
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let event: HistoryEvent = serde_json::from_str(line)
            .map_err(|e| builder.error(line_no, format!("bad JSON event: {e}")))?;
        builder.push(RawEvent::from_event(event, line_no))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::format::{parse_str, Format};
    use crate::history::Outcome;
    use crate::Value;

    #[test]
    fn jsonl_events_pair_into_operations() {
        let text = r#"{"index":0,"time":5,"process":0,"type":"invoke","f":"read","key":"a","value":null}
{"index":1,"time":6,"process":"nemesis","type":"info","f":"kill","value":"n1"}

{"index":2,"time":9,"process":0,"type":"ok","f":"read","key":"a","value":3,"node":"n1"}
"#;
        let h = parse_str(text, Format::Jsonl, "h.jsonl").unwrap();
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].value, Value::Int(3));
        assert_eq!(h.ops[0].outcome, Outcome::Ok);
        assert_eq!(h.ops[0].node.as_deref(), Some("n1"));
        assert_eq!(h.ops[0].complete.unwrap().line, 4);
        assert_eq!(h.dropped_events, 1);
    }

    #[test]
    fn malformed_json_names_file_and_line() {
        let text =
            "{\"index\":0,\"time\":5,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{oops}\n";
        let err = parse_str(text, Format::Jsonl, "h.jsonl").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("h.jsonl:2: bad JSON event"));
    }

    #[test]
    fn unknown_type_is_an_error() {
        let text = r#"{"process":0,"type":"maybe","f":"read"}"#;
        assert!(parse_str(text, Format::Jsonl, "h").is_err());
    }
}
