//! `access_log` of an HTTP connection manager: the logger extension (file, stdout, stderr),
//! its `SubstitutionFormatString`, and the `AccessLogFilter` tree.

use super::{Cx, Msg};
use crate::access_log::{
    AccessLog, Comparison, ComparisonOp, DEFAULT_FORMAT, Filter, JsonTemplate, LogFormat,
    RuntimeSample, Sink, Token, parse_format,
};
use crate::model::Loc;
use crate::schema;
use crate::tree::{Node as TNode, Value};

const FILE_TYPE: &str = "envoy.extensions.access_loggers.file.v3.FileAccessLog";
const STDOUT_TYPE: &str = "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
const STDERR_TYPE: &str = "envoy.extensions.access_loggers.stream.v3.StderrAccessLog";

/// The loggers Sluice implements: names Envoy knows them by, and their `@type`.
const LOGGERS: &[(&[&str], &str)] = &[
    (
        &["envoy.access_loggers.file", "envoy.file_access_log"],
        FILE_TYPE,
    ),
    (&["envoy.access_loggers.stdout"], STDOUT_TYPE),
    (&["envoy.access_loggers.stderr"], STDERR_TYPE),
];

/// `HttpConnectionManager.access_log`.
pub(super) fn access_logs(cx: &mut Cx<'_>, list: &TNode, path: &str) -> Option<Vec<AccessLog>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (n, p) in cx.list(list, path) {
        match access_log(cx, n, &p) {
            Some(l) => out.push(l),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn access_log(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<AccessLog> {
    let m = cx.message(n, path, &schema::ACCESS_LOG)?;
    let name = match m.get("name") {
        Some(v) => cx.string(v, &m.path("name")),
        None => Some(String::new()),
    };
    let filter = match m.get("filter") {
        Some(f) => filter(cx, f, &m.path("filter")).map(Some),
        None => Some(None),
    };
    let tc_path = m.path("typed_config");
    let Some(tc) = m.get("typed_config") else {
        if !m.written("typed_config") {
            cx.error(
                m.loc,
                path,
                format!("missing `typed_config` (e.g. `@type: type.googleapis.com/{FILE_TYPE}`)"),
            );
        }
        return None;
    };
    let kind = logger_kind(cx, name.as_deref(), m.key_loc("name"), tc, &tc_path)?;
    let (sink, format) = match kind {
        FILE_TYPE => file_logger(cx, tc, &tc_path)?,
        STDOUT_TYPE | STDERR_TYPE => {
            let spec = if kind == STDOUT_TYPE {
                &schema::STDOUT_ACCESS_LOG
            } else {
                &schema::STDERR_ACCESS_LOG
            };
            let lm = cx.message_any(tc, &tc_path, spec, true)?;
            let format = match lm.get("log_format") {
                Some(f) => substitution_format(cx, f, &lm.path("log_format"))?,
                None => default_format(),
            };
            let sink = if kind == STDOUT_TYPE {
                Sink::Stdout
            } else {
                Sink::Stderr
            };
            (sink, format)
        }
        _ => return None,
    };
    Some(AccessLog {
        name: name?,
        filter: filter?,
        sink,
        format,
    })
}

/// The logger's `@type` (or, without one, its name), as one of [`LOGGERS`].
fn logger_kind(
    cx: &mut Cx<'_>,
    name: Option<&str>,
    name_loc: Loc,
    tc: &TNode,
    tc_path: &str,
) -> Option<&'static str> {
    let type_entry = match &tc.value {
        Value::Map(entries) => entries.iter().find(|e| e.key == "@type"),
        _ => None,
    };
    if let Some(te) = type_entry {
        let tpath = format!("{tc_path}.@type");
        let url = cx.string(&te.value, &tpath)?;
        let type_name = url.rsplit('/').next().unwrap_or(&url);
        if let Some((_, t)) = LOGGERS.iter().find(|(_, t)| *t == type_name) {
            return Some(t);
        }
        let msg = if type_name.contains(".v2.")
            || type_name.starts_with("envoy.config.accesslog.v2")
        {
            format!(
                "`{url}` is a v2 API type; v2 API is not supported; use `type.googleapis.com/{FILE_TYPE}`"
            )
        } else {
            format!(
                "access logger `{url}` is not supported yet (supported: the file, stdout and stderr loggers)"
            )
        };
        cx.error(te.value.loc, &tpath, msg);
        return None;
    }
    let name = name.unwrap_or("");
    match LOGGERS.iter().find(|(names, _)| names.contains(&name)) {
        Some((_, t)) => {
            cx.warn(
                tc.loc,
                tc_path,
                format!(
                    "`typed_config` has no `@type`; taken as `type.googleapis.com/{t}` from the logger name"
                ),
            );
            Some(t)
        }
        None => {
            cx.error(
                name_loc,
                tc_path,
                format!("`typed_config` has no `@type` and access logger `{name}` is not one Sluice knows"),
            );
            None
        }
    }
}

fn default_format() -> LogFormat {
    LogFormat::Text {
        tokens: parse_format(DEFAULT_FORMAT).unwrap_or_default(),
        omit_empty_values: false,
    }
}

/// `FileAccessLog`: `path` and one of `log_format`, the deprecated `format` and `json_format`.
fn file_logger(cx: &mut Cx<'_>, tc: &TNode, path: &str) -> Option<(Sink, LogFormat)> {
    let m = cx.message_any(tc, path, &schema::FILE_ACCESS_LOG, true)?;
    let file = match m.get("path") {
        Some(v) => {
            let p = cx.string(v, &m.path("path"))?;
            if p.is_empty() {
                cx.error(v.loc, &m.path("path"), "`path` must not be empty");
                return None;
            }
            p
        }
        None => {
            if !m.written("path") {
                cx.missing(&m, "path");
            }
            return None;
        }
    };
    const FORMATS: &[&str] = &["log_format", "format", "json_format"];
    if !super::matcher::one_of(cx, &m, FORMATS, "only one access log format may be given") {
        return None;
    }
    let set = m.set_of(FORMATS);
    let format = match set.first().copied() {
        Some("log_format") => substitution_format(cx, m.get("log_format")?, &m.path("log_format"))?,
        Some("format") => {
            let v = m.get("format")?;
            let text = cx.string(v, &m.path("format"))?;
            let tokens = if text.is_empty() {
                parse_format(DEFAULT_FORMAT).unwrap_or_default()
            } else {
                format_string(cx, &text, v.loc, &m.path("format"))?
            };
            LogFormat::Text {
                tokens,
                omit_empty_values: false,
            }
        }
        Some(_) => {
            let v = m.get("json_format")?;
            let fields = json_fields(cx, v, &m.path("json_format"))?;
            LogFormat::Json {
                fields,
                omit_empty_values: false,
            }
        }
        None => default_format(),
    };
    Some((Sink::File(file), format))
}

fn format_string(cx: &mut Cx<'_>, text: &str, loc: Loc, path: &str) -> Option<Vec<Token>> {
    match parse_format(text) {
        Ok(t) => Some(t),
        Err(e) => {
            cx.error(loc, path, format!("invalid format string: {e}"));
            None
        }
    }
}

/// `config.core.v3.SubstitutionFormatString` of an access logger.
fn substitution_format(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<LogFormat> {
    let m = cx.message(n, path, &schema::SUBSTITUTION_FORMAT_STRING)?;
    format_of(cx, &m)
}

/// The format of an opened `SubstitutionFormatString`: one of `text_format`,
/// `text_format_source`, `json_format`, with `omit_empty_values`.
pub(super) fn format_of(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<LogFormat> {
    let path = m.path.as_str();
    let omit_empty_values = match m.get("omit_empty_values") {
        Some(v) => cx.boolean(v, &m.path("omit_empty_values")),
        None => Some(false),
    };
    const KINDS: &[&str] = &["text_format", "json_format", "text_format_source"];
    if !super::matcher::one_of(cx, m, KINDS, "a format string has one format") {
        return None;
    }
    let set = m.set_of(KINDS);
    let Some(kind) = set.first().copied() else {
        if !KINDS.iter().any(|k| m.written(k)) {
            cx.error(
                m.loc,
                path,
                "a format string needs one of `text_format`, `json_format`, `text_format_source`",
            );
        }
        return None;
    };
    let v = m.get(kind)?;
    let kpath = m.path(kind);
    let omit_empty_values = omit_empty_values?;
    match kind {
        "text_format" => {
            let text = cx.string(v, &kpath)?;
            Some(LogFormat::Text {
                tokens: format_string(cx, &text, v.loc, &kpath)?,
                omit_empty_values,
            })
        }
        "text_format_source" => {
            let (text, loc, tpath) = text_source(cx, v, &kpath)?;
            Some(LogFormat::Text {
                tokens: format_string(cx, &text, loc, &tpath)?,
                omit_empty_values,
            })
        }
        _ => Some(LogFormat::Json {
            fields: json_fields(cx, v, &kpath)?,
            omit_empty_values,
        }),
    }
}

/// A `DataSource` holding a format string: the text, and where to report a problem in it.
fn text_source(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<(String, Loc, String)> {
    let (bytes, loc, kpath) = data_source(cx, n, path)?;
    match String::from_utf8(bytes) {
        Ok(text) => Some((text, loc, kpath)),
        Err(_) => {
            cx.error(loc, &kpath, "the format string is not UTF-8");
            None
        }
    }
}

/// A `DataSource` (`inline_string`, `inline_bytes`, `filename`, read now): its bytes, and
/// where the specifier was written.
pub(super) fn data_source(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<(Vec<u8>, Loc, String)> {
    let m = cx.message(n, path, &schema::DATA_SOURCE)?;
    const KINDS: &[&str] = &["inline_string", "inline_bytes", "filename"];
    if !super::matcher::one_of(cx, &m, KINDS, "a data source has one specifier") {
        return None;
    }
    let set = m.set_of(KINDS);
    let Some(kind) = set.first().copied() else {
        if !m.written("environment_variable") && !m.written("watched_directory") {
            cx.error(
                m.loc,
                path,
                "a data source needs one of `inline_string`, `inline_bytes`, `filename`",
            );
        }
        return None;
    };
    let v = m.get(kind)?;
    let kpath = m.path(kind);
    let raw = cx.string(v, &kpath)?;
    let bytes = match kind {
        "inline_string" => raw.into_bytes(),
        "inline_bytes" => {
            let Some(b) = super::route::decode_base64(&raw) else {
                cx.error(
                    v.loc,
                    &kpath,
                    "`inline_bytes` must be base64 (proto3 JSON bytes)",
                );
                return None;
            };
            b
        }
        _ => match std::fs::read(&raw) {
            Ok(b) => b,
            Err(e) => {
                cx.error(v.loc, &kpath, format!("cannot read `{raw}`: {e}"));
                return None;
            }
        },
    };
    Some((bytes, v.loc, kpath))
}

/// A `json_format` struct: keys to format strings, literals or nested structs.
fn json_fields(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Vec<(String, JsonTemplate)>> {
    let Value::Map(entries) = &n.value else {
        cx.error(
            n.loc,
            path,
            format!(
                "expected a mapping (a google.protobuf.Struct), found {}",
                n.kind_name()
            ),
        );
        return None;
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for e in entries {
        let epath = format!("{path}.{}", e.key);
        let value = match &e.value.value {
            Value::Map(_) => json_fields(cx, &e.value, &epath).map(JsonTemplate::Object),
            Value::Seq(_) => {
                cx.error(
                    e.value.loc,
                    &epath,
                    "a list in `json_format` is not supported (Envoy refuses it too)",
                );
                None
            }
            Value::Null => Some(JsonTemplate::Literal(serde_json::Value::Null)),
            Value::Scalar(s) if s.quoted => {
                format_string(cx, &s.text, e.value.loc, &epath).map(JsonTemplate::Format)
            }
            Value::Scalar(s) => match e.value.to_json() {
                serde_json::Value::String(_) => {
                    format_string(cx, &s.text, e.value.loc, &epath).map(JsonTemplate::Format)
                }
                other => Some(JsonTemplate::Literal(other)),
            },
        };
        match value {
            Some(v) => out.push((e.key.clone(), v)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `config.accesslog.v3.AccessLogFilter`: exactly one kind.
pub(super) fn filter(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Filter> {
    let m = cx.message(n, path, &schema::ACCESS_LOG_FILTER)?;
    const KINDS: &[&str] = &[
        "status_code_filter",
        "duration_filter",
        "not_health_check_filter",
        "runtime_filter",
        "and_filter",
        "or_filter",
        "header_filter",
        "response_flag_filter",
    ];
    if !super::matcher::one_of(cx, &m, KINDS, "a filter has one kind") {
        return None;
    }
    let set = m.set_of(KINDS);
    let Some(kind) = set.first().copied() else {
        if !m.written("not_health_check_filter") {
            cx.missing(&m, "one of status_code_filter, duration_filter, not_health_check_filter, runtime_filter, and_filter, or_filter, header_filter, response_flag_filter");
        }
        // `not_health_check_filter: {}` may be written as null.
        return m
            .written("not_health_check_filter")
            .then_some(Filter::NotHealthCheck);
    };
    let v = m.get(kind)?;
    let kpath = m.path(kind);
    match kind {
        "status_code_filter" | "duration_filter" => {
            let spec = if kind == "status_code_filter" {
                &schema::STATUS_CODE_FILTER
            } else {
                &schema::DURATION_FILTER
            };
            let fm = cx.message(v, &kpath, spec)?;
            let Some(c) = fm.get("comparison") else {
                cx.missing(&fm, "comparison");
                return None;
            };
            let c = comparison(cx, c, &fm.path("comparison"))?;
            Some(if kind == "status_code_filter" {
                Filter::StatusCode(c)
            } else {
                Filter::Duration(c)
            })
        }
        "not_health_check_filter" => {
            cx.message(v, &kpath, &schema::NOT_HEALTH_CHECK_FILTER)?;
            Some(Filter::NotHealthCheck)
        }
        "runtime_filter" => runtime_filter(cx, v, &kpath).map(Filter::Runtime),
        "header_filter" => {
            let fm = cx.message(v, &kpath, &schema::HEADER_FILTER)?;
            let Some(h) = fm.get("header") else {
                cx.missing(&fm, "header");
                return None;
            };
            super::matcher::header_matcher(cx, h, &fm.path("header")).map(Filter::Header)
        }
        "response_flag_filter" => {
            let fm = cx.message(v, &kpath, &schema::RESPONSE_FLAG_FILTER)?;
            let flags = match fm.get("flags") {
                Some(list) => cx.strings(list, &fm.path("flags")),
                None => Vec::new(),
            };
            if let Some(bad) = flags
                .iter()
                .find(|f| !crate::access_log::RESPONSE_FLAGS.contains(&f.as_str()))
            {
                let list = fm.get("flags")?;
                cx.error(
                    list.loc,
                    &fm.path("flags"),
                    format!(
                        "`{bad}` is not a response flag (Envoy's: {})",
                        crate::access_log::RESPONSE_FLAGS.join(", ")
                    ),
                );
                return None;
            }
            Some(Filter::ResponseFlag(flags))
        }
        _ => {
            let spec = if kind == "and_filter" {
                &schema::AND_FILTER
            } else {
                &schema::OR_FILTER
            };
            let fm = cx.message(v, &kpath, spec)?;
            let subs = sub_filters(cx, &fm)?;
            Some(if kind == "and_filter" {
                Filter::And(subs)
            } else {
                Filter::Or(subs)
            })
        }
    }
}

fn sub_filters(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<Vec<Filter>> {
    let Some(list) = m.get("filters") else {
        cx.missing(m, "filters");
        return None;
    };
    let items = cx.list(list, &m.path("filters"));
    if items.len() < 2 {
        // Envoy's validation: `filters` has at least two items.
        cx.error(
            list.loc,
            &m.path("filters"),
            "`filters` needs at least two filters",
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (f, p) in items {
        match filter(cx, f, &p) {
            Some(f) => out.push(f),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `ComparisonFilter`: `op` (default `EQ`) and a required `RuntimeUInt32` value.
fn comparison(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Comparison> {
    let m = cx.message(n, path, &schema::COMPARISON_FILTER)?;
    let op = match m.get("op") {
        Some(v) => match cx.enumeration(v, &m.path("op"), &[("EQ", 0), ("GE", 1), ("LE", 2)])? {
            "GE" => ComparisonOp::Ge,
            "LE" => ComparisonOp::Le,
            _ => ComparisonOp::Eq,
        },
        None => ComparisonOp::Eq,
    };
    let Some(v) = m.get("value") else {
        cx.missing(&m, "value");
        return None;
    };
    let vm = cx.message(v, &m.path("value"), &schema::RUNTIME_UINT32)?;
    let default_value = match vm.get("default_value") {
        Some(d) => cx.u32_in(d, &vm.path("default_value"), 0, u32::MAX),
        None => Some(0),
    };
    // Envoy requires a non-empty `runtime_key` here.
    let runtime_key = super::required_name(cx, &vm, "runtime_key");
    Some(Comparison {
        op,
        default_value: default_value?,
        runtime_key: runtime_key?,
    })
}

fn runtime_filter(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<RuntimeSample> {
    let m = cx.message(n, path, &schema::RUNTIME_FILTER)?;
    let runtime_key = super::required_name(cx, &m, "runtime_key");
    let (numerator, denominator) = match m.get("percent_sampled") {
        Some(p) => super::matcher::fractional_percent(cx, p, &m.path("percent_sampled"))?,
        // Envoy's default when absent: 0 of 100, so only the runtime key can enable sampling.
        None => (0, 100),
    };
    let use_independent_randomness = match m.get("use_independent_randomness") {
        Some(v) => cx.boolean(v, &m.path("use_independent_randomness"))?,
        None => false,
    };
    Some(RuntimeSample {
        runtime_key: runtime_key?,
        numerator,
        denominator,
        use_independent_randomness,
    })
}
