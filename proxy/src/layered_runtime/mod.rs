//! Envoy's layered runtime: key/value overrides read from the bootstrap, from disk and from the
//! admin API, merged into one immutable [`Runtime`] that every snapshot carries to the workers.
//!
//! ```text
//!  bootstrap layered_runtime ──► Loader (control thread) ──reload()──► Arc<Runtime> ──► Snapshot
//!    static_layer: parsed once        admin map (POST /runtime_modify)        layers in order,
//!    disk_layer:   read on reload     symlink roots polled every second       later ones win
//!    admin_layer:  the admin map
//! ```
//!
//! The [`Loader`] lives on the control thread and is the only thing that changes; each change
//! (an admin update, a swapped disk symlink) rebuilds the whole `Runtime`, re-reading every disk
//! layer as Envoy's `loadNewSnapshot` does, and the control thread publishes it in a new
//! snapshot. Readers only ever see a finished `Runtime`.
//!
//! Why a poll and not inotify for the disk layers: Envoy watches the symlink's directory for a
//! rename onto it (`IN_MOVED_TO`). Polling each distinct `symlink_root` once a second (`lstat`,
//! `readlink`, and `stat` of what it resolves to) costs three system calls per root per second,
//! needs no `unsafe`, no watch descriptors and no event queue to bound, works when the root's
//! directory appears only after start-up, and sees both a rename onto the link and an
//! unlink-then-create; the price is up to one second of latency, which suits a mechanism
//! operators drive by hand or from deploy scripts.

mod disk;
mod value;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_config::model;

pub use disk::{DiskError, file_value};
pub use value::{Entry, Fraction, denominator};

/// One layer of a runtime: its name and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    name: String,
    values: BTreeMap<String, Entry>,
}

/// The merged runtime at one moment: immutable, shared by `Arc` with every worker.
#[derive(Debug, Default)]
pub struct Runtime {
    /// The layers that loaded, lowest precedence first (a disk layer whose directory is missing
    /// or unreadable is absent, as in Envoy's `getLayers`).
    layers: Vec<Arc<Layer>>,
    /// Each key's value from the last layer that holds it.
    merged: HashMap<String, Entry>,
}

/// Why a `layered_runtime` cannot be used (Envoy refuses these at start-up too).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Two layers share a name.
    #[error("layered_runtime: duplicate layer name `{0}`; give every layer its own name")]
    DuplicateName(String),
    /// More than one `admin_layer`.
    #[error(
        "layered_runtime: too many admin layers specified, at most one may be specified \
         (POST /runtime_modify writes to it)"
    )]
    TooManyAdminLayers,
}

/// `POST /runtime_modify` without an admin layer; the text is Envoy's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("No admin layer specified")]
pub struct NoAdminLayer;

/// What one (re)load found, for the `runtime.*` stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadReport {
    /// Disk layers read successfully.
    pub disk_layers: u32,
    /// Disk layers that failed to read (and were left out).
    pub error_layers: u32,
    /// Layers in the new runtime.
    pub num_layers: usize,
    /// Distinct keys in the new runtime.
    pub num_keys: usize,
}

/// The control thread's runtime state: the configured layers, the admin layer's values and the
/// disk symlinks being watched.
#[derive(Debug)]
pub struct Loader {
    specs: Vec<model::RuntimeLayer>,
    /// Static layers, parsed once, by position in `specs`.
    statics: Vec<Option<Arc<Layer>>>,
    service_cluster: String,
    /// `Some` when an admin layer is configured.
    admin: Option<BTreeMap<String, Entry>>,
    runtime: Arc<Runtime>,
    watches: Vec<SymlinkWatch>,
}

/// One `symlink_root`, and what it looked like when last polled.
#[derive(Debug)]
struct SymlinkWatch {
    path: PathBuf,
    seen: Option<LinkIdentity>,
}

/// What changes when a link is swapped: the link's own inode (a new link, renamed or created),
/// the path it holds, and the directory that path resolves to (a link re-pointed at a directory
/// that was itself replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LinkIdentity {
    link: (u64, u64),
    target: Option<PathBuf>,
    resolved: Option<(u64, u64)>,
}

// === impl Layer ===

impl Layer {
    /// A layer named `name` holding `values`.
    pub fn new(name: impl Into<String>, values: BTreeMap<String, Entry>) -> Self {
        Self {
            name: name.into(),
            values,
        }
    }

    /// `name` as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its keys and values, sorted by key.
    pub fn values(&self) -> &BTreeMap<String, Entry> {
        &self.values
    }
}

// === impl Runtime ===

