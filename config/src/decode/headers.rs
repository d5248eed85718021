//! Header mutations (`request_headers_to_add` / `_remove`, `response_headers_to_add` /
//! `_remove`) of a route configuration, virtual host, route or weighted cluster, refused where
//! Envoy refuses them: pseudo-headers and `host` can be neither added nor removed.

use super::{Cx, Msg, matcher};
use crate::access_log::{TimeFormat, parse_time_format};
use crate::model::{
    AppendAction, HEADER_VALUE_COMMANDS, HeaderCommand, HeaderMutations, HeaderValueOption,
    HeaderValuePart,
};
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
    let (key, value, parts) = header?;
    Some(HeaderValueOption {
        key,
        value,
        parts,
        append_action,
        keep_empty_value: keep_empty_value?,
    })
}

/// `config.core.v3.HeaderValue` as (lower-cased key, value, parsed value).
fn header_value(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<(String, String, Vec<HeaderValuePart>)> {
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
                let parsed = if s.len() > HEADER_BYTES_MAX {
                    Err(format!(
                        "a header value is at most {HEADER_BYTES_MAX} bytes"
                    ))
                } else if s.contains(['\0', '\r', '\n']) {
                    Err("a header value must not contain NUL, CR or LF".to_owned())
                } else {
                    parse_value(&s)
                };
                match parsed {
                    Ok(p) => {
                        if p.has_legacy_metadata {
                            cx.warn(
                                v.loc,
                                &vpath,
                                "`%UPSTREAM_METADATA([\"namespace\", \"key\"])%` is Envoy's legacy \
                                 form (deprecated); write `%UPSTREAM_METADATA(namespace:key)%`",
                            );
                        }
                        Some((s, p.parts))
                    }
                    Err(why) => {
                        cx.error(v.loc, &vpath, why);
                        None
                    }
                }
            })
        }
        None => Some((String::new(), Vec::new())),
    };
    let (value, parts) = value?;
    Some((key?, value, parts))
}

/// A header value cut into literals and commands.
#[derive(Debug)]
pub(crate) struct ParsedValue {
    /// Empty when the value has no `%`.
    pub(crate) parts: Vec<HeaderValuePart>,
    /// Whether an `%UPSTREAM_METADATA%` used the legacy JSON-array argument.
    pub(crate) has_legacy_metadata: bool,
}

/// Parses the `%` commands of a header value as Envoy's substitution parser does: `%%` is a
/// literal `%`, `%NAME%`, `%NAME(args)%` and either with a `:N` length limit are commands (the
/// arguments end at the first `)` that is followed by `%` or `:N%`, so a `START_TIME` pattern
/// may hold `%`), anything else is an error.
pub(crate) fn parse_value(value: &str) -> Result<ParsedValue, String> {
    let mut out = ParsedValue {
        parts: Vec::new(),
        has_legacy_metadata: false,
    };
    if !value.contains('%') {
        return Ok(out);
    }
    let mut literal = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('%') {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            literal.push('%');
            rest = tail;
            continue;
        }
        let (name, args, max_len, tail) = split_command(after).ok_or_else(|| {
            let shown: String = after.chars().take(40).collect();
            format!("`%{shown}` is not a command (write `%%` for a literal `%`)")
        })?;
        let command = command(name, args, &mut out.has_legacy_metadata)?;
        if !literal.is_empty() {
            out.parts
                .push(HeaderValuePart::Literal(std::mem::take(&mut literal)));
        }
        out.parts.push(HeaderValuePart::Command(command, max_len));
        rest = tail;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        out.parts.push(HeaderValuePart::Literal(literal));
    }
    Ok(out)
}

