#!/usr/bin/env bash
# Runs every test of the workspace in one command: unit and property tests of each crate, and the
# end-to-end tests in tests/ that drive the real release binary over loopback sockets.
# Needs only the Rust toolchain; uses cargo-nextest when installed (one process per test), plain
# `cargo test` otherwise. Extra arguments go to the test runner (e.g. a test-name filter).
# Exits non-zero if anything fails to build or any test fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

target="${CARGO_TARGET_DIR:-target}"
[[ "$target" = /* ]] || target="$root/$target"
export CARGO_TARGET_DIR="$target"

echo "test.sh: building the release binary"
cargo build --release -p sluice --bin sluice
export SLUICE_BIN="$target/release/sluice"

if [[ "${SLUICE_NO_NEXTEST:-0}" != 1 ]] && cargo nextest --version >/dev/null 2>&1; then
  echo "test.sh: running the tests with cargo-nextest"
  status=0
  cargo nextest run --workspace --release --no-fail-fast "$@" || status=$?
  # nextest does not run doctests.
  cargo test --workspace --release --doc || status=$?
  exit "$status"
else
  echo "test.sh: running the tests with cargo test"
  cargo test --workspace --release --no-fail-fast "$@"
fi
