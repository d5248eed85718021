//! The load-balancing fields that `lb_labs.rs` does not reach, each proven through the real binary
//! over loopback (two workers): slow start, least request's `active_request_bias`, RANDOM,
//! MAGLEV and its `table_size`, ring hash's `hash_function`, the `cookie`, `query_parameter` and
//! `terminal` hash policies, `healthy_panic_threshold: 0`, the subset `fallback_policy` and
//! zone-aware routing with a local cluster.
//!
//! Every test compares the field against what the proxy would do without it (a control run, a
//! second cluster with the default, or Envoy's formula), so it fails if the field were ignored.
//! Shares come with the tolerance and the reason for it next to the assertion.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::lb::*;
use sluice_tests::wire::{self, Conn};
use sluice_tests::{
    Config, Deadline, HttpClient, HttpUpstream, Proxy, Reply, Request, TempDir, closed_port,
    eventually, run_sluice,
};

// === bootstrap ===

/// A bootstrap document: one HTTP listener whose only virtual host (`*`) has `routes`, `clusters`,
/// and `extra` merged in at the top (`node`, `cluster_manager`). Port placeholders are filled in
/// by [`start`] or [`validate`].
fn bootstrap(routes: Value, clusters: Value, extra: Value) -> Value {
    http_bootstrap(routes, clusters, json!({}), extra)
}

/// Starts the proxy (two workers) on `doc`.
fn start(doc: &Value) -> Proxy {
    start_json(doc)
}

/// Runs `sluice --mode validate` on `doc` and returns the exit code and stderr.
fn validate(doc: &Value) -> (Option<i32>, String) {
    let dir = TempDir::new("lb-fields-validate");
    // Validation binds nothing; any port numbers do.
    let text = json_text(doc)
        .replace("{{admin_port}}", "19901")
        .replace("{{listener_port_0}}", "10080");
    let path = dir.write("bootstrap.json", text);
    let run = run_sluice(
        &["--mode", "validate", "-c", &path.display().to_string()],
        dir.path(),
        Duration::from_secs(20),
    );
    (run.code(), run.stderr)
}

/// A STATIC cluster named `name` with `lb_policy` over one locality of `lb_endpoints`; `extra` is
/// merged into the cluster (`*_lb_config`, `common_lb_config`, `lb_subset_config`).
fn cluster(name: &str, lb_policy: &str, lb_endpoints: Vec<Value>, extra: Value) -> Value {
    let mut c = json!({
        "name": name,
        "connect_timeout": "0.5s",
        "type": "STATIC",
        "lb_policy": lb_policy,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": lb_endpoints}],
        },
    });
    merge(&mut c, extra);
    c
}

/// Plain endpoints, weight 1, healthy.
fn endpoints(up: &[HttpUpstream]) -> Vec<Value> {
    up.iter().map(|u| endpoint(u.addr(), json!({}))).collect()
}

// === upstreams and traffic ===

/// Sends `request` on a fresh connection (so the kernel spreads requests over both workers) and
/// returns the name of the upstream that answered; panics unless the status is 200.
fn send(proxy: &Proxy, request: &Request) -> String {
    let response = HttpClient::connect(proxy.addr()).request(request);
    assert_eq!(
        response.status,
        200,
        "{} {}: {}",
        request.method,
        request.path,
        response.text()
    );
    response.text()
}

/// Sends `request` `n` times and counts which upstream answered.
fn tally(proxy: &Proxy, n: usize, request: &Request) -> Counts {
    let mut counts = Counts::new();
    for _ in 0..n {
        *counts.entry(send(proxy, request)).or_default() += 1;
    }
    counts
}

/// The distinct hosts a mapping uses.
fn hosts_used(mapping: &BTreeMap<String, String>) -> BTreeSet<&str> {
    mapping.values().map(String::as_str).collect()
}

