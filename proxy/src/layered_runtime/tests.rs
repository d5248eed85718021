//! Table tests for value typing, layering, `feature_enabled`, the disk layer and the loader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sluice_config::model::{RuntimeLayer, RuntimeLayerKind};

use super::*;

/// A directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sluice-rtm-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, rel: &str, contents: &str) {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn static_layer(name: &str, kv: &[(&str, &str)]) -> RuntimeLayer {
    RuntimeLayer {
        name: name.into(),
        kind: RuntimeLayerKind::Static(
            kv.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
    }
}

fn disk_layer(name: &str, root: &Path, sub: &str, append: bool) -> RuntimeLayer {
    RuntimeLayer {
        name: name.into(),
        kind: RuntimeLayerKind::Disk {
            symlink_root: root.display().to_string(),
            subdirectory: sub.into(),
            append_service_cluster: append,
        },
    }
}

fn admin_layer(name: &str) -> RuntimeLayer {
    RuntimeLayer {
        name: name.into(),
        kind: RuntimeLayerKind::Admin,
    }
}

fn layer(name: &str, kv: &[(&str, &str)]) -> Arc<Layer> {
    Arc::new(Layer::new(
        name,
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), Entry::parse(v)))
            .collect(),
    ))
}

#[test]
fn values_are_typed_as_envoy_types_them() {
    type Row = (
        &'static str,
        Option<u64>,
        Option<f64>,
        Option<bool>,
        Option<(u32, u32)>,
    );
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // raw                     integer          double            boolean      fraction
        ("5",                      Some(5),         Some(5.0),        Some(true),  None),
        ("0",                      Some(0),         Some(0.0),        Some(false), None),
        (" 42 ",                   Some(42),        Some(42.0),       Some(true),  None),
        ("+7",                     Some(7),         Some(7.0),        Some(true),  None),
        ("-3",                     None,            Some(-3.0),       Some(true),  None),
        ("3.7",                    Some(3),         Some(3.7),        None,        None),
        ("1e3",                    Some(1000),      Some(1000.0),     Some(true),  None),
        // C++ stream integers: a leading 0 is octal, 0x hex.
        ("010",                    Some(8),         Some(8.0),        Some(true),  None),
        ("0x10",                   Some(16),        Some(16.0),       Some(true),  None),
        ("09",                     Some(9),         Some(9.0),        Some(true),  None),
        // Past i32 a YAML integer is a string, read again by SimpleAtod.
        ("4294967296",             Some(4294967296), Some(4294967296.0), None,     None),
        ("0x100000000",            None,            None,             None,        None),
        ("1e30",                   None,            Some(1e30),       None,        None),
        // YAML booleans carry no number.
        ("true",                   None,            None,             Some(true),  None),
        ("False",                  None,            None,             Some(false), None),
        ("YES",                    None,            None,             Some(true),  None),
        ("off",                    None,            None,             Some(false), None),
        ("y",                      None,            None,             Some(true),  None),
        ("tRUE",                   None,            None,             None,        None),
        // Quoted text keeps its quotes in the raw value, which is then no number.
        ("\"5\"",                  None,            None,             None,        None),
        ("'true'",                 None,            None,             None,        None),
        ("hello",                  None,            None,             None,        None),
        ("",                       None,            None,             None,        None),
        ("null",                   None,            None,             None,        None),
        ("[1, 2]",                 None,            None,             None,        None),
        ("5 # five",               Some(5),         Some(5.0),        Some(true),  None),
        // FractionalPercent mappings, block or flow, JSON included.
        ("numerator: 5\ndenominator: TEN_THOUSAND", None, None,      None,        Some((5, 10_000))),
        ("{numerator: 1, denominator: MILLION}",    None, None,      None,        Some((1, 1_000_000))),
        ("{\"numerator\": 20, \"denominator\": \"HUNDRED\"}", None, None, None,   Some((20, 100))),
        ("{numerator: 30}",        None,            None,             None,        Some((30, 100))),
        ("{}",                     None,            None,             None,        Some((0, 100))),
        ("{numerator: 1.5}",       None,            None,             None,        Some((0, 100))),
        ("{numerator: 1, denominator: 2}", None,    None,             None,        None),
        ("{numerator: 1, denominator: THOUSAND}", None, None,         None,        None),
        ("{numerator: 1, other: 2}", None,          None,             None,        None),
        ("foo: bar",               None,            None,             None,        None),
    ];
    for (raw, integer, double, boolean, fraction) in rows {
        let e = Entry::parse(raw);
        assert_eq!(e.raw(), *raw);
        assert_eq!(e.integer(), *integer, "integer of {raw:?}");
        assert_eq!(e.double(), *double, "double of {raw:?}");
        assert_eq!(e.boolean(), *boolean, "boolean of {raw:?}");
        assert_eq!(
            e.fraction().map(|f| (f.numerator, f.denominator)),
            *fraction,
            "fraction of {raw:?}"
        );
    }
}

