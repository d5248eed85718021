//! Helpers shared by the loader's integration tests: a fixture from `tests/fixtures/ok` and
//! the connection manager of a listener.

// Each test file uses some of them.
#![allow(dead_code)]

use std::path::Path;

use sluice_config::*;

/// Loads `tests/fixtures/ok/<name>`, which must load.
pub fn ok_fixture(name: &str) -> Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ok")
        .join(name);
    load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The HTTP connection manager of the listener named `listener`.
pub fn hcm<'a>(b: &'a Bootstrap, listener: &str) -> &'a HttpConnectionManager {
    let l = b
        .listeners
        .iter()
        .find(|l| l.name == listener)
        .unwrap_or_else(|| panic!("no listener {listener}"));
    hcm_of(l)
}

/// The HTTP connection manager of the first listener.
pub fn first_hcm(b: &Bootstrap) -> &HttpConnectionManager {
    hcm_of(&b.listeners[0])
}

fn hcm_of(l: &Listener) -> &HttpConnectionManager {
    let NetworkFilter::HttpConnectionManager(hcm) = &l.filter_chains[0].terminal else {
        panic!("hcm expected");
    };
    hcm
}