/// `request` on a new connection whose source address is `source` (any 127/8 address is loopback
/// on Linux); returns the status and the body. std cannot bind before connecting, hence libc.
fn send_from(source: Ipv4Addr, proxy: SocketAddr, request: &Request) -> (u16, String) {
    let stream =
        connect_from(source, proxy).unwrap_or_else(|e| panic!("connect {source} -> {proxy}: {e}"));
    let mut conn = Conn::new(stream).expect("set up the client connection");
    conn.write_all(&request.to_bytes())
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

/// Asserts that `/lb_explain` of `cluster` contains every one of `needles`.
fn assert_explains(explain: &str, needles: &[&str], what: &str) {
    for needle in needles {
        assert!(
            explain.contains(needle),
            "{what}: /lb_explain should contain {needle:?}:\n{explain}"
        );
    }
}

// === slow start ===

/// What one slow-start run saw: the split right after C joined, how long that measurement took
/// counted from just before C was added, and `/lb_explain`.
struct SlowStartRun {
    counts: Counts,
    elapsed: Duration,
    explain: String,
}

/// A, B in a ROUND_ROBIN cluster from the start, optionally with `slow_start_config`; C joins
/// through the membership API, then sequential traffic is counted for at most ~1.5 s (at least
/// 120 requests, at most 300) so C stays in the first part of a 10 s window.
fn slow_start_run(slow_start: Option<Value>) -> SlowStartRun {
    let names = ["a", "b", "c"];
    let up = upstreams(&names);
    let extra = match slow_start {
        Some(ss) => json!({"round_robin_lb_config": {"slow_start_config": ss}}),
        None => json!({}),
    };
    let proxy = start(&bootstrap(
        json!([route("/", "web", json!({}))]),
        json!([cluster("web", "ROUND_ROBIN", endpoints(&up[..2]), extra)]),
        json!({}),
    ));
    let counts = tally(&proxy, 20, &get("/"));
    assert_only(&counts, &["a", "b"], true, "before c joins");

    let added = Instant::now();
    set_endpoints(
        &proxy,
        "web",
        up.iter().map(|u| json!(u.addr().to_string())).collect(),
    );
    let mut counts = Counts::new();
    for n in 0..300 {
        if n >= 120 && added.elapsed() > Duration::from_millis(1500) {
            break;
        }
        *counts.entry(send(&proxy, &get("/"))).or_default() += 1;
    }
    let elapsed = added.elapsed();
    assert_only(&counts, &names, false, "after c joined");
    SlowStartRun {
        counts,
        elapsed,
        explain: lb_explain(&proxy, "web"),
    }
}

/// `round_robin_lb_config.slow_start_config` (window 10 s, aggression 1.0 and min_weight_percent
/// 10 % by default): a host added at run time starts at weight `w x max(10 %, t / 10 s)`, Envoy's
/// `time_factor ^ (1 / aggression)` with time_factor = time since it joined / window. Right after
/// C joins A and B (weight 1 each), C's share is `f / (2 + f)`, about 4.8 % at f = 0.1, against
/// 1/3 in a control run without slow start.
#[test]
fn slow_start_ramps_a_new_host_up_from_min_weight_percent() {
    let slow = slow_start_run(Some(json!({"slow_start_window": "10s"})));
    let control = slow_start_run(None);

    assert_explains(
        &slow.explain,
        &["slow_start: window=10s aggression=1 min_weight_percent=10"],
        "slow start config",
    );
    // Control: plain round robin over three equal hosts, exact to a pick or two per worker.
    assert_share(
        &control.counts,
        &["c"],
        1.0 / 3.0,
        0.08,
        "control without slow start",
    );

    // C's weight factor only grows, so its value at the end of the measurement bounds the share
    // from above: f = max(0.1, elapsed / 10 s), share <= f / (2 + f). Each worker's EDF starts at
    // a seeded point of its rotation, which can add one pick of C per worker: +3 points covers it.
    let secs = slow.elapsed.as_secs_f64();
    let factor = (secs / 10.0).max(0.1);
    let bound = factor / (2.0 + factor) + 0.03;
    let seen = share(&slow.counts, &["c"]);
    assert!(
        seen <= bound,
        "slow start: c answered {:.1}% of the requests in the first {secs:.2} s of its 10 s window, \
         expected at most {:.1}% (weight factor <= {factor:.2}); counts {:?}",
        100.0 * seen,
        100.0 * bound,
        slow.counts
    );
    let control_share = share(&control.counts, &["c"]);
    assert!(
        seen <= control_share / 2.0,
        "slow start: c's share {:.1}% should be far below the control's {:.1}%; counts {:?} vs {:?}",
        100.0 * seen,
        100.0 * control_share,
        slow.counts,
        control.counts
    );
    // min_weight_percent keeps it in the rotation: the factor never drops below 0.1, so c gets at
    // least 0.1 / 2.1 = 4.8 % less the same pick or two per worker (3 points). Without the floor
    // the first 100 ms would give it 1 % of its weight or less, and next to no request.
    let floor = 0.1 / 2.1 - 0.03;
    assert!(
        seen >= floor,
        "slow start: c answered {:.1}%, but min_weight_percent 10 % keeps it above {:.1}%; counts {:?}",
        100.0 * seen,
        100.0 * floor,
        slow.counts
    );
}

// === least request: active_request_bias ===

/// A gate that held upstream replies wait on until the test opens it (bounded by `limit`).
#[derive(Default)]
struct Gate {
    is_open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self, limit: Duration) {
        let guard = self.is_open.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .opened
            .wait_timeout_while(guard, limit, |is_open| !*is_open)
            .unwrap_or_else(PoisonError::into_inner);
    }

    fn open(&self) {
        *self.is_open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }

    fn is_open(&self) -> bool {
        *self.is_open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opens the gate when dropped, so a failing assertion does not leave replies held.
struct OpenOnDrop<'a>(&'a Gate);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// LEAST_REQUEST over `light` (weight 1) and `heavy` (weight 3), with `active_request_bias` when
/// given. `held` requests to `/hold` are parked on heavy (light answers `/hold` at once, so the
/// holders retry until heavy takes them), then 200 sequential requests are counted. Returns the
/// counts and the number of requests in flight on heavy during the measurement.
fn least_request_run(bias: Option<f64>, held: u64) -> (Counts, f64) {
    let gate = Arc::new(Gate::default());
    let hold_limit = Duration::from_secs(20);
    let light = HttpUpstream::named("light");
    let heavy = {
        let gate = Arc::clone(&gate);
        HttpUpstream::start(move |r| {
            if r.path == "/hold" {
                gate.wait(hold_limit);
            }
            Reply::ok("heavy")
        })
    };
    let mut config = json!({"choice_count": 3});
    if let Some(bias) = bias {
        merge(
            &mut config,
            json!({"active_request_bias": {"default_value": bias}}),
        );
    }
    let proxy = start(&bootstrap(
        json!([route("/", "lr", json!({}))]),
        json!([cluster(
            "lr",
            "LEAST_REQUEST",
            vec![
                endpoint(light.addr(), json!({"load_balancing_weight": 1})),
                endpoint(heavy.addr(), json!({"load_balancing_weight": 3})),
            ],
            json!({"least_request_lb_config": config}),
        )]),
        json!({}),
    ));
    let explain = lb_explain(&proxy, "lr");
    assert_explains(
        &explain,
        &[&format!(
            "least_request: choice_count=3 active_request_bias={}",
            bias.unwrap_or(1.0)
        )],
        "least request config",
    );

    std::thread::scope(|scope| {
        let _open = OpenOnDrop(&gate);
        for _ in 0..held {
            scope.spawn(|| {
                let deadline = Deadline::after(Duration::from_secs(10));
                while !deadline.is_expired() && !gate.is_open() {
                    let mut client = HttpClient::connect(proxy.addr());
                    client.set_read_timeout(hold_limit + Duration::from_secs(5));
                    let response = client.request(&get("/hold"));
                    assert_eq!(response.status, 200, "a /hold request: {}", response.text());
                    if response.text() == "heavy" {
                        return;
                    }
                }
            });
        }
        let active = eventually(
            &format!("{held} requests held on heavy in /clusters"),
            Duration::from_secs(10),
            || {
                // Held on heavy, and nothing left on light from a holder's last retry.
                let active = rq_active(&proxy, "lr");
                let is_settled = active.get(&heavy.addr()) == Some(&held)
                    && active.get(&light.addr()).copied().unwrap_or(0) == 0;
                is_settled.then_some(active)
            },
        );
        let counts = tally(&proxy, 200, &get("/"));
        // The last measured request may still be counted for a moment after its response.
        eventually(
            "the held requests still in flight, and only they, after the measurement",
            Duration::from_secs(2),
            || (rq_active(&proxy, "lr") == active).then_some(()),
        );
        gate.open();
        #[allow(clippy::cast_precision_loss)]
        let heavy_active = active.get(&heavy.addr()).copied().unwrap_or(0) as f64;
        (counts, heavy_active)
    })
}

/// `least_request_lb_config.active_request_bias`: with unequal weights Envoy schedules by
/// `weight / (active + 1) ^ bias`. Bias 0.0 turns that into plain weighted round robin, so a 1:3
/// split holds even while requests pile up on the heavy host; with the default bias 1.0 the same
/// held requests push traffic away from it (4 held: 3/5 against 1, heavy 37.5 %).
///
/// The bias is written `{default_value: 0.0}` without the `runtime_key` Envoy requires: Sluice
/// has no runtime and refuses `runtime_key` as not supported yet.
#[test]
fn least_request_bias_zero_ignores_requests_in_flight() {
    let held = 4;
    let (zero, _) = least_request_run(Some(0.0), held);
    let (default, heavy_active) = least_request_run(None, held);

    // EDF over fixed weights: exact to a pick or two per worker; ±6 points.
    assert_share(
        &zero,
        &["heavy"],
        0.75,
        0.06,
        "bias 0.0: weight 3 of 4 whatever is in flight",
    );
    // EDF re-keys a host only when it is picked, so the first picks after the holds follow the
    // old weights: ±7 points covers that and the split between workers.
    let effective = 3.0 / (heavy_active + 1.0);
    assert_share(
        &default,
        &["heavy"],
        effective / (effective + 1.0),
        0.07,
        &format!("bias 1.0: 3 / ({heavy_active} + 1) against 1"),
    );
    assert!(
        share(&zero, &["heavy"]) - share(&default, &["heavy"]) >= 0.2,
        "bias 0.0 must keep far more traffic on the busy heavy host than bias 1.0: {zero:?} vs {default:?}"
    );
}

// === RANDOM ===

/// `lb_policy: RANDOM` draws a host uniformly and ignores weights, as Envoy does: weights 1 and 9
/// still split 50/50 (weighted would be 10/90).
#[test]
fn random_spreads_evenly_and_ignores_weights() {
    let up = upstreams(&["light", "heavy"]);
    let proxy = start(&bootstrap(
        json!([route("/", "rnd", json!({}))]),
        json!([cluster(
            "rnd",
            "RANDOM",
            vec![
                endpoint(up[0].addr(), json!({"load_balancing_weight": 1})),
                endpoint(up[1].addr(), json!({"load_balancing_weight": 9})),
            ],
            json!({}),
        )]),
        json!({}),
    ));
    assert_explains(&lb_explain(&proxy, "rnd"), &["lb_policy: RANDOM"], "random");

    // 400 independent draws: sd = 2.5 points, ±10 is 4 sd; a weighted pick would give light 10 %.
    let counts = tally(&proxy, 400, &get("/"));
    assert_only(&counts, &["light", "heavy"], true, "random");
    assert_share(
        &counts,
        &["light"],
        0.5,
        0.1,
        "random ignores weight 1 of 10",
    );
}

// === MAGLEV ===

/// `lb_policy: MAGLEV` with a header `hash_policy`: each header value sticks to one host and the
/// values spread over the hosts; `maglev_lb_config.table_size` sets the table (65537 is the
/// default, a smaller prime is taken as given) and a non-prime size is refused at start-up.
#[test]
fn maglev_sticks_per_header_value_and_checks_table_size() {
    let names = ["red", "blue", "green"];
    let up = upstreams(&names);
    // `None`: no maglev_lb_config at all, so Envoy's default size.
    let maglev = |name: &str, table_size: Option<u64>| {
        let extra = match table_size {
            Some(size) => json!({"maglev_lb_config": {"table_size": size}}),
            None => json!({}),
        };
        cluster(name, "MAGLEV", endpoints(&up), extra)
    };
    let hash = json!({"hash_policy": [{"header": {"header_name": "x-session"}}]});
    let doc = bootstrap(
        json!([
            route("/small", "maglev_small", hash.clone()),
            route("/", "maglev", hash)
        ]),
        json!([maglev("maglev", None), maglev("maglev_small", Some(211))]),
        json!({}),
    );
    let proxy = start(&doc);

    let keys: Vec<String> = (0..30).map(|i| format!("session-{i}")).collect();
    let mapping = |path: &str| {
        let send = |key: &str| send(&proxy, &get(path).header("x-session", key));
        let mapping = sticky_mapping(&keys, 3, &send);
        // 30 keys over 3 hosts each owning ~1/3 of the table: all on one host has p ~ 1e-14.
        assert!(
            hosts_used(&mapping).len() >= 2,
            "{path}: 30 session keys should spread over several hosts: {mapping:?}"
        );
        mapping
    };
    let large = mapping("/");
    let small = mapping("/small");
    // Maglev fills the table from per-host permutations `(offset + j x skip) mod table_size`, so
    // another size gives an unrelated table: a key keeps its host with p ~ 1/3, all 30 ~ 5e-15.
    // Were table_size ignored, both clusters would share one table and one mapping.
    assert!(
        keys.iter().any(|k| large[k] != small[k]),
        "table_size 211 must build another table than 65537, but all 30 keys map alike: {large:?}"
    );

    let explain = lb_explain(&proxy, "maglev");
    assert_explains(
        &explain,
        &[
            "lb_policy: MAGLEV",
            "maglev: table_size=65537",
            "maglev table of 65537 entries",
        ],
        "maglev default table size",
    );
    assert_explains(
        &lb_explain(&proxy, "maglev_small"),
        &["maglev: table_size=211", "maglev table of 211 entries"],
        "maglev table_size 211",
    );

    // Requests without the header have no hash: maglev picks at random, so not one host.
    let unhashed = tally(&proxy, 60, &get("/"));
    assert!(
        unhashed.len() >= 2,
        "requests without x-session are not pinned: {unhashed:?}"
    );

    // Validation: the default size written out passes, a non-prime one is refused naming the
    // field (exit 1).
    let with_size = |size: u64| {
        bootstrap(
            json!([route("/", "maglev", json!({}))]),
            json!([maglev("maglev", Some(size))]),
            json!({}),
        )
    };
    let (code, stderr) = validate(&with_size(65537));
    assert_eq!(code, Some(0), "table_size 65537 is valid:\n{stderr}");
    let (code, stderr) = validate(&with_size(1000));
    assert_eq!(code, Some(1), "table_size 1000 is not prime:\n{stderr}");
    assert!(
        stderr.contains("maglev_lb_config.table_size") && stderr.contains("1000"),
        "the error names table_size and the value:\n{stderr}"
    );
    // Started for real, the proxy refuses it the same way.
    let mut refused = Proxy::builder(Config::Json(json_text(&with_size(1000)))).spawn();
    let status = refused.wait_exit(Duration::from_secs(10));
    let log = refused.log();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "start-up with table_size 1000:\n{log}"
    );
    assert!(
        log.contains("maglev_lb_config.table_size"),
        "the start-up error names table_size:\n{log}"
    );
}