#[test]
fn nan_and_infinity_are_doubles_only() {
    let nan = Entry::parse("nan");
    assert!(nan.double().is_some_and(f64::is_nan));
    assert_eq!((nan.integer(), nan.boolean()), (None, None));
    let inf = Entry::parse("inf");
    assert_eq!(inf.double(), Some(f64::INFINITY));
    assert_eq!(inf.integer(), None);
}

#[test]
fn later_layers_override_earlier_ones() {
    let rt = Runtime::new(vec![
        layer("base", &[("a", "1"), ("b", "2"), ("c", "x")]),
        layer("disk", &[("b", "20")]),
        layer("admin", &[("c", "true"), ("d", "4")]),
    ]);
    let names: Vec<&str> = rt.layers().iter().map(|l| l.name()).collect();
    assert_eq!(names, ["base", "disk", "admin"]);
    assert_eq!(rt.num_keys(), 4);
    assert_eq!(rt.get("a"), Some("1"));
    assert_eq!(rt.integer("b"), Some(20));
    assert_eq!(rt.get("c"), Some("true"));
    assert_eq!(rt.boolean("c"), Some(true));
    assert_eq!(rt.integer("c"), None);
    assert_eq!(rt.double("d"), Some(4.0));
    assert_eq!(rt.get("missing"), None);
    assert_eq!(rt.get(""), None);
}

#[test]
fn an_empty_value_in_a_later_layer_still_wins() {
    // An empty disk file is a value (""), unlike an empty admin value, which removes the key.
    let rt = Runtime::new(vec![
        layer("base", &[("k", "5")]),
        layer("disk", &[("k", "")]),
    ]);
    assert_eq!(rt.get("k"), Some(""));
    assert_eq!(rt.integer("k"), None);
}

#[test]
fn feature_enabled_follows_envoy() {
    // (runtime value of "f" or None, default numerator, denominator, random, enabled)
    #[rustfmt::skip]
    let rows: &[(Option<&str>, u32, u32, u64, bool)] = &[
        // No runtime value: the default fraction.
        (None,                                   50, 100,       49,      true),
        (None,                                   50, 100,       50,      false),
        (None,                                   50, 100,       149,     true),
        (None,                                   0,  100,       0,       false),
        (None,                                   5,  10_000,    4,       true),
        (None,                                   5,  10_000,    10_005,  false),
        (None,                                   1,  1_000_000, 1_000_000, true),
        // An integer is a percentage, whatever the default's denominator.
        (Some("10"),                             5,  1_000_000, 9,       true),
        (Some("10"),                             5,  1_000_000, 10,      false),
        (Some("0"),                              100, 100,      0,       false),
        (Some("100"),                            0,  100,       99,      true),
        (Some("101"),                            0,  100,       u64::MAX, true),
        (Some("2.9"),                            0,  100,       1,       true),
        (Some("2.9"),                            0,  100,       2,       false),
        // A FractionalPercent in the runtime replaces the default entirely.
        (Some("{numerator: 5, denominator: TEN_THOUSAND}"), 100, 100, 4,  true),
        (Some("{numerator: 5, denominator: TEN_THOUSAND}"), 100, 100, 5,  false),
        (Some("{numerator: 5, denominator: TEN_THOUSAND}"), 100, 100, 99, false),
        // Anything else falls back to the default.
        (Some("true"),                           0,  100,       0,       false),
        (Some("-5"),                             100, 100,      0,       true),
        (Some("junk"),                           30, 100,       29,      true),
    ];
    for (value, numerator, denominator, random, enabled) in rows {
        let rt = match value {
            Some(v) => Runtime::new(vec![layer("l", &[("f", v)])]),
            None => Runtime::default(),
        };
        assert_eq!(
            rt.feature_enabled("f", *numerator, *denominator, *random),
            *enabled,
            "value {value:?}, default {numerator}/{denominator}, random {random}"
        );
    }
}

