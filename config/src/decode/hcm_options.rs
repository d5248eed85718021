//! The `HttpConnectionManager` fields about trust and request headers: `xff_num_trusted_hops`,
//! `skip_xff_append`, `internal_address_config`, `preserve_external_request_id`,
//! `server_header_transformation`, the path options (`normalize_path`, `merge_slashes`,
//! `path_with_escaped_slashes_action`) and `http_protocol_options.header_key_format`.

use std::net::IpAddr;

use super::{Cx, Msg};
use crate::model::{
    EscapedSlashesAction, HcmHeaderOptions, HeaderKeyFormat, PathOptions,
    ServerHeaderTransformation, StripPort, UnderscoreAction,
};
use crate::schema;
use crate::tree::Node;

/// The codec fields of `common_http_protocol_options`, read where that message is opened.
#[derive(Debug)]
pub(super) struct CommonOptions {
    max_headers_count: Option<u32>,
    underscores: Option<UnderscoreAction>,
}

impl Default for CommonOptions {
    fn default() -> Self {
        CommonOptions {
            max_headers_count: Some(100),
            underscores: Some(UnderscoreAction::Allow),
        }
    }
}

/// Reads `max_headers_count` and `headers_with_underscores_action` of an opened
/// `common_http_protocol_options`.
pub(super) fn common_options(cx: &mut Cx<'_>, o: &Msg<'_>, out: &mut CommonOptions) {
    if let Some(v) = o.get("max_headers_count") {
        out.max_headers_count = cx.u32_in(v, &o.path("max_headers_count"), 1, u32::MAX);
    }
    if let Some(v) = o.get("headers_with_underscores_action") {
        out.underscores = match cx.enumeration(
            v,
            &o.path("headers_with_underscores_action"),
            &[("ALLOW", 0), ("REJECT_REQUEST", 1), ("DROP_HEADER", 2)],
        ) {
            Some("REJECT_REQUEST") => Some(UnderscoreAction::RejectRequest),
            Some("DROP_HEADER") => Some(UnderscoreAction::DropHeader),
            Some(_) => Some(UnderscoreAction::Allow),
            None => None,
        };
    }
}

