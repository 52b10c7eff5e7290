//! Jepsen/Knossos EDN histories, and Porcupine's kv logs (the same maps,
//! one a line, each with a `:key`).
//!
//! The text is either one vector or list of event maps, or a sequence of
//! event maps; maps may span lines and keys may come in any order. Each
//! event needs `:process`, `:type` and `:f`; `:value`, `:key`, `:time`,
//! `:error`, `:node` and `:final` are optional.

use crate::edn::{self, Edn, EdnError, Reader};
use crate::event::{EventType, Process};
use crate::history::{Builder, InputError, RawEvent};
use crate::value::Value;

pub(super) fn read(text: &str, builder: &mut Builder, need_key: bool) -> Result<(), InputError> {
    let syntax = |b: &Builder, e: EdnError| b.error(e.line, format!("EDN syntax: {}", e.message));
    let mut reader = Reader::new(text);
    if let Some(close) = reader.enter_sequence() {
        while let Some((line, form)) = reader.next_item(close).map_err(|e| syntax(builder, e))? {
            push_event(builder, line, &form, need_key)?;
        }
        if let Some((line, form)) = reader.next_form().map_err(|e| syntax(builder, e))? {
            return Err(builder.error(
                line,
                format!("{} after the history's closing bracket", form.kind()),
            ));
        }
        return Ok(());
    }
    while let Some((line, form)) = reader.next_form().map_err(|e| syntax(builder, e))? {
        push_event(builder, line, &form, need_key)?;
    }
    Ok(())
}

fn push_event(
    builder: &mut Builder,
    line: usize,
    form: &Edn,
    need_key: bool,
) -> Result<(), InputError> {
    let err = |message: String| builder.error(line, message);
    if form.as_map().is_none() {
        return Err(err(format!("expected an event map, found {}", form.kind())));
    }
    let process = match form.get("process") {
        Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
        Some(Edn::Int(p)) => return Err(err(format!(":process {p} is negative"))),
        Some(Edn::Keyword(name) | Edn::Str(name) | Edn::Symbol(name)) => {
            Process::Named(name.clone())
        }
        Some(other) => return Err(err(format!(":process is {}", other.kind()))),
        None => return Err(err("event has no :process".into())),
    };
    let kind = match name_of(form.get("type")) {
        Some("invoke") => EventType::Invoke,
        Some("ok") => EventType::Ok,
        Some("fail") => EventType::Fail,
        Some("info") => EventType::Info,
        Some(other) => return Err(err(format!("unknown :type {other}"))),
        None => return Err(err("event has no :type keyword".into())),
    };
    let Some(f) = name_of(form.get("f")) else {
        return Err(err("event has no :f".into()));
    };
    let named = matches!(process, Process::Named(_));
    // Nemesis values can be anything (maps of partitions...); they are
    // dropped, so only client values are converted.
    let value = match (named, form.get("value")) {
        (true, _) | (false, None) => Value::Nil,
        (false, Some(v)) => edn::to_value(v).map_err(|e| err(format!(":value: {}", e.message)))?,
    };
    let key = match form.get("key") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(k) | Edn::Keyword(k) | Edn::Symbol(k)) => Some(k.clone()),
        Some(Edn::Int(k)) => Some(k.to_string()),
        Some(other) => return Err(err(format!(":key is {}", other.kind()))),
    };
    if need_key && key.is_none() && !named {
        return Err(err("porcupine-kv event has no :key".into()));
    }
    let time = match form.get("time") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
        Some(other) => {
            return Err(err(format!(
                ":time is {}, not a non-negative integer",
                edn::to_text(other)
            )))
        }
    };
    let text_of = |e: Option<&Edn>| match e {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(s) | Edn::Keyword(s)) => Some(s.clone()),
        Some(other) => Some(edn::to_text(other)),
    };
    let final_read = matches!(form.get("final"), Some(Edn::Bool(true)));
    builder.push(RawEvent {
        line,
        process,
        kind,
        f: f.to_owned(),
        key,
        value,
        time,
        error: text_of(form.get("error")),
        node: text_of(form.get("node")),
        final_read,
    })
}

/// The name of a keyword, string or symbol.
fn name_of(form: Option<&Edn>) -> Option<&str> {
    match form? {
        Edn::Keyword(s) | Edn::Str(s) | Edn::Symbol(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::format::{parse_str, Format};
    use crate::history::{NilRead, Outcome};
    use crate::Value;

    #[test]
    fn knossos_vector_with_multiline_maps_and_comments() {
        let text = "; A multi-register\n[{:type :invoke,\n :f :txn,\n :value [[:read :x nil]],\n :process 3}\n\
                    {:type :ok, :f :txn, :value [[:read :x 0]], :process 3}\n\
                    {:process :nemesis, :type :info, :f :isolate, :value {:n1 #{:n2}}}]\n";
        let h = parse_str(text, Format::Edn, "m.edn").unwrap();
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].invoke.line, 2);
        assert_eq!(h.ops[0].complete.unwrap().line, 6);
        assert_eq!(
            h.ops[0].value,
            Value::List(vec![Value::List(vec![
                Value::Keyword("read".into()),
                Value::Keyword("x".into()),
                Value::Int(0)
            ])])
        );
        assert_eq!(h.dropped_events, 1);
        assert_eq!(h.nil_read, NilRead::Wildcard);
    }

    #[test]
    fn maps_one_per_line_without_a_vector() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"5\", :value nil}\n\
                    {:process 0, :type :ok, :f :get, :key \"5\", :value \"\"}\n";
        let h = parse_str(text, Format::PorcupineKv, "c.txt").unwrap();
        assert_eq!(h.ops[0].key.as_deref(), Some("5"));
        assert_eq!(h.ops[0].value, Value::Str(String::new()));
    }

    #[test]
    fn porcupine_kv_requires_a_key() {
        let text = "{:process 0, :type :invoke, :f :get, :value nil}\n";
        let err = parse_str(text, Format::PorcupineKv, "c.txt").unwrap_err();
        assert!(err.message.contains(":key"));
    }

    #[test]
    fn fail_and_info_outcomes_are_kept_with_errors() {
        let text = "[{:type :invoke, :f :release, :process 1, :time 3, :index 0}\n\
                    {:type :fail, :f :release, :process 1, :time 4, :error :not-held, :index 1}]";
        let h = parse_str(text, Format::Edn, "m.edn").unwrap();
        assert_eq!(h.ops[0].outcome, Outcome::Fail);
        assert_eq!(h.ops[0].error.as_deref(), Some("not-held"));
        assert_eq!(h.ops[0].invoke.time, Some(3));
    }

    #[test]
    fn errors_name_the_line_of_the_bad_event() {
        let text = "[{:process 1, :type :invoke, :f :read}\n {:process 1, :f :read}]";
        let err = parse_str(text, Format::Edn, "x.edn").unwrap_err();
        assert_eq!(err.to_string(), "x.edn:2: event has no :type keyword");
        let err = parse_str(
            "[{:process 1 :type :invoke :f :read}\n[",
            Format::Edn,
            "y.edn",
        )
        .unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse_str("[1]", Format::Edn, "z.edn").unwrap_err();
        assert!(err.message.contains("expected an event map"));
        let err = parse_str("[] []", Format::Edn, "w.edn").unwrap_err();
        assert!(err.message.contains("after the history's closing bracket"));
    }
}