#[test]
fn percent_enabled_caps_at_one_hundred() {
    let rt = Runtime::new(vec![layer("l", &[("p", "30"), ("big", "500")])]);
    assert!(rt.percent_enabled("p", 0, 29));
    assert!(!rt.percent_enabled("p", 0, 30));
    assert!(rt.percent_enabled("big", 0, 99));
    assert!(rt.percent_enabled("missing", 1, 100));
    assert!(!rt.percent_enabled("missing", 1, 101));
}

#[test]
fn file_contents_become_values_as_envoy_reads_them() {
    #[rustfmt::skip]
    let rows: &[(&str, &str)] = &[
        ("5\n",                  "5"),
        ("5  \t\r\n",            "5"),
        ("a\nb\n",               "a\nb"),
        ("# comment\n7\n",       "7"),
        ("7\n# trailing\n",      "7\n"),
        ("x\n\n\ny",             "x\ny"),
        ("",                     ""),
        // Envoy trims every line equal to the last one, not only the last.
        ("z \nmid\nz ",          "zmid\nz"),
    ];
    for (text, value) in rows {
        assert_eq!(file_value(text), *value, "file {text:?}");
    }
}

#[test]
fn a_disk_tree_becomes_dotted_keys() {
    let dir = Scratch::new();
    dir.write("current/envoy/health_check/min_interval", "5\n");
    dir.write("current/envoy/upstream/use_http2", "true");
    dir.write("current/envoy/.hidden", "1");
    dir.write("current/envoy/comment_only", "# nothing\n");
    let mut loader = Loader::new(
        &[disk_layer(
            "disk",
            &dir.path().join("current"),
            "envoy",
            false,
        )],
        "svc",
    )
    .unwrap();
    let report = loader.reload();
    assert_eq!((report.disk_layers, report.error_layers), (1, 0));
    assert_eq!((report.num_layers, report.num_keys), (1, 4));
    let rt = loader.runtime();
    assert_eq!(rt.integer("health_check.min_interval"), Some(5));
    assert_eq!(rt.boolean("upstream.use_http2"), Some(true));
    // Envoy skips no name: dot files are keys too.
    assert_eq!(rt.get(".hidden"), Some("1"));
    assert_eq!(rt.get("comment_only"), Some(""));
}

#[test]
fn disk_layers_skip_missing_directories_and_count_failures() {
    let dir = Scratch::new();
    dir.write("root/envoy/k", "1");
    dir.write("root/override/svc/k", "2");
    let deep = (0..17)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/");
    dir.write(&format!("root/deep/{deep}/k"), "3");
    let root = dir.path().join("root");
    let mut loader = Loader::new(
        &[
            disk_layer("base", &root, "envoy", false),
            disk_layer("override", &root, "override", true),
            disk_layer("other_service", &root, "absent", true),
            disk_layer("too_deep", &root, "deep", false),
        ],
        "svc",
    )
    .unwrap();
    let report = loader.reload();
    assert_eq!((report.disk_layers, report.error_layers), (2, 1));
    let names: Vec<&str> = loader.runtime().layers().iter().map(|l| l.name()).collect();
    assert_eq!(names, ["base", "override"]);
    assert_eq!(loader.runtime().get("k"), Some("2"));
}