// === RING_HASH hash_function ===

/// `ring_hash_lb_config.hash_function: MURMUR_HASH_2` places the hosts on the ring with Envoy's
/// MurmurHash2 instead of xxHash, so the same keys map differently over the same hosts, and both
/// rings are sticky.
#[test]
fn ring_hash_murmur_hash_2_changes_the_mapping() {
    let names = ["red", "blue", "green"];
    let up = upstreams(&names);
    let ring = |name: &str, hash_function: &str| {
        cluster(
            name,
            "RING_HASH",
            endpoints(&up),
            json!({"ring_hash_lb_config": {"hash_function": hash_function}}),
        )
    };
    let hash = json!({"hash_policy": [{"header": {"header_name": "x-key"}}]});
    let proxy = start(&bootstrap(
        json!([
            route("/xx", "ring_xx", hash.clone()),
            route("/murmur", "ring_murmur", hash)
        ]),
        json!([
            ring("ring_xx", "XX_HASH"),
            ring("ring_murmur", "MURMUR_HASH_2")
        ]),
        json!({}),
    ));
    assert_explains(
        &lb_explain(&proxy, "ring_xx"),
        &["hash_function=XxHash"],
        "xx ring",
    );
    assert_explains(
        &lb_explain(&proxy, "ring_murmur"),
        &["hash_function=MurmurHash2"],
        "murmur ring",
    );

    let keys: Vec<String> = (0..50).map(|i| format!("key-{i}")).collect();
    let mapping = |path: &str| {
        let send = |key: &str| send(&proxy, &get(path).header("x-key", key));
        sticky_mapping(&keys, 2, &send)
    };
    let xx = mapping("/xx");
    let murmur = mapping("/murmur");
    for (what, m) in [("XX_HASH", &xx), ("MURMUR_HASH_2", &murmur)] {
        assert!(
            hosts_used(m).len() >= 2,
            "{what}: 50 keys spread over several hosts: {m:?}"
        );
    }
    // Two independent placements of 3 hosts: a key keeps its host with p ~ 1/3, so all 50 keeping
    // theirs would be ~1e-24.
    let moved = keys.iter().filter(|k| xx[*k] != murmur[*k]).count();
    assert!(
        moved >= 1,
        "MURMUR_HASH_2 must place hosts differently from XX_HASH, but all 50 keys map alike: {xx:?}"
    );
}

