//! Header mutations (`request_headers_to_add` / `_remove`, `response_headers_to_add` /
//! `_remove`) and the `%VAR%` commands Envoy allows in their values.
//!
//! The loader parses each value once (`HeaderValueOption::parts`): a value without `%` is used
//! as written, so it costs nothing per request; a value with commands is expanded per request
//! from its parts, with no parsing left to do. `%START_TIME%` reads the clock only when the
//! request has no start time yet (its access log records one), and at most once per request.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::SystemTime;

use sluice_config::model::{
    AppendAction, FilterMetadata, HeaderCommand, HeaderValueOption, HeaderValuePart,
};

use super::headers::HeaderMap;

/// What a value's commands may read.
#[derive(Debug)]
pub struct Context<'a> {
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the client connected to, when known.
    pub local: Option<SocketAddr>,
    /// The request headers (for `%REQ(...)%`).
    pub request: &'a HeaderMap,
    /// The upstream host, once picked (response headers only, as in Envoy).
    pub upstream: Option<Upstream<'a>>,
    /// When the request started (`%START_TIME%`): filled from the clock on first use when
    /// nothing recorded it, so a request's request and response headers show the same time.
    pub start: &'a Cell<Option<SystemTime>>,
}

/// The picked upstream host as commands see it.
#[derive(Debug, Clone, Copy)]
pub struct Upstream<'a> {
    /// Its address.
    pub address: SocketAddr,
    /// Its endpoint's `metadata.filter_metadata` (`%UPSTREAM_METADATA(...)%`).
    pub metadata: &'a FilterMetadata,
}

/// Applies one level of mutations: removals first, then additions with their append action,
/// as Envoy's `HeaderParser::evaluateHeaders` does.
pub fn mutate(
    headers: &mut HeaderMap,
    remove: &[String],
    add: &[HeaderValueOption],
    cx: &Context<'_>,
) {
    for name in remove {
        headers.remove(name.as_bytes());
    }
    let mut scratch = Vec::new();
    for option in add {
        let value: &[u8] = if option.parts.is_empty() {
            option.value.as_bytes()
        } else {
            scratch.clear();
            expand(&option.parts, cx, &mut scratch);
            &scratch
        };
        if value.is_empty() && !option.keep_empty_value {
            continue;
        }
        let key = option.key.as_bytes();
        match option.append_action {
            AppendAction::AppendIfExistsOrAdd => headers.append(key, value),
            AppendAction::AddIfAbsent => {
                if !headers.contains(key) {
                    headers.append(key, value);
                }
            }
            AppendAction::OverwriteIfExistsOrAdd => headers.set(key, value),
            AppendAction::OverwriteIfExists => {
                if headers.contains(key) {
                    headers.set(key, value);
                }
            }
        }
    }
}

/// Expands a parsed value into `out`.
pub fn expand(parts: &[HeaderValuePart], cx: &Context<'_>, out: &mut Vec<u8>) {
    for part in parts {
        match part {
            HeaderValuePart::Literal(s) => out.extend_from_slice(s.as_bytes()),
            HeaderValuePart::Command(c, max_len) => {
                let start = out.len();
                command(c, cx, out);
                if let Some(n) = max_len {
                    out.truncate(start + (out.len() - start).min(*n));
                }
            }
        }
    }
}

