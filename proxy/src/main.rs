//! The `sluice` binary: see `sluice --help`.

fn main() {
    std::process::exit(sluice::cli::main());
}
