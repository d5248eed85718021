//! The compatibility sweep against real configs in the shared folder beside the checkout
//! (`/work/shared` or `$SLUICE_SHARED`); skipped when it is absent, since the crate's own
//! fixtures (which include standalone copies of some of these files) must stand alone.
//!
//! Every scenario bootstrap must load or be refused only for "not supported yet" reasons; every
//! public Envoy config must be refused, if at all, only as "not supported yet" or as Envoy's
//! own v1/v2 formats: never a parse error or an "unknown field" for a real Envoy field.

use std::fs;
use std::path::{Path, PathBuf};

use sluice_config::{ConfigErrors, Format, load_str};

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("SLUICE_SHARED")
        .map_or_else(|| PathBuf::from("/work/shared"), PathBuf::from);
    dir.is_dir().then_some(dir)
}

/// The conformance harness copies a scenario's bootstrap into its run directory, rewriting its
/// default run root to the run's own; render the file the same way before loading it.
fn render(text: &str) -> String {
    const DEFAULT_RUN_ROOT: &str = "/tmp/envoy-conformance";
    let run_root =
        std::env::var("SLUICE_RUN_ROOT").unwrap_or_else(|_| "/tmp/sluice-conformance".to_owned());
    text.replace(DEFAULT_RUN_ROOT, &run_root)
}

fn load(path: &Path) -> Result<(), ConfigErrors> {
    let text = render(&fs::read_to_string(path).expect("config text"));
    let format = if path.extension().is_some_and(|e| e == "json") {
        Format::Json
    } else {
        Format::Yaml
    };
    load_str(&text, &path.display().to_string(), format).map(|_| ())
}

/// A refusal that names a real reason: a feature Sluice lacks, or Envoy's own v1/v2 formats
/// (which Envoy itself no longer loads).
fn acceptable(message: &str) -> bool {
    message.contains("not supported yet")
        || message.contains("that Sluice does not support yet")
        || message.contains("v2 API")
        || message.contains("v1 JSON config format")
}

#[test]
fn scenario_bootstraps_load_or_need_unsupported_features() {
    let Some(shared) = shared() else {
        return;
    };
    let dir = shared.join("scenarios/scenarios");
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    let mut bad = Vec::new();
    let mut loaded = 0;
    for entry in entries {
        let path = entry.expect("entry").path().join("bootstrap.yaml");
        if !path.is_file() {
            continue;
        }
        match load(&path) {
            Ok(()) => loaded += 1,
            Err(e) => bad.extend(
                e.0.iter()
                    .filter(|d| !acceptable(&d.message))
                    .map(ToString::to_string),
            ),
        }
    }
    assert!(
        bad.is_empty(),
        "refused for other reasons:\n{}",
        bad.join("\n")
    );
    assert!(loaded >= 2, "only {loaded} scenario bootstraps loaded");
}

#[test]
fn public_envoy_configs_are_never_unknown_or_unparsable() {
    let Some(shared) = shared() else {
        return;
    };
    let Ok(entries) = fs::read_dir(shared.join("envoy-configs")) else {
        return;
    };
    let mut bad = Vec::new();
    for entry in entries {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")) {
            continue;
        }
        if let Err(e) = load(&path) {
            bad.extend(
                e.0.iter()
                    .filter(|d| !acceptable(&d.message))
                    .map(ToString::to_string),
            );
        }
    }
    assert!(
        bad.is_empty(),
        "refused for other reasons:\n{}",
        bad.join("\n")
    );
}

/// The scenarios whose every field Sluice implements: they must load, not merely be refused
/// for acceptable reasons.
const SCENARIOS_THAT_LOAD: &[&str] = &[
    "06-tcp-health-check",
    "07-http-health-check",
    "10-ring-hash-source-ip",
    "11-ring-hash-user-agent",
    "12-priority-levels",
    "13-panic-threshold",
    "14-locality-weighted",
    "15-lb-subsets",
    "17-httproute-simple-match",
    "18-httproute-headers-match",
    "19-traffic-splitting-runtime",
    "20-timeout-retries",
];

#[test]
fn implemented_scenarios_load() {
    let Some(shared) = shared() else {
        return;
    };
    let dir = shared.join("scenarios/scenarios");
    let mut bad = Vec::new();
    for name in SCENARIOS_THAT_LOAD {
        let path = dir.join(name).join("bootstrap.yaml");
        if !path.is_file() {
            continue;
        }
        if let Err(e) = load(&path) {
            bad.push(format!("{name}:\n{e}"));
        }
    }
    assert!(bad.is_empty(), "refused:\n{}", bad.join("\n"));
}

/// The public Envoy configs whose every field Sluice implements: they must load.
const PUBLIC_CONFIGS_THAT_LOAD: &[&str] = &["envoyproxy-envoy__configs-envoy-demo.yaml"];

#[test]
fn implemented_public_configs_load() {
    let Some(shared) = shared() else {
        return;
    };
    let dir = shared.join("envoy-configs");
    let mut bad = Vec::new();
    for name in PUBLIC_CONFIGS_THAT_LOAD {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        if let Err(e) = load(&path) {
            bad.push(format!("{name}:\n{e}"));
        }
    }
    assert!(bad.is_empty(), "refused:\n{}", bad.join("\n"));
}
