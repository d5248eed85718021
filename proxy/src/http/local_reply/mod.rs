//! Envoy's `local_reply_config`: rewrites the replies the proxy generates itself before they
//! are written, as Envoy's `LocalReply::rewrite` and `Utility::prepareLocalReply` do.
//!
//! It applies to what Envoy sends with `sendLocalReply`: error replies (no route, no healthy
//! upstream, connect failure, timeouts, `cluster_not_found_response_code`), direct responses
//! and redirects, a refused upgrade, HTTP/1.0 refused with 426, codec errors (400, 431, 501),
//! `request_timeout` and the other downstream 408s, and the fault and local rate limit
//! filters' replies. It does not apply to responses from upstream, nor to a CORS preflight
//! (Envoy's CORS filter answers with `encodeHeaders`, not a local reply).
//!
//! Per reply: the first mapper whose access log filter passes may replace the body, add
//! headers and change the status; then the body is formatted with that mapper's
//! `body_format_override`, else the config's `body_format`, else left as it is. Without a
//! `local_reply_config` (or with an empty one) nothing here runs.

use std::borrow::Cow;
use std::net::SocketAddr;

use sluice_config::access_log::LogFormat;
use sluice_config::model::{self, FilterMetadata, HeaderValueOption};

use super::conn_manager::Downstream;
use super::h1::LocalReply;
use super::headers::HeaderMap;
use crate::access_log::{BuildError, LogFilter, RequestLog, filter_passes, render};
use crate::layered_runtime::Runtime;

/// The content type of a body no formatter touched (Envoy's default `%LOCAL_REPLY_BODY%`
/// formatter).
const TEXT_PLAIN: &[u8] = b"text/plain";

/// How a reply the proxy writes itself came about, which decides whether and how
/// `local_reply_config` rewrites it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Envoy's `sendLocalReply` once the connection manager decoded the request head: the
    /// mappers and formats see the request.
    Request,
    /// `sendLocalReply` from the codec or a downstream timer before the request head reached
    /// the connection manager (a malformed head, HTTP/1.0 refused, a header timeout): the
    /// request headers are empty, as in Envoy.
    BeforeRequest,
    /// A filter answering with headers of its own (a CORS preflight, Envoy's
    /// `encodeHeaders`): not a local reply, never rewritten.
    Filter,
}

/// A connection manager's `local_reply_config`, ready to rewrite replies.
#[derive(Debug)]
pub struct LocalReplies {
    mappers: Vec<Mapper>,
    body_format: Option<BodyFormat>,
    /// `%HOSTNAME%`, read once.
    hostname: &'static str,
}

#[derive(Debug)]
struct Mapper {
    filter: LogFilter,
    status: Option<u16>,
    body: Option<Box<[u8]>>,
    body_format: Option<BodyFormat>,
    headers_to_add: Vec<HeaderValueOption>,
    /// Whether `headers_to_add` may set `content-type`, which then wins over the formatter's.
    is_content_type_added: bool,
}

#[derive(Debug)]
struct BodyFormat {
    format: LogFormat,
    content_type: Box<[u8]>,
}

/// What a rewrite may read besides the reply: the request and its connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scene<'a> {
    /// The request as the access log would print it; its response fields are replaced by
    /// the reply's own.
    pub(crate) request: RequestLog<'a>,
    /// The request headers for `%REQ(...)%` in `headers_to_add` values (empty before the
    /// request head was decoded).
    pub(crate) request_headers: &'a HeaderMap,
    /// The address the client connected to.
    pub(crate) local: Option<SocketAddr>,
    /// The snapshot's runtime (filter thresholds, sampling).
    pub(crate) runtime: &'a Runtime,
    /// A fresh random value for `runtime_filter` without `x-request-id`.
    pub(crate) random: u64,
}

/// A rewritten reply's parts; [`Rewritten::reply`] lends them out as a [`LocalReply`].
#[derive(Debug)]
pub(crate) struct Rewritten<'c> {
    status: u16,
    headers: HeaderMap,
    body: Cow<'c, [u8]>,
    /// Empty when `headers` carries the content type, or the body is empty.
    content_type: &'c [u8],
}

