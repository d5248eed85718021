//! The HTTP filter chain of a connection manager: `http_filters` in config order, each with a
//! decode phase (request head, in order) and an encode phase (response head, in reverse
//! order), the router last.
//!
//! A filter's decode phase may continue, stop for a while (it is `async`: a fault delay awaits
//! a timer, and the chain resumes where it stopped), or answer locally, which ends the chain
//! and skips the router. Filters are a closed enum rather than trait objects: the set is known
//! at build time, dispatch is a jump table, and `async` works without boxing. Per-route
//! configuration (`typed_per_filter_config`) is looked up by the filter's name on the route.

use sluice_config::model;

use super::headers::HeaderMap;

/// One configured filter.
#[derive(Debug)]
pub enum Filter {
    /// `envoy.filters.http.router`: the terminal filter. Its work (route action, upstream
    /// attempts, retries) is `http::forward`; in the chain it only marks the end.
    Router,
}

/// What a filter's decode phase decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go on with the next filter.
    Continue,
    /// Answer the request locally with this status and body; the router is not reached.
    LocalReply {
        /// Status code.
        status: u16,
        /// Body.
        body: bytes::Bytes,
    },
}

/// What the decode phase may read and change.
#[derive(Debug)]
pub struct DecodeContext<'a> {
    /// The request headers (lower-case names; `host` is the authority).
    pub headers: &'a mut HeaderMap,
    /// The request path as it will be sent upstream.
    pub path: &'a [u8],
}

/// What the encode phase may read and change.
#[derive(Debug)]
pub struct EncodeContext<'a> {
    /// The response status.
    pub status: u16,
    /// The response headers.
    pub headers: &'a mut HeaderMap,
}

/// The filters of one connection manager, in config order.
#[derive(Debug)]
pub struct FilterChain {
    filters: Vec<Filter>,
}

impl FilterChain {
    /// Builds the chain from the loader's `http_filters` (the loader refuses filters Sluice
    /// lacks and checks that the router is last).
    pub fn build(config: &[model::HttpFilter]) -> Self {
        let filters = config
            .iter()
            .map(|f| match f {
                model::HttpFilter::Router => Filter::Router,
            })
            .collect::<Vec<_>>();
        debug_assert!(
            matches!(filters.last(), Some(Filter::Router)),
            "the router is the last filter"
        );
        FilterChain { filters }
    }

    /// The filters, in order.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// Runs the decode phase of every filter, in order, until one answers locally.
    pub async fn decode_headers(&self, cx: &mut DecodeContext<'_>) -> Decision {
        for filter in &self.filters {
            let decision = filter.decode_headers(cx).await;
            if decision != Decision::Continue {
                return decision;
            }
        }
        Decision::Continue
    }

    /// Runs the encode phase of every filter, in reverse order.
    pub fn encode_headers(&self, cx: &mut EncodeContext<'_>) {
        for filter in self.filters.iter().rev() {
            filter.encode_headers(cx);
        }
    }
}

impl Filter {
    async fn decode_headers(&self, _cx: &mut DecodeContext<'_>) -> Decision {
        match self {
            // The router's decode work is the route action itself (`http::forward`).
            Filter::Router => Decision::Continue,
        }
    }

    fn encode_headers(&self, _cx: &mut EncodeContext<'_>) {
        match self {
            Filter::Router => {}
        }
    }
}
