//! Command-line flags (Envoy's names where they make sense) and the process entry point.

use std::path::PathBuf;
use std::time::Duration;

use crate::runtime::{Options, RingConfig, RingFlag};

/// The bootstrap used when neither `-c` nor `--config-yaml` is given: a listener on
/// 127.0.0.1:10000 answering from a direct_response route, and the admin endpoint on
/// 127.0.0.1:9901, so a newcomer sees the proxy work in one command.
pub const DEFAULT_BOOTSTRAP: &str = include_str!("default_bootstrap.yaml");

const USAGE: &str = "\
usage: sluice [options]

  -c, --config-path FILE     Envoy v3 bootstrap (.yaml/.yml or .json)
      --config-yaml YAML     bootstrap given inline (merged over -c when both are given: not
                             supported yet, give one of them)
      --mode serve|validate  validate: load and check the config, print the result, exit
      --concurrency N        worker threads (default: available cores)
      --drain-time-s N       how long SIGTERM waits for in-flight requests (default 600)
  -l, --log-level LEVEL      trace|debug|info|warn|error|critical|off (default info)
      --service-cluster NAME overrides node.cluster
      --service-node NAME    overrides node.id
      --io-uring-entries N   submission queue entries per worker ring (default 1024)
      --io-uring-flags LIST  comma-separated: coop_taskrun,taskrun_flag,single_issuer,
                             defer_taskrun (default coop_taskrun,taskrun_flag; 'none' for none)
      --allow-legacy-driver  run a worker on the epoll driver when its ring cannot be created
      --no-cpu-pinning       do not pin workers to CPUs
  -h, --help                 this text
      --version              print the version
";

/// What the command line asked for.
#[derive(Debug)]
struct Args {
    config_path: Option<PathBuf>,
    config_yaml: Option<String>,
    validate: bool,
    concurrency: Option<usize>,
    drain_time: Duration,
    log_level: log::LevelFilter,
    service_cluster: Option<String>,
    service_node: Option<String>,
    ring: RingConfig,
    pin_workers: bool,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        config_path: None,
        config_yaml: None,
        validate: false,
        concurrency: None,
        drain_time: Duration::from_secs(600),
        log_level: log::LevelFilter::Info,
        service_cluster: None,
        service_node: None,
        ring: RingConfig::default(),
        pin_workers: true,
    };
    while let Some(arg) = argv.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-c" | "--config-path" => a.config_path = Some(PathBuf::from(value(&flag)?)),
            "--config-yaml" => a.config_yaml = Some(value(&flag)?),
            "--mode" => match value(&flag)?.as_str() {
                "validate" => a.validate = true,
                "serve" => a.validate = false,
                other => return Err(format!("--mode: `{other}` is not serve or validate")),
            },
            "--concurrency" => {
                let v = value(&flag)?;
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("--concurrency: `{v}` is not a number"))?;
                // Envoy treats 0 as "one worker"; so does Sluice.
                a.concurrency = Some(n.max(1));
            }
            "--drain-time-s" => {
                let v = value(&flag)?;
                let n: u64 = v
                    .parse()
                    .map_err(|_| format!("--drain-time-s: `{v}` is not a number of seconds"))?;
                a.drain_time = Duration::from_secs(n);
            }
            "-l" | "--log-level" => {
                let v = value(&flag)?;
                a.log_level = match v.as_str() {
                    "trace" => log::LevelFilter::Trace,
                    "debug" => log::LevelFilter::Debug,
                    "info" => log::LevelFilter::Info,
                    "warn" | "warning" => log::LevelFilter::Warn,
                    "error" | "critical" => log::LevelFilter::Error,
                    "off" => log::LevelFilter::Off,
                    other => return Err(format!("--log-level: unknown level `{other}`")),
                };
            }
            "--service-cluster" => a.service_cluster = Some(value(&flag)?),
            "--service-node" => a.service_node = Some(value(&flag)?),
            "--io-uring-entries" => {
                let v = value(&flag)?;
                let n: u32 = v
                    .parse()
                    .ok()
                    .filter(|n: &u32| n.is_power_of_two() && (256..=32768).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "--io-uring-entries: `{v}` must be a power of two from 256 to 32768"
                        )
                    })?;
                a.ring.entries = n;
            }
            "--io-uring-flags" => {
                let v = value(&flag)?;
                a.ring.flags = if v == "none" {
                    Vec::new()
                } else {
                    v.split(',')
                        .map(|f| {
                            RingFlag::parse(f)
                                .ok_or_else(|| format!("--io-uring-flags: unknown flag `{f}`"))
                        })
                        .collect::<Result<_, _>>()?
                };
                if a.ring.flags.contains(&RingFlag::DeferTaskrun)
                    && !a.ring.flags.contains(&RingFlag::SingleIssuer)
                {
                    return Err("--io-uring-flags: defer_taskrun needs single_issuer".into());
                }
            }
            "--allow-legacy-driver" => a.ring.allow_legacy = true,
            "--no-cpu-pinning" => a.pin_workers = false,
            "-h" | "--help" => {
                eprint!("{USAGE}");
                return Ok(None);
            }
            "--version" => {
                eprintln!("sluice {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(Some(a))
}

/// The process entry point; returns the exit code.
pub fn main() -> i32 {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => return 0,
        Err(e) => {
            eprintln!("sluice: {e}");
            return 1;
        }
    };
    crate::log::init(args.log_level);
    let (loaded, origin) = match (&args.config_path, &args.config_yaml) {
        (Some(_), Some(_)) => {
            eprintln!(
                "sluice: give either -c or --config-yaml, not both (merging them is not supported yet)"
            );
            return 1;
        }
        (Some(path), None) => (sluice_config::load_file(path), path.display().to_string()),
        (None, Some(yaml)) => (
            sluice_config::load_str(yaml, "--config-yaml", sluice_config::Format::Yaml),
            "--config-yaml".to_owned(),
        ),
        (None, None) => {
            log::info!("no -c given: running the embedded default bootstrap");
            (
                sluice_config::load_str(
                    DEFAULT_BOOTSTRAP,
                    "<default bootstrap>",
                    sluice_config::Format::Yaml,
                ),
                "<default bootstrap>".to_owned(),
            )
        }
    };
    let mut loaded = match loaded {
        Ok(l) => l,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "sluice: configuration refused ({} error{})",
                errors.0.len(),
                if errors.0.len() == 1 { "" } else { "s" }
            );
            return 1;
        }
    };
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    if let Some(c) = args.service_cluster {
        loaded.bootstrap.node.cluster = c;
    }
    if let Some(n) = args.service_node {
        loaded.bootstrap.node.id = n;
    }
    if args.validate {
        eprintln!("configuration '{origin}' OK");
        return 0;
    }
    let concurrency = args
        .concurrency
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let options = Options {
        concurrency,
        drain_time: args.drain_time,
        ring: args.ring,
        pin_workers: args.pin_workers,
    };
    match crate::runtime::run(loaded, origin, options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Args>, String> {
        parse_args(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn flags_in_both_spellings() {
        let a = parse("-c x.yaml --concurrency=3 --drain-time-s 5 --mode validate")
            .unwrap()
            .unwrap();
        assert_eq!(a.config_path, Some(PathBuf::from("x.yaml")));
        assert_eq!(a.concurrency, Some(3));
        assert_eq!(a.drain_time, Duration::from_secs(5));
        assert!(a.validate);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse("--concurrency many").is_err());
        assert!(parse("--io-uring-entries 1000").is_err());
        assert!(parse("--io-uring-flags defer_taskrun").is_err());
        assert!(parse("--bogus").is_err());
    }
}
