//! The binary's command line: bad flags and bad configurations exit with
//! status 2 and say why, before anything is opened or bound.

use std::process::Command;

fn node(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod-node"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const BASE: &[&str] = &[
    "--id",
    "1",
    "--listen",
    "127.0.0.1:1",
    "--client",
    "127.0.0.1:2",
    "--data-dir",
    "/nonexistent/x",
];

fn with(extra: &[&str]) -> Vec<&'static str> {
    let mut v: Vec<&str> = BASE.to_vec();
    v.extend(
        extra
            .iter()
            .map(|s| -> &'static str { Box::leak(s.to_string().into_boxed_str()) }),
    );
    v
}

#[test]
fn unknown_protocol_exits_2() {
    let (code, err) = node(&with(&["--protocol", "pbft"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pbft"), "{err}");
}

#[test]
fn bad_peer_address_exits_2() {
    let (code, err) = node(&with(&["--peer", "2=nowhere"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn duplicate_peer_ids_exit_2() {
    let (code, err) = node(&with(&[
        "--peer",
        "2=127.0.0.1:5",
        "--peer",
        "2=127.0.0.1:6",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("more than once"), "{err}");
}

#[test]
fn itself_among_its_peers_exits_2() {
    let (code, err) = node(&with(&["--peer", "1=127.0.0.1:5"]));
    assert_eq!(code, 2);
    assert!(err.contains("itself"), "{err}");
}

#[test]
fn missing_required_flags_exit_2() {
    let (code, _) = node(&["--id", "1"]);
    assert_eq!(code, 2);
}

#[test]
fn help_exits_0() {
    let (code, _) = node(&["--help"]);
    assert_eq!(code, 0);
}
