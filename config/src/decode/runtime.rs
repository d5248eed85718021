//! `layered_runtime`: the runtime layers, lowest precedence first, with the static layer
//! flattened to dotted keys the way Envoy reads it.

use std::collections::{BTreeMap, HashMap};

use super::{Cx, matcher};
use crate::model::{Loc, RuntimeLayer, RuntimeLayerKind};
use crate::schema;
use crate::tree::{Node as TNode, Value};

/// `layered_runtime.layers`: names unique, at most one admin layer (as Envoy's loader checks).
pub(super) fn layered_runtime(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Vec<RuntimeLayer>> {
    let m = cx.message(n, path, &schema::LAYERED_RUNTIME)?;
    let Some(list) = m.get("layers") else {
        return Some(Vec::new());
    };
    let mut layers = Vec::new();
    let mut ok = true;
    let mut names: HashMap<String, Loc> = HashMap::new();
    let mut admin: Option<Loc> = None;
    for (l, p) in cx.list(list, &m.path("layers")) {
        let Some((layer, name_loc)) = layer(cx, l, &p) else {
            ok = false;
            continue;
        };
        if let Some(first) = names.get(&layer.name) {
            cx.error(
                name_loc,
                &format!("{p}.name"),
                format!(
                    "duplicate layer name `{}` (first at line {}:{}); layer names must be unique",
                    layer.name, first.line, first.column
                ),
            );
            ok = false;
        } else {
            names.insert(layer.name.clone(), name_loc);
        }
        if layer.kind == RuntimeLayerKind::Admin {
            if let Some(first) = admin {
                cx.error(
                    l.loc,
                    &p,
                    format!(
                        "a second admin layer (the first is at line {}:{}); Envoy allows at most one",
                        first.line, first.column
                    ),
                );
                ok = false;
            }
            admin = Some(l.loc);
        }
        layers.push(layer);
    }
    ok.then_some(layers)
}

/// One `RuntimeLayer`, with where its name was written.
fn layer(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<(RuntimeLayer, Loc)> {
    let m = cx.message(n, path, &schema::RUNTIME_LAYER)?;
    let name = match m.get("name") {
        Some(v) => {
            let s = cx.string(v, &m.path("name"))?;
            if s.is_empty() {
                cx.error(v.loc, &m.path("name"), "`name` must not be empty");
                return None;
            }
            Some((s, v.loc))
        }
        None => {
            cx.missing(&m, "name");
            None
        }
    };
    const KINDS: &[&str] = &["static_layer", "disk_layer", "admin_layer", "rtds_layer"];
    if !matcher::one_of(cx, &m, KINDS, "a runtime layer has one layer specifier") {
        return None;
    }
    let kind = match m.set_of(KINDS).first().copied() {
        Some("static_layer") => {
            let mut values = BTreeMap::new();
            flatten(
                cx,
                m.get("static_layer")?,
                &m.path("static_layer"),
                "",
                &mut values,
            )
            .then_some(RuntimeLayerKind::Static(values))
        }
        Some("disk_layer") => disk_layer(cx, m.get("disk_layer")?, &m.path("disk_layer")),
        Some("admin_layer") => cx
            .message(
                m.get("admin_layer")?,
                &m.path("admin_layer"),
                &schema::ADMIN_LAYER,
            )
            .map(|_| RuntimeLayerKind::Admin),
        _ => {
            if !KINDS.iter().any(|k| m.written(k)) {
                cx.error(
                    m.loc,
                    path,
                    "a runtime layer needs one of `static_layer`, `disk_layer`, `admin_layer`",
                );
            }
            None
        }
    };
    let (name, loc) = name?;
    Some((RuntimeLayer { name, kind: kind? }, loc))
}

/// Envoy's `ProtoLayer::walkProtoValue`: nested mappings become dotted keys; a scalar is kept
/// as its text (booleans spelled `true`/`false`); lists and nulls are refused as in Envoy.
fn flatten(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    prefix: &str,
    out: &mut BTreeMap<String, String>,
) -> bool {
    match &n.value {
        Value::Map(entries) => {
            let mut ok = true;
            for e in entries {
                let key = if prefix.is_empty() {
                    e.key.clone()
                } else {
                    format!("{prefix}.{}", e.key)
                };
                ok &= flatten(cx, &e.value, &format!("{path}.{}", e.key), &key, out);
            }
            ok
        }
        Value::Null if prefix.is_empty() => true,
        _ if prefix.is_empty() => {
            cx.error(
                n.loc,
                path,
                format!(
                    "expected a mapping of runtime keys, found {}",
                    n.kind_name()
                ),
            );
            false
        }
        Value::Scalar(s) => {
            let text = match s.text.as_str() {
                "true" | "True" | "TRUE" if !s.quoted => "true".to_owned(),
                "false" | "False" | "FALSE" if !s.quoted => "false".to_owned(),
                other => other.to_owned(),
            };
            out.insert(prefix.to_owned(), text);
            true
        }
        Value::Null | Value::Seq(_) => {
            cx.error(
                n.loc,
                path,
                format!(
                    "invalid runtime entry value for `{prefix}`: expected a string, number, boolean or mapping, found {}",
                    n.kind_name()
                ),
            );
            false
        }
    }
}

fn disk_layer(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<RuntimeLayerKind> {
    let m = cx.message(n, path, &schema::DISK_LAYER)?;
    let mut text = |field: &str| match m.get(field) {
        Some(v) => cx.string(v, &m.path(field)),
        None => Some(String::new()),
    };
    let symlink_root = text("symlink_root");
    let subdirectory = text("subdirectory");
    let append_service_cluster = match m.get("append_service_cluster") {
        Some(v) => cx.boolean(v, &m.path("append_service_cluster")),
        None => Some(false),
    };
    Some(RuntimeLayerKind::Disk {
        symlink_root: symlink_root?,
        subdirectory: subdirectory?,
        append_service_cluster: append_service_cluster?,
    })
}
