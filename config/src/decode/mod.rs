//! The schema-driven decoder: walks the spanned tree with a field path and lowers it to the
//! model, reporting every problem with its position instead of stopping at the first.
//!
//! Each message decoder opens its mapping with [`Cx::message`], which sorts every written key
//! into supported, deprecated (warning), removed by Envoy, "not supported yet" or unknown (with
//! "did you mean"), then reads the supported fields with the typed getters below.

mod access_log;
mod bootstrap;
mod cluster;
mod filters;
mod hcm_options;
pub(crate) mod headers;
mod listener;
mod local_reply;
mod matcher;
mod retry;
mod route;
mod router_filter;
mod runtime;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::diag::Sink;
use crate::model::{Bootstrap, FilterMetadata, Loc};
use crate::schema::Spec;
use crate::suggest::did_you_mean;
use crate::tree::{Entry, Node, Value, looks_like_float};

/// Decodes a whole document into a bootstrap; `None` when any error was found.
pub(crate) fn decode(root: &Node, sink: &mut Sink) -> Option<Bootstrap> {
    let mut cx = Cx {
        sink,
        cluster_refs: Vec::new(),
        cluster_names: Vec::new(),
        filter_refs: Vec::new(),
    };
    let bootstrap = bootstrap::bootstrap(&mut cx, root);
    if !cx.sink.errors.is_empty() {
        return None;
    }
    bootstrap
}

/// A cluster name written somewhere else (a route, a tcp_proxy), checked once all clusters are
/// known.
#[derive(Debug)]
pub(crate) struct ClusterRef {
    pub(crate) name: String,
    pub(crate) loc: Loc,
    pub(crate) path: String,
}

/// The decoding context: where diagnostics go, and cross references to check at the end.
#[derive(Debug)]
pub(crate) struct Cx<'s> {
    pub(crate) sink: &'s mut Sink,
    pub(crate) cluster_refs: Vec<ClusterRef>,
    /// Every cluster name written, including clusters refused for other reasons, so that a
    /// reference to a refused cluster is not also reported as dangling.
    pub(crate) cluster_names: Vec<String>,
    /// Per-route filter configs and legacy `cors` policies of the route configuration being
    /// decoded, checked against its connection manager's `http_filters`.
    pub(crate) filter_refs: Vec<filters::FilterRef>,
}

/// `a.b` / `b` when `a` is empty.
pub(crate) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// `a[i]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// `lowerCamelCase` -> `lower_camel_case` (Envoy's JSON loader takes both spellings).
fn to_snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An opened message: its supported fields by canonical (snake_case) name.
#[derive(Debug)]
pub(crate) struct Msg<'a> {
    /// Where the mapping starts.
    pub(crate) loc: Loc,
    /// The mapping's field path.
    pub(crate) path: String,
    fields: Vec<(&'static str, &'a Entry)>,
    /// Keys that were written but refused (unsupported, removed or unknown), canonical names.
    rejected: Vec<String>,
}

impl<'a> Msg<'a> {
    /// The entry of a field, present even when its value is null.
    pub(crate) fn entry(&self, name: &str) -> Option<&'a Entry> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| *e)
    }

    /// A field's value; `None` when absent or null (proto3 JSON: null means "not set").
    pub(crate) fn get(&self, name: &str) -> Option<&'a Node> {
        self.entry(name)
            .map(|e| &e.value)
            .filter(|v| !matches!(v.value, Value::Null))
    }

    /// The path of one of this message's fields.
    pub(crate) fn path(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// Where a field's key was written, or the message itself when absent.
    pub(crate) fn key_loc(&self, name: &str) -> Loc {
        self.entry(name).map_or(self.loc, |e| e.key_loc)
    }

    /// Whether a field was written at all, supported or refused: lets a decoder skip "missing
    /// X" when X was written in a form already reported.
    pub(crate) fn written(&self, name: &str) -> bool {
        self.entry(name).is_some() || self.rejected.iter().any(|r| r == name)
    }

    /// Whether no written key was refused (used to avoid piling a "missing X" on top of an
    /// unsupported way of writing X).
    pub(crate) fn rejected_none(&self) -> bool {
        self.rejected.is_empty()
    }

    /// The fields of a oneof that are set, in document order.
    pub(crate) fn set_of(&self, names: &[&str]) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter(|(n, e)| names.contains(n) && !matches!(e.value.value, Value::Null))
            .map(|(n, _)| *n)
            .collect()
    }
}