// === hash_policy kinds ===

/// A RING_HASH cluster `ring` over red, blue, green, and one route `/` with `hash_policy`.
fn hashing_proxy(up: &[HttpUpstream], hash_policy: Value) -> Proxy {
    start(&bootstrap(
        json!([route("/", "ring", json!({ "hash_policy": hash_policy }))]),
        json!([cluster("ring", "RING_HASH", endpoints(up), json!({}))]),
        json!({}),
    ))
}

/// `hash_policy.cookie`: a request's cookie value is the hash key; with a `ttl` and no cookie,
/// Envoy generates one (16 hex digits), hashes it for this request and returns it as
/// `set-cookie: NAME="VALUE"; Max-Age=TTL; Path=PATH; HttpOnly`, and sending it back reaches the
/// same host.
#[test]
fn cookie_hash_policy_sticks_and_generates_the_cookie_with_ttl() {
    let up = upstreams(&["red", "blue", "green"]);
    let proxy = hashing_proxy(
        &up,
        json!([{"cookie": {"name": "sluice_session", "ttl": "60s", "path": "/"}}]),
    );

    // Existing cookies: each value sticks, values spread, and no cookie is set over them.
    let keys: Vec<String> = (0..24).map(|i| format!("visitor-{i}")).collect();
    let send_cookie = |value: &str| {
        let response = HttpClient::connect(proxy.addr())
            .request(&get("/").header("cookie", &format!("theme=dark; sluice_session={value}")));
        assert_eq!(response.status, 200, "cookie {value}: {}", response.text());
        assert_eq!(
            response.header("set-cookie"),
            None,
            "a request that has the cookie gets no new one"
        );
        response.text()
    };
    let mapping = sticky_mapping(&keys, 3, &send_cookie);
    assert!(
        hosts_used(&mapping).len() >= 2,
        "24 cookie values should spread over several hosts: {mapping:?}"
    );

    // No cookie: one is generated with the ttl and path.
    let response = HttpClient::connect(proxy.addr()).request(&get("/"));
    assert_eq!(response.status, 200, "no cookie: {}", response.text());
    let first_host = response.text();
    let set_cookie = response
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no set-cookie in {:?}", response.headers))
        .to_string();
    let value = set_cookie
        .strip_prefix("sluice_session=\"")
        .and_then(|rest| rest.split_once('"'))
        .map(|(value, rest)| {
            assert_eq!(
                rest, "; Max-Age=60; Path=/; HttpOnly",
                "set-cookie attributes in {set_cookie:?}"
            );
            value.to_string()
        })
        .unwrap_or_else(|| panic!("set-cookie {set_cookie:?} is not sluice_session=\"...\""));
    assert!(
        value.len() == 16 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "the generated value is 16 hex digits: {set_cookie:?}"
    );

    // Sent back (quoted, as the browser stores it), it reaches the same host every time, the one
    // the generating request went to.
    for round in 0..6 {
        let host = send(
            &proxy,
            &get("/").header("cookie", &format!("sluice_session=\"{value}\"")),
        );
        assert_eq!(
            host, first_host,
            "round {round}: the generated cookie {value} must keep reaching {first_host}"
        );
    }
}

