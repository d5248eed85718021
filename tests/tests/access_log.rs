//! Access logs end to end: Envoy's default line for a proxied request, response flags on
//! local failures, `json_format`, a `status_code_filter`, a `header_filter` and a
//! `response_flag_filter`, one file shared by both workers, and the stdout logger.

use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, route, start_json, static_cluster};
use sluice_tests::{HttpUpstream, Request, TempDir, closed_port, eventually};

const FILE_TYPE: &str = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

/// Lines only reach the file once a worker hands its buffer over (every 100 ms).
const LOG_TIMEOUT: Duration = Duration::from_secs(5);

fn file_logger(path: &std::path::Path, extra: Value) -> Value {
    let mut typed = json!({"@type": FILE_TYPE, "path": path.display().to_string()});
    if let (Some(t), Value::Object(e)) = (typed.as_object_mut(), extra) {
        t.extend(e);
    }
    json!({"name": "envoy.access_loggers.file", "typed_config": typed})
}

/// Waits until the file holds `n` lines and returns them.
fn lines(path: &std::path::Path, n: usize) -> Vec<String> {
    eventually(&format!("{n} access log lines"), LOG_TIMEOUT, || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        (lines.len() >= n).then_some(lines)
    })
}

#[test]
fn a_proxied_request_is_logged_in_envoys_default_format() {
    let dir = TempDir::new("alog-default");
    let path = dir.path().join("access.log");
    let upstream = HttpUpstream::replying("hello");
    let doc = http_bootstrap(
        json!([route("/", "web", json!({}))]),
        json!([static_cluster("web", &[upstream.addr()], json!({}))]),
        json!({"access_log": [file_logger(&path, json!({}))]}),
        json!({}),
    );
    let proxy = start_json(&doc);
    let response = proxy.client().request(
        &Request::post("/submit?x=1", "ping!")
            .host("example.com")
            .header("user-agent", "e2e/1")
            .header("x-request-id", "req-1"),
    );
    assert_eq!(response.status, 200);

    let got = lines(&path, 1);
    let line = &got[0];
    // [2024-05-01T10:00:00.123Z] "POST /submit?x=1 HTTP/1.1" 200 - 5 5 1 0 "-" "e2e/1" "req-1" "example.com" "127.0.0.1:port"
    assert!(line.starts_with('['), "{line}");
    let (time, rest) = line[1..].split_once("] ").expect("time in brackets");
    assert_eq!(time.len(), "2024-05-01T10:00:00.123Z".len(), "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    assert!(
        rest.starts_with("\"POST /submit?x=1 HTTP/1.1\" 200 - 5 5 "),
        "{rest}"
    );
    let tail = format!(
        " \"-\" \"e2e/1\" \"req-1\" \"example.com\" \"{}\"",
        upstream.addr()
    );
    assert!(rest.ends_with(&tail), "{rest} should end with {tail}");
    // DURATION and the upstream service time are numbers.
    let numbers: Vec<&str> = rest
        .trim_start_matches("\"POST /submit?x=1 HTTP/1.1\" 200 - 5 5 ")
        .split(' ')
        .take(2)
        .collect();
    assert!(
        numbers.iter().all(|n| n.parse::<u64>().is_ok()),
        "{numbers:?}"
    );
}

#[test]
fn local_failures_carry_their_response_flag() {
    let dir = TempDir::new("alog-flags");
    let path = dir.path().join("access.log");
    let down = closed_port();
    let doc = http_bootstrap(
        json!([
            route("/down", "down", json!({})),
            route("/empty", "empty", json!({})),
        ]),
        json!([
            static_cluster("down", &[down], json!({})),
            static_cluster("empty", &[], json!({})),
        ]),
        json!({"access_log": [file_logger(&path, json!({
            "log_format": {"text_format_source": {"inline_string":
                "%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:PATH)% %UPSTREAM_CLUSTER% %UPSTREAM_HOST%\n"}}
        }))]}),
        json!({}),
    );
    let proxy = start_json(&doc);
    assert_eq!(proxy.get("a", "/down").status, 503);
    assert_eq!(proxy.get("a", "/empty").status, 503);
    assert_eq!(proxy.get("a", "/nowhere").status, 404);

    let mut got = lines(&path, 3);
    got.sort();
    assert_eq!(
        got,
        [
            "404 NR /nowhere - -".to_owned(),
            format!("503 UF /down down {down}"),
            "503 UH /empty empty -".to_owned(),
        ]
    );
}

