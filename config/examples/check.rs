//! Loads each config file named on the command line and prints its warnings and errors:
//! `cargo run -p sluice-config --example check -- bootstrap.yaml ...`.

use std::io::Write;
use std::path::Path;

fn main() {
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for arg in std::env::args().skip(1) {
        match sluice_config::load_file(Path::new(&arg)) {
            Ok(loaded) => {
                let _ = writeln!(out, "OK {arg}");
                for w in &loaded.warnings {
                    let _ = writeln!(out, "  warning: {w}");
                }
            }
            Err(errors) => {
                failed = true;
                let _ = writeln!(out, "ERR {arg}");
                for e in &errors.0 {
                    let _ = writeln!(out, "  {e}");
                }
            }
        }
    }
    std::process::exit(i32::from(failed));
}