impl Runtime {
    /// Merges `layers`, later ones overriding earlier ones key by key.
    pub fn new(layers: Vec<Arc<Layer>>) -> Self {
        let mut merged = HashMap::new();
        for layer in &layers {
            for (key, entry) in &layer.values {
                merged.insert(key.clone(), entry.clone());
            }
        }
        debug_assert!(merged.len() <= layers.iter().map(|l| l.values.len()).sum::<usize>());
        Self { layers, merged }
    }

    /// The layers, lowest precedence first.
    pub fn layers(&self) -> &[Arc<Layer>] {
        &self.layers
    }

    /// Number of distinct keys.
    pub fn num_keys(&self) -> usize {
        self.merged.len()
    }

    /// The winning entry for `key`; the empty key is never found (as Envoy).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        if key.is_empty() {
            return None;
        }
        self.merged.get(key)
    }

    /// The raw text of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(Entry::raw)
    }

    /// `key` as an integer (Envoy's `getInteger`): any value that reads as a number in
    /// `0..=u64::MAX`, floored.
    pub fn integer(&self, key: &str) -> Option<u64> {
        self.entry(key).and_then(Entry::integer)
    }

    /// `key` as a double (Envoy's `getDouble`).
    pub fn double(&self, key: &str) -> Option<f64> {
        self.entry(key).and_then(Entry::double)
    }

    /// `key` as a boolean (Envoy's `getBoolean`): YAML booleans, and integral numbers (non-zero
    /// is true).
    pub fn boolean(&self, key: &str) -> Option<bool> {
        self.entry(key).and_then(Entry::boolean)
    }

    /// `key` as a `FractionalPercent`.
    pub fn fraction(&self, key: &str) -> Option<Fraction> {
        self.entry(key).and_then(Entry::fraction)
    }

    /// Envoy's `featureEnabled(key, const FractionalPercent& default, random)`: the fraction is
    /// the runtime's `FractionalPercent` for `key`, else its integer read as a percentage (above
    /// 100 always enabled), else `default_numerator / denominator`; enabled when
    /// `random % denominator < numerator`.
    pub fn feature_enabled(
        &self,
        key: &str,
        default_numerator: u32,
        denominator: u32,
        random: u64,
    ) -> bool {
        debug_assert!(
            matches!(denominator, 100 | 10_000 | 1_000_000),
            "FractionalPercent denominators are 100, 10 000 or 1 000 000, not {denominator}"
        );
        let entry = self.entry(key);
        let (numerator, denominator) = match (
            entry.and_then(Entry::fraction),
            entry.and_then(Entry::integer),
        ) {
            (Some(f), _) => (f.numerator, f.denominator),
            (None, Some(percent)) if percent > 100 => return true,
            // At most 100 here, so the narrowing is exact.
            (None, Some(percent)) => (percent as u32, 100),
            (None, None) => (default_numerator, denominator),
        };
        random % u64::from(denominator.max(1)) < u64::from(numerator)
    }

    /// Envoy's `featureEnabled(key, default_value, random)`: enabled when
    /// `random % 100 < min(integer(key) or default_percent, 100)`.
    pub fn percent_enabled(&self, key: &str, default_percent: u64, random: u64) -> bool {
        random % 100 < self.integer(key).unwrap_or(default_percent).min(100)
    }
}

// === impl Loader ===

impl Loader {
    /// Checks the configured layers and parses the static ones. `service_cluster` is
    /// `node.cluster`, appended to disk layers with `append_service_cluster`. Nothing is read from
    /// disk until [`Loader::reload`].
    pub fn new(layers: &[model::RuntimeLayer], service_cluster: &str) -> Result<Self, ConfigError> {
        let mut names = HashSet::new();
        let mut admin = None;
        let mut statics = Vec::with_capacity(layers.len());
        let mut watches: Vec<SymlinkWatch> = Vec::new();
        for layer in layers {
            if !names.insert(layer.name.as_str()) {
                return Err(ConfigError::DuplicateName(layer.name.clone()));
            }
            let mut built = None;
            match &layer.kind {
                model::RuntimeLayerKind::Static(values) => {
                    let values = values
                        .iter()
                        .map(|(k, v)| (k.clone(), Entry::parse(v)))
                        .collect();
                    built = Some(Arc::new(Layer::new(layer.name.clone(), values)));
                }
                model::RuntimeLayerKind::Disk { symlink_root, .. } => {
                    let path = PathBuf::from(symlink_root);
                    if !watches.iter().any(|w| w.path == path) {
                        let seen = link_identity(&path);
                        watches.push(SymlinkWatch { path, seen });
                    }
                }
                model::RuntimeLayerKind::Admin => {
                    if admin.is_some() {
                        return Err(ConfigError::TooManyAdminLayers);
                    }
                    admin = Some(BTreeMap::new());
                }
            }
            statics.push(built);
        }
        debug_assert_eq!(statics.len(), layers.len());
        Ok(Self {
            specs: layers.to_vec(),
            statics,
            service_cluster: service_cluster.to_owned(),
            admin,
            runtime: Arc::new(Runtime::default()),
            watches,
        })
    }