impl Cx<'_> {
    pub(crate) fn error(&mut self, loc: Loc, path: &str, message: impl Into<String>) {
        self.sink.error(loc, path, message);
    }

    pub(crate) fn warn(&mut self, loc: Loc, path: &str, message: impl Into<String>) {
        self.sink.warn(loc, path, message);
    }

    /// Opens a mapping as the message `spec`, reporting every key that is not a supported
    /// field. `@type` is skipped when `is_any` (a `typed_config` body).
    pub(crate) fn message_any<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
        spec: &Spec,
        is_any: bool,
    ) -> Option<Msg<'a>> {
        let entries: &'a [Entry] = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!(
                        "expected a mapping ({}), found {}",
                        spec.name,
                        node.kind_name()
                    ),
                );
                return None;
            }
        };
        let mut fields = Vec::with_capacity(entries.len());
        let mut rejected = Vec::new();
        for entry in entries {
            if is_any && entry.key == "@type" {
                continue;
            }
            let canonical = if entry.key.chars().any(|c| c.is_ascii_uppercase()) {
                to_snake(&entry.key)
            } else {
                entry.key.clone()
            };
            let fpath = if spec.all.contains(&canonical.as_str()) {
                join(path, &canonical)
            } else {
                join(path, &entry.key)
            };
            if let Some(name) = spec.supported.iter().find(|s| **s == canonical) {
                if fields.iter().any(|(n, _)| n == name) {
                    self.warn(
                        entry.key_loc,
                        &fpath,
                        format!("`{}` is written twice (as `{name}` and in camelCase); the last one wins", entry.key),
                    );
                    fields.retain(|(n, _)| n != name);
                }
                if let Some((_, why)) = spec.deprecated.iter().find(|(d, _)| *d == canonical) {
                    self.warn(entry.key_loc, &fpath, *why);
                }
                fields.push((*name, entry));
            } else {
                rejected.push(canonical.clone());
                if let Some((_, why)) = spec.removed.iter().find(|(r, _)| *r == canonical) {
                    self.error(entry.key_loc, &fpath, *why);
                } else if spec.all.contains(&canonical.as_str()) {
                    let mut msg =
                        format!("`{canonical}` is an Envoy field that Sluice does not support yet");
                    if let Some((_, why)) = spec.not_yet.iter().find(|(n, _)| *n == canonical) {
                        msg.push_str(": ");
                        msg.push_str(why);
                    }
                    self.error(entry.key_loc, &fpath, msg);
                } else {
                    let msg = match did_you_mean(&canonical, spec.all) {
                        Some(near) => {
                            format!("unknown field `{}`; did you mean `{near}`?", entry.key)
                        }
                        None => format!(
                            "unknown field `{}` (Envoy's {} has no such field)",
                            entry.key, spec.name
                        ),
                    };
                    self.error(entry.key_loc, &fpath, msg);
                }
            }
        }
        Some(Msg {
            loc: node.loc,
            path: path.to_owned(),
            fields,
            rejected,
        })
    }

    /// [`Cx::message_any`] for a plain (non-`Any`) message.
    pub(crate) fn message<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
        spec: &Spec,
    ) -> Option<Msg<'a>> {
        self.message_any(node, path, spec, false)
    }

    /// Reports a required field that is absent; stays quiet when the message already had a
    /// refused key, which is usually the unsupported way the field's role was filled.
    pub(crate) fn missing(&mut self, msg: &Msg<'_>, field: &str) {
        if !msg.rejected.is_empty() {
            return;
        }
        self.error(
            msg.loc,
            &msg.path,
            format!("missing required field `{field}`"),
        );
    }

    /// A list; a single mapping where a list belongs is taken as a one-element list with a
    /// warning (as Envoy's YAML loader does for some fields).
    pub(crate) fn list<'a>(&mut self, node: &'a Node, path: &str) -> Vec<(&'a Node, String)> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, index(path, i)))
                .collect(),
            Value::Null => Vec::new(),
            Value::Map(_) => {
                self.warn(
                    node.loc,
                    path,
                    "expected a list, found a single mapping; taken as a list of one",
                );
                vec![(node, index(path, 0))]
            }
            Value::Scalar(_) => {
                self.error(
                    node.loc,
                    path,
                    format!("expected a list, found {}", node.kind_name()),
                );
                Vec::new()
            }
        }
    }

    /// A string; plain scalars such as `123` are taken as their text.
    pub(crate) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Scalar(s) => Some(s.text.clone()),
            Value::Null => Some(String::new()),
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!("expected a string, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// A list of strings.
    pub(crate) fn strings(&mut self, node: &Node, path: &str) -> Vec<String> {
        match &node.value {
            Value::Seq(_) => {
                let items = self.list(node, path);
                items
                    .into_iter()
                    .filter_map(|(n, p)| self.string(n, &p))
                    .collect()
            }
            Value::Scalar(_) => {
                self.warn(
                    node.loc,
                    path,
                    "expected a list of strings, found one string; taken as a list of one",
                );
                self.string(node, path).into_iter().collect()
            }
            Value::Null => Vec::new(),
            Value::Map(_) => {
                self.error(
                    node.loc,
                    path,
                    "expected a list of strings, found a mapping",
                );
                Vec::new()
            }
        }
    }

    /// A boolean (`true`/`false`; a quoted `"true"` is taken with a warning).
    pub(crate) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        let Value::Scalar(s) = &node.value else {
            if let Value::Map(_) = node.value
                && let Some(v) = self.wrapper_value(node, path)
            {
                return self.boolean(v, path);
            }
            self.error(
                node.loc,
                path,
                format!("expected true or false, found {}", node.kind_name()),
            );
            return None;
        };
        let value = match s.text.as_str() {
            "true" | "True" | "TRUE" => true,
            "false" | "False" | "FALSE" => false,
            other => {
                self.error(
                    node.loc,
                    path,
                    format!("expected true or false, found `{other}`"),
                );
                return None;
            }
        };
        if s.quoted {
            self.warn(
                node.loc,
                path,
                format!("a quoted boolean `\"{}\"`; taken as {value}", s.text),
            );
        }
        Some(value)
    }

    /// A `google.protobuf.*Value` wrapper written as `{value: X}` instead of plain `X`:
    /// accepted with a warning.
    fn wrapper_value<'a>(&mut self, node: &'a Node, path: &str) -> Option<&'a Node> {
        let Value::Map(entries) = &node.value else {
            return None;
        };
        match entries.as_slice() {
            [e] if e.key == "value" => {
                self.warn(
                    node.loc,
                    path,
                    "a wrapper type written as `{value: X}`; Envoy's JSON form is plain `X`",
                );
                Some(&e.value)
            }
            _ => None,
        }
    }

    /// An integer in `min..=max`. `is_64` marks (u)int64 fields, whose canonical proto3 JSON
    /// form is a quoted string, so quoting them draws no warning.
    pub(crate) fn integer(
        &mut self,
        node: &Node,
        path: &str,
        min: i128,
        max: i128,
        is_64: bool,
    ) -> Option<i128> {
        let s = match &node.value {
            Value::Scalar(s) => s,
            Value::Map(_) => {
                if let Some(v) = self.wrapper_value(node, path) {
                    return self.integer(v, path, min, max, is_64);
                }
                self.error(node.loc, path, "expected an integer, found a mapping");
                return None;
            }
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!("expected an integer, found {}", node.kind_name()),
                );
                return None;
            }
        };
        let text = s.text.trim();
        let Ok(value) = text.parse::<i128>() else {
            self.error(
                node.loc,
                path,
                format!("expected an integer, found `{}`", s.text),
            );
            return None;
        };
        if s.quoted && !is_64 {
            self.warn(
                node.loc,
                path,
                format!("a quoted number `\"{}\"`; taken as {value}", s.text),
            );
        }
        if value < min || value > max {
            self.error(
                node.loc,
                path,
                format!("{value} is out of range: expected {min}..={max}"),
            );
            return None;
        }
        Some(value)
    }

    /// A `uint32` (or `UInt32Value`) in `min..=max`.
    pub(crate) fn u32_in(&mut self, node: &Node, path: &str, min: u32, max: u32) -> Option<u32> {
        self.integer(node, path, min.into(), max.into(), false)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// A `uint64` (or `UInt64Value`) in `min..=max`.
    pub(crate) fn u64_in(&mut self, node: &Node, path: &str, min: u64, max: u64) -> Option<u64> {
        self.integer(node, path, min.into(), max.into(), true)
            .and_then(|v| u64::try_from(v).ok())
    }

    /// A `double`.
    pub(crate) fn float(&mut self, node: &Node, path: &str) -> Option<f64> {
        let s = match &node.value {
            Value::Scalar(s) => s,
            Value::Map(_) => {
                if let Some(v) = self.wrapper_value(node, path) {
                    return self.float(v, path);
                }
                self.error(node.loc, path, "expected a number, found a mapping");
                return None;
            }
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!("expected a number, found {}", node.kind_name()),
                );
                return None;
            }
        };
        let text = s.text.trim();
        let value = if looks_like_float(text) {
            text.parse::<f64>().ok()
        } else {
            None
        };
        let Some(value) = value.filter(|v| v.is_finite()) else {
            self.error(
                node.loc,
                path,
                format!("expected a number, found `{}`", s.text),
            );
            return None;
        };
        if s.quoted {
            self.warn(
                node.loc,
                path,
                format!("a quoted number `\"{}\"`; taken as {value}", s.text),
            );
        }
        Some(value)
    }

    /// An `envoy.type.v3.Percent` (`{value: 0..=100}`).
    pub(crate) fn percent(&mut self, node: &Node, path: &str) -> Option<f64> {
        let m = self.message(node, path, &crate::schema::PERCENT)?;
        let v = match m.get("value") {
            Some(n) => self.float(n, &m.path("value"))?,
            None => 0.0,
        };
        if !(0.0..=100.0).contains(&v) {
            self.error(
                m.key_loc("value"),
                &m.path("value"),
                format!("{v} is not a percentage in 0..=100"),
            );
            return None;
        }
        Some(v)
    }

    /// An enum by its proto name. A lower-case name is taken with a warning; a number is taken
    /// as the value with that number (proto3 JSON allows both).
    pub(crate) fn enumeration(
        &mut self,
        node: &Node,
        path: &str,
        values: &[(&'static str, i64)],
    ) -> Option<&'static str> {
        let Value::Scalar(s) = &node.value else {
            self.error(
                node.loc,
                path,
                format!(
                    "expected one of {}, found {}",
                    names(values),
                    node.kind_name()
                ),
            );
            return None;
        };
        let text = s.text.as_str();
        if let Some((name, _)) = values.iter().find(|(n, _)| *n == text) {
            return Some(name);
        }
        if let Some((name, _)) = values.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
            self.warn(
                node.loc,
                path,
                format!("`{text}` is not Envoy's spelling; taken as `{name}`"),
            );
            return Some(name);
        }
        if let Ok(number) = text.parse::<i64>()
            && let Some((name, _)) = values.iter().find(|(_, v)| *v == number)
        {
            return Some(name);
        }
        let all: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
        let mut msg = format!("unknown value `{text}`, expected one of {}", names(values));
        if let Some(near) = did_you_mean(text, &all) {
            msg.push_str(&format!("; did you mean `{near}`?"));
        }
        self.error(node.loc, path, msg);
        None
    }

    /// A `google.protobuf.Duration`: `"1.5s"` (proto3 JSON) or `{seconds, nanos}`.
    pub(crate) fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        match &node.value {
            Value::Scalar(s) => match parse_duration(&s.text) {
                Ok(d) => Some(d),
                Err(why) => {
                    self.error(
                        node.loc,
                        path,
                        format!("invalid duration `{}`: {why}", s.text),
                    );
                    None
                }
            },
            Value::Map(_) => {
                let m = self.message(node, path, &crate::schema::DURATION)?;
                let seconds = match m.get("seconds") {
                    Some(n) => self.u64_in(n, &m.path("seconds"), 0, DURATION_SECONDS_MAX)?,
                    None => 0,
                };
                let nanos = match m.get("nanos") {
                    Some(n) => self.u32_in(n, &m.path("nanos"), 0, 999_999_999)?,
                    None => 0,
                };
                Some(Duration::new(seconds, nanos))
            }
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!(
                        "expected a duration such as `5s`, found {}",
                        node.kind_name()
                    ),
                );
                None
            }
        }
    }

    /// A `google.protobuf.Struct` as a JSON object.
    pub(crate) fn json_struct(
        &mut self,
        node: &Node,
        path: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        match node.to_json() {
            serde_json::Value::Object(map) => Some(map),
            serde_json::Value::Null => Some(serde_json::Map::new()),
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!("expected a mapping, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// `Metadata.filter_metadata["envoy.lb"]`, flattened to key -> value (what subset load
    /// balancing and `metadata_match` read).
    pub(crate) fn lb_metadata(
        &mut self,
        node: &Node,
        path: &str,
    ) -> BTreeMap<String, serde_json::Value> {
        self.filter_metadata(node, path)
            .remove("envoy.lb")
            .map(|fields| fields.into_iter().collect())
            .unwrap_or_default()
    }

    /// `Metadata.filter_metadata`: each namespace's struct as a JSON object.
    pub(crate) fn filter_metadata(&mut self, node: &Node, path: &str) -> FilterMetadata {
        let mut out = FilterMetadata::new();
        let Some(m) = self.message(node, path, &crate::schema::METADATA) else {
            return out;
        };
        let Some(fm) = m.get("filter_metadata") else {
            return out;
        };
        let fpath = m.path("filter_metadata");
        let Some(map) = self.json_struct(fm, &fpath) else {
            return out;
        };
        for (ns, value) in map {
            match value {
                serde_json::Value::Object(fields) => {
                    out.insert(ns, fields);
                }
                serde_json::Value::Null => {}
                _ => self.error(
                    fm.loc,
                    &format!("{fpath}[\"{ns}\"]"),
                    "expected a mapping (a google.protobuf.Struct)",
                ),
            }
        }
        out
    }
}

/// Envoy's largest duration: 10,000 years.
const DURATION_SECONDS_MAX: u64 = 315_576_000_000;

fn names(values: &[(&str, i64)]) -> String {
    values
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses proto3 JSON's duration text: decimal seconds with up to 9 fraction digits and an `s`
/// suffix, e.g. `0.25s`, `5s`, `1.5s`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let Some(number) = text.trim().strip_suffix('s') else {
        return Err(
            if text.ends_with("ms") || text.ends_with('m') || text.ends_with('h') {
                "write it in seconds with an `s` suffix, e.g. `0.25s` for 250ms".to_owned()
            } else {
                "expected seconds with an `s` suffix, e.g. `5s` or `0.25s`".to_owned()
            },
        );
    };
    if number.starts_with('-') {
        return Err("a duration must not be negative".to_owned());
    }
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && frac.is_empty())
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err("expected seconds with an `s` suffix, e.g. `5s` or `0.25s`".to_owned());
    }
    if frac.len() > 9 {
        return Err("at most 9 fraction digits (nanoseconds)".to_owned());
    }
    let seconds: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| "too large".to_owned())?
    };
    if seconds > DURATION_SECONDS_MAX {
        return Err("too large (at most 315576000000s)".to_owned());
    }
    let mut nanos: u32 = 0;
    for (i, c) in frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .enumerate()
    {
        let _ = i;
        nanos = nanos * 10 + c.to_digit(10).unwrap_or(0);
    }
    Ok(Duration::new(seconds, nanos))
}

/// A required string field that must not be empty. A field written in a form already refused
/// is not reported missing as well.
pub(crate) fn required_name(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<String> {
    match m.get(field) {
        Some(v) => {
            let s = cx.string(v, &m.path(field))?;
            if s.is_empty() {
                cx.error(
                    v.loc,
                    &m.path(field),
                    format!("`{field}` must not be empty"),
                );
                return None;
            }
            Some(s)
        }
        None => {
            if !m.written(field) {
                cx.missing(m, field);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests;
