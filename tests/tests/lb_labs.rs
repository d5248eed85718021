//! The traffic splits of seed 001's load-balancing labs (part 4), reproduced through the real
//! binary over loopback: weighted least request (§4.4), ring hash on the source IP (§4.6) and on
//! `User-Agent` (§4.7), priority spill-over and the panic threshold (§4.12, §4.11), locality
//! weights (§4.14) and subsets chosen by route metadata (§4.18).
//!
//! Health checking does not exist yet, so host health comes from `health_status` on static
//! endpoints (Envoy honours it there too) or from the run-time membership API
//! (`POST /sluice/cluster_endpoints`). Header route matching and `weighted_clusters` do not exist
//! yet either, so the subset lab selects subsets with path-prefix routes, each carrying its own
//! `metadata_match`. Every expected share is computed from Envoy's formulas next to its
//! assertion, with the tolerance and why it is that wide.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::lb::*;
use sluice_tests::wire::{self, Conn};
use sluice_tests::{Config, HttpClient, HttpUpstream, Proxy, Request, eventually};

// === bootstrap ===

/// A JSON bootstrap: one HTTP listener whose only virtual host (`*`) has `routes`, and `clusters`.
/// JSON rather than YAML so the clusters can be built with loops; the port placeholders are left
/// unquoted so they become numbers once the harness fills them in.
fn bootstrap(routes: Value, clusters: Value) -> Config {
    Config::Json(json_text(&http_bootstrap(
        routes,
        clusters,
        json!({}),
        json!({}),
    )))
}

// === upstreams and traffic ===

/// Sends `request` `n` times, each on a fresh connection so the kernel spreads them over both
/// workers (each has its own picker), and counts which upstream answered.
fn tally(proxy: &Proxy, n: usize, request: &Request) -> Counts {
    let mut counts = Counts::new();
    for i in 0..n {
        let response = HttpClient::connect(proxy.addr()).request(request);
        assert_eq!(
            response.status,
            200,
            "request {i} of {n} to {}: {}",
            request.path,
            response.text()
        );
        *counts.entry(response.text()).or_default() += 1;
    }
    counts
}

/// `GET /` on a new connection whose source address is `source` (any 127/8 address is loopback on
/// Linux); returns the status and the body. std cannot bind before connecting, hence libc.
fn get_from(source: Ipv4Addr, proxy: SocketAddr) -> (u16, String) {
    let stream =
        connect_from(source, proxy).unwrap_or_else(|e| panic!("connect {source} -> {proxy}: {e}"));
    let mut conn = Conn::new(stream).expect("set up the client connection");
    conn.write_all(&get("/").to_bytes())
        .expect("send the request");
    let head = conn
        .read_head()
        .expect("read the response head")
        .expect("a response before the proxy closed");
    let head = wire::parse_head(&head).expect("parse the response head");
    let status: u16 = head.second.parse().expect("a numeric status");
    let framing = wire::response_framing("GET", status, &head.headers).expect("response framing");
    let mut body = Vec::new();
    wire::read_body(&mut conn, framing, &mut |b| body.extend_from_slice(b))
        .expect("read the response body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

// === admin ===

/// An entry of the membership API's `endpoints` list.
fn member(addr: SocketAddr, priority: u32, region: &str, health: &str) -> Value {
    json!({
        "address": addr.to_string(),
        "priority": priority,
        "region": region,
        "health_status": health,
    })
}

/// The `/lb_explain` line about `what` (e.g. `"priority 1:"`), panicking with the whole text.
fn explain_line<'a>(explain: &'a str, what: &str) -> &'a str {
    explain
        .lines()
        .find(|l| l.trim_start().starts_with(what))
        .unwrap_or_else(|| panic!("/lb_explain has no line starting with {what:?}:\n{explain}"))
}

/// The number after `key=` on `line`, up to a `%` or a space.
fn explain_number(line: &str, key: &str) -> f64 {
    let at = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"));
    let rest = &line[at + key.len() + 1..];
    let end = rest.find(['%', ' ']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("{key}= in {line:?}: {e}"))
}

// === §4.4 weighted least request ===

/// The §4.4 lab's cluster: LEAST_REQUEST over red:blue:green weighted 1:3:5.
fn least_request_proxy(up: &[HttpUpstream]) -> Proxy {
    let cluster = json!({
        "name": "web_cluster_01",
        "connect_timeout": "0.25s",
        "type": "STATIC",
        "lb_policy": "LEAST_REQUEST",
        "load_assignment": {
            "cluster_name": "web_cluster_01",
            "endpoints": [{"lb_endpoints": [
                endpoint(up[0].addr(), json!({"load_balancing_weight": 1})),
                endpoint(up[1].addr(), json!({"load_balancing_weight": 3})),
                endpoint(up[2].addr(), json!({"load_balancing_weight": 5})),
            ]}],
        },
    });
    Proxy::start(bootstrap(
        json!([route("/", "web_cluster_01", json!({}))]),
        json!([cluster]),
    ))
}

