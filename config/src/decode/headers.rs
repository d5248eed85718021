//! Header mutations (`request_headers_to_add` / `_remove`, `response_headers_to_add` /
//! `_remove`) of a route configuration, virtual host, route or weighted cluster, refused where
//! Envoy refuses them: pseudo-headers and `host` can be neither added nor removed.

use super::{Cx, Msg, matcher};
use crate::model::{AppendAction, HeaderMutations, HeaderValueOption};
use crate::schema;
use crate::tree::Node as TNode;

/// Envoy's `max_items` on each `*_headers_to_add` list.
const HEADERS_TO_ADD_MAX: usize = 1000;

/// Envoy's `max_bytes` on a header key and on a header value.
const HEADER_BYTES_MAX: usize = 16384;

/// The four mutation fields of `m` (absent ones are empty); `None` when any entry is invalid.
pub(super) fn mutations(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<HeaderMutations> {
    let request_add = to_add(cx, m, "request_headers_to_add");
    let request_remove = to_remove(cx, m, "request_headers_to_remove");
    let response_add = to_add(cx, m, "response_headers_to_add");
    let response_remove = to_remove(cx, m, "response_headers_to_remove");
    Some(HeaderMutations {
        request_add: request_add?,
        request_remove: request_remove?,
        response_add: response_add?,
        response_remove: response_remove?,
    })
}

/// Envoy's `HeaderUtility::isModifiableHeader` / `isRemovableHeader`.
fn is_protected(name: &str) -> bool {
    name.starts_with(':') || name.eq_ignore_ascii_case("host")
}

pub(super) fn to_add(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<Vec<HeaderValueOption>> {
    let Some(list) = m.get(field) else {
        return Some(Vec::new());
    };
    let items = cx.list(list, &m.path(field));
    if items.len() > HEADERS_TO_ADD_MAX {
        cx.error(
            list.loc,
            &m.path(field),
            format!(
                "{} headers to add; Envoy allows at most {HEADERS_TO_ADD_MAX}",
                items.len()
            ),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (h, p) in items {
        match header_value_option(cx, h, &p) {
            Some(h) => out.push(h),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn to_remove(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<Vec<String>> {
    let Some(list) = m.get(field) else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (h, p) in cx.list(list, &m.path(field)) {
        let Some(name) = matcher::header_name(cx, h, &p) else {
            ok = false;
            continue;
        };
        if is_protected(&name) {
            cx.error(
                h.loc,
                &p,
                format!("`{name}`: :-prefixed or host headers may not be removed"),
            );
            ok = false;
            continue;
        }
        out.push(name);
    }
    ok.then_some(out)
}

const APPEND_ACTIONS: &[(&str, i64)] = &[
    ("APPEND_IF_EXISTS_OR_ADD", 0),
    ("ADD_IF_ABSENT", 1),
    ("OVERWRITE_IF_EXISTS_OR_ADD", 2),
    ("OVERWRITE_IF_EXISTS", 3),
];

/// `config.core.v3.HeaderValueOption`.
fn header_value_option(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<HeaderValueOption> {
    let m = cx.message(n, path, &schema::HEADER_VALUE_OPTION)?;
    let header = match m.get("header") {
        Some(v) => header_value(cx, v, &m.path("header")),
        None => {
            cx.missing(&m, "header");
            None
        }
    };
    let append = match m.get("append") {
        Some(v) => cx.boolean(v, &m.path("append")).map(Some),
        None => Some(None),
    };
    let action = match m.get("append_action") {
        Some(v) => cx
            .enumeration(v, &m.path("append_action"), APPEND_ACTIONS)
            .map(Some),
        None => Some(None),
    };
    let keep_empty_value = match m.get("keep_empty_value") {
        Some(v) => cx.boolean(v, &m.path("keep_empty_value")),
        None => Some(false),
    };
    let (append, action) = (append?, action?);
    // As Envoy: `append` wins when `append_action` has its default value, which proto3 cannot
    // tell from absent; any other `append_action` beside `append` is refused.
    let append_action = match (append, action) {
        (Some(_), Some(a)) if a != "APPEND_IF_EXISTS_OR_ADD" => {
            cx.error(
                m.key_loc("append_action"),
                &m.path("append_action"),
                "both `append` and `append_action` are set, which Envoy does not allow; keep `append_action`",
            );
            return None;
        }
        (Some(true), _) => AppendAction::AppendIfExistsOrAdd,
        (Some(false), _) => AppendAction::OverwriteIfExistsOrAdd,
        (None, Some("ADD_IF_ABSENT")) => AppendAction::AddIfAbsent,
        (None, Some("OVERWRITE_IF_EXISTS_OR_ADD")) => AppendAction::OverwriteIfExistsOrAdd,
        (None, Some("OVERWRITE_IF_EXISTS")) => AppendAction::OverwriteIfExists,
        (None, _) => AppendAction::AppendIfExistsOrAdd,
    };
    let (key, value) = header?;
    Some(HeaderValueOption {
        key,
        value,
        append_action,
        keep_empty_value: keep_empty_value?,
    })
}

/// `config.core.v3.HeaderValue` as (lower-cased key, value).
fn header_value(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<(String, String)> {
    let m = cx.message(n, path, &schema::HEADER_VALUE)?;
    let key = match m.get("key") {
        Some(v) => {
            let kpath = m.path("key");
            matcher::header_name(cx, v, &kpath).and_then(|k| {
                if k.len() > HEADER_BYTES_MAX {
                    cx.error(
                        v.loc,
                        &kpath,
                        format!("a header name is at most {HEADER_BYTES_MAX} bytes"),
                    );
                    return None;
                }
                if is_protected(&k) {
                    cx.error(
                        v.loc,
                        &kpath,
                        format!("`{k}`: :-prefixed or host headers may not be modified"),
                    );
                    return None;
                }
                Some(k)
            })
        }
        None => {
            cx.missing(&m, "key");
            None
        }
    };
    let value = match m.get("value") {
        Some(v) => {
            let vpath = m.path("value");
            cx.string(v, &vpath).and_then(|s| {
                let why = if s.len() > HEADER_BYTES_MAX {
                    Some(format!(
                        "a header value is at most {HEADER_BYTES_MAX} bytes"
                    ))
                } else if s.contains(['\0', '\r', '\n']) {
                    Some("a header value must not contain NUL, CR or LF".to_owned())
                } else {
                    check_commands(&s).err()
                };
                match why {
                    Some(why) => {
                        cx.error(v.loc, &vpath, why);
                        None
                    }
                    None => Some(s),
                }
            })
        }
        None => Some(String::new()),
    };
    Some((key?, value?))
}

/// Checks the `%` commands of a header value as Envoy's substitution parser does: `%%` is a
/// literal `%`, `%NAME%` or `%NAME(arg)%` a command, anything else an error.
fn check_commands(value: &str) -> Result<(), String> {
    let mut rest = value;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            rest = tail;
            continue;
        }
        let Some(end) = after.find('%') else {
            return Err(format!(
                "unterminated `%` command in `{value}` (write `%%` for a literal `%`)"
            ));
        };
        let cmd = &after[..end];
        let name = cmd.split_once('(').map_or(cmd, |(n, _)| n);
        if !crate::model::HEADER_VALUE_COMMANDS.contains(&name) {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                return Err(format!(
                    "`%{cmd}%` is not a command (write `%%` for a literal `%`)"
                ));
            }
            return Err(format!(
                "the header value command `%{name}%` is not supported yet (supported: {})",
                crate::model::HEADER_VALUE_COMMANDS.join(", ")
            ));
        }
        if name == "REQ" && !(cmd.starts_with("REQ(") && cmd.contains(')')) {
            return Err("`%REQ%` needs a header name: `%REQ(name)%`".to_owned());
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod command_tests {
    #[test]
    fn header_value_commands() {
        use super::check_commands as c;
        assert!(c("plain").is_ok());
        assert!(c("100%%").is_ok());
        assert!(c("%DOWNSTREAM_REMOTE_ADDRESS%").is_ok());
        assert!(c("a %REQ(x-user?x-other):10% b").is_ok());
        assert!(c("50%").is_err());
        assert!(c("%START_TIME%").unwrap_err().contains("not supported yet"));
        assert!(c("%REQ%").is_err());
        assert!(c("%a b%").is_err());
    }
}
