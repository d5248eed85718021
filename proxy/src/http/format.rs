//! Header mutations (`request_headers_to_add` / `_remove`, `response_headers_to_add` /
//! `_remove`) and the `%VAR%` substitutions Envoy allows in their values.
//!
//! A value without `%` is used as written (no work per request). A value with commands is
//! expanded per request: `%%` is a literal `%`, and the commands below are Envoy's (the loader
//! refuses any other (`sluice_config::model::HEADER_VALUE_COMMANDS`), so an unknown one never
//! reaches here; if one did, it would expand to nothing).

use std::net::SocketAddr;

use sluice_config::model::{AppendAction, HeaderValueOption};

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
    /// The upstream host, once picked.
    pub upstream: Option<SocketAddr>,
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
        let value: &[u8] = if option.value.contains('%') {
            scratch.clear();
            expand(&option.value, cx, &mut scratch);
            &scratch
        } else {
            option.value.as_bytes()
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

/// Expands `%VAR%` commands of `value` into `out`.
pub fn expand(value: &str, cx: &Context<'_>, out: &mut Vec<u8>) {
    let mut rest = value;
    while let Some(start) = rest.find('%') {
        out.extend_from_slice(&rest.as_bytes()[..start]);
        let after = &rest[start + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push(b'%');
            rest = tail;
            continue;
        }
        let Some(end) = command_end(after) else {
            // Not a command: kept as written (the loader refuses this form).
            out.extend_from_slice(&rest.as_bytes()[start..]);
            return;
        };
        command(&after[..end], cx, out);
        rest = &after[end + 1..];
    }
    out.extend_from_slice(rest.as_bytes());
}

/// Where the closing `%` of a command starting at `s` is: after a name and an optional
/// parenthesised argument (which may itself hold `%`-free text).
fn command_end(s: &str) -> Option<usize> {
    let name_len = s
        .bytes()
        .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
        .count();
    if name_len == 0 {
        return None;
    }
    let mut i = name_len;
    if s.as_bytes().get(i) == Some(&b'(') {
        i += s[i..].find(')')? + 1;
        // An optional `:N` length limit after the argument.
        if s.as_bytes().get(i) == Some(&b':') {
            i += 1 + s[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
        }
    }
    (s.as_bytes().get(i) == Some(&b'%')).then_some(i)
}

fn command(cmd: &str, cx: &Context<'_>, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let (name, arg) = match cmd.split_once('(') {
        Some((n, a)) => (n, Some(a)),
        None => (cmd, None),
    };
    match name {
        "DOWNSTREAM_REMOTE_ADDRESS" => {
            let _ = write!(out, "{}", cx.peer);
        }
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => {
            let _ = write!(out, "{}", cx.peer.ip());
        }
        "DOWNSTREAM_REMOTE_PORT" => {
            let _ = write!(out, "{}", cx.peer.port());
        }
        "DOWNSTREAM_LOCAL_ADDRESS" => {
            if let Some(l) = cx.local {
                let _ = write!(out, "{l}");
            }
        }
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT" => {
            if let Some(l) = cx.local {
                let _ = write!(out, "{}", l.ip());
            }
        }
        "DOWNSTREAM_LOCAL_PORT" => {
            if let Some(l) = cx.local {
                let _ = write!(out, "{}", l.port());
            }
        }
        "UPSTREAM_REMOTE_ADDRESS" => {
            if let Some(u) = cx.upstream {
                let _ = write!(out, "{u}");
            }
        }
        "PROTOCOL" => out.extend_from_slice(b"HTTP/1.1"),
        "HOSTNAME" => out.extend_from_slice(hostname().as_bytes()),
        "REQ" => {
            // `REQ(name?alternative):max_length`.
            let Some(arg) = arg else { return };
            let (inner, limit) = match arg.rsplit_once("):") {
                Some((i, l)) => (i, l.parse::<usize>().ok()),
                None => (arg.strip_suffix(')').unwrap_or(arg), None),
            };
            let (main, alt) = match inner.split_once('?') {
                Some((m, a)) => (m, Some(a)),
                None => (inner, None),
            };
            let lookup = |n: &str| cx.request.get(n.to_ascii_lowercase().as_bytes());
            if let Some(v) = lookup(main).or_else(|| alt.and_then(lookup)) {
                let v = limit.map_or(v, |l| &v[..l.min(v.len())]);
                out.extend_from_slice(v);
            }
        }
        _ => {}
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
            append_action,
            keep_empty_value: false,
        }
    }

    #[test]
    fn commands_expand_and_literals_stay() {
        let mut req = HeaderMap::new();
        req.append(b"user-agent", b"curl/8");
        let cx = Context {
            peer: "10.0.0.7:4242".parse().unwrap(),
            local: Some("127.0.0.1:80".parse().unwrap()),
            request: &req,
            upstream: None,
        };
        let run = |v: &str| {
            let mut out = Vec::new();
            expand(v, &cx, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(run("plain"), "plain");
        assert_eq!(run("%DOWNSTREAM_REMOTE_ADDRESS%"), "10.0.0.7:4242");
        assert_eq!(
            run("ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%;"),
            "ip=10.0.0.7;"
        );
        assert_eq!(run("%DOWNSTREAM_LOCAL_PORT%"), "80");
        assert_eq!(run("%REQ(User-Agent)%"), "curl/8");
        assert_eq!(run("%REQ(x-missing?user-agent):4%"), "curl");
        assert_eq!(run("%REQ(x-missing)%"), "");
        assert_eq!(run("100%%"), "100%");
        assert_eq!(run("%PROTOCOL%"), "HTTP/1.1");
    }

    #[test]
    fn append_actions_follow_envoy() {
        let req = HeaderMap::new();
        let cx = Context {
            peer: "10.0.0.7:4242".parse().unwrap(),
            local: None,
            request: &req,
            upstream: None,
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
