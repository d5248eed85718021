//! Golden fixtures: every `fixtures/ok/*` must load and print exactly its `.expected` warnings;
//! every `fixtures/err/*` must be refused with exactly its `.expected` errors. Run with
//! `SLUICE_BLESS=1` to rewrite the `.expected` files after reviewing a deliberate change.

use std::fs;
use std::path::{Path, PathBuf};

use sluice_config::{Format, load_str};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    files
}

/// Loads a fixture the way `load_file` would pick its format, naming it by file name only so
/// that the expected output does not depend on where the checkout lives.
fn run(path: &Path) -> (bool, String) {
    let text = fs::read_to_string(path).expect("fixture text");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let format = if name.ends_with(".json") {
        Format::Json
    } else {
        Format::Yaml
    };
    match load_str(&text, name, format) {
        Ok(loaded) => (
            true,
            loaded.warnings.iter().map(|w| format!("{w}\n")).collect(),
        ),
        Err(errors) => (false, format!("{errors}\n")),
    }
}

fn check(kind: &str, want_ok: bool) -> usize {
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    let mut failures = Vec::new();
    let files = fixtures(kind);
    for path in &files {
        let (ok, got) = run(path);
        let expected_path = path.with_extension("expected");
        if ok != want_ok {
            failures.push(format!(
                "{}: expected it to {}, got:\n{got}",
                path.display(),
                if want_ok { "load" } else { "be refused" }
            ));
            continue;
        }
        if bless {
            fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_default();
        if want != got {
            failures.push(format!(
                "{}:\n--- expected\n{want}--- got\n{got}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    files.len()
}

#[test]
fn ok_fixtures_load_with_expected_warnings() {
    assert!(check("ok", true) >= 5);
}

#[test]
fn err_fixtures_give_expected_errors() {
    assert!(check("err", false) >= 15);
}