#[test]
fn json_format_writes_one_typed_object_per_line() {
    let dir = TempDir::new("alog-json");
    let path = dir.path().join("access.json");
    let upstream = HttpUpstream::replying("hello");
    let doc = http_bootstrap(
        json!([route("/", "web", json!({}))]),
        json!([static_cluster("web", &[upstream.addr()], json!({}))]),
        json!({"access_log": [file_logger(&path, json!({
            "log_format": {"json_format": {
                "status": "%RESPONSE_CODE%",
                "method": "%REQ(:METHOD)%",
                "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                "missing": "%REQ(X-NOT-THERE)%",
                "upstream": {"host": "%UPSTREAM_HOST%", "cluster": "%UPSTREAM_CLUSTER%"},
                "bytes": "%BYTES_SENT%",
                "fixed": 7,
            }}
        }))]}),
        json!({}),
    );
    let proxy = start_json(&doc);
    assert_eq!(proxy.get("example.com", "/j?q=\"x\"").status, 200);

    let got = lines(&path, 1);
    let v: Value = serde_json::from_str(&got[0]).expect("one JSON object per line");
    assert_eq!(v["status"], json!(200));
    assert_eq!(v["method"], json!("GET"));
    assert_eq!(v["path"], json!("/j?q=\"x\""));
    assert_eq!(v["missing"], Value::Null);
    assert_eq!(v["upstream"]["host"], json!(upstream.addr().to_string()));
    assert_eq!(v["upstream"]["cluster"], json!("web"));
    assert_eq!(v["bytes"], json!(5));
    assert_eq!(v["fixed"], json!(7));
}

#[test]
fn a_status_code_filter_logs_only_errors() {
    let dir = TempDir::new("alog-filter");
    let path = dir.path().join("errors.log");
    let upstream = HttpUpstream::replying("ok");
    let doc = http_bootstrap(
        json!([
            route("/ok", "web", json!({})),
            route("/down", "down", json!({})),
        ]),
        json!([
            static_cluster("web", &[upstream.addr()], json!({})),
            static_cluster("down", &[closed_port()], json!({})),
        ]),
        json!({"access_log": [{
            "name": "envoy.access_loggers.file",
            "filter": {"status_code_filter": {"comparison": {
                "op": "GE", "value": {"default_value": 500, "runtime_key": "access_log.errors"}
            }}},
            "typed_config": {"@type": FILE_TYPE, "path": path.display().to_string(),
                "log_format": {"text_format": "%RESPONSE_CODE% %REQ(:PATH)%\n"}},
        }]}),
        json!({}),
    );
    let proxy = start_json(&doc);
    for i in 0..5 {
        assert_eq!(proxy.get("a", &format!("/ok/{i}")).status, 200);
    }
    assert_eq!(proxy.get("a", "/down/1").status, 503);
    assert_eq!(proxy.get("a", "/ok/last").status, 200);
    assert_eq!(proxy.get("a", "/down/2").status, 503);

    let got = lines(&path, 2);
    // Wait out one more flush period: no success line may follow.
    std::thread::sleep(Duration::from_millis(300));
    let mut all: Vec<String> = std::fs::read_to_string(&path)
        .expect("log file")
        .lines()
        .map(str::to_owned)
        .collect();
    all.sort();
    assert_eq!(all, ["503 /down/1", "503 /down/2"], "first seen: {got:?}");
}

#[test]
fn both_workers_write_whole_lines_to_one_file() {
    let dir = TempDir::new("alog-workers");
    let path = dir.path().join("access.log");
    let upstream = HttpUpstream::replying("ok");
    let doc = http_bootstrap(
        json!([route("/", "web", json!({}))]),
        json!([static_cluster("web", &[upstream.addr()], json!({}))]),
        json!({"access_log": [file_logger(&path, json!({
            "log_format": {"text_format_source": {"inline_string": "%REQ(:PATH)% %RESPONSE_CODE%\n"}}
        }))]}),
        json!({}),
    );
    // Two workers (the default): each new connection lands on either by SO_REUSEPORT.
    let proxy = start_json(&doc);
    const N: usize = 60;
    for i in 0..N {
        assert_eq!(proxy.get("a", &format!("/r/{i}")).status, 200);
    }
    let got = lines(&path, N);
    let mut seen: Vec<usize> = got
        .iter()
        .map(|l| {
            let rest = l.strip_prefix("/r/").unwrap_or_else(|| panic!("{l:?}"));
            let (i, code) = rest.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
            assert_eq!(code, "200", "{l:?}");
            i.parse().unwrap_or_else(|_| panic!("{l:?}"))
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..N).collect::<Vec<_>>());
    assert_eq!(proxy.admin().stat("access_log.dropped"), 0);
}

