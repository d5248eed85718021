//! `envoy.lb` metadata values and route `metadata_match` criteria, compared as protobuf values are.

use std::collections::BTreeMap;
use std::fmt;

/// A metadata value normalised like `google.protobuf.Value`: every JSON number is a double, so `1` and
/// `1.0` are equal while the string `"1.0"` and the number `1.0` are not.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetaValue {
    /// `null_value`.
    Null,
    /// `bool_value`.
    Bool(bool),
    /// `number_value`, stored as the bits of a canonical f64 (`-0.0` folded into `0.0`).
    Number(u64),
    /// `string_value`.
    String(String),
    /// `list_value`.
    List(Vec<MetaValue>),
    /// `struct_value` (keys sorted).
    Struct(Vec<(String, MetaValue)>),
}

impl MetaValue {
    /// Normalise a JSON value.
    #[must_use]
    pub fn from_json(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(*b),
            serde_json::Value::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                let f = if f == 0.0 { 0.0 } else { f };
                Self::Number(f.to_bits())
            }
            serde_json::Value::String(s) => Self::String(s.clone()),
            serde_json::Value::Array(a) => Self::List(a.iter().map(Self::from_json).collect()),
            serde_json::Value::Object(o) => {
                let mut fields: Vec<(String, MetaValue)> = o
                    .iter()
                    .map(|(k, v)| (k.clone(), Self::from_json(v)))
                    .collect();
                fields.sort();
                Self::Struct(fields)
            }
        }
    }
}

impl fmt::Display for MetaValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(bits) => write!(f, "{}", f64::from_bits(*bits)),
            Self::String(s) => write!(f, "{s:?}"),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Struct(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{k:?}:{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A route's `metadata_match.filter_metadata["envoy.lb"]` criteria, sorted by key as Envoy's
/// `MetadataMatchCriteriaImpl` keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MetadataMatch {
    criteria: Vec<(String, MetaValue)>,
}

impl MetadataMatch {
    /// Criteria from the `envoy.lb` struct of a route's `metadata_match`.
    #[must_use]
    pub fn from_json(fields: &BTreeMap<String, serde_json::Value>) -> Self {
        Self {
            criteria: fields
                .iter()
                .map(|(k, v)| (k.clone(), MetaValue::from_json(v)))
                .collect(),
        }
    }

    /// Criteria from `(key, value)` pairs.
    #[must_use]
    pub fn from_pairs(pairs: &[(&str, serde_json::Value)]) -> Self {
        let map: BTreeMap<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        Self::from_json(&map)
    }

    /// Envoy's `mergeMatchCriteria`: the route's criteria overridden key by key by `child` (a weighted
    /// cluster's `metadata_match`), as the router does for `weighted_clusters`.
    #[must_use]
    pub fn merge(&self, child: &MetadataMatch) -> MetadataMatch {
        let mut map: BTreeMap<String, MetaValue> = self.criteria.iter().cloned().collect();
        for (k, v) in &child.criteria {
            map.insert(k.clone(), v.clone());
        }
        Self {
            criteria: map.into_iter().collect(),
        }
    }

    /// Only the criteria whose key is in `keys` (Envoy's `filterMatchCriteria`).
    #[must_use]
    pub fn filter(&self, keys: &[String]) -> MetadataMatch {
        Self {
            criteria: self
                .criteria
                .iter()
                .filter(|(k, _)| keys.contains(k))
                .cloned()
                .collect(),
        }
    }

    /// The sorted `(key, value)` criteria.
    #[must_use]
    pub fn criteria(&self) -> &[(String, MetaValue)] {
        &self.criteria
    }

    /// No criteria.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.criteria.is_empty()
    }
}

impl fmt::Display for MetadataMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.criteria.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// Envoy's `Config::Metadata::metadataLabelMatch`: every `(key, value)` of `labels` is present in the
/// host's `envoy.lb` metadata with an equal value (or, with `list_as_any`, a list containing it).
#[must_use]
pub fn labels_match(
    labels: &[(String, MetaValue)],
    host_metadata: &BTreeMap<String, serde_json::Value>,
    list_as_any: bool,
) -> bool {
    labels.iter().all(|(k, want)| {
        host_metadata.get(k).is_some_and(|v| {
            let have = MetaValue::from_json(v);
            if &have == want {
                return true;
            }
            match (&have, list_as_any) {
                (MetaValue::List(items), true) => items.contains(want),
                _ => false,
            }
        })
    })
}
