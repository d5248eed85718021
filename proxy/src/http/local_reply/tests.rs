use std::time::{Duration, SystemTime};

use sluice_config::access_log::{Comparison, ComparisonOp, Filter, JsonTemplate, parse_format};
use sluice_config::model::{AppendAction, LocalReplyConfig, ResponseMapper};

use super::*;

fn text(format: &str) -> model::BodyFormat {
    model::BodyFormat {
        format: LogFormat::Text {
            tokens: parse_format(format).expect("format"),
            omit_empty_values: false,
        },
        content_type: "text/plain".to_owned(),
    }
}

fn status_is(code: u32) -> Filter {
    Filter::StatusCode(Comparison {
        op: ComparisonOp::Eq,
        default_value: code,
        runtime_key: "unused".to_owned(),
    })
}

fn mapper(filter: Filter) -> ResponseMapper {
    ResponseMapper {
        filter,
        status_code: None,
        body: None,
        body_format_override: None,
        headers_to_add: Vec::new(),
    }
}

fn header(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        key: key.to_owned(),
        value: value.to_owned(),
        parts: sluice_config::parse_header_value(value).expect("a valid header value"),
        append_action: AppendAction::OverwriteIfExistsOrAdd,
        keep_empty_value: false,
    }
}

fn config(mappers: Vec<ResponseMapper>, body_format: Option<model::BodyFormat>) -> LocalReplies {
    LocalReplies::build(Some(&LocalReplyConfig {
        mappers,
        body_format,
    }))
    .expect("filters compile")
    .expect("a config that changes something")
}

/// Rewrites `reply` for `GET /p` from 10.0.0.1 and returns (status, content-type, headers, body).
fn run(lr: &LocalReplies, reply: &LocalReply<'_>) -> (u16, String, Vec<(String, String)>, String) {
    let runtime = Runtime::new(Vec::new());
    let mut req = HeaderMap::new();
    req.append(b"x-user", b"ann");
    let scene = Scene {
        request: RequestLog {
            start: SystemTime::now(),
            duration: Duration::from_millis(3),
            method: b"GET",
            path: b"/p",
            authority: b"h",
            protocol: "HTTP/1.1",
            request_headers: Some(&req),
            response_headers: None,
            response_code: 0,
            response_flags: "UH",
            bytes_received: 0,
            bytes_sent: 0,
            upstream_host: None,
            upstream_cluster: Some("web"),
            route_name: Some("r"),
            downstream_remote: "10.0.0.1:5000".parse().expect("addr"),
            downstream_local: None,
            local_reply_body: None,
        },
        request_headers: &req,
        local: None,
        runtime: &runtime,
        random: 7,
    };
    let rewritten = lr.rewrite(reply, &scene);
    let out = rewritten.reply(reply);
    let headers = out
        .headers
        .map(|h| {
            h.iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(n).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (
        out.status,
        String::from_utf8_lossy(out.content_type).into_owned(),
        headers,
        String::from_utf8_lossy(out.body).into_owned(),
    )
}

#[test]
fn an_empty_config_builds_nothing() {
    assert!(
        LocalReplies::build(None)
            .expect("nothing to compile")
            .is_none()
    );
    let empty = LocalReplyConfig {
        mappers: Vec::new(),
        body_format: None,
    };
    assert!(
        LocalReplies::build(Some(&empty))
            .expect("nothing to compile")
            .is_none()
    );
}

#[test]
fn the_body_format_sees_the_body_the_code_and_the_request() {
    let lr = config(
        Vec::new(),
        Some(text(
            "%LOCAL_REPLY_BODY%:%RESPONSE_CODE%:%REQ(:PATH)%:%RESPONSE_FLAGS%",
        )),
    );
    let (status, ct, _, body) = run(&lr, &LocalReply::new(503, b"no healthy upstream"));
    assert_eq!(status, 503);
    assert_eq!(ct, "text/plain");
    assert_eq!(body, "no healthy upstream:503:/p:UH");
}

#[test]
fn the_first_matching_mapper_wins_and_keeps_the_body_when_only_the_status_changes() {
    let first = ResponseMapper {
        status_code: Some(200),
        ..mapper(status_is(503))
    };
    let second = ResponseMapper {
        status_code: Some(418),
        body: Some(b"second".to_vec()),
        ..mapper(status_is(503))
    };
    let lr = config(vec![mapper(status_is(404)), first, second], None);
    let (status, ct, _, body) = run(&lr, &LocalReply::new(503, b"no healthy upstream"));
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (200, "text/plain", "no healthy upstream")
    );
    // A reply no mapper matches is left as it is.
    let (status, _, _, body) = run(&lr, &LocalReply::new(504, b"upstream request timeout"));
    assert_eq!((status, body.as_str()), (504, "upstream request timeout"));
}

#[test]
fn a_mapper_body_and_format_override_and_the_new_code_show_in_the_body() {
    let m = ResponseMapper {
        status_code: Some(401),
        body: Some(b"denied".to_vec()),
        body_format_override: Some(model::BodyFormat {
            content_type: "text/html".to_owned(),
            ..text("<p>%LOCAL_REPLY_BODY% %RESPONSE_CODE%</p>")
        }),
        ..mapper(status_is(404))
    };
    let lr = config(vec![m], Some(text("plain %LOCAL_REPLY_BODY%")));
    let (status, ct, _, body) = run(&lr, &LocalReply::new(404, b""));
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (401, "text/html", "<p>denied 401</p>")
    );
    // Other replies use the config's format.
    let (_, _, _, body) = run(&lr, &LocalReply::new(503, b"x"));
    assert_eq!(body, "plain x");
}