#[test]
fn the_stdout_logger_writes_to_standard_output() {
    let upstream = HttpUpstream::replying("ok");
    let doc = http_bootstrap(
        json!([route("/", "web", json!({}))]),
        json!([static_cluster("web", &[upstream.addr()], json!({}))]),
        json!({"access_log": [{
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                "log_format": {"text_format_source": {"inline_string": "STDOUT-LOG %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%\n"}},
            },
        }]}),
        json!({}),
    );
    let proxy = start_json(&doc);
    assert_eq!(proxy.get("a", "/to-stdout").status, 200);
    eventually("the stdout access log line", LOG_TIMEOUT, || {
        proxy
            .log()
            .contains("STDOUT-LOG GET /to-stdout 200\n")
            .then_some(())
    });
}

#[test]
fn header_and_response_flag_filters_pick_the_lines() {
    let dir = TempDir::new("alog-header-filter");
    let posts = dir.path().join("posts.log");
    let unhealthy = dir.path().join("uf.log");
    let upstream = HttpUpstream::replying("ok");
    let logger = |path: &std::path::Path, filter: Value| {
        json!({
            "name": "envoy.access_loggers.file",
            "filter": filter,
            "typed_config": {"@type": FILE_TYPE, "path": path.display().to_string(),
                "log_format": {"text_format": "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_FLAGS%\n"}},
        })
    };
    let doc = http_bootstrap(
        json!([
            route("/ok", "web", json!({})),
            route("/down", "down", json!({})),
        ]),
        json!([
            static_cluster("web", &[upstream.addr()], json!({})),
            static_cluster("down", &[closed_port()], json!({})),
        ]),
        json!({"access_log": [
            logger(&posts, json!({"header_filter": {"header": {
                "name": ":method", "string_match": {"exact": "POST"}}}})),
            logger(&unhealthy, json!({"response_flag_filter": {"flags": ["UF"]}})),
        ]}),
        json!({}),
    );
    let proxy = start_json(&doc);
    assert_eq!(proxy.get("a", "/ok/get").status, 200);
    let mut client = proxy.client();
    let post = Request::post("/ok/post", "body").host("a");
    assert_eq!(client.request(&post).status, 200);
    assert_eq!(proxy.get("a", "/down/get").status, 503);

    assert_eq!(lines(&posts, 1), ["POST /ok/post -"]);
    assert_eq!(lines(&unhealthy, 1), ["GET /down/get UF"]);
    std::thread::sleep(Duration::from_millis(300));
    let count = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(
        (count(&posts), count(&unhealthy)),
        (1, 1),
        "nothing else passed"
    );
}

#[test]
fn resp_reads_the_headers_of_local_replies_too() {
    // Envoy logs the response headers it generated for a local reply (a direct response, a
    // redirect, a failure), not nothing.
    let dir = TempDir::new("alog-local-resp");
    let path = dir.path().join("access.log");
    let format = "%REQ(:PATH)% %RESPONSE_CODE% %RESP(content-type)% %RESP(content-length)% \
                  %RESP(server)% %RESP(location)% %RESP(x-from-route)%\n";
    let doc = http_bootstrap(
        json!([
            {"match": {"path": "/direct"},
             "direct_response": {"status": 200, "body": {"inline_string": "hi!"}},
             "response_headers_to_add": [{"header": {"key": "x-from-route", "value": "yes"}}]},
            {"match": {"path": "/moved"},
             "redirect": {"path_redirect": "/new"}},
            route("/", "down", json!({}))
        ]),
        json!([static_cluster("down", &[closed_port()], json!({}))]),
        json!({"access_log": [file_logger(&path, json!({
            "log_format": {"text_format_source": {"inline_string": format}}}))]}),
        json!({}),
    );
    let proxy = start_json(&doc);
    let mut client = proxy.client();
    assert_eq!(client.get("example.com", "/direct").status, 200);
    assert_eq!(client.get("example.com", "/moved").status, 301);
    assert_eq!(client.get("example.com", "/refused").status, 503);

    let got = lines(&path, 3);
    assert_eq!(got[0], "/direct 200 text/plain 3 envoy - yes");
    assert_eq!(got[1], "/moved 301 - 0 envoy http://example.com/new -");
    assert_eq!(got[2], "/refused 503 text/plain 91 envoy - -");
}
