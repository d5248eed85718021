//! Command-line options of `sluice-upstream`, parsed by hand to keep the binary dependency-light.

use std::net::SocketAddr;

/// What the server does with each accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTP/1.1: answer every request with the fixed response.
    Http,
    /// TCP: write back whatever arrives.
    Echo,
    /// TCP: read and discard everything.
    Sink,
    /// TCP: write the fixed body in a loop until the peer goes away, ignoring input.
    Source,
}

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Address every worker binds with SO_REUSEPORT.
    pub listen: SocketAddr,
    /// Worker threads, one monoio runtime each.
    pub threads: usize,
    /// Response body size (HTTP) or write size (source).
    pub body_bytes: usize,
    /// Per-connection read buffer; also the largest request head accepted.
    pub read_buffer_bytes: usize,
    /// io_uring submission queue entries per worker.
    pub ring_entries: u32,
    /// Whether to set up the ring with COOP_TASKRUN + TASKRUN_FLAG (measured fastest here).
    pub is_coop_taskrun: bool,
    /// Connection handling.
    pub mode: Mode,
}

/// The `--help` text.
pub const USAGE: &str = "\
sluice-upstream: fixed-response HTTP/1.1 (or TCP echo/sink/source) server on io_uring

  --listen ADDR          address to bind, one SO_REUSEPORT socket per thread [127.0.0.1:18080]
  --threads N            worker threads [1]
  --body-bytes N         response body size; write size in source mode [13]
  --read-buffer-bytes N  per-connection read buffer, also the largest request head [16384]
  --ring-entries N       io_uring entries per thread [1024]
  --no-coop-taskrun      plain ring instead of COOP_TASKRUN + TASKRUN_FLAG
  --mode MODE            http | echo | sink | source [http]
";

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 18080)),
            threads: 1,
            body_bytes: 13,
            read_buffer_bytes: 16 * 1024,
            ring_entries: 1024,
            is_coop_taskrun: true,
            mode: Mode::Http,
        }
    }
}

impl Options {
    /// Parses the arguments after the program name. `Ok(None)` means `--help` was asked for.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Option<Self>, String> {
        let mut options = Self::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            // Accept both `--flag value` and `--flag=value`.
            let (flag, inline) = match flag.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (flag, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--listen" => options.listen = parse(&flag, &value()?)?,
                "--threads" => options.threads = parse(&flag, &value()?)?,
                "--body-bytes" => options.body_bytes = parse(&flag, &value()?)?,
                "--read-buffer-bytes" => options.read_buffer_bytes = parse(&flag, &value()?)?,
                "--ring-entries" => options.ring_entries = parse(&flag, &value()?)?,
                "--no-coop-taskrun" => options.is_coop_taskrun = false,
                "--mode" => {
                    options.mode = match value()?.as_str() {
                        "http" => Mode::Http,
                        "echo" => Mode::Echo,
                        "sink" => Mode::Sink,
                        "source" => Mode::Source,
                        other => return Err(format!("--mode: unknown mode {other:?}")),
                    }
                }
                other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
            }
        }
        if options.threads == 0 {
            return Err("--threads must be at least 1".to_owned());
        }
        if options.read_buffer_bytes < 1024 {
            return Err("--read-buffer-bytes must be at least 1024".to_owned());
        }
        if options.mode == Mode::Source && options.body_bytes == 0 {
            return Err("--body-bytes must be at least 1 in source mode".to_owned());
        }
        Ok(Some(options))
    }
}

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_flags() {
        let parsed = Options::parse(args(&[
            "--listen=127.0.0.1:9",
            "--threads",
            "2",
            "--body-bytes",
            "65536",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(parsed.listen.port(), 9);
        assert_eq!(parsed.threads, 2);
        assert_eq!(parsed.body_bytes, 65_536);
        assert_eq!(parsed.mode, Mode::Http);
        assert_eq!(Options::parse(args(&["--help"])), Ok(None));
        assert!(Options::parse(args(&["--threads", "0"])).is_err());
        assert!(Options::parse(args(&["--mode", "nope"])).is_err());
        assert!(Options::parse(args(&["--threads"])).is_err());
    }
}