/// Seed 001 §4.4 (scenario 09): LEAST_REQUEST over red:blue:green weighted 1:3:5. With unequal
/// weights Envoy schedules by `weight / (active + 1)^bias` on an EDF queue; sequential requests
/// leave every host at 0 active when the next pick happens, so the split is the weights' own:
/// 1/9 = 11.1 %, 3/9 = 33.3 %, 5/9 = 55.6 %.
#[test]
fn weighted_least_request_splits_sequential_traffic_by_weight() {
    let up = upstreams(&["red", "blue", "green"]);
    let proxy = least_request_proxy(&up);

    let counts = tally(&proxy, 900, &get("/hostname"));

    // The EDF schedule is deterministic per worker, so the only slack comes from how the kernel
    // splits connections between the two workers (each is exact to a pick or two) and from a
    // request whose predecessor's active count was not yet released: ±4 points is far above both.
    assert_share(&counts, &["red"], 1.0 / 9.0, 0.04, "weight 1 of 9");
    assert_share(&counts, &["blue"], 3.0 / 9.0, 0.04, "weight 3 of 9");
    assert_share(&counts, &["green"], 5.0 / 9.0, 0.04, "weight 5 of 9");
    assert!(
        counts["green"] > counts["blue"] && counts["blue"] > counts["red"],
        "the order follows the weights: {counts:?}"
    );

    // Scenario 09's admin checks: every request counted, weights reported per host.
    proxy.admin().wait_for_stat(
        "cluster.web_cluster_01.upstream_rq_total",
        900,
        SNAPSHOT_TIMEOUT,
    );
    let clusters = proxy.admin().json("/clusters?format=json");
    let weights: BTreeMap<u16, u64> = clusters["cluster_statuses"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "web_cluster_01"))
        .and_then(|c| c["host_statuses"].as_array())
        .expect("web_cluster_01 in /clusters?format=json")
        .iter()
        .map(|h| {
            let port = h["address"]["socket_address"]["port_value"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .expect("a port");
            (port, h["weight"].as_u64().expect("a weight"))
        })
        .collect();
    let expected: BTreeMap<u16, u64> = [
        (up[0].addr().port(), 1),
        (up[1].addr().port(), 3),
        (up[2].addr().port(), 5),
    ]
    .into();
    assert_eq!(weights, expected, "/clusters host weights");
}

/// The "dynamic weights" the seed blames for §4.4's uneven lab runs (56:80:164 for 1:3:5): while
/// requests are in flight, Envoy's weighted least request uses `weight / (active + 1)` (bias 1.0),
/// with `active` counted across all workers. Six slow requests are held open, `/clusters` tells
/// where they sit, and sequential traffic must then split by the weights so divided.
#[test]
fn weighted_least_request_divides_weights_by_active_requests_plus_one() {
    let names = ["red", "blue", "green"];
    let hold = Duration::from_secs(5);
    let up: Vec<HttpUpstream> = names
        .iter()
        .map(|name| {
            let name = (*name).to_string();
            HttpUpstream::start(move |r| {
                let reply = sluice_tests::Reply::ok(&name);
                if r.path == "/hold" {
                    reply.delayed(hold)
                } else {
                    reply
                }
            })
        })
        .collect();
    let proxy = least_request_proxy(&up);
    let held = 6;

    std::thread::scope(|scope| {
        for _ in 0..held {
            scope.spawn(|| {
                let mut client = HttpClient::connect(proxy.addr());
                client.set_read_timeout(hold * 4);
                let response = client.request(&get("/hold"));
                assert_eq!(response.status, 200, "a held request: {}", response.text());
            });
        }
        let active = eventually(
            &format!("{held} requests in flight in /clusters"),
            Duration::from_secs(5),
            || {
                let active = rq_active(&proxy, "web_cluster_01");
                (active.values().sum::<u64>() == held).then_some(active)
            },
        );
        // Effective weight of host i: w_i / (a_i + 1); expected share: its part of their sum.
        let weights = [1.0, 3.0, 5.0];
        #[allow(clippy::cast_precision_loss)]
        let effective: Vec<f64> = up
            .iter()
            .zip(weights)
            .map(|(u, w)| w / (active.get(&u.addr()).copied().unwrap_or(0) as f64 + 1.0))
            .collect();
        let total: f64 = effective.iter().sum();
        // Sequential requests each finish before the next pick; 300 of them take well under the
        // 5 s the held ones last (checked below). EDF re-keys a host only when it is picked, so the
        // first picks after the change still follow the old weights: ±5 points covers that and the
        // split between workers.
        let counts = tally(&proxy, 300, &get("/"));
        assert_eq!(
            rq_active(&proxy, "web_cluster_01"),
            active,
            "the held requests must still be in flight after the measurement (machine too slow?)"
        );
        for ((name, eff), u) in names.iter().zip(&effective).zip(&up) {
            assert_share(
                &counts,
                &[name],
                eff / total,
                0.05,
                &format!(
                    "{name}: weight / (active + 1) with {} in flight (all in flight: {active:?})",
                    active.get(&u.addr()).copied().unwrap_or(0)
                ),
            );
        }
    });
}

