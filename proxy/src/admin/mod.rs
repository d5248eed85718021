//! The admin endpoint, on the control thread: Envoy's paths and text formats, so existing
//! scripts and dashboards keep working.
//!
//! It is a small HTTP/1.1 server of its own (keep-alive, Content-Length bodies only): admin
//! traffic is a few requests per second and needs none of the data plane's machinery.

mod format;
mod runtime;

use std::cell::RefCell;
use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::control::Control;

/// Largest admin request head plus body accepted.
const REQUEST_BYTES_MAX: usize = 1 << 20;

/// One admin response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=UTF-8",
            body: body.into().into_bytes(),
        }
    }

    fn json(value: &serde_json::Value) -> Self {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Self {
            status: 200,
            content_type: "application/json",
            body,
        }
    }
}

/// Serves admin connections forever.
pub async fn serve(control: Rc<RefCell<Control>>, listener: std::net::TcpListener) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("admin: cannot use its socket: {e}");
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let control = Rc::clone(&control);
        tokio::task::spawn_local(async move {
            let _ = connection(control, stream).await;
        });
    }
}

async fn connection(control: Rc<RefCell<Control>>, mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Read one request: head, then a Content-Length body.
        let (head_len, method, target, body_len, close, content_type) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let mut body_len = 0usize;
                    let mut close = req.version == Some(0);
                    let mut content_type = None;
                    for h in req.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            body_len = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            close = h.value.eq_ignore_ascii_case(b"close");
                        } else if h.name.eq_ignore_ascii_case("content-type") {
                            content_type = std::str::from_utf8(h.value).ok().map(str::to_owned);
                        }
                    }
                    break (
                        n,
                        req.method.unwrap_or("GET").to_owned(),
                        req.path.unwrap_or("/").to_owned(),
                        body_len,
                        close,
                        content_type,
                    );
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => {
                    let r = Response::text(400, "bad request\n");
                    write_response(&mut stream, &r, true).await?;
                    return Ok(());
                }
            }
            if buf.len() >= REQUEST_BYTES_MAX {
                return Ok(());
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        if body_len > REQUEST_BYTES_MAX {
            write_response(&mut stream, &Response::text(413, "body too large\n"), true).await?;
            return Ok(());
        }
        while buf.len() < head_len + body_len {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_len..head_len + body_len].to_vec();
        buf.drain(..head_len + body_len);
        let request = Request {
            method: &method,
            target: &target,
            content_type: content_type.as_deref(),
            body: &body,
        };
        let (response, after) = handle(&control, &request);
        if let After::AwaitGeneration(generation) = after {
            await_workers(&control, generation).await;
        }
        let quit = after == After::Quit;
        write_response(&mut stream, &response, close || quit).await?;
        if quit {
            crate::sys::terminate_self();
            return Ok(());
        }
        if close {
            return Ok(());
        }
    }
}

async fn write_response(stream: &mut TcpStream, r: &Response, close: bool) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-cache, max-age=0\r\nx-content-type-options: nosniff\r\n{}\r\n",
        r.status,
        crate::http::reason(r.status),
        r.content_type,
        r.body.len(),
        if close { "connection: close\r\n" } else { "" }
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&r.body).await?;
    stream.flush().await
}

/// What to do once a response is ready.
#[derive(Debug, PartialEq, Eq)]
enum After {
    /// Send it.
    Respond,
    /// Send it, then stop the process.
    Quit,
    /// Send it once every worker serves this snapshot generation.
    AwaitGeneration(u64),
}

/// How long a membership change may take to reach every worker before the admin call returns
/// anyway (workers look for new snapshots every 10 ms).
const PUBLISH_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits until every worker reports `generation` (or later), so that a change made through
/// the admin API is in force everywhere when its call returns.
async fn await_workers(control: &Rc<RefCell<Control>>, generation: u64) {
    let deadline = tokio::time::Instant::now() + PUBLISH_WAIT_MAX;
    loop {
        let done = {
            let c = control.borrow();
            c.workers.iter().all(|w| {
                c.registry
                    .value_of(&format!("server.worker_{}.snapshot_generation", w.index))
                    .is_some_and(|g| g >= generation)
            })
        };
        if done || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// One admin request, as `handle` needs it.
#[derive(Debug)]
struct Request<'a> {
    method: &'a str,
    target: &'a str,
    content_type: Option<&'a str>,
    body: &'a [u8],
}

/// Routes one admin request. Returns the response and what to do after it.
fn handle(control: &Rc<RefCell<Control>>, request: &Request<'_>) -> (Response, After) {
    let Request {
        method,
        target,
        content_type,
        body,
    } = *request;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = format::parse_query(query);
    let is_post = method.eq_ignore_ascii_case("POST");
    let needs_post = |r: Response| {
        if is_post {
            r
        } else {
            Response::text(405, "This endpoint requires POST\n")
        }
    };
    let c = control.borrow();
    if path.starts_with("/stats") {
        // Breaker gauges are read from the live counts, not kept per request.
        crate::upstream::breaker::publish_gauges(&c.snapshot, &c.registry.control_shard());
    }
    let response = match path {
        "/" => Response::text(200, format::help()),
        "/ready" => format::ready(&c),
        "/server_info" => Response::json(&format::server_info(&c)),
        "/listeners" => format::listeners(&c, &params),
        "/clusters" => format::clusters(&c, &params),
        "/stats" => format::stats(&c, &params),
        "/stats/prometheus" => format::prometheus(&c),
        "/config_dump" => Response::json(&format::config_dump(&c)),
        "/lb_explain" => format::lb_explain(&c, &params),
        "/runtime" => Response::json(&runtime::runtime_json(&c.snapshot.runtime)),
        "/runtime_modify" => {
            drop(c);
            if !is_post {
                // Envoy's answer for a state-changing endpoint reached without POST.
                return (
                    Response::text(405, format!("Method {method} not allowed, POST required.")),
                    After::Respond,
                );
            }
            let mut c = control.borrow_mut();
            let (response, generation) = runtime::runtime_modify(&mut c, query, content_type, body);
            return (
                response,
                generation.map_or(After::Respond, After::AwaitGeneration),
            );
        }
        "/quitquitquit" => {
            if is_post {
                return (Response::text(200, "OK\n"), After::Quit);
            }
            needs_post(Response::text(200, ""))
        }
        "/sluice/cluster_endpoints" => {
            drop(c);
            if !is_post {
                return (
                    Response::text(405, "This endpoint requires POST\n"),
                    After::Respond,
                );
            }
            let mut c = control.borrow_mut();
            let response = format::set_cluster_endpoints(&mut c, &params, body);
            let after = if response.status == 200 {
                After::AwaitGeneration(c.snapshot.generation)
            } else {
                After::Respond
            };
            return (response, after);
        }
        _ => Response::text(404, format!("invalid path: {path}\n{}", format::help())),
    };
    (response, After::Respond)
}