pub(super) fn header_options(
    cx: &mut Cx<'_>,
    m: &Msg<'_>,
    common: CommonOptions,
) -> Option<HcmHeaderOptions> {
    let mut ok = true;
    let mut flag = |cx: &mut Cx<'_>, field: &str| match m.get(field) {
        Some(v) => cx.boolean(v, &m.path(field)).unwrap_or_else(|| {
            ok = false;
            false
        }),
        None => false,
    };
    let skip_xff_append = flag(cx, "skip_xff_append");
    let strip_matching = flag(cx, "strip_matching_host_port");
    let strip_any = flag(cx, "strip_any_host_port");
    let preserve_external_request_id = flag(cx, "preserve_external_request_id");
    let xff_num_trusted_hops = match m.get("xff_num_trusted_hops") {
        Some(v) => cx.u32_in(v, &m.path("xff_num_trusted_hops"), 0, u32::MAX),
        None => Some(0),
    };
    let server_header_transformation = match m.get("server_header_transformation") {
        Some(v) => match cx.enumeration(
            v,
            &m.path("server_header_transformation"),
            &[
                ("OVERWRITE", 0),
                ("APPEND_IF_ABSENT", 1),
                ("PASS_THROUGH", 2),
            ],
        ) {
            Some("APPEND_IF_ABSENT") => Some(ServerHeaderTransformation::AppendIfAbsent),
            Some("PASS_THROUGH") => Some(ServerHeaderTransformation::PassThrough),
            Some(_) => Some(ServerHeaderTransformation::Overwrite),
            None => None,
        },
        None => Some(ServerHeaderTransformation::Overwrite),
    };
    let max_request_headers_kb = match m.get("max_request_headers_kb") {
        Some(v) => cx.u32_in(v, &m.path("max_request_headers_kb"), 1, 8192),
        None => Some(60),
    };
    let path = path_options(cx, m);
    let (accept_http_10, default_host_for_http_10, header_key_format) =
        match m.get("http_protocol_options") {
            Some(v) => {
                let h = cx.message(
                    v,
                    &m.path("http_protocol_options"),
                    &schema::HCM_HTTP1_PROTOCOL_OPTIONS,
                )?;
                let accept = match h.get("accept_http_10") {
                    Some(a) => cx.boolean(a, &h.path("accept_http_10"))?,
                    None => false,
                };
                let host = match h.get("default_host_for_http_10") {
                    Some(d) => Some(cx.string(d, &h.path("default_host_for_http_10"))?)
                        .filter(|s| !s.is_empty()),
                    None => None,
                };
                let format = match h.get("header_key_format") {
                    Some(f) => header_key_format(cx, f, &h.path("header_key_format"))?,
                    None => HeaderKeyFormat::Lower,
                };
                (accept, host, format)
            }
            None => (false, None, HeaderKeyFormat::Lower),
        };
    let internal_cidrs = match m.get("internal_address_config") {
        Some(v) => internal_address_config(cx, v, &m.path("internal_address_config")).map(Some),
        None => Some(None),
    };
    if !ok {
        return None;
    }
    let strip_port = match (strip_matching, strip_any) {
        (true, true) => {
            cx.error(
                m.key_loc("strip_any_host_port"),
                &m.path("strip_any_host_port"),
                "only one of `strip_matching_host_port` and `strip_any_host_port` may be set",
            );
            return None;
        }
        (true, false) => StripPort::Matching,
        (false, true) => StripPort::Any,
        (false, false) => StripPort::Keep,
    };
    Some(HcmHeaderOptions {
        xff_num_trusted_hops: xff_num_trusted_hops?,
        skip_xff_append,
        internal_cidrs: internal_cidrs?,
        preserve_external_request_id,
        server_header_transformation: server_header_transformation?,
        strip_port,
        max_request_headers_kb: max_request_headers_kb?,
        max_headers_count: common.max_headers_count?,
        headers_with_underscores: common.underscores?,
        accept_http_10,
        default_host_for_http_10,
        header_key_format,
        path: path?,
    })
}