// === §4.6 / §4.7 ring hash ===

/// A RING_HASH cluster as in the labs (ring of 512 .. 1,048,576 points) over `hosts`.
fn ring_hash_cluster(hosts: &[&HttpUpstream]) -> Value {
    let lb_endpoints: Vec<Value> = hosts
        .iter()
        .map(|u| endpoint(u.addr(), json!({})))
        .collect();
    json!({
        "name": "web_cluster_01",
        "connect_timeout": "0.5s",
        "type": "STATIC",
        "lb_policy": "RING_HASH",
        "ring_hash_lb_config": {"maximum_ring_size": 1_048_576, "minimum_ring_size": 512},
        "load_assignment": {
            "cluster_name": "web_cluster_01",
            "endpoints": [{"lb_endpoints": lb_endpoints}],
        },
    })
}

/// The shared body of the two ring-hash labs: each key sticks to one host, keys spread over the
/// hosts, a host marked unhealthy hands its keys to the others (and the others mostly keep
/// theirs), and once it is healthy again the mapping is exactly the original one.
fn ring_hash_lab(
    proxy: &Proxy,
    hosts: &[(&str, SocketAddr)],
    keys: &[String],
    send: &dyn Fn(&str) -> String,
) {
    let names: Vec<&str> = hosts.iter().map(|(n, _)| *n).collect();
    let before = sticky_mapping(keys, 4, send);
    let mut per_host: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for (key, host) in &before {
        assert!(
            names.contains(&host.as_str()),
            "{key:?} answered by {host:?}"
        );
        per_host.entry(host.as_str()).or_default().push(key);
    }
    assert!(
        per_host.len() >= 2,
        "{} keys should spread over at least 2 of the 3 hosts: {per_host:?}",
        keys.len()
    );

    // The busiest host fails (the labs take it out with a failing health check).
    let (victim, victim_keys) = per_host
        .iter()
        .max_by_key(|(_, keys)| keys.len())
        .map(|(h, k)| ((*h).to_string(), k.len()))
        .expect("some host has keys");
    let members = |failed: Option<&str>| -> Value {
        hosts
            .iter()
            .map(|(name, addr)| {
                let health = if Some(*name) == failed {
                    "UNHEALTHY"
                } else {
                    "HEALTHY"
                };
                json!({"address": addr.to_string(), "health_status": health})
            })
            .collect()
    };
    set_endpoints(proxy, "web_cluster_01", members(Some(&victim)));
    let during = sticky_mapping(keys, 3, send);
    for (key, host) in &during {
        assert_ne!(
            *host, victim,
            "{key:?} still reaches {victim}, which is unhealthy"
        );
    }
    // Envoy's ring gives each of 3 hosts ceil(512/3) = 171 points and each of 2 hosts 256, so the
    // two survivors gain 85 points each and a key between one survivor's old point and the other's
    // new one changes hands: about 1 - 513/598 = 14 % of the survivors' keys move. A modulo hash
    // would move about half of them; allow up to 35 %.
    let others: Vec<&String> = before
        .iter()
        .filter(|(_, h)| **h != victim)
        .map(|(k, _)| k)
        .collect();
    let moved: Vec<(&String, &String, &String)> = others
        .iter()
        .filter(|k| before[**k] != during[**k])
        .map(|k| (*k, &before[*k], &during[*k]))
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let moved_share = moved.len() as f64 / others.len().max(1) as f64;
    assert!(
        moved_share <= 0.35,
        "consistent hashing: {} of the {} keys not on {victim} ({victim_keys} keys) changed host: {moved:?}",
        moved.len(),
        others.len()
    );

    set_endpoints(proxy, "web_cluster_01", members(None));
    let after = sticky_mapping(keys, 3, send);
    let differences: Vec<(&String, &String, &String)> = before
        .iter()
        .filter(|(k, h)| after[*k] != **h)
        .map(|(k, h)| (k, h, &after[k]))
        .collect();
    assert!(
        differences.is_empty(),
        "after {victim} is healthy again the ring is rebuilt identically, but keys moved (key, before, after): {differences:?}"
    );
}