#[test]
fn json_format_is_typed_and_ends_with_a_newline() {
    let lr = config(
        Vec::new(),
        Some(model::BodyFormat {
            format: LogFormat::Json {
                fields: vec![
                    (
                        "code".to_owned(),
                        JsonTemplate::Format(parse_format("%RESPONSE_CODE%").expect("f")),
                    ),
                    (
                        "message".to_owned(),
                        JsonTemplate::Format(parse_format("%LOCAL_REPLY_BODY%").expect("f")),
                    ),
                ],
                omit_empty_values: false,
            },
            content_type: "application/json".to_owned(),
        }),
    );
    let (_, ct, _, body) = run(&lr, &LocalReply::new(503, b"say \"hi\""));
    assert_eq!(ct, "application/json");
    assert_eq!(body, "{\"code\":503,\"message\":\"say \\\"hi\\\"\"}\n");
}

#[test]
fn content_type_follows_envoys_prepare_local_reply() {
    // A filter's content-type stays when the body is unchanged...
    let mut filter_headers = HeaderMap::new();
    filter_headers.append(b"content-type", b"text/x-filter");
    let keep = config(
        vec![ResponseMapper {
            status_code: Some(500),
            ..mapper(status_is(429))
        }],
        None,
    );
    let reply = LocalReply {
        headers: Some(&filter_headers),
        ..LocalReply::new(429, b"local_rate_limited")
    };
    let (status, ct, headers, _) = run(&keep, &reply);
    assert_eq!((status, ct.as_str()), (500, ""));
    assert_eq!(
        headers,
        [("content-type".to_owned(), "text/x-filter".to_owned())]
    );
    // ...and gives way to the formatter's when the body changed.
    let reformat = config(Vec::new(), Some(text("<%LOCAL_REPLY_BODY%>")));
    let (_, ct, headers, body) = run(&reformat, &reply);
    assert_eq!(
        (ct.as_str(), body.as_str()),
        ("text/plain", "<local_rate_limited>")
    );
    assert!(headers.is_empty(), "{headers:?}");
    // A content-type set by the matching mapper wins over the formatter's.
    let custom = config(
        vec![ResponseMapper {
            headers_to_add: vec![
                header("content-type", "text/x-mapper"),
                header("x-who", "%REQ(x-user)%"),
            ],
            ..mapper(status_is(503))
        }],
        Some(text("[%LOCAL_REPLY_BODY%]")),
    );
    let (_, ct, headers, body) = run(&custom, &LocalReply::new(503, b"down"));
    assert_eq!((ct.as_str(), body.as_str()), ("", "[down]"));
    assert_eq!(
        headers,
        [
            ("content-type".to_owned(), "text/x-mapper".to_owned()),
            ("x-who".to_owned(), "ann".to_owned()),
        ]
    );
    // An empty body has no content type at all.
    let empty = config(
        vec![ResponseMapper {
            body: Some(Vec::new()),
            headers_to_add: vec![header("content-type", "text/x-mapper")],
            ..mapper(status_is(503))
        }],
        None,
    );
    let (_, ct, headers, body) = run(&empty, &LocalReply::new(503, b"down"));
    assert_eq!((ct.as_str(), body.as_str()), ("", ""));
    assert!(headers.is_empty(), "{headers:?}");
}
