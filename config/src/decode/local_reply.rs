//! `local_reply_config` of an HTTP connection manager: the response mappers (an access log
//! filter, and what to change in a local reply it matches) and the body format.

use super::Cx;
use super::access_log::{data_source, filter, format_of};
use crate::access_log::LogFormat;
use crate::model::{BodyFormat, LocalReplyConfig, ResponseMapper};
use crate::schema;
use crate::tree::Node as TNode;

/// `HttpConnectionManager.local_reply_config`.
pub(super) fn local_reply_config(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<LocalReplyConfig> {
    let m = cx.message(n, path, &schema::LOCAL_REPLY_CONFIG)?;
    let mut mappers = Vec::new();
    let mut ok = true;
    if let Some(list) = m.get("mappers") {
        for (item, p) in cx.list(list, &m.path("mappers")) {
            match mapper(cx, item, &p) {
                Some(mapper) => mappers.push(mapper),
                None => ok = false,
            }
        }
    }
    let body_format = match m.get("body_format") {
        Some(f) => body_format(cx, f, &m.path("body_format")).map(Some),
        None => Some(None),
    };
    if !ok {
        return None;
    }
    Some(LocalReplyConfig {
        mappers,
        body_format: body_format?,
    })
}

/// `ResponseMapper`.
fn mapper(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<ResponseMapper> {
    let m = cx.message(n, path, &schema::RESPONSE_MAPPER)?;
    let filter = match m.get("filter") {
        Some(f) => filter(cx, f, &m.path("filter")),
        None => {
            // Envoy requires it (`filter: null` included).
            cx.missing(&m, "filter");
            None
        }
    };
    let status_code = match m.get("status_code") {
        Some(v) => cx
            .u32_in(v, &m.path("status_code"), 200, 599)
            .and_then(|s| u16::try_from(s).ok())
            .map(Some),
        None => Some(None),
    };
    let body = match m.get("body") {
        Some(v) => data_source(cx, v, &m.path("body")).map(|(bytes, _, _)| Some(bytes)),
        None => Some(None),
    };
    let body_format_override = match m.get("body_format_override") {
        Some(f) => body_format(cx, f, &m.path("body_format_override")).map(Some),
        None => Some(None),
    };
    let headers_to_add = super::headers::to_add(cx, &m, "headers_to_add");
    Some(ResponseMapper {
        filter: filter?,
        status_code: status_code?,
        body: body?,
        body_format_override: body_format_override?,
        headers_to_add: headers_to_add?,
    })
}

/// A `SubstitutionFormatString` for a reply body, with its `content_type` (Envoy's default:
/// `application/json` for `json_format`, `text/plain` otherwise).
fn body_format(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<BodyFormat> {
    let m = cx.message(n, path, &schema::LOCAL_REPLY_FORMAT_STRING)?;
    let content_type = match m.get("content_type") {
        Some(v) => {
            let vpath = m.path("content_type");
            cx.string(v, &vpath).and_then(|s| {
                // Envoy validates it as a header value.
                if s.contains(['\0', '\r', '\n']) {
                    cx.error(
                        v.loc,
                        &vpath,
                        "`content_type` is a header value and must not contain NUL, CR or LF",
                    );
                    return None;
                }
                Some(s)
            })
        }
        None => Some(String::new()),
    };
    let format = format_of(cx, &m)?;
    let mut content_type = content_type?;
    if content_type.is_empty() {
        content_type = match format {
            LogFormat::Json { .. } => "application/json",
            LogFormat::Text { .. } => "text/plain",
        }
        .to_owned();
    }
    Some(BodyFormat {
        format,
        content_type,
    })
}