/// Seed 001 §4.6 (scenario 10): RING_HASH with `hash_policy: connection_properties.source_ip`.
/// A client keeps reaching one host until its address changes; 60 clients bound to
/// 127.2.10.1-60 spread over the hosts.
#[test]
fn ring_hash_on_source_ip_pins_each_client_to_one_host() {
    let names = ["red", "blue", "green"];
    let up = upstreams(&names);
    let proxy = Proxy::start(bootstrap(
        json!([route(
            "/",
            "web_cluster_01",
            json!({"hash_policy": [{"connection_properties": {"source_ip": true}}]})
        )]),
        json!([ring_hash_cluster(&up.iter().collect::<Vec<_>>())]),
    ));
    let hosts: Vec<(&str, SocketAddr)> = names
        .iter()
        .copied()
        .zip(up.iter().map(HttpUpstream::addr))
        .collect();
    let keys: Vec<String> = (1..=60).map(|i| format!("127.2.10.{i}")).collect();
    let addr = proxy.addr();
    let send = move |key: &str| {
        let source: Ipv4Addr = key.parse().expect("an IPv4 key");
        let (status, body) = get_from(source, addr);
        assert_eq!(status, 200, "from {source}: {body}");
        body
    };

    ring_hash_lab(&proxy, &hosts, &keys, &send);
}