// === impl LocalReplies ===

impl LocalReplies {
    /// The rewriter of `config`; `None` when there is nothing to rewrite (absent, or no
    /// mapper and no body format), so that local replies then cost nothing extra.
    pub fn build(config: Option<&model::LocalReplyConfig>) -> Result<Option<Self>, BuildError> {
        let Some(config) = config else {
            return Ok(None);
        };
        if config.mappers.is_empty() && config.body_format.is_none() {
            return Ok(None);
        }
        let mappers = config
            .mappers
            .iter()
            .map(|m| {
                Ok(Mapper {
                    filter: LogFilter::build(&m.filter).map_err(BuildError)?,
                    status: m.status_code,
                    body: m.body.clone().map(Vec::into_boxed_slice),
                    body_format: m.body_format_override.as_ref().map(BodyFormat::new),
                    is_content_type_added: m.headers_to_add.iter().any(|h| h.key == "content-type"),
                    headers_to_add: m.headers_to_add.clone(),
                })
            })
            .collect::<Result<_, BuildError>>()?;
        Ok(Some(Self {
            mappers,
            body_format: config.body_format.as_ref().map(BodyFormat::new),
            hostname: super::format::hostname(),
        }))
    }

    /// Rewrites `reply` as Envoy's `LocalReply::rewrite` followed by the content-type rule
    /// of `Utility::prepareLocalReply`.
    pub(crate) fn rewrite<'c>(
        &'c self,
        reply: &LocalReply<'c>,
        scene: &Scene<'_>,
    ) -> Rewritten<'c> {
        let mut headers = reply.headers.cloned().unwrap_or_default();
        let mut status = reply.status;
        let mut body: Cow<'c, [u8]> = Cow::Borrowed(reply.body);
        let mut formatter = self.body_format.as_ref();
        let mut is_custom_content_type = false;
        for m in &self.mappers {
            let view = RequestLog {
                response_code: status,
                response_headers: Some(&headers),
                local_reply_body: Some(&body),
                ..scene.request
            };
            if !filter_passes(&m.filter, &view, scene.runtime, scene.random) {
                continue;
            }
            if let Some(b) = &m.body {
                body = Cow::Borrowed(b);
            }
            if !m.headers_to_add.is_empty() {
                let before = m
                    .is_content_type_added
                    .then(|| headers.get(b"content-type").map(<[u8]>::to_vec));
                // The reply's own record: its start, and the host when one was picked
                // (whose endpoint metadata a local reply does not carry).
                let start = std::cell::Cell::new(Some(scene.request.start));
                let no_metadata = FilterMetadata::new();
                let cx = super::format::Context {
                    peer: scene.request.downstream_remote,
                    local: scene.local,
                    request: scene.request_headers,
                    upstream: scene
                        .request
                        .upstream_host
                        .map(|address| super::format::Upstream {
                            address,
                            metadata: &no_metadata,
                        }),
                    start: &start,
                };
                super::format::mutate(&mut headers, &[], &m.headers_to_add, &cx);
                is_custom_content_type =
                    before.is_some_and(|b| b.as_deref() != headers.get(b"content-type"));
            }
            if let Some(s) = m.status {
                status = s;
            }
            if let Some(f) = &m.body_format {
                formatter = Some(f);
            }
            break;
        }
        let (body, content_type): (Cow<'c, [u8]>, &'c [u8]) = match formatter {
            // Envoy's default formatter, `%LOCAL_REPLY_BODY%` as text/plain.
            None => (body, TEXT_PLAIN),
            Some(f) => {
                let view = RequestLog {
                    response_code: status,
                    response_headers: Some(&headers),
                    local_reply_body: Some(&body),
                    ..scene.request
                };
                let mut out = Vec::with_capacity(body.len() + 64);
                render(&f.format, self.hostname, &view, &mut out);
                (Cow::Owned(out), &f.content_type)
            }
        };
        // `prepareLocalReply`: a body gets the formatter's content type unless the reply
        // already has one that the rewrite kept (its body unchanged) or that a mapper set; an
        // empty body has none.
        let content_type = if body.is_empty() {
            headers.remove(b"content-type");
            b""
        } else if !headers.contains(b"content-type")
            || (*body != *reply.body && !is_custom_content_type)
        {
            headers.remove(b"content-type");
            content_type
        } else {
            b""
        };
        debug_assert!(
            content_type.is_empty() || !headers.contains(b"content-type"),
            "one content-type"
        );
        debug_assert!(
            (100..1000).contains(&status),
            "a status the encoder can write"
        );
        Rewritten {
            status,
            headers,
            body,
            content_type,
        }
    }
}