/// Splits `NAME(args):N%rest` (the text after an opening `%`) into its pieces; `None` when it
/// is not a command.
fn split_command(s: &str) -> Option<(&str, Option<&str>, Option<usize>, &str)> {
    let name_len = s
        .bytes()
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        .count();
    if name_len == 0 {
        return None;
    }
    let name = &s[..name_len];
    let after = &s[name_len..];
    // `:N%` or `%` right at `t`: the length limit and what follows the closing `%`.
    let close = |t: &'_ str| -> Option<(Option<usize>, usize)> {
        if t.starts_with('%') {
            return Some((None, 1));
        }
        let digits = t.strip_prefix(':')?;
        let n = digits.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || digits.as_bytes().get(n) != Some(&b'%') {
            return None;
        }
        Some((digits[..n].parse().ok(), n + 2))
    };
    match after.strip_prefix('(') {
        None => {
            let (max_len, used) = close(after)?;
            Some((name, None, max_len, &after[used..]))
        }
        Some(inner) => inner.match_indices(')').find_map(|(i, _)| {
            let (max_len, used) = close(&inner[i + 1..])?;
            Some((name, Some(&inner[..i]), max_len, &inner[i + 1 + used..]))
        }),
    }
}

fn command(name: &str, args: Option<&str>, legacy: &mut bool) -> Result<HeaderCommand, String> {
    let plain = |c: HeaderCommand| match args {
        None => Ok(c),
        Some(_) => Err(format!("`%{name}%` takes no argument")),
    };
    match name {
        "DOWNSTREAM_REMOTE_ADDRESS" => plain(HeaderCommand::DownstreamRemoteAddress),
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => {
            plain(HeaderCommand::DownstreamRemoteAddressWithoutPort)
        }
        "DOWNSTREAM_REMOTE_PORT" => plain(HeaderCommand::DownstreamRemotePort),
        "DOWNSTREAM_LOCAL_ADDRESS" => plain(HeaderCommand::DownstreamLocalAddress),
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT" => {
            plain(HeaderCommand::DownstreamLocalAddressWithoutPort)
        }
        "DOWNSTREAM_LOCAL_PORT" => plain(HeaderCommand::DownstreamLocalPort),
        "UPSTREAM_REMOTE_ADDRESS" => plain(HeaderCommand::UpstreamRemoteAddress),
        "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => {
            plain(HeaderCommand::UpstreamRemoteAddressWithoutPort)
        }
        "UPSTREAM_REMOTE_PORT" => plain(HeaderCommand::UpstreamRemotePort),
        "PROTOCOL" => plain(HeaderCommand::Protocol),
        "HOSTNAME" => plain(HeaderCommand::Hostname),
        "REQ" => {
            let arg = args.filter(|a| !a.is_empty()).ok_or_else(|| {
                "`%REQ%` needs a header name: `%REQ(name)%` or `%REQ(name?alternative)%`".to_owned()
            })?;
            let mut names = arg.split('?').map(str::to_ascii_lowercase);
            let main = names.next().unwrap_or_default();
            let alternative = names.next();
            if names.next().is_some() || main.is_empty() || alternative.as_deref() == Some("") {
                return Err(format!(
                    "`%REQ({arg})%`: write one header name, or two as `name?alternative`"
                ));
            }
            if main.starts_with(':') || alternative.as_deref().is_some_and(|a| a.starts_with(':')) {
                return Err(format!(
                    "`%REQ({arg})%`: request pseudo-headers (`:path`, `:method`, `:authority`) \
                     in header values are not supported yet (access log formats have them)"
                ));
            }
            Ok(HeaderCommand::Req { main, alternative })
        }
        "START_TIME" => match args {
            None | Some("") => Ok(HeaderCommand::StartTime(TimeFormat::Default)),
            Some(pattern) => parse_time_format(pattern).map(HeaderCommand::StartTime),
        },
        "UPSTREAM_METADATA" => upstream_metadata(args.unwrap_or("").trim(), legacy),
        _ => Err(format!(
            "the header value command `%{name}%` is not supported yet (supported: {})",
            HEADER_VALUE_COMMANDS.join(", ")
        )),
    }
}

/// `UPSTREAM_METADATA`'s argument: `namespace:key:...`, or Envoy's legacy JSON array of
/// strings `["namespace", "key", ...]`, which Envoy translates to the former.
fn upstream_metadata(arg: &str, legacy: &mut bool) -> Result<HeaderCommand, String> {
    let names: Vec<String> = if arg.starts_with('[') {
        *legacy = true;
        match serde_json::from_str::<Vec<String>>(arg) {
            Ok(v) if !v.is_empty() => v,
            _ => {
                return Err(format!(
                    "`%UPSTREAM_METADATA({arg})%`: expected a JSON array of strings such as \
                     `[\"namespace\", \"key\"]`"
                ));
            }
        }
    } else {
        arg.split(':').map(str::to_owned).collect()
    };
    let mut names = names.into_iter();
    let namespace = names.next().filter(|n| !n.is_empty()).ok_or_else(|| {
        "`%UPSTREAM_METADATA%` needs a filter namespace: `%UPSTREAM_METADATA(namespace:key)%`"
            .to_owned()
    })?;
    Ok(HeaderCommand::UpstreamMetadata {
        namespace,
        path: names.collect(),
    })
}

