//! Client for the proxy's Envoy-style admin endpoint.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::client::{HttpClient, Request, Response};

/// The admin endpoint of one running proxy.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    addr: SocketAddr,
}

impl Admin {
    /// The admin endpoint at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path` on a fresh connection.
    pub fn get(&self, path: &str) -> Response {
        self.request(&Request::get(path))
    }

    /// `POST path` with `body` on a fresh connection.
    pub fn post(&self, path: &str, body: &str) -> Response {
        self.request(&Request::post(path, body.as_bytes().to_vec()))
    }

    /// Sends one request on a fresh connection and reads the answer.
    pub fn request(&self, request: &Request) -> Response {
        let request = request
            .clone()
            .header("host", &self.addr.to_string())
            .header("connection", "close");
        HttpClient::connect(self.addr).request(&request)
    }

    /// `/stats` as a map of every integer-valued stat (counters and gauges).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        let response = self.get("/stats");
        assert_eq!(response.status, 200, "GET /stats: {}", response.text());
        parse_stats(&response.text())
    }

    /// The value of one stat; panics, listing stats with a similar name, if it does not exist.
    pub fn stat(&self, name: &str) -> u64 {
        let stats = self.stats();
        match stats.get(name) {
            Some(value) => *value,
            None => {
                let stem = name.rsplit('.').next().unwrap_or(name);
                let similar: Vec<&String> =
                    stats.keys().filter(|k| k.contains(stem)).take(20).collect();
                panic!("stat {name:?} not in /stats; stats named like it: {similar:?}")
            }
        }
    }

    /// Waits until stat `name` equals `value` (stats may trail the response by a moment), then
    /// returns; panics with the last value seen after `timeout`.
    pub fn wait_for_stat(&self, name: &str, value: u64, timeout: Duration) {
        let deadline = crate::Deadline::after(timeout);
        let mut attempt = 0;
        loop {
            let seen = self.stats().get(name).copied();
            if seen == Some(value) {
                return;
            }
            if deadline.is_expired() {
                panic!("stat {name}: expected {value}, last seen {seen:?}");
            }
            deadline.pause(attempt);
            attempt += 1;
        }
    }

    /// `/clusters` as lines.
    pub fn clusters(&self) -> Vec<String> {
        let response = self.get("/clusters");
        assert_eq!(response.status, 200, "GET /clusters: {}", response.text());
        response.text().lines().map(str::to_string).collect()
    }

    /// `/server_info` as JSON.
    pub fn server_info(&self) -> serde_json::Value {
        self.json("/server_info")
    }

    /// `GET path`, expecting 200 and a JSON body.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path);
        assert_eq!(response.status, 200, "GET {path}: {}", response.text());
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {}", response.text()))
    }
}

/// Parses Envoy's `/stats` text format (`name: value` per line), keeping integer values.
pub fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(": ")?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}