/// `hash_policy.query_parameter`: the first value of the named parameter is the key; the same
/// value sticks wherever it sits in the query, different values spread.
#[test]
fn query_parameter_hash_policy_sticks_per_value() {
    let up = upstreams(&["red", "blue", "green"]);
    let proxy = hashing_proxy(&up, json!([{"query_parameter": {"name": "user"}}]));

    let keys: Vec<String> = (0..30).map(|i| format!("user{i}")).collect();
    let send_query = |user: &str| send(&proxy, &get(&format!("/items?user={user}")));
    let mapping = sticky_mapping(&keys, 3, &send_query);
    assert!(
        hosts_used(&mapping).len() >= 2,
        "30 users should spread over several hosts: {mapping:?}"
    );
    // Other parameters around it do not change the key.
    for key in keys.iter().take(10) {
        let host = send(
            &proxy,
            &get(&format!("/other?page=2&user={key}&sort=asc&user=ignored")),
        );
        assert_eq!(
            host, mapping[key],
            "user={key} among other parameters must reach the same host"
        );
    }
}

/// `hash_policy[].terminal`: a header policy marked terminal, then a source-IP policy. A request
/// with the header is hashed on it alone, so it sticks to one host per header value whatever its
/// source address; without the header the source-IP policy applies and sources spread. Were
/// `terminal` ignored, the source IP would be folded in and each value would wander.
#[test]
fn terminal_hash_policy_stops_at_the_first_policy_that_hashed() {
    let up = upstreams(&["red", "blue", "green"]);
    let proxy = hashing_proxy(
        &up,
        json!([
            {"header": {"header_name": "x-user"}, "terminal": true},
            {"connection_properties": {"source_ip": true}},
        ]),
    );
    let addr = proxy.addr();
    let sources: Vec<Ipv4Addr> = (1..=8).map(|i| Ipv4Addr::new(127, 2, 10, i)).collect();

    for user in 0..8 {
        let user = format!("user-{user}");
        let answers: Vec<String> = sources
            .iter()
            .map(|&source| {
                let (status, body) = send_from(source, addr, &get("/").header("x-user", &user));
                assert_eq!(status, 200, "{user} from {source}: {body}");
                body
            })
            .collect();
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "x-user {user} must reach one host from every source address: {answers:?}"
        );
    }

    // Without the header: the source-IP policy hashes, 24 sources spread over several hosts.
    let mut by_source = BTreeMap::new();
    for i in 1..=24 {
        let source = Ipv4Addr::new(127, 2, 10, i);
        let (status, body) = send_from(source, addr, &get("/"));
        assert_eq!(status, 200, "from {source}: {body}");
        by_source.insert(source.to_string(), body);
    }
    assert!(
        hosts_used(&by_source).len() >= 2,
        "without x-user the source address is the key, so 24 sources spread: {by_source:?}"
    );
}

