//! The layered runtime as the admin API shows it: `GET /runtime` in Envoy's JSON shape,
//! `POST /runtime_modify` adding, overriding and removing admin values, Envoy's refusals, the
//! `runtime.*` stats, and a disk layer that follows a swapped symlink.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::{Bootstrap, Proxy, Request, TempDir, eventually};

/// How long a swapped disk symlink may take to show (polled once a second).
const DISK_RELOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// An admin-only bootstrap with `node.cluster: svc` and the given `layered_runtime` block.
fn bootstrap_with_runtime(layered_runtime: &str) -> String {
    format!(
        "node:\n  id: n1\n  cluster: svc\n{}{layered_runtime}",
        Bootstrap::new().to_yaml()
    )
}

/// Static, disk (plus a per-service-cluster override) and admin layers, the layout Envoy's docs
/// show.
fn four_layers(symlink_root: &Path) -> String {
    let root = symlink_root.display();
    format!(
        "layered_runtime:
  layers:
  - name: static_layer_0
    static_layer:
      health_check:
        min_interval: 5
      upstream:
        healthy_panic_threshold: 50
  - name: disk_layer_0
    disk_layer: {{ symlink_root: {root}, subdirectory: envoy }}
  - name: disk_layer_1
    disk_layer: {{ symlink_root: {root}, subdirectory: envoy_override, append_service_cluster: true }}
  - name: admin_layer_0
    admin_layer: {{}}
"
    )
}

/// `/runtime`'s entry for `key`.
fn entry(proxy: &Proxy, key: &str) -> Value {
    proxy.admin().json("/runtime")["entries"][key].clone()
}

fn write(dir: &Path, rel: &str, contents: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a file path has a parent"))
        .expect("create the runtime directory");
    std::fs::write(path, contents).expect("write a runtime file");
}

#[test]
fn without_layered_runtime_there_are_no_layers_and_modify_is_refused() {
    let proxy = Proxy::start(Bootstrap::new());
    let admin = proxy.admin();

    assert_eq!(
        admin.json("/runtime"),
        json!({ "layers": [], "entries": {} })
    );

    // Envoy: no layered_runtime means no admin layer to write to.
    let refused = admin.post("/runtime_modify?a=1", "");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.text(), "No admin layer specified");

    let stats = admin.stats();
    for (name, value) in [
        ("runtime.load_success", 1),
        ("runtime.load_error", 0),
        ("runtime.num_layers", 0),
        ("runtime.num_keys", 0),
        ("runtime.admin_overrides_active", 0),
        ("runtime.override_dir_exists", 0),
        ("runtime.override_dir_not_exists", 1),
        ("runtime.deprecated_feature_use", 0),
    ] {
        assert_eq!(stats.get(name), Some(&value), "{name}");
    }
}

#[test]
fn runtime_modify_needs_post_and_parameters() {
    let proxy = Proxy::start(Bootstrap::new());
    let admin = proxy.admin();

    let get = admin.get("/runtime_modify?a=1");
    assert_eq!(get.status, 405);
    assert_eq!(get.text(), "Method GET not allowed, POST required.");

    let empty = admin.post("/runtime_modify", "");
    assert_eq!(empty.status, 400);
    assert!(
        empty
            .text()
            .starts_with("usage: /runtime_modify?key1=value1"),
        "{}",
        empty.text()
    );
}

#[test]
fn admin_values_are_added_override_static_ones_and_are_removed() {
    let dir = TempDir::new("rtm-admin");
    let proxy = Proxy::start(bootstrap_with_runtime(&four_layers(
        &dir.path().join("none"),
    )));
    let admin = proxy.admin();

    // The disk layers' directory does not exist, so they are not in force (Envoy leaves them
    // out of the layer list).
    let runtime = admin.json("/runtime");
    assert_eq!(
        runtime["layers"],
        json!(["static_layer_0", "admin_layer_0"])
    );
    assert_eq!(
        runtime["entries"]["health_check.min_interval"],
        json!({ "final_value": "5", "layer_values": ["5", ""] })
    );

    // Add a key and override a static one, as query parameters.
    let ok = admin.post(
        "/runtime_modify?upstream.healthy_panic_threshold=20&my.flag=true",
        "",
    );
    assert_eq!((ok.status, ok.text().as_str()), (200, "OK\n"));
    assert_eq!(
        entry(&proxy, "upstream.healthy_panic_threshold"),
        json!({ "final_value": "20", "layer_values": ["50", "20"] })
    );
    assert_eq!(
        entry(&proxy, "my.flag"),
        json!({ "final_value": "true", "layer_values": ["", "true"] })
    );
    assert_eq!(admin.stat("runtime.admin_overrides_active"), 1);
    assert_eq!(admin.stat("runtime.num_keys"), 3);

    // As a form body; an empty value removes the override and the static value shows again.
    let form = Request::post(
        "/runtime_modify",
        b"upstream.healthy_panic_threshold=&my.flag=".to_vec(),
    )
    .header("content-type", "application/x-www-form-urlencoded");
    let ok = admin.request(&form);
    assert_eq!((ok.status, ok.text().as_str()), (200, "OK\n"));
    assert_eq!(
        entry(&proxy, "upstream.healthy_panic_threshold"),
        json!({ "final_value": "50", "layer_values": ["50", ""] })
    );
    assert_eq!(entry(&proxy, "my.flag"), Value::Null);
    assert_eq!(admin.stat("runtime.admin_overrides_active"), 0);
    // The start-up load and two modifications.
    assert_eq!(admin.stat("runtime.load_success"), 3);
}

#[test]
fn a_disk_layer_follows_its_swapped_symlink() {
    let dir = TempDir::new("rtm-disk");
    let v1 = dir.path().join("v1");
    let v2 = dir.path().join("v2");
    write(&v1, "envoy/health_check/min_interval", "10\n");
    write(&v1, "envoy_override/svc/health_check/min_interval", "11\n");
    write(&v2, "envoy/health_check/min_interval", "20\n");
    let current = dir.path().join("current");
    std::os::unix::fs::symlink(&v1, &current).expect("point the runtime symlink at v1");

    let proxy = Proxy::start(bootstrap_with_runtime(&four_layers(&current)));
    let admin = proxy.admin();
    let runtime = admin.json("/runtime");
    assert_eq!(
        runtime["layers"],
        json!([
            "static_layer_0",
            "disk_layer_0",
            "disk_layer_1",
            "admin_layer_0"
        ])
    );
    assert_eq!(
        runtime["entries"]["health_check.min_interval"],
        json!({ "final_value": "11", "layer_values": ["5", "10", "11", ""] })
    );
    assert_eq!(admin.stat("runtime.override_dir_exists"), 1);

    // Swap the link the way deploy scripts do; v2 has no override directory for `svc`.
    let status = Command::new("ln")
        .arg("-sfn")
        .arg(&v2)
        .arg(&current)
        .status()
        .expect("run ln");
    assert!(status.success());
    let swapped = eventually(
        "the disk layer to follow the symlink",
        DISK_RELOAD_TIMEOUT,
        || {
            let e = entry(&proxy, "health_check.min_interval");
            (e["final_value"] == "20").then_some(e)
        },
    );
    assert_eq!(
        swapped,
        json!({ "final_value": "20", "layer_values": ["5", "20", ""] })
    );
    assert_eq!(admin.stat("runtime.num_layers"), 3);
    assert!(admin.stat("runtime.override_dir_not_exists") >= 1);
}
