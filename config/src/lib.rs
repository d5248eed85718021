//! sluice-config: reads an Envoy v3 bootstrap (YAML or JSON) and lowers it to the validated
//! [`model::Bootstrap`], with `file:line:column: field.path: reason` errors.

pub mod model;