// === healthy_panic_threshold: 0 ===

/// `common_lb_config.healthy_panic_threshold: 0` disables panic mode. With 1 of 3 hosts healthy
/// P0's health is 140 x 1/3 = 46 %: below the default threshold of 50 the cluster panics and
/// spreads over all 3 hosts; with 0 everything goes to the healthy one.
#[test]
fn panic_threshold_zero_keeps_traffic_on_the_healthy_host() {
    let names = ["up", "down-1", "down-2"];
    let up = upstreams(&names);
    let lb_endpoints: Vec<Value> = up
        .iter()
        .zip(["HEALTHY", "UNHEALTHY", "UNHEALTHY"])
        .map(|(u, health)| endpoint(u.addr(), json!({"health_status": health})))
        .collect();
    let proxy = start(&bootstrap(
        json!([
            route("/no-panic", "no_panic", json!({})),
            route("/", "default_panic", json!({}))
        ]),
        json!([
            cluster(
                "no_panic",
                "ROUND_ROBIN",
                lb_endpoints.clone(),
                json!({"common_lb_config": {"healthy_panic_threshold": {"value": 0}}}),
            ),
            cluster("default_panic", "ROUND_ROBIN", lb_endpoints, json!({})),
        ]),
        json!({}),
    ));
    assert_explains(
        &lb_explain(&proxy, "no_panic"),
        &["healthy_panic_threshold: 0% (panic disabled)", "panic=no"],
        "threshold 0",
    );
    assert_explains(
        &lb_explain(&proxy, "default_panic"),
        &["healthy_panic_threshold: 50%", "panic=YES"],
        "default threshold",
    );

    let counts = tally(&proxy, 60, &get("/no-panic"));
    assert_only(&counts, &["up"], true, "panic disabled");
    // Panic: round robin over all 3 hosts, exact to a pick or two per worker.
    let counts = tally(&proxy, 90, &get("/"));
    assert_only(&counts, &names, true, "default threshold, in panic");
    assert_share(&counts, &["up"], 1.0 / 3.0, 0.1, "one of three in panic");

    // The last healthy host fails too: without panic there is no host at all (Envoy's
    // `recalculatePerPriorityPanic` only forces panic when the threshold is above 0), so 503.
    let all_down: Vec<Value> = up
        .iter()
        .map(|u| json!({"address": u.addr().to_string(), "health_status": "UNHEALTHY"}))
        .collect();
    set_endpoints(&proxy, "no_panic", json!(all_down));
    for _ in 0..5 {
        let response = HttpClient::connect(proxy.addr()).request(&get("/no-panic"));
        assert_eq!(
            (response.status, response.text().as_str()),
            (503, "no healthy upstream"),
            "panic disabled and every host unhealthy"
        );
    }
}

