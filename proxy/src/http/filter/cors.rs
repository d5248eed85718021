//! `envoy.filters.http.cors`: answers CORS preflight requests and adds
//! `access-control-allow-*` to responses, from the route's CORS policies, as Envoy's
//! `CorsFilter` does.
//!
//! The policies are the `typed_per_filter_config` CORS policies of the route and its virtual
//! host (most specific first) or, when neither level has one, the deprecated `cors` fields of
//! the route action and the virtual host. Each setting is taken from the first policy that
//! sets it; `filter_enabled` / `shadow_enabled` from the first policy.

use sluice_config::model;

use super::matchers::StringMatcher;
use super::{Decision, DecodeContext, runtime_fraction};
use crate::http::headers::HeaderMap;
use crate::stats::{Kind, Registry, RegistryFull, StatId};

/// One level's policy, compiled.
#[derive(Debug, Clone)]
struct Level {
    origins: Vec<StringMatcher>,
    config: model::CorsPolicy,
}

/// The CORS policies that apply to a route, most specific first.
#[derive(Debug, Clone)]
pub(super) struct Policy {
    levels: Vec<Level>,
}

impl Policy {
    /// One policy.
    pub(super) fn new(c: &model::CorsPolicy) -> Self {
        Policy {
            levels: vec![Level {
                origins: c
                    .allow_origin_string_match
                    .iter()
                    .map(StringMatcher::new)
                    .collect(),
                config: c.clone(),
            }],
        }
    }

    /// The legacy policies of a route and its virtual host; `None` when neither has one.
    pub(super) fn legacy(
        route: Option<&model::CorsPolicy>,
        virtual_host: Option<&model::CorsPolicy>,
    ) -> Option<Self> {
        let levels: Vec<Level> = [route, virtual_host]
            .into_iter()
            .flatten()
            .flat_map(|c| Policy::new(c).levels)
            .collect();
        (!levels.is_empty()).then_some(Policy { levels })
    }

    /// `first` then `then`, as one list.
    pub(super) fn chain(first: Option<&Policy>, then: Option<&Policy>) -> Option<Self> {
        let levels: Vec<Level> = [first, then]
            .into_iter()
            .flatten()
            .flat_map(|p| p.levels.iter().cloned())
            .collect();
        (!levels.is_empty()).then_some(Policy { levels })
    }

    fn first_text(&self, get: impl Fn(&model::CorsPolicy) -> &str) -> &str {
        self.levels
            .iter()
            .map(|l| get(&l.config))
            .find(|s| !s.is_empty())
            .unwrap_or("")
    }

    fn first_flag(&self, get: impl Fn(&model::CorsPolicy) -> Option<bool>) -> Option<bool> {
        self.levels.iter().find_map(|l| get(&l.config))
    }

    /// Whether `origin` is allowed by the first level that lists origins.
    pub(super) fn is_origin_allowed(&self, origin: &str) -> bool {
        let origins = self
            .levels
            .iter()
            .map(|l| &l.origins)
            .find(|o| !o.is_empty());
        origins.is_some_and(|o| o.iter().any(|m| m.matches("*") || m.matches(origin)))
    }
}

/// The filter and its `http.<stat_prefix>.cors.*` stats.
#[derive(Debug)]
pub struct CorsFilter {
    origin_valid: StatId,
    origin_invalid: StatId,
}

impl CorsFilter {
    pub(super) fn new(registry: &mut Registry, prefix: &str) -> Result<Self, RegistryFull> {
        Ok(CorsFilter {
            origin_valid: registry.id(&format!("{prefix}cors.origin_valid"), Kind::Counter)?,
            origin_invalid: registry.id(&format!("{prefix}cors.origin_invalid"), Kind::Counter)?,
        })
    }

    pub(super) fn decode_headers(
        &self,
        policy: Option<&Policy>,
        cx: &mut DecodeContext<'_>,
    ) -> Decision {
        // Envoy's filter needs a route; without policies it is disabled.
        let (Some(_), Some(p)) = (cx.route, policy) else {
            return Decision::Continue;
        };
        let first = &p.levels[0].config;
        let is_enabled = match &first.filter_enabled {
            Some(f) => {
                let (key, fraction) = runtime_fraction(f);
                cx.feature_enabled(key, fraction)
            }
            None => true,
        };
        let is_shadow = match &first.shadow_enabled {
            Some(f) => {
                let (key, fraction) = runtime_fraction(f);
                cx.feature_enabled(key, fraction)
            }
            None => false,
        };
        if !is_enabled && !is_shadow {
            return Decision::Continue;
        }
        let Some(origin) = cx
            .headers
            .get(b"origin")
            .filter(|o| !o.is_empty())
            .map(<[u8]>::to_vec)
        else {
            return Decision::Continue;
        };
        let is_allowed = p.is_origin_allowed(&String::from_utf8_lossy(&origin));
        cx.shard.inc(if is_allowed {
            self.origin_valid
        } else {
            self.origin_invalid
        });
        if !is_enabled {
            // Shadow mode: counted, not enforced.
            return Decision::Continue;
        }
        let allow_credentials = p.first_flag(|c| c.allow_credentials) == Some(true);
        if is_allowed {
            // What Envoy's encode phase adds to the response of an allowed origin.
            let conn = cx.connection;
            conn.set_response_header(b"access-control-allow-origin", &origin);
            if allow_credentials {
                conn.set_response_header(b"access-control-allow-credentials", b"true");
            }
            let expose = p.first_text(|c| &c.expose_headers);
            if !expose.is_empty() {
                conn.set_response_header(b"access-control-expose-headers", expose.as_bytes());
            }
        }
        let request_method = cx
            .headers
            .get(b"access-control-request-method")
            .unwrap_or(b"")
            .to_vec();
        if cx.method != b"OPTIONS" || request_method.is_empty() {
            return Decision::Continue;
        }
        // A preflight: OPTIONS with an origin and access-control-request-method.
        let forward = p
            .first_flag(|c| c.forward_not_matching_preflights)
            .unwrap_or(true);
        if !is_allowed && forward {
            return Decision::Continue;
        }
        let mut h = HeaderMap::new();
        if is_allowed {
            h.set(b"access-control-allow-origin", &origin);
        }
        if allow_credentials {
            h.set(b"access-control-allow-credentials", b"true");
        }
        match p.first_text(|c| &c.allow_methods) {
            "" => {}
            "*" => h.set(b"access-control-allow-methods", &request_method),
            m => h.set(b"access-control-allow-methods", m.as_bytes()),
        }
        match p.first_text(|c| &c.allow_headers) {
            "" => {}
            "*" => {
                let asked = cx
                    .headers
                    .get(b"access-control-request-headers")
                    .unwrap_or(b"")
                    .to_vec();
                h.set(b"access-control-allow-headers", &asked);
            }
            v => h.set(b"access-control-allow-headers", v.as_bytes()),
        }
        let max_age = p.first_text(|c| &c.max_age);
        if !max_age.is_empty() {
            h.set(b"access-control-max-age", max_age.as_bytes());
        }
        if p.first_flag(|c| c.allow_private_network_access) == Some(true)
            && cx.headers.get(b"access-control-request-private-network") == Some(b"true")
        {
            h.set(b"access-control-allow-private-network", b"true");
        }
        Decision::Respond {
            status: 200,
            headers: h,
        }
    }
}
