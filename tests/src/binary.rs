//! Finds the `sluice` binary under test: `SLUICE_BIN`, or a release build made once per process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Path of the `sluice` binary. `SLUICE_BIN` wins; otherwise the workspace's release binary is
/// built once per test process (`cargo build --release -p sluice --bin sluice`) and used from the
/// target dir (`CARGO_TARGET_DIR` respected).
pub fn sluice_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("SLUICE_BIN") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "SLUICE_BIN={path:?} is not a file");
            path
        }
        None => build_release_binary(),
    })
}

/// The workspace root: this crate lives in `<root>/tests`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

fn build_release_binary() -> PathBuf {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "-p", "sluice", "--bin", "sluice"])
        .current_dir(&root)
        .output()
        .expect("run cargo build for the sluice binary");
    assert!(
        output.status.success(),
        "building sluice failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let bin = target.join("release").join("sluice");
    assert!(
        bin.is_file(),
        "cargo build succeeded but {bin:?} is missing"
    );
    bin
}
