//! sluice-config: reads an Envoy v3 bootstrap (YAML or JSON) and lowers it to the validated
//! [`model::Bootstrap`], with `file:line:column: field.path: reason` errors.
//!
//! The text is parsed into a spanned tree ([`tree`]), which a hand-written, schema-driven
//! decoder walks with a field path. Each Envoy message knows every field Envoy has (generated
//! from Envoy's protos into [`schema`]), so a key is either decoded, refused as "not supported
//! yet", refused as removed from Envoy, or reported unknown with a "did you mean". All problems
//! are collected, not just the first.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access_log;
mod decode;
mod diag;
pub mod model;
mod schema;
mod suggest;
mod tree;

use std::path::Path;

pub use diag::{ConfigErrors, Diagnostic};
pub use model::*;

/// The syntax of a config document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2.
    Yaml,
    /// JSON (parsed as YAML flow syntax, so it gets the same positions).
    Json,
}

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated bootstrap.
    pub bootstrap: Bootstrap,
    /// Leniencies and deprecations: the config loaded, but these deserve a look.
    pub warnings: Vec<Diagnostic>,
    /// The document normalised to JSON (for `/config_dump`).
    pub dump: serde_json::Value,
}

/// Parses a header value's `%` commands as the loader does (`request_headers_to_add` and the
/// like): the parts the proxy expands per request, empty when the value has no `%`.
pub fn parse_header_value(value: &str) -> Result<Vec<model::HeaderValuePart>, String> {
    decode::headers::parse_value(value).map(|p| p.parts)
}

/// Loads a config file: `.json` is read as JSON, anything else (`.yaml`, `.yml`) as YAML.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigErrors> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![Diagnostic {
            file: origin.clone(),
            line: 1,
            column: 1,
            path: String::new(),
            message: format!("cannot read the config file: {e}"),
        }])
    })?;
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Yaml,
    };
    load_str(&text, &origin, format)
}

/// Loads a config from text; `origin` names it in diagnostics (usually the file path).
pub fn load_str(text: &str, origin: &str, format: Format) -> Result<Loaded, ConfigErrors> {
    let mut sink = diag::Sink::new(origin);
    // JSON is YAML flow syntax; a tab is whitespace in JSON, and YAML accepts it there too.
    let _ = format;
    let root = tree::parse(text, &mut sink);
    let bootstrap = root.as_ref().and_then(|r| decode::decode(r, &mut sink));
    let dump = root.as_ref().map(tree::Node::to_json);
    let (errors, warnings) = sink.finish();
    match (bootstrap, dump) {
        (Some(bootstrap), Some(dump)) if errors.is_empty() => Ok(Loaded {
            bootstrap,
            warnings,
            dump,
        }),
        _ => Err(ConfigErrors(errors)),
    }
}