fn command(c: &HeaderCommand, cx: &Context<'_>, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let upstream = cx.upstream.map(|u| u.address);
    match c {
        HeaderCommand::DownstreamRemoteAddress => {
            let _ = write!(out, "{}", cx.peer);
        }
        HeaderCommand::DownstreamRemoteAddressWithoutPort => {
            let _ = write!(out, "{}", cx.peer.ip());
        }
        HeaderCommand::DownstreamRemotePort => {
            let _ = write!(out, "{}", cx.peer.port());
        }
        HeaderCommand::DownstreamLocalAddress => {
            if let Some(l) = cx.local {
                let _ = write!(out, "{l}");
            }
        }
        HeaderCommand::DownstreamLocalAddressWithoutPort => {
            if let Some(l) = cx.local {
                let _ = write!(out, "{}", l.ip());
            }
        }
        HeaderCommand::DownstreamLocalPort => {
            if let Some(l) = cx.local {
                let _ = write!(out, "{}", l.port());
            }
        }
        HeaderCommand::UpstreamRemoteAddress => {
            if let Some(u) = upstream {
                let _ = write!(out, "{u}");
            }
        }
        HeaderCommand::UpstreamRemoteAddressWithoutPort => {
            if let Some(u) = upstream {
                let _ = write!(out, "{}", u.ip());
            }
        }
        HeaderCommand::UpstreamRemotePort => {
            if let Some(u) = upstream {
                let _ = write!(out, "{}", u.port());
            }
        }
        HeaderCommand::Protocol => out.extend_from_slice(b"HTTP/1.1"),
        HeaderCommand::Hostname => out.extend_from_slice(hostname().as_bytes()),
        HeaderCommand::Req { main, alternative } => {
            let value = cx.request.get(main.as_bytes()).or_else(|| {
                alternative
                    .as_ref()
                    .and_then(|a| cx.request.get(a.as_bytes()))
            });
            if let Some(v) = value {
                out.extend_from_slice(v);
            }
        }
        HeaderCommand::StartTime(format) => {
            let t = cx.start.get().unwrap_or_else(|| {
                let now = SystemTime::now();
                cx.start.set(Some(now));
                now
            });
            crate::access_log::write_time(format, t, out);
        }
        HeaderCommand::UpstreamMetadata { namespace, path } => {
            if let Some(u) = cx.upstream {
                write_metadata(u.metadata, namespace, path, out);
            }
        }
    }
}