impl BodyFormat {
    fn new(f: &model::BodyFormat) -> Self {
        BodyFormat {
            format: f.format.clone(),
            content_type: f.content_type.as_bytes().into(),
        }
    }
}

// === impl Rewritten ===

impl Rewritten<'_> {
    /// `original` with the rewritten status, body, content type and headers.
    pub(crate) fn reply<'r>(&'r self, original: &LocalReply<'r>) -> LocalReply<'r> {
        LocalReply {
            status: self.status,
            body: &self.body,
            content_type: self.content_type,
            headers: (!self.headers.is_empty()).then_some(&self.headers),
            ..*original
        }
    }
}

// === impl Downstream ===

impl<T: crate::io::Transport> Downstream<'_, T> {
    /// Writes a reply the proxy generated, rewritten by `local_reply_config` unless `origin`
    /// says it is not one of Envoy's local replies.
    pub(super) async fn send_local_from(
        &mut self,
        reply: &LocalReply<'_>,
        origin: Origin,
    ) -> std::io::Result<()> {
        let hcm = self.hcm;
        let Some(replies) = hcm
            .local_replies
            .as_ref()
            .filter(|_| origin != Origin::Filter)
        else {
            return self.write_local(reply).await;
        };
        let snapshot = self.worker.snapshot();
        let blank = HeaderMap::new();
        let local = self.local_addr();
        let rewritten = replies.rewrite(
            reply,
            &self.reply_scene(origin, &snapshot.runtime, &blank, local),
        );
        self.write_local(&rewritten.reply(reply)).await
    }

    /// What `local_reply_config` may read about the current request: all of it once the
    /// connection manager has decoded its head, else only the connection (as in Envoy, whose
    /// codec replies before the request headers exist).
    fn reply_scene<'s>(
        &'s self,
        origin: Origin,
        runtime: &'s Runtime,
        blank: &'s HeaderMap,
        local: Option<SocketAddr>,
    ) -> Scene<'s> {
        // The request state is recorded for every request while a `local_reply_config` exists.
        debug_assert!(
            origin != Origin::Request || self.log.is_active,
            "request recorded"
        );
        let (request, request_headers) = if origin == Origin::Request && self.log.is_active {
            (
                self.log.entry(&self.headers, blank, self.peer, local),
                &self.headers,
            )
        } else {
            (unseen_request(self.peer, local), blank)
        };
        Scene {
            request,
            request_headers,
            local,
            runtime,
            random: self.worker.next_random(),
        }
    }
}

/// A request whose head the connection manager never decoded: only its connection is known.
fn unseen_request(peer: SocketAddr, local: Option<SocketAddr>) -> RequestLog<'static> {
    RequestLog {
        start: std::time::SystemTime::now(),
        duration: std::time::Duration::ZERO,
        method: b"",
        path: b"",
        authority: b"",
        protocol: "",
        request_headers: None,
        response_headers: None,
        response_code: 0,
        response_flags: "",
        bytes_received: 0,
        bytes_sent: 0,
        upstream_host: None,
        upstream_cluster: None,
        route_name: None,
        downstream_remote: peer,
        downstream_local: local,
        local_reply_body: None,
    }
}

#[cfg(test)]
mod tests;