#[test]
fn the_admin_layer_is_merged_as_envoy_merges_it() {
    let mut loader = Loader::new(
        &[
            static_layer("static", &[("a", "1"), ("b", "2")]),
            admin_layer("admin"),
        ],
        "svc",
    )
    .unwrap();
    loader.reload();
    assert!(!loader.admin_overrides_active());
    let pairs = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };

    let report = loader
        .merge_admin(pairs(&[("b", "20"), ("c", "3")]))
        .unwrap();
    assert_eq!((report.num_layers, report.num_keys), (2, 3));
    assert!(loader.admin_overrides_active());
    let rt = Arc::clone(loader.runtime());
    assert_eq!(rt.integer("b"), Some(20));
    assert_eq!(rt.integer("c"), Some(3));

    // An empty value removes the override; the static value shows again.
    loader.merge_admin(pairs(&[("b", ""), ("c", "")])).unwrap();
    assert!(!loader.admin_overrides_active());
    assert_eq!(loader.runtime().integer("b"), Some(2));
    assert_eq!(loader.runtime().get("c"), None);
    // The runtime handed out before is unchanged.
    assert_eq!(rt.integer("b"), Some(20));
}

#[test]
fn without_layered_runtime_there_are_no_layers_and_no_admin_layer() {
    // Envoy: no `layered_runtime` in the bootstrap means no layers at all, so /runtime_modify
    // answers "No admin layer specified".
    let mut loader = Loader::new(&[], "svc").unwrap();
    let report = loader.reload();
    assert_eq!((report.num_layers, report.num_keys), (0, 0));
    assert_eq!(
        loader.merge_admin([("k".to_owned(), "v".to_owned())]),
        Err(NoAdminLayer)
    );
    assert!(!loader.has_disk_layers());
}

#[test]
fn layer_configurations_envoy_refuses_are_refused() {
    assert_eq!(
        Loader::new(&[static_layer("x", &[]), admin_layer("x")], "svc").err(),
        Some(ConfigError::DuplicateName("x".into()))
    );
    assert_eq!(
        Loader::new(&[admin_layer("a"), admin_layer("b")], "svc").err(),
        Some(ConfigError::TooManyAdminLayers)
    );
}

#[test]
fn a_swapped_symlink_is_seen_and_reloads_new_values() {
    let dir = Scratch::new();
    dir.write("v1/envoy/k", "1");
    dir.write("v2/envoy/k", "2");
    let link = dir.path().join("current");
    std::os::unix::fs::symlink(dir.path().join("v1"), &link).unwrap();
    let mut loader = Loader::new(&[disk_layer("disk", &link, "envoy", false)], "svc").unwrap();
    assert!(loader.has_disk_layers());
    loader.reload();
    assert_eq!(loader.runtime().get("k"), Some("1"));
    assert!(!loader.poll_symlinks(), "nothing changed yet");

    // Swap as deploy tools do: a new link renamed over the old one.
    let tmp = dir.path().join("current.tmp");
    std::os::unix::fs::symlink(dir.path().join("v2"), &tmp).unwrap();
    std::fs::rename(&tmp, &link).unwrap();
    assert!(loader.poll_symlinks());
    assert!(!loader.poll_symlinks(), "a change is reported once");
    loader.reload();
    assert_eq!(loader.runtime().get("k"), Some("2"));

    // A link that disappears is no change; one that comes back is.
    std::fs::remove_file(&link).unwrap();
    assert!(!loader.poll_symlinks());
    std::os::unix::fs::symlink(dir.path().join("v1"), &link).unwrap();
    assert!(loader.poll_symlinks());
}

#[test]
fn static_values_keep_their_text() {
    let mut values = BTreeMap::new();
    values.insert("health_check.min_interval".to_owned(), "5".to_owned());
    let mut loader = Loader::new(
        &[RuntimeLayer {
            name: "static".into(),
            kind: RuntimeLayerKind::Static(values),
        }],
        "svc",
    )
    .unwrap();
    loader.reload();
    assert_eq!(loader.runtime().get("health_check.min_interval"), Some("5"));
    assert_eq!(
        loader.runtime().integer("health_check.min_interval"),
        Some(5)
    );
}
