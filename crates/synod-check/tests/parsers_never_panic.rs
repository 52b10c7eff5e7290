//! Every reader must answer `Ok` or an error naming a line for any input:
//! random bytes, and random mutations of real lines of each format. A
//! panic, or an error without a line for text that has lines, fails.

use proptest::prelude::*;
use synod_check::{check_linearizable, check_set, parse_str, Format, Model, Options};

const FORMATS: [Format; 5] = [
    Format::Auto,
    Format::Jsonl,
    Format::Edn,
    Format::PorcupineEtcd,
    Format::PorcupineKv,
];

/// Real lines of every format (from the runner, Knossos and Porcupine).
const SEEDS: &[&str] = &[
    r#"{"index":0,"time":1200,"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2]}"#,
    "{\"index\":0,\"time\":1,\"process\":3,\"type\":\"invoke\",\"f\":\"read_set\"}\n\
     {\"index\":1,\"time\":9800,\"process\":3,\"type\":\"ok\",\"f\":\"read_set\",\"value\":[1,2,3],\"node\":\"n2\",\"final\":true}",
    r#"{"index":2,"time":9900,"process":"nemesis","type":"info","f":"kill","value":"n1","error":"x"}"#,
    "[{:process 70, :type :invoke, :f :read, :value nil}\n {:process 70, :type :ok, :f :read, :value 3}]",
    "{:type :invoke,\n :f :txn,\n :value [[:read :x nil] [:write :y 2]],\n :process 3,\n :time 7686455705}",
    "{:process :nemesis, :type :info, :f :isolate, :value {:n1 #{:n2 :n3}}} ; comment",
    "{:type :invoke, :f :release, :process 1, :time 341187643, :index 0}\n\
     {:type :fail, :f :release, :process 1, :time 342667129, :error :not-held, :index 1}",
    "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\nINFO  jepsen.util - 2\t:ok\t:cas\t[3 0]",
    "INFO  jepsen.util - 4   :invoke :write  1\nINFO  jepsen.util - 4   :info   :write  :timed-out",
    "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n{:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}",
];

/// Parses with every format; checks with a few models when it parses.
fn exercise(text: &str) {
    for format in FORMATS {
        match parse_str(text, format, "fuzz") {
            Ok(history) => {
                for model in ["cas-register", "kv", "multi-register", "mutex", "set"] {
                    let model: Model = model.parse().unwrap();
                    let options = Options {
                        timeout: Some(std::time::Duration::from_millis(200)),
                        threads: 1,
                        ..Options::default()
                    };
                    let _ = check_linearizable(&history, &model, &options);
                }
                let _ = check_set(&history);
            }
            Err(e) => {
                assert_eq!(e.file, "fuzz");
                assert!(!e.message.is_empty());
                if text.contains('\n') || !text.trim().is_empty() {
                    assert!(e.line >= 1, "error without a line: {e}");
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Insert(usize, char),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutate(seed: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for m in mutations {
        let n = chars.len().max(1);
        match *m {
            Mutation::Delete(at) if !chars.is_empty() => {
                chars.remove(at % n);
            }
            Mutation::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
            Mutation::Duplicate(from, len) if !chars.is_empty() => {
                let from = from % n;
                let end = (from + len % 16).min(chars.len());
                let copy: Vec<char> = chars[from..end].to_vec();
                chars.splice(from..from, copy);
            }
            Mutation::Truncate(at) => chars.truncate(at % (chars.len() + 1)),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        '[', ']', '{', '}', '(', ')', '"', '\\', ':', ';', ',', '#', '_', '-', '9', 'N', '\n',
        '\t', ' ', 'é', '\u{0}',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), interesting).prop_map(|(a, c)| Mutation::Insert(a, c)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Mutation::Insert(a, c)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Mutation::Duplicate(a, l)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_real_lines_never_panic(
        seed in prop::sample::select(SEEDS),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        exercise(&mutate(seed, &mutations));
    }
}

#[test]
fn deeply_nested_input_is_an_error_for_every_format() {
    let text = format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000));
    for format in FORMATS {
        let _ = parse_str(&text, format, "deep");
    }
    let text = format!(
        "{{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":{}1{}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    assert!(parse_str(&text, Format::Jsonl, "deep").is_err());
}

#[test]
fn the_seeds_themselves_parse() {
    for seed in SEEDS {
        assert!(parse_str(seed, Format::Auto, "seed").is_ok(), "{seed}");
    }
}
