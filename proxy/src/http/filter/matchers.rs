//! Header and string matchers for filters (`HTTPFault.headers`, CORS origins), compiled once
//! when the chain is built.

use sluice_config::model;

use crate::http::headers::HeaderMap;

/// A compiled `type.matcher.v3.StringMatcher`.
#[derive(Debug, Clone)]
pub(super) struct StringMatcher {
    kind: Kind,
    ignore_case: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(regex::Regex),
}

impl StringMatcher {
    pub(super) fn new(m: &model::StringMatcher) -> Self {
        let fold = |s: &String| {
            if m.ignore_case {
                s.to_ascii_lowercase()
            } else {
                s.clone()
            }
        };
        let kind = match &m.kind {
            model::StringMatchKind::Exact(s) => Kind::Exact(fold(s)),
            model::StringMatchKind::Prefix(s) => Kind::Prefix(fold(s)),
            model::StringMatchKind::Suffix(s) => Kind::Suffix(fold(s)),
            model::StringMatchKind::Contains(s) => Kind::Contains(fold(s)),
            model::StringMatchKind::SafeRegex(r) => Kind::Regex(whole(r)),
        };
        StringMatcher {
            kind,
            ignore_case: m.ignore_case,
        }
    }

    pub(super) fn matches(&self, value: &str) -> bool {
        let folded;
        let v = if self.ignore_case {
            folded = value.to_ascii_lowercase();
            folded.as_str()
        } else {
            value
        };
        match &self.kind {
            Kind::Exact(s) => v == s,
            Kind::Prefix(s) => v.starts_with(s.as_str()),
            Kind::Suffix(s) => v.ends_with(s.as_str()),
            Kind::Contains(s) => v.contains(s.as_str()),
            Kind::Regex(r) => r.is_match(value),
        }
    }
}

/// A regex that must match the whole value (RE2 `FullMatch`, as Envoy).
fn whole(r: &str) -> regex::Regex {
    // The loader compiled the pattern already; anchoring cannot make it invalid.
    regex::Regex::new(&format!("^(?:{r})$")).unwrap_or_else(|_| {
        debug_assert!(false, "regex checked at load: {r}");
        regex::Regex::new("$^").expect("a constant regex compiles")
    })
}

/// A compiled `config.route.v3.HeaderMatcher`.
#[derive(Debug, Clone)]
pub(super) struct HeaderMatcher {
    name: String,
    spec: Spec,
    invert: bool,
    treat_missing_as_empty: bool,
}

#[derive(Debug, Clone)]
enum Spec {
    Present(bool),
    Range(i64, i64),
    String(StringMatcher),
}

impl HeaderMatcher {
    pub(super) fn new(m: &model::HeaderMatcher) -> Self {
        let exact = |kind| {
            Spec::String(StringMatcher {
                kind,
                ignore_case: false,
            })
        };
        let spec = match &m.spec {
            model::HeaderMatchSpec::Exact(s) => exact(Kind::Exact(s.clone())),
            model::HeaderMatchSpec::SafeRegex(r) => exact(Kind::Regex(whole(r))),
            model::HeaderMatchSpec::Range { start, end } => Spec::Range(*start, *end),
            model::HeaderMatchSpec::Present(p) => Spec::Present(*p),
            model::HeaderMatchSpec::Prefix(s) => exact(Kind::Prefix(s.clone())),
            model::HeaderMatchSpec::Suffix(s) => exact(Kind::Suffix(s.clone())),
            model::HeaderMatchSpec::Contains(s) => exact(Kind::Contains(s.clone())),
            model::HeaderMatchSpec::String(s) => Spec::String(StringMatcher::new(s)),
        };
        HeaderMatcher {
            name: m.name.clone(),
            spec,
            invert: m.invert_match,
            treat_missing_as_empty: m.treat_missing_header_as_empty,
        }
    }

    /// Envoy's `HeaderUtility::matchHeaders` for one matcher: several values of the header are
    /// joined with `,`; an absent header matches only `present_match: false` (or the empty
    /// string with `treat_missing_header_as_empty`).
    pub(super) fn matches(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(self.name.as_bytes()).peekable();
        let value = if values.peek().is_some() {
            let parts: Vec<&[u8]> = values.collect();
            Some(String::from_utf8_lossy(&parts.join(&b","[..])).into_owned())
        } else if self.treat_missing_as_empty {
            Some(String::new())
        } else {
            None
        };
        let hit = match (&self.spec, &value) {
            (Spec::Present(p), v) => v.is_some() == *p,
            (_, None) => return false,
            (Spec::Range(start, end), Some(v)) => {
                v.parse::<i64>().is_ok_and(|n| *start <= n && n < *end)
            }
            (Spec::String(s), Some(v)) => s.matches(v),
        };
        hit != self.invert
    }
}