/// Seed 001 §4.7 (scenario 11): RING_HASH with `hash_policy: header User-Agent`. Each agent
/// sticks to one host; many distinct agents split by the share of the ring each host owns (as
/// `/lb_explain` reports it); a request without the header has no hash and lands on a random
/// host.
#[test]
fn ring_hash_on_user_agent_pins_each_agent_and_splits_by_ring_share() {
    let names = ["red", "blue", "green"];
    let up = upstreams(&names);
    let proxy = Proxy::start(bootstrap(
        json!([route(
            "/",
            "web_cluster_01",
            json!({"hash_policy": [{"header": {"header_name": "User-Agent"}}]})
        )]),
        json!([ring_hash_cluster(&up.iter().collect::<Vec<_>>())]),
    ));
    let hosts: Vec<(&str, SocketAddr)> = names
        .iter()
        .copied()
        .zip(up.iter().map(HttpUpstream::addr))
        .collect();
    let addr = proxy.addr();
    let send = move |agent: &str| {
        let response = HttpClient::connect(addr).request(&get("/").header("user-agent", agent));
        assert_eq!(
            response.status,
            200,
            "User-Agent {agent}: {}",
            response.text()
        );
        response.text()
    };
    let mut keys: Vec<String> = [
        "Chrome",
        "360",
        "Firefox",
        "Safari",
        "Edge",
        "Opera",
        "curl/7.88.1",
        "Wget/1.21",
        "Mozilla/5.0 (X11; Linux x86_64)",
        "Mozilla/5.0 (iPhone)",
        "Mozilla/5.0 (Android 14)",
        "okhttp/4.12",
        "python-requests/2.31",
        "Go-http-client/1.1",
        "Java/17",
        "UCBrowser",
        "QQBrowser",
        "Baiduspider",
        "Googlebot/2.1",
        "bingbot/2.0",
        "HeadlessChrome",
        "Vivaldi",
        "Brave",
        "Lynx/2.9",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    keys.extend((0..36).map(|i| format!("lab-agent/{i}")));

    ring_hash_lab(&proxy, &hosts, &keys, &send);

    // 900 distinct agents, one request each: each host's share of them is a binomial draw with
    // p = its share of the ring, so sd <= sqrt(0.25 / 900) = 1.7 points; ±6 points is 3.5 sd.
    let explain = lb_explain(&proxy, "web_cluster_01");
    let mut client = HttpClient::connect(addr);
    let mut counts = Counts::new();
    for i in 0..900 {
        let response =
            client.request(&Request::get("/").header("user-agent", &format!("agent-{i}")));
        assert_eq!(response.status, 200, "agent-{i}: {}", response.text());
        *counts.entry(response.text()).or_default() += 1;
    }
    for (name, addr) in &hosts {
        let line = explain_line(&explain, &format!("host {addr} "));
        let ring_share = explain_number(line, "hash_share") / 100.0;
        assert_share(
            &counts,
            &[name],
            ring_share,
            0.06,
            &format!("{name}'s share of the ring"),
        );
    }

    // No User-Agent: Envoy hashes nothing and the ring picks at random, so 60 such requests reach
    // every host with a share above a few percent; at least two of them in any case.
    let unhashed = tally(&proxy, 60, &get("/"));
    assert!(
        unhashed.len() >= 2,
        "requests without User-Agent should not be pinned to one host: {unhashed:?}"
    );
}

// === §4.12 priority levels ===

/// The §4.12 lab's cluster: P0 = red, blue, green (cn-north-1), P1 = gray, black (cn-north-2),
/// overprovisioning factor 150, panic threshold 49; `health` gives each host's `health_status`.
fn priority_cluster(up: &[HttpUpstream], health: &[&str]) -> Value {
    let ep = |i: usize| endpoint(up[i].addr(), json!({"health_status": health[i]}));
    json!({
        "name": "webcluster1",
        "connect_timeout": "0.25s",
        "type": "STATIC",
        "lb_policy": "ROUND_ROBIN",
        "common_lb_config": {"healthy_panic_threshold": {"value": 49}},
        "load_assignment": {
            "cluster_name": "webcluster1",
            "policy": {"overprovisioning_factor": 150},
            "endpoints": [
                {"locality": {"region": "cn-north-1"}, "priority": 0, "lb_endpoints": [ep(0), ep(1), ep(2)]},
                {"locality": {"region": "cn-north-2"}, "priority": 1, "lb_endpoints": [ep(3), ep(4)]},
            ],
        },
    })
}

const PRIORITY_HOSTS: [&str; 5] = ["red", "blue", "green", "gray", "black"];
const P0: [&str; 3] = ["red", "blue", "green"];
const P1: [&str; 2] = ["gray", "black"];

/// The §4.12 membership with the hosts in `down` reported UNHEALTHY, for the run-time API.
fn priority_members(up: &[HttpUpstream], down: &[&str]) -> Value {
    PRIORITY_HOSTS
        .iter()
        .zip(up)
        .enumerate()
        .map(|(i, (name, u))| {
            let (priority, region) = if i < 3 {
                (0, "cn-north-1")
            } else {
                (1, "cn-north-2")
            };
            let health = if down.contains(name) {
                "UNHEALTHY"
            } else {
                "HEALTHY"
            };
            member(u.addr(), priority, region, health)
        })
        .collect()
}

/// Seed 001 §4.12 (scenario 12): priority health is `min(100, 1.5 x healthy / total)`; P0 keeps
/// all the traffic while its health is 100 %, spills the rest to P1 below that, and gets it back
/// when its hosts recover.
#[test]
fn priority_levels_spill_over_by_overprovisioned_health() {
    let up = upstreams(&PRIORITY_HOSTS);
    let proxy = Proxy::start(bootstrap(
        json!([route("/", "webcluster1", json!({}))]),
        json!([priority_cluster(&up, &["HEALTHY"; 5])]),
    ));

    // All healthy: P0 health = min(100, 150 x 3/3) = 100 -> P0 load 100 %, round robin over 3.
    let counts = tally(&proxy, 120, &get("/"));
    assert_only(&counts, &P0, true, "all healthy");
    assert_share(&counts, &["red"], 1.0 / 3.0, 0.08, "round robin over P0");

    // red fails: P0 health = min(100, 150 x 2/3) = 100 -> still no traffic to P1.
    set_endpoints(&proxy, "webcluster1", priority_members(&up, &["red"]));
    let counts = tally(&proxy, 120, &get("/"));
    assert_only(&counts, &["blue", "green"], true, "red down");
    assert_share(
        &counts,
        &["blue"],
        0.5,
        0.1,
        "round robin over blue and green",
    );

    // blue fails too: P0 health = 150 x 1/3 = 50, P1 health = min(100, 150 x 2/2) = 100, the
    // normalized total is min(100, 150) = 100, so P0 load = 50 % and P1 load = min(50, 100) = 50 %.
    // Envoy draws the priority at random per request: with 600 requests sd = 2 points, ±8 is 4 sd.
    set_endpoints(
        &proxy,
        "webcluster1",
        priority_members(&up, &["red", "blue"]),
    );
    let explain = lb_explain(&proxy, "webcluster1");
    let p0 = explain_line(&explain, "priority 0:");
    let p1 = explain_line(&explain, "priority 1:");
    assert!(
        p0.contains("health=50%") && p0.contains("load: healthy=50%") && p0.contains("panic=no"),
        "P0 at 50 % health takes 50 % of the load, out of panic (normalized total 100 %):\n{explain}"
    );
    assert!(
        p1.contains("health=100%") && p1.contains("load: healthy=50%"),
        "P1 takes the other 50 %:\n{explain}"
    );
    let counts = tally(&proxy, 600, &get("/"));
    assert_only(
        &counts,
        &["green", "gray", "black"],
        true,
        "red and blue down",
    );
    assert_share(&counts, &P1, 0.5, 0.08, "P1's load with P0 at 50 % health");
    assert_share(&counts, &["gray"], 0.25, 0.07, "gray, half of P1's load");

    // green fails as well: P0 health 0 -> P1 load 100 %.
    set_endpoints(&proxy, "webcluster1", priority_members(&up, &P0));
    let counts = tally(&proxy, 40, &get("/"));
    assert_only(&counts, &P1, true, "all of P0 down");

    // P0 recovers: all traffic returns to it.
    set_endpoints(&proxy, "webcluster1", priority_members(&up, &[]));
    let counts = tally(&proxy, 60, &get("/"));
    assert_only(&counts, &P0, true, "P0 recovered");
}

/// Scenario 13 (§4.12's config exercising §4.11's panic threshold of 49 %), with Envoy's rules:
/// a priority is in panic when its healthy share is below the threshold and the normalized total
/// availability is below 100 %; when every priority is in panic (Envoy's "total panic",
/// `recalculateLoadInTotalPanic`) the load goes by host count instead of health, and each
/// priority balances over all its hosts, unhealthy ones included.
///
/// With red, blue, gray and black down: P0 health = 150 x 1/3 = 50, P1 health = 0, total 50 %;
/// P0 (33 % healthy) and P1 (0 %) are both below 49 %, so total panic: P0 load = 3/5 = 60 %, P1
/// load = 2/5 = 40 %, every host ~20 %. (Scenario 13's check.py expects P1 to get nothing there;
/// Envoy's code says otherwise.) Once black recovers P1 health = min(100, 150 x 1/2) = 75, the
/// total reaches 100 %, panic ends and P0 = 50 % goes to green alone, P1 = min(50, 75) = 50 % to
/// black.
#[test]
fn panic_threshold_spreads_load_over_all_hosts_until_the_total_health_recovers() {
    let up = upstreams(&PRIORITY_HOSTS);
    let down = ["red", "blue", "gray", "black"];
    let health: Vec<&str> = PRIORITY_HOSTS
        .iter()
        .map(|n| {
            if down.contains(n) {
                "UNHEALTHY"
            } else {
                "HEALTHY"
            }
        })
        .collect();
    let proxy = Proxy::start(bootstrap(
        json!([route("/", "webcluster1", json!({}))]),
        json!([priority_cluster(&up, &health)]),
    ));

    let explain = lb_explain(&proxy, "webcluster1");
    let p0 = explain_line(&explain, "priority 0:");
    let p1 = explain_line(&explain, "priority 1:");
    assert!(
        explain.contains("TOTAL PANIC")
            && p0.contains("load: healthy=60%")
            && p0.contains("panic=YES")
            && p1.contains("load: healthy=40%")
            && p1.contains("panic=YES"),
        "total panic: load by host count 60 % / 40 %, all hosts used:\n{explain}"
    );
    // The priority is drawn at random per request (500 requests: sd = 2.2 points, ±8 is 3.6 sd);
    // inside a priority round robin over all its hosts, so each host gets ~20 % (sd <= 1.8 points).
    let counts = tally(&proxy, 500, &get("/"));
    assert_only(&counts, &PRIORITY_HOSTS, true, "total panic");
    assert_share(
        &counts,
        &P0,
        0.6,
        0.08,
        "P0's load in total panic (3 of 5 hosts)",
    );
    for name in PRIORITY_HOSTS {
        assert_share(
            &counts,
            &[name],
            0.2,
            0.07,
            "one host of five in total panic",
        );
    }

    set_endpoints(
        &proxy,
        "webcluster1",
        priority_members(&up, &["red", "blue", "gray"]),
    );
    let explain = lb_explain(&proxy, "webcluster1");
    assert!(
        explain_line(&explain, "priority 0:").contains("load: healthy=50%")
            && explain_line(&explain, "priority 0:").contains("panic=no")
            && explain_line(&explain, "priority 1:").contains("load: healthy=50%"),
        "black back: 50 % / 50 %, no panic:\n{explain}"
    );
    // Random priority per request: 400 requests give sd = 2.5 points; ±10 is 4 sd.
    let counts = tally(&proxy, 400, &get("/"));
    assert_only(&counts, &["green", "black"], true, "panic over");
    assert_share(
        &counts,
        &["black"],
        0.5,
        0.1,
        "P1's load once black recovers",
    );
}

/// Scenario 12's admin check: Envoy's `membership_total` counts the cluster's hosts and
/// `membership_healthy` its healthy ones (here 5 and 2 with all of P0 down).
#[test]
fn membership_gauges_count_hosts_and_healthy_hosts() {
    let up = upstreams(&PRIORITY_HOSTS);
    let health = ["UNHEALTHY", "UNHEALTHY", "UNHEALTHY", "HEALTHY", "HEALTHY"];
    let proxy = Proxy::start(bootstrap(
        json!([route("/", "webcluster1", json!({}))]),
        json!([priority_cluster(&up, &health)]),
    ));

    let counts = tally(&proxy, 10, &get("/"));
    assert_only(&counts, &P1, true, "all of P0 down");
    let stats = proxy.admin().stats();
    assert_eq!(
        (
            stats.get("cluster.webcluster1.membership_total"),
            stats.get("cluster.webcluster1.membership_healthy")
        ),
        (Some(&5), Some(&2)),
        "membership_total and membership_healthy"
    );
}

// === §4.14 locality weights ===

/// Seed 001 §4.14 (scenario 14): with `locality_weighted_lb_config` a locality's effective
/// weight is `weight x min(100, 1.4 x healthy / total) %`. cn-north-1 (red, blue, green) weighs
/// 10 and cn-north-2 (gray, black) 20, so "colored" hosts get 10/30 = 33.3 % while all are
/// healthy; with gray down cn-north-2 keeps 20 x min(1, 1.4 x 1/2) = 14 and colored rises to
/// 10/24 = 41.7 %.
#[test]
fn locality_weights_scale_with_overprovisioned_health() {
    let up = upstreams(&PRIORITY_HOSTS);
    let cluster = |gray_health: &str| {
        let ep = |i: usize, health: &str| endpoint(up[i].addr(), json!({"health_status": health}));
        json!({
            "name": "webcluster1",
            "connect_timeout": "0.25s",
            "type": "STATIC",
            "lb_policy": "ROUND_ROBIN",
            "common_lb_config": {"locality_weighted_lb_config": {}},
            "load_assignment": {
                "cluster_name": "webcluster1",
                "policy": {"overprovisioning_factor": 140},
                "endpoints": [
                    {
                        "locality": {"region": "cn-north-1"}, "priority": 0, "load_balancing_weight": 10,
                        "lb_endpoints": [ep(0, "HEALTHY"), ep(1, "HEALTHY"), ep(2, "HEALTHY")],
                    },
                    {
                        "locality": {"region": "cn-north-2"}, "priority": 0, "load_balancing_weight": 20,
                        "lb_endpoints": [ep(3, gray_health), ep(4, "HEALTHY")],
                    },
                ],
            },
        })
    };
    let colored = P0;

    // Locality and host choices are both deterministic schedules (EDF, round robin) per worker,
    // so shares are exact up to a pick or two per worker: ±4 points on 600 requests.
    let proxy = Proxy::start(bootstrap(
        json!([route("/", "webcluster1", json!({}))]),
        json!([cluster("HEALTHY")]),
    ));
    let explain = lb_explain(&proxy, "webcluster1");
    let north1 = explain_line(&explain, "locality 0");
    let north2 = explain_line(&explain, "locality 1");
    assert!(
        (explain_number(north1, "share") - 100.0 / 3.0).abs() < 0.1
            && (explain_number(north2, "share") - 200.0 / 3.0).abs() < 0.1,
        "all healthy: locality shares 33.3 % / 66.7 %:\n{explain}"
    );
    let counts = tally(&proxy, 600, &get("/hostname"));
    assert_only(&counts, &PRIORITY_HOSTS, true, "all healthy");
    assert_share(
        &counts,
        &colored,
        1.0 / 3.0,
        0.04,
        "colored (cn-north-1, weight 10 of 30)",
    );
    drop(proxy);

    let proxy = Proxy::start(bootstrap(
        json!([route("/", "webcluster1", json!({}))]),
        json!([cluster("UNHEALTHY")]),
    ));
    let explain = lb_explain(&proxy, "webcluster1");
    let north1 = explain_line(&explain, "locality 0");
    let north2 = explain_line(&explain, "locality 1");
    assert!(
        (explain_number(north2, "effective") / explain_number(north1, "effective") - 1.4).abs()
            < 0.001,
        "gray down: cn-north-2's effective weight is 1.4 x cn-north-1's (14 against 10):\n{explain}"
    );
    assert!(
        (explain_number(north1, "share") - 1000.0 / 24.0).abs() < 0.1
            && (explain_number(north2, "share") - 1400.0 / 24.0).abs() < 0.1,
        "gray down: locality shares 41.7 % / 58.3 %:\n{explain}"
    );
    let counts = tally(&proxy, 600, &get("/hostname"));
    assert_only(
        &counts,
        &["red", "blue", "green", "black"],
        true,
        "gray down",
    );
    assert_share(
        &counts,
        &colored,
        10.0 / 24.0,
        0.04,
        "colored (10 of 10 + 14)",
    );
    assert_share(
        &counts,
        &["black"],
        14.0 / 24.0,
        0.04,
        "black alone in cn-north-2",
    );
}

// === §4.18 subsets ===

/// Seed 001 §4.18 (scenario 15): the seven endpoints with their `envoy.lb` metadata, the lab's
/// subset selectors and DEFAULT_SUBSET fallback, and one path-prefix route per metadata_match
/// (the lab selects them with headers, which routes cannot match on yet).
#[test]
fn subsets_follow_route_metadata_match() {
    let names = ["e1", "e2", "e3", "e4", "e5", "e6", "e7"];
    let up = upstreams(&names);
    let meta = [
        json!({"stage": "prod", "version": "1.0", "type": "std", "xlarge": true}),
        json!({"stage": "prod", "version": "1.0", "type": "std"}),
        json!({"stage": "prod", "version": "1.1", "type": "std"}),
        json!({"stage": "prod", "version": "1.1", "type": "std"}),
        json!({"stage": "prod", "version": "1.0", "type": "bigmem"}),
        json!({"stage": "prod", "version": "1.1", "type": "bigmem"}),
        json!({"stage": "dev", "version": "1.2-pre", "type": "std"}),
    ];
    let cluster = |down: &[&str]| {
        let ep = |(name, (u, m)): (&&str, (&HttpUpstream, &Value))| {
            let health = if down.contains(name) {
                "UNHEALTHY"
            } else {
                "HEALTHY"
            };
            endpoint(
                u.addr(),
                json!({"metadata": envoy_lb(m.clone()), "health_status": health}),
            )
        };
        let lb_endpoints: Vec<Value> = names.iter().zip(up.iter().zip(&meta)).map(ep).collect();
        json!({
            "name": "webcluster1",
            "connect_timeout": "0.5s",
            "type": "STATIC",
            "lb_policy": "ROUND_ROBIN",
            "load_assignment": {
                "cluster_name": "webcluster1",
                "endpoints": [{"lb_endpoints": lb_endpoints}],
            },
            "lb_subset_config": {
                "fallback_policy": "DEFAULT_SUBSET",
                "default_subset": {"stage": "prod", "version": "1.0", "type": "std"},
                "subset_selectors": [
                    {"keys": ["stage", "type"]},
                    {"keys": ["stage", "version"]},
                    {"keys": ["version"]},
                    {"keys": ["xlarge", "version"]},
                ],
            },
        })
    };
    let subset_route = |prefix: &str, fields: Value| {
        route(
            prefix,
            "webcluster1",
            json!({"metadata_match": envoy_lb(fields)}),
        )
    };
    let routes = json!([
        // x-custom-version: pre-release in the lab.
        subset_route("/pre", json!({"version": "1.2-pre", "stage": "dev"})),
        // x-hardware-test: memory in the lab.
        subset_route("/hw-memory", json!({"type": "bigmem", "stage": "prod"})),
        // The lab's weighted_clusters' 10 % leg.
        subset_route("/v1.1", json!({"version": "1.1", "stage": "prod"})),
        // The fourth selector, matched with a boolean value.
        subset_route("/xlarge", json!({"xlarge": true, "version": "1.0"})),
        // A version no host has: no subset, so DEFAULT_SUBSET (prod, 1.0, std) = e1, e2.
        subset_route("/v9", json!({"version": "9.9", "stage": "prod"})),
        // Keys no selector lists: no subset either, so the default subset again.
        subset_route("/stage-only", json!({"stage": "prod"})),
        // The lab's default route (its weighted_clusters' 90 % leg).
        subset_route("/", json!({"version": "1.0", "stage": "prod"})),
    ]);
    let proxy = Proxy::start(bootstrap(routes.clone(), json!([cluster(&[])])));

    check_subsets(
        &proxy,
        &[
            ("/hostname", &["e1", "e2", "e5"][..]),
            ("/v1.1", &["e3", "e4", "e6"][..]),
            ("/hw-memory", &["e5", "e6"][..]),
            ("/pre", &["e7"][..]),
            ("/xlarge", &["e1"][..]),
            ("/v9", &["e1", "e2"][..]),
            ("/stage-only", &["e1", "e2"][..]),
        ],
    );

    let explain = lb_explain(&proxy, "webcluster1");
    assert!(
        explain.contains("fallback: DEFAULT_SUBSET"),
        "the subset fallback policy:\n{explain}"
    );
    drop(proxy);

    // e5 (prod, 1.0, bigmem) down: every subset holding it balances over its healthy members.
    // {e5, e6} is then 50 % healthy, not below the 50 % panic threshold (Envoy: `healthy% <
    // threshold`), so e6 alone; {e1, e2, e5} is 67 % healthy, so e1 and e2.
    let proxy = Proxy::start(bootstrap(routes, json!([cluster(&["e5"])])));
    check_subsets(
        &proxy,
        &[
            ("/hostname", &["e1", "e2"][..]),
            ("/hw-memory", &["e6"][..]),
            ("/v1.1", &["e3", "e4", "e6"][..]),
            ("/pre", &["e7"][..]),
        ],
    );
}

/// Sends 60 requests per expected member to each path and checks that exactly `members` answered,
/// evenly (round robin, exact to a pick or two per worker: ±10 points).
fn check_subsets(proxy: &Proxy, table: &[(&str, &[&str])]) {
    for &(path, members) in table {
        let n = 60 * members.len();
        let counts = tally(proxy, n, &get(path));
        assert_only(&counts, members, true, path);
        #[allow(clippy::cast_precision_loss)]
        let even = 1.0 / members.len() as f64;
        for m in members {
            assert_share(
                &counts,
                &[m],
                even,
                0.1,
                &format!("{path}: round robin in the subset"),
            );
        }
    }
}