/// `normalize_path`, `merge_slashes` and `path_with_escaped_slashes_action`.
fn path_options(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<PathOptions> {
    let refused = m.get("path_normalization_options");
    if let Some(v) = refused {
        // Both of its fields are `[#not-implemented-hide:]` in Envoy's proto: Envoy accepts
        // the message and does nothing with it, and Sluice accepts nothing it ignores.
        cx.error(
            v.loc,
            &m.path("path_normalization_options"),
            "`path_normalization_options` is not implemented by Envoy either (its fields are \
             marked not implemented), so it is refused rather than ignored; use \
             `normalize_path` and `merge_slashes`",
        );
    }
    let normalize_path = match m.get("normalize_path") {
        Some(v) => cx.boolean(v, &m.path("normalize_path")).map(Some),
        None => Some(None),
    };
    let merge_slashes = match m.get("merge_slashes") {
        Some(v) => cx.boolean(v, &m.path("merge_slashes")),
        None => Some(false),
    };
    let escaped_slashes = match m.get("path_with_escaped_slashes_action") {
        Some(v) => match cx.enumeration(
            v,
            &m.path("path_with_escaped_slashes_action"),
            &[
                ("IMPLEMENTATION_SPECIFIC_DEFAULT", 0),
                ("KEEP_UNCHANGED", 1),
                ("REJECT_REQUEST", 2),
                ("UNESCAPE_AND_REDIRECT", 3),
                ("UNESCAPE_AND_FORWARD", 4),
            ],
        )? {
            "KEEP_UNCHANGED" => EscapedSlashesAction::KeepUnchanged,
            "REJECT_REQUEST" => EscapedSlashesAction::RejectRequest,
            "UNESCAPE_AND_REDIRECT" => EscapedSlashesAction::UnescapeAndRedirect,
            "UNESCAPE_AND_FORWARD" => EscapedSlashesAction::UnescapeAndForward,
            _ => EscapedSlashesAction::ImplementationSpecificDefault,
        },
        None => EscapedSlashesAction::ImplementationSpecificDefault,
    };
    if refused.is_some() {
        return None;
    }
    Some(PathOptions {
        normalize_path: normalize_path?,
        merge_slashes: merge_slashes?,
        escaped_slashes,
    })
}

/// `Http1ProtocolOptions.header_key_format`, on a connection manager or a cluster.
pub(super) fn header_key_format(cx: &mut Cx<'_>, n: &Node, path: &str) -> Option<HeaderKeyFormat> {
    let m = cx.message(n, path, &schema::HEADER_KEY_FORMAT)?;
    let set = m.set_of(&["proper_case_words", "stateful_formatter"]);
    if set.len() > 1 {
        cx.error(
            m.loc,
            path,
            "only one of `proper_case_words` and `stateful_formatter` may be set",
        );
        return None;
    }
    if let Some(v) = m.get("stateful_formatter") {
        cx.error(
            v.loc,
            &m.path("stateful_formatter"),
            "`stateful_formatter` is not supported yet: Sluice does not keep the case in which \
             a peer wrote each header name (what `envoy.http.stateful_header_formatters.\
             preserve_case` needs); use `proper_case_words`, or leave `header_key_format` \
             unset for lower case",
        );
        return None;
    }
    match m.get("proper_case_words") {
        Some(v) => {
            cx.message(v, &m.path("proper_case_words"), &schema::PROPER_CASE_WORDS)?;
            Some(HeaderKeyFormat::ProperCaseWords)
        }
        None => Some(HeaderKeyFormat::Lower),
    }
}

/// `InternalAddressConfig`: the CIDR ranges whose clients are internal (trusted).
fn internal_address_config(
    cx: &mut Cx<'_>,
    n: &crate::tree::Node,
    path: &str,
) -> Option<Vec<(IpAddr, u8)>> {
    let m = cx.message(n, path, &schema::INTERNAL_ADDRESS_CONFIG)?;
    if let Some(v) = m.get("unix_sockets") {
        // Sluice listens on IP sockets only, so the flag can never apply.
        if cx.boolean(v, &m.path("unix_sockets"))? {
            cx.error(
                v.loc,
                &m.path("unix_sockets"),
                "`unix_sockets` is not supported yet (Sluice listens on IP sockets only)",
            );
            return None;
        }
    }
    let mut out = Vec::new();
    let mut ok = true;
    if let Some(list) = m.get("cidr_ranges") {
        for (c, p) in cx.list(list, &m.path("cidr_ranges")) {
            match cidr_range(cx, c, &p) {
                Some(r) => out.push(r),
                None => ok = false,
            }
        }
    }
    ok.then_some(out)
}

fn cidr_range(cx: &mut Cx<'_>, n: &crate::tree::Node, path: &str) -> Option<(IpAddr, u8)> {
    let m = cx.message(n, path, &schema::CIDR_RANGE)?;
    let Some(v) = m.get("address_prefix") else {
        cx.missing(&m, "address_prefix");
        return None;
    };
    let text = cx.string(v, &m.path("address_prefix"))?;
    let Ok(ip) = text.parse::<IpAddr>() else {
        cx.error(
            v.loc,
            &m.path("address_prefix"),
            format!("`{text}` is not an IP address"),
        );
        return None;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match m.get("prefix_len") {
        Some(l) => cx.u32_in(l, &m.path("prefix_len"), 0, max)?,
        None => 0,
    };
    Some((ip, u8::try_from(len).ok()?))
}