/// Envoy's metadata formatter: the value at `namespace` / `path`; a string as is, any other
/// value as JSON (a number without a fractional part as an integer); nothing when absent or
/// null.
fn write_metadata(metadata: &FilterMetadata, namespace: &str, path: &[String], out: &mut Vec<u8>) {
    use serde_json::Value;
    let Some(fields) = metadata.get(namespace) else {
        return;
    };
    let value = match path.split_first() {
        None => {
            let _ = serde_json::to_writer(&mut *out, fields);
            return;
        }
        Some((first, rest)) => {
            let mut v = fields.get(first.as_str());
            for key in rest {
                v = v.and_then(|v| v.get(key.as_str()));
            }
            v
        }
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.extend_from_slice(s.as_bytes()),
        Some(Value::Number(n)) => match n.as_f64() {
            // Protobuf keeps every number as a double; Envoy prints 1.0 as `1`.
            #[allow(clippy::cast_possible_truncation)]
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                let mut b = itoa::Buffer::new();
                out.extend_from_slice(b.format(f as i64).as_bytes());
            }
            _ => {
                let _ = serde_json::to_writer(&mut *out, n);
            }
        },
        Some(other) => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// The machine's host name, read once.
pub(crate) fn hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(key: &str, value: &str, append_action: AppendAction) -> HeaderValueOption {
        HeaderValueOption {
            key: key.into(),
            value: value.into(),
            parts: sluice_config::parse_header_value(value).unwrap(),
            append_action,
            keep_empty_value: false,
        }
    }

    fn run(v: &str, cx: &Context<'_>) -> String {
        let parts = sluice_config::parse_header_value(v).unwrap();
        if parts.is_empty() {
            return v.to_owned();
        }
        let mut out = Vec::new();
        expand(&parts, cx, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn commands_expand_and_literals_stay() {
        let mut req = HeaderMap::new();
        req.append(b"user-agent", b"curl/8");
        let start = Cell::new(None);
        let cx = Context {
            peer: "10.0.0.7:4242".parse().unwrap(),
            local: Some("127.0.0.1:80".parse().unwrap()),
            request: &req,
            upstream: None,
            start: &start,
        };
        assert_eq!(run("plain", &cx), "plain");
        assert_eq!(run("%DOWNSTREAM_REMOTE_ADDRESS%", &cx), "10.0.0.7:4242");
        assert_eq!(
            run("ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%;", &cx),
            "ip=10.0.0.7;"
        );
        assert_eq!(run("%DOWNSTREAM_LOCAL_PORT%", &cx), "80");
        assert_eq!(run("%REQ(User-Agent)%", &cx), "curl/8");
        assert_eq!(run("%REQ(x-missing?user-agent):4%", &cx), "curl");
        assert_eq!(run("%REQ(x-missing)%", &cx), "");
        assert_eq!(run("100%%", &cx), "100%");
        assert_eq!(run("%PROTOCOL%", &cx), "HTTP/1.1");
        // Upstream commands are empty until a host is picked (request headers).
        assert_eq!(
            run("[%UPSTREAM_REMOTE_ADDRESS%%UPSTREAM_METADATA(a:b)%]", &cx),
            "[]"
        );
    }

    #[test]
    fn start_time_is_read_once_per_request() {
        let req = HeaderMap::new();
        // 2016-04-15T20:17:00.310Z
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_460_751_420_310);
        let start = Cell::new(Some(t));
        let cx = Context {
            peer: "10.0.0.7:4242".parse().unwrap(),
            local: None,
            request: &req,
            upstream: None,
            start: &start,
        };
        assert_eq!(run("%START_TIME%", &cx), "2016-04-15T20:17:00.310Z");
        assert_eq!(run("%START_TIME(%s.%3f)%", &cx), "1460751420.310");
        assert_eq!(run("%START_TIME(%Y):2%", &cx), "20");
        // Without a recorded start the clock is read on first use and kept.
        let empty = Cell::new(None);
        let cx = Context {
            start: &empty,
            ..cx
        };
        let first = run("%START_TIME(%s%9f)%", &cx);
        assert_eq!(run("%START_TIME(%s%9f)%", &cx), first);
        assert!(empty.get().is_some());
    }

    #[test]
    fn upstream_metadata_follows_envoys_formatter() {
        let req = HeaderMap::new();
        let start = Cell::new(None);
        let serde_json::Value::Object(ns) = serde_json::json!({
            "s": "eu-1", "n": 7, "f": 1.5, "whole": 2.0, "b": true, "nil": null,
            "nested": {"k": ["x", 1]},
        }) else {
            unreachable!("an object literal")
        };
        let metadata: FilterMetadata = [("com.acme".to_owned(), ns)].into_iter().collect();
        let cx = Context {
            peer: "10.0.0.7:4242".parse().unwrap(),
            local: None,
            request: &req,
            upstream: Some(Upstream {
                address: "10.1.2.3:8080".parse().unwrap(),
                metadata: &metadata,
            }),
            start: &start,
        };
        let m = |arg: &str| run(&format!("%UPSTREAM_METADATA({arg})%"), &cx);
        assert_eq!(m("com.acme:s"), "eu-1");
        assert_eq!(m("com.acme:n"), "7");
        assert_eq!(m("com.acme:f"), "1.5");
        assert_eq!(m("com.acme:whole"), "2");
        assert_eq!(m("com.acme:b"), "true");
        assert_eq!(m("com.acme:nil"), "");
        assert_eq!(m("com.acme:missing"), "");
        assert_eq!(m("other:s"), "");
        assert_eq!(m("com.acme:nested"), r#"{"k":["x",1]}"#);
        assert_eq!(m("com.acme:nested:k"), r#"["x",1]"#);
        assert_eq!(m(r#"["com.acme", "s"]"#), "eu-1");
        assert_eq!(
            run(
                "%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%:%UPSTREAM_REMOTE_PORT%",
                &cx
            ),
            "10.1.2.3:8080"
        );
    }

    #[test]
    fn append_actions_follow_envoy() {
        let req = HeaderMap::new();
        let start = Cell::new(None);
        let cx = Context {
            peer: "10.0.0.7:4242".parse().unwrap(),
            local: None,
            request: &req,
            upstream: None,
            start: &start,
        };
        let mut h = HeaderMap::new();
        h.append(b"a", b"1");
        h.append(b"gone", b"x");
        mutate(
            &mut h,
            &["gone".into()],
            &[
                option("a", "2", AppendAction::AppendIfExistsOrAdd),
                option("b", "1", AppendAction::AddIfAbsent),
                option("b", "2", AppendAction::AddIfAbsent),
                option("c", "1", AppendAction::OverwriteIfExistsOrAdd),
                option("c", "2", AppendAction::OverwriteIfExistsOrAdd),
                option("d", "1", AppendAction::OverwriteIfExists),
                option("e", "", AppendAction::AppendIfExistsOrAdd),
            ],
            &cx,
        );
        assert_eq!(h.get_all(b"a").collect::<Vec<_>>(), [b"1", b"2"]);
        assert_eq!(h.get_all(b"b").collect::<Vec<_>>(), [b"1"]);
        assert_eq!(h.get_all(b"c").collect::<Vec<_>>(), [b"2"]);
        assert!(!h.contains(b"d") && !h.contains(b"gone"));
        assert!(
            !h.contains(b"e"),
            "an empty value is skipped without keep_empty_value"
        );
    }
}