#[cfg(test)]
mod command_tests {
    use super::*;

    fn parts(v: &str) -> Vec<HeaderValuePart> {
        parse_value(v).unwrap_or_else(|e| panic!("{v}: {e}")).parts
    }

    fn cmd(c: HeaderCommand) -> HeaderValuePart {
        HeaderValuePart::Command(c, None)
    }

    fn lit(s: &str) -> HeaderValuePart {
        HeaderValuePart::Literal(s.to_owned())
    }

    #[test]
    fn header_value_commands() {
        assert!(parts("plain").is_empty());
        assert_eq!(parts("100%%"), [lit("100%")]);
        assert_eq!(
            parts("%DOWNSTREAM_REMOTE_ADDRESS%"),
            [cmd(HeaderCommand::DownstreamRemoteAddress)]
        );
        assert_eq!(
            parts("a %REQ(X-User?x-other):10% b"),
            [
                lit("a "),
                HeaderValuePart::Command(
                    HeaderCommand::Req {
                        main: "x-user".into(),
                        alternative: Some("x-other".into()),
                    },
                    Some(10),
                ),
                lit(" b"),
            ]
        );
        assert_eq!(
            parts("%START_TIME%"),
            [cmd(HeaderCommand::StartTime(TimeFormat::Default))]
        );
        assert_eq!(
            parts("%PROTOCOL:4%"),
            [HeaderValuePart::Command(HeaderCommand::Protocol, Some(4))]
        );
        for bad in [
            "50%",
            "%REQ%",
            "%a b%",
            "%PROTOCOL(x)%",
            "%REQ(a?b?c)%",
            "%UPSTREAM_METADATA()%",
        ] {
            assert!(parse_value(bad).is_err(), "{bad}");
        }
        assert!(
            parse_value("%DYNAMIC_METADATA(a:b)%")
                .unwrap_err()
                .contains("not supported yet")
        );
        // The request map holds no pseudo-headers: refused rather than printed empty.
        for pseudo in ["%REQ(:path)%", "%REQ(x-original?:authority)%"] {
            assert!(
                parse_value(pseudo).unwrap_err().contains("pseudo-headers"),
                "{pseudo}"
            );
        }
    }

    #[test]
    fn start_time_patterns_may_hold_percent_and_parens() {
        let p = parts("t=%START_TIME(%s)%;");
        assert_eq!(p.len(), 3);
        assert!(matches!(
            &p[1],
            HeaderValuePart::Command(HeaderCommand::StartTime(TimeFormat::Custom(_)), None)
        ));
        // The arguments end at the first `)` that closes the command.
        let p = parts("%START_TIME((%Y))%x");
        assert_eq!(p.len(), 2);
        assert!(parse_value("%START_TIME(%Q)%").unwrap_err().contains("%Q"));
    }

    #[test]
    fn upstream_metadata_forms() {
        let want = cmd(HeaderCommand::UpstreamMetadata {
            namespace: "com.acme".into(),
            path: vec!["a".into(), "b".into()],
        });
        assert_eq!(
            parts("%UPSTREAM_METADATA(com.acme:a:b)%"),
            std::slice::from_ref(&want)
        );
        let legacy = parse_value(r#"%UPSTREAM_METADATA( ["com.acme", "a", "b"] )%"#).unwrap();
        assert!(legacy.has_legacy_metadata);
        assert_eq!(legacy.parts, [want]);
        assert_eq!(
            parts(r#"%UPSTREAM_METADATA(["ns"])%"#),
            [cmd(HeaderCommand::UpstreamMetadata {
                namespace: "ns".into(),
                path: vec![],
            })]
        );
        assert!(parse_value(r#"%UPSTREAM_METADATA(["ns", 1])%"#).is_err());
    }
}
