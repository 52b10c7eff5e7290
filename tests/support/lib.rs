//! Helpers shared by the end-to-end tests.

pub mod kill_leader;

use std::path::PathBuf;

/// The `synod-node` binary built by `cargo test --workspace` (synod-node's
/// own integration tests make cargo build it next to the test binaries).
pub fn node_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SYNOD_NODE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let bin = profile_dir.join("synod-node");
    assert!(
        bin.is_file(),
        "{} is missing: run through `cargo test --workspace` (or set SYNOD_NODE_BIN)",
        bin.display()
    );
    bin
}
