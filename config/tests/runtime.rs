//! `layered_runtime` lowers to the model's layers, the static layer flattened to dotted keys
//! with each scalar kept as its text.

use std::collections::BTreeMap;
use std::path::Path;

use sluice_config::*;

#[test]
fn layers_in_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok/runtime.yaml");
    let loaded = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let layers = &loaded.bootstrap.layered_runtime;
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["static", "disk", "disk-defaults", "admin"]);
    let want: BTreeMap<String, String> = [
        ("routing.traffic_split.demoapp", "90"),
        ("routing.enabled", "true"),
        ("health_check.min_interval", "1.5"),
        ("re2.max_program_size.error_level", "200"),
        ("overload.global_downstream_max_connections", "50000"),
        ("quoted", "true"),
        ("off", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(layers[0].kind, RuntimeLayerKind::Static(want));
    assert_eq!(
        layers[1].kind,
        RuntimeLayerKind::Disk {
            symlink_root: "/srv/runtime/current".into(),
            subdirectory: "envoy".into(),
            append_service_cluster: true,
        }
    );
    assert_eq!(
        layers[2].kind,
        RuntimeLayerKind::Disk {
            symlink_root: "/srv/runtime/other".into(),
            subdirectory: String::new(),
            append_service_cluster: false,
        }
    );
    assert_eq!(layers[3].kind, RuntimeLayerKind::Admin);
}

#[test]
fn no_layered_runtime_means_no_layers() {
    let text = "static_resources: {}\n";
    let loaded = load_str(text, "empty.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.bootstrap.layered_runtime.is_empty());
}