// === lb_subset_config fallback_policy ===

/// `lb_subset_config.fallback_policy` when the route's `metadata_match` finds no subset:
/// ANY_ENDPOINT balances over the whole cluster, NO_FALLBACK fails with 503 `no healthy upstream`.
/// A matching route works the same under both.
#[test]
fn subset_fallback_any_endpoint_versus_no_fallback() {
    let names = ["v1", "v2"];
    let up = upstreams(&names);
    let lb_endpoints: Vec<Value> = up
        .iter()
        .zip(["1.0", "2.0"])
        .map(|(u, v)| {
            endpoint(
                u.addr(),
                json!({"metadata": envoy_lb(json!({"version": v}))}),
            )
        })
        .collect();
    let subset_cluster = |name: &str, fallback: &str| {
        cluster(
            name,
            "ROUND_ROBIN",
            lb_endpoints.clone(),
            json!({"lb_subset_config": {
                "fallback_policy": fallback,
                "subset_selectors": [{"keys": ["version"]}],
            }}),
        )
    };
    let version = |v: &str| json!({"metadata_match": envoy_lb(json!({"version": v}))});
    let proxy = start(&bootstrap(
        json!([
            route("/any/match", "any", version("1.0")),
            route("/any/nomatch", "any", version("9.9")),
            route("/none/match", "none", version("1.0")),
            route("/none/nomatch", "none", version("9.9")),
        ]),
        json!([
            subset_cluster("any", "ANY_ENDPOINT"),
            subset_cluster("none", "NO_FALLBACK"),
        ]),
        json!({}),
    ));
    assert_explains(
        &lb_explain(&proxy, "any"),
        &["fallback: ANY_ENDPOINT"],
        "any",
    );
    assert_explains(
        &lb_explain(&proxy, "none"),
        &["fallback: NO_FALLBACK"],
        "none",
    );

    for path in ["/any/match", "/none/match"] {
        let counts = tally(&proxy, 20, &get(path));
        assert_only(&counts, &["v1"], true, path);
    }
    let counts = tally(&proxy, 40, &get("/any/nomatch"));
    assert_only(
        &counts,
        &names,
        true,
        "ANY_ENDPOINT with no matching subset",
    );

    for _ in 0..10 {
        let response = HttpClient::connect(proxy.addr()).request(&get("/none/nomatch"));
        assert_eq!(
            (response.status, response.text().as_str()),
            (503, "no healthy upstream"),
            "NO_FALLBACK with no matching subset"
        );
    }
    // Envoy counts a request that found no host as upstream_cx_none_healthy.
    proxy.admin().wait_for_stat(
        "cluster.none.upstream_cx_none_healthy",
        10,
        SNAPSHOT_TIMEOUT,
    );
}

// === zone-aware routing ===

/// Upstream hosts a1, a2 (zone a) and b1, b2 (zone b).
const ZONE_HOSTS: [&str; 4] = ["a1", "a2", "b1", "b2"];

/// A ROUND_ROBIN cluster with `hosts[0]` in zone a and `hosts[1]` in zone b (region r1); `extra` is
/// merged into it.
fn zoned_cluster(name: &str, hosts: [&[SocketAddr]; 2], extra: Value) -> Value {
    let group = |zone: &str, addrs: &[SocketAddr]| {
        let lb_endpoints: Vec<Value> = addrs.iter().map(|a| endpoint(*a, json!({}))).collect();
        json!({"locality": {"region": "r1", "zone": zone}, "lb_endpoints": lb_endpoints})
    };
    let mut c = json!({
        "name": name,
        "connect_timeout": "0.5s",
        "type": "STATIC",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [group("a", hosts[0]), group("b", hosts[1])],
        },
    });
    merge(&mut c, extra);
    c
}

