//! Where the benchmark histories are, shared by the criterion bench
//! (`benches/check.rs`) and the quick table (`examples/timing.rs`): the
//! Porcupine corpus in `shared/histories/` beside the workspace.

use std::path::{Path, PathBuf};

/// `shared/histories/porcupine`; panics with the expected place if missing.
pub fn porcupine_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/histories/porcupine"
    ));
    assert!(
        dir.is_dir(),
        "missing {} (shared/ beside the workspace)",
        dir.display()
    );
    dir.to_path_buf()
}

/// The 102 etcd logs listed in `porcupine/expected.tsv`.
pub fn etcd_files() -> Vec<PathBuf> {
    let dir = porcupine_dir();
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
    tsv.lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| f.starts_with("jepsen/"))
        .map(|f| dir.join(f))
        .collect()
}
