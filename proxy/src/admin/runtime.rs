//! `GET /runtime` and `POST /runtime_modify`, in Envoy's formats.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Response;
use super::format::parse_query;
use crate::layered_runtime::Runtime;
use crate::runtime::control::{Control, RuntimeModifyError};

/// The only body type `/runtime_modify` reads parameters from (Envoy compares it exactly).
const FORM_URLENCODED: &str = "application/x-www-form-urlencoded";

/// `GET /runtime`: the layer names, and for every key its value in each layer (`""` where a
/// layer lacks it) and its `final_value`, the last non-empty one.
pub fn runtime_json(runtime: &Runtime) -> Value {
    let layers = runtime.layers();
    let mut entries: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for layer in layers {
        for key in layer.values().keys() {
            entries.entry(key.as_str()).or_default();
        }
    }
    for (key, values) in &mut entries {
        for layer in layers {
            values.push(layer.values().get(*key).map_or("", |e| e.raw()));
        }
    }
    let entries: serde_json::Map<String, Value> = entries
        .into_iter()
        .map(|(key, values)| {
            let final_value = values.iter().rev().find(|v| !v.is_empty()).unwrap_or(&"");
            (
                key.to_owned(),
                json!({ "final_value": final_value, "layer_values": values }),
            )
        })
        .collect();
    let names: Vec<&str> = layers.iter().map(|l| l.name()).collect();
    json!({ "layers": names, "entries": entries })
}

/// `POST /runtime_modify`: the query's parameters or, when it has none, a form-encoded body's.
/// Returns the response and, on success, the generation every worker must reach before it is
/// sent.
pub fn runtime_modify(
    c: &mut Control,
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (Response, Option<u64>) {
    let mut params = parse_query(query);
    if params.is_empty() && content_type == Some(FORM_URLENCODED) {
        params = parse_query(&String::from_utf8_lossy(body));
    }
    if params.is_empty() {
        return (
            Response::text(
                400,
                "usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n       \
                 or send the parameters as form values\n\
                 use an empty value to remove a previously added override",
            ),
            None,
        );
    }
    match c.modify_runtime(params.into_iter().collect()) {
        Ok(generation) => (Response::text(200, "OK\n"), Some(generation)),
        Err(e @ RuntimeModifyError::NoAdminLayer(_)) => (Response::text(503, e.to_string()), None),
        Err(e @ RuntimeModifyError::Publish(_)) => (Response::text(500, e.to_string()), None),
    }
}