/// A proxy in zone a (`node.locality`) whose local cluster (`cluster_manager.local_cluster_name`)
/// has `local[0]` hosts in zone a and `local[1]` in zone b, routing `/` to `zoned` (the upstreams
/// `up`, two per zone, `zone_aware_lb_config.min_cluster_size: 1`) and `/default` to
/// `zoned_default` (the same hosts, default zone-aware settings).
fn zone_aware_proxy(up: &[HttpUpstream], local: [usize; 2]) -> Proxy {
    let addrs: Vec<SocketAddr> = up.iter().map(HttpUpstream::addr).collect();
    // The local cluster only describes where the proxy's peers are; it never gets traffic.
    let local_a: Vec<SocketAddr> = (0..local[0]).map(|_| closed_port()).collect();
    let local_b: Vec<SocketAddr> = (0..local[1]).map(|_| closed_port()).collect();
    start(&bootstrap(
        json!([
            route("/default", "zoned_default", json!({})),
            route("/", "zoned", json!({}))
        ]),
        json!([
            zoned_cluster("local_service", [&local_a, &local_b], json!({})),
            zoned_cluster(
                "zoned",
                [&addrs[..2], &addrs[2..]],
                json!({"common_lb_config": {"zone_aware_lb_config": {"min_cluster_size": 1}}}),
            ),
            zoned_cluster("zoned_default", [&addrs[..2], &addrs[2..]], json!({})),
        ]),
        json!({
            "node": {"id": "edge-1", "cluster": "edge", "locality": {"region": "r1", "zone": "a"}},
            "cluster_manager": {"local_cluster_name": "local_service"},
        }),
    ))
}

/// `common_lb_config.zone_aware_lb_config` with `cluster_manager.local_cluster_name` and
/// `node.locality`: the proxy sits in zone a; its local cluster has one host in zone a and one in
/// zone b, the upstream cluster two in each. With the upstream's share of zone a (50 %) at least
/// the local cluster's (50 %) Envoy routes everything to the local zone (LocalityDirect), once the
/// upstream has at least `min_cluster_size` healthy hosts: lowered to 1 here, while an identical
/// cluster with the default 6 has too few hosts and spreads over both zones.
#[test]
fn zone_aware_routing_keeps_traffic_in_the_local_zone() {
    let up = upstreams(&ZONE_HOSTS);
    let proxy = zone_aware_proxy(&up, [1, 1]);

    let explain = lb_explain(&proxy, "zoned");
    assert_explains(
        &explain,
        &[
            "min_cluster_size=1",
            "local cluster: 2 hosts, 2 healthy",
            "(local)",
            "zone routing: all traffic to the local locality",
        ],
        "zone-aware routing",
    );
    let default_explain = lb_explain(&proxy, "zoned_default");
    assert!(
        default_explain.contains("local cluster: 2 hosts")
            && !default_explain.contains("zone routing:"),
        "4 healthy hosts are below the default min_cluster_size 6: no zone routing:\n{default_explain}"
    );

    let counts = tally(&proxy, 80, &get("/"));
    assert_only(
        &counts,
        &["a1", "a2"],
        true,
        "zone-aware: local zone a only",
    );
    let counts = tally(&proxy, 80, &get("/default"));
    assert_only(
        &counts,
        &ZONE_HOSTS,
        true,
        "default min_cluster_size: both zones",
    );
    assert_share(
        &counts,
        &["a1", "a2"],
        0.5,
        0.1,
        "round robin over both zones",
    );
}

/// Zone-aware routing when the local zone is short of upstream capacity (Envoy's
/// LocalityResidual): 3 of the 4 local hosts are in zone a (75 %) but only half of the upstream
/// hosts are, so zone a keeps `50 / 75` = 66.66 % of the traffic (`local_percent_to_route` 6666 in
/// 1/10000) and the rest goes to the zones with spare capacity, here b (residual 2500).
#[test]
fn zone_aware_routing_sends_the_residual_to_other_zones() {
    let up = upstreams(&ZONE_HOSTS);
    let proxy = zone_aware_proxy(&up, [3, 1]);

    assert_explains(
        &lb_explain(&proxy, "zoned"),
        &[
            "local cluster: 4 hosts, 4 healthy",
            "zone routing: 66.66% local, rest by residual capacity [0, 2500]",
        ],
        "zone residual",
    );
    // Each request draws its zone at random: 400 requests give sd = 2.4 points, ±9 is 3.8 sd.
    let counts = tally(&proxy, 400, &get("/"));
    assert_only(&counts, &ZONE_HOSTS, true, "zone residual");
    assert_share(
        &counts,
        &["a1", "a2"],
        0.6666,
        0.09,
        "local zone a: 50 % upstream / 75 % local",
    );
}