    /// The runtime as last (re)loaded.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Whether any layer is read from disk (and so worth polling for).
    pub fn has_disk_layers(&self) -> bool {
        !self.watches.is_empty()
    }

    /// Whether the admin layer holds any value (`runtime.admin_overrides_active`).
    pub fn admin_overrides_active(&self) -> bool {
        self.admin.as_ref().is_some_and(|a| !a.is_empty())
    }

    /// Rebuilds the runtime: static layers as parsed, disk layers read again, the admin layer's
    /// current values. A disk layer whose directory does not exist is skipped quietly; one that
    /// fails to read is skipped and counted in `error_layers`.
    pub fn reload(&mut self) -> LoadReport {
        let mut report = LoadReport::default();
        let mut layers = Vec::with_capacity(self.specs.len());
        for (spec, built) in self.specs.iter().zip(&self.statics) {
            match &spec.kind {
                model::RuntimeLayerKind::Static(_) => {
                    if let Some(layer) = built {
                        layers.push(Arc::clone(layer));
                    }
                }
                model::RuntimeLayerKind::Disk {
                    symlink_root,
                    subdirectory,
                    append_service_cluster,
                } => {
                    // String concatenation, as Envoy: an absolute subdirectory does not replace
                    // the root.
                    let mut path = format!("{symlink_root}/{subdirectory}");
                    if *append_service_cluster {
                        path.push('/');
                        path.push_str(&self.service_cluster);
                    }
                    if !Path::new(&path).is_dir() {
                        continue;
                    }
                    match disk::read(Path::new(&path)) {
                        Ok(values) => {
                            report.disk_layers += 1;
                            layers.push(Arc::new(Layer::new(spec.name.clone(), values)));
                        }
                        Err(e) => {
                            report.error_layers += 1;
                            log::warn!("runtime: disk layer `{}` left out: {e}", spec.name);
                        }
                    }
                }
                model::RuntimeLayerKind::Admin => {
                    let values = self.admin.clone().unwrap_or_default();
                    layers.push(Arc::new(Layer::new(spec.name.clone(), values)));
                }
            }
        }
        self.runtime = Arc::new(Runtime::new(layers));
        report.num_layers = self.runtime.layers.len();
        report.num_keys = self.runtime.num_keys();
        debug_assert!(report.num_layers <= self.specs.len());
        report
    }

    /// Envoy's `mergeValues`: each key is removed from the admin layer, then set again unless its
    /// new value is empty; the runtime is then reloaded.
    pub fn merge_admin(
        &mut self,
        values: impl IntoIterator<Item = (String, String)>,
    ) -> Result<LoadReport, NoAdminLayer> {
        let admin = self.admin.as_mut().ok_or(NoAdminLayer)?;
        for (key, value) in values {
            admin.remove(&key);
            if !value.is_empty() {
                let entry = Entry::parse(&value);
                admin.insert(key, entry);
            }
        }
        Ok(self.reload())
    }

    /// Looks at every `symlink_root` and tells whether one now names something new (a swapped
    /// link, or a link that appeared). A link that disappeared is noted but is not a change: the
    /// runtime keeps its values until a link is in place again, as Envoy only reacts to a move
    /// onto the path.
    pub fn poll_symlinks(&mut self) -> bool {
        let mut changed = false;
        for watch in &mut self.watches {
            let now = link_identity(&watch.path);
            if now != watch.seen {
                changed |= now.is_some();
                watch.seen = now;
            }
        }
        changed
    }
}

fn link_identity(path: &Path) -> Option<LinkIdentity> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some(LinkIdentity {
        link: (meta.dev(), meta.ino()),
        target: std::fs::read_link(path).ok(),
        resolved: std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino())),
    })
}

impl crate::http::router::RuntimeLookup for Runtime {
    fn integer(&self, key: &str) -> Option<u64> {
        Runtime::integer(self, key)
    }

    fn fractional_percent(&self, key: &str) -> Option<(u64, u64)> {
        self.fraction(key)
            .map(|f| (u64::from(f.numerator), u64::from(f.denominator)))
    }
}
