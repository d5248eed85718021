//! The runtime: N pinned workers on io_uring, what happens when the ring cannot be created (refuse,
//! or fall back loudly when allowed), how each worker's driver is reported, and endpoint swaps that
//! reach every worker while traffic keeps flowing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sluice_tests::{
    Bootstrap, HttpClient, HttpUpstream, MIB, MachineLock, Proxy, ProxyBuilder, Reply,
};

/// The unprivileged user the memlock tests run the proxy as when the tests run as root.
const NOBODY: u32 = 65_534;

/// Runs the proxy as an unprivileged user (`nobody` if we are root; otherwise we already are one)
/// with its locked memory capped at `memlock` bytes, the limit io_uring rings are charged to.
fn unprivileged(builder: ProxyBuilder, memlock: u64) -> ProxyBuilder {
    // SAFETY: geteuid has no preconditions and touches no memory.
    let is_root = unsafe { libc::geteuid() } == 0;
    let builder = builder.memlock(memlock);
    if is_root {
        builder.as_user(NOBODY, NOBODY)
    } else {
        builder
    }
}

/// Asserts that `/server_info` lists `workers` workers, each on `driver`, and that the
/// `server.worker_<i>.io_uring` gauges agree.
fn assert_workers_report(proxy: &Proxy, workers: usize, driver: &str) {
    let info = proxy.admin().server_info();
    let listed = info["workers"]
        .as_array()
        .unwrap_or_else(|| panic!("/server_info has no workers array: {info}"));
    assert_eq!(listed.len(), workers, "{info}");
    let stats = proxy.admin().stats();
    for (i, worker) in listed.iter().enumerate() {
        assert_eq!(worker["id"], i, "{info}");
        assert_eq!(worker["driver"], driver, "worker {i}: {info}");
        let gauge = format!("server.worker_{i}.io_uring");
        let expected = u64::from(driver == "io_uring");
        assert_eq!(stats.get(&gauge), Some(&expected), "{gauge}");
    }
}

#[test]
fn every_worker_runs_on_io_uring_and_says_so() {
    let upstream = HttpUpstream::replying("ok");
    let proxy = Proxy::builder(Bootstrap::http_to(&[upstream.addr()]))
        .concurrency(3)
        .start();

    assert_workers_report(&proxy, 3, "io_uring");
    assert_eq!(proxy.get("example.com", "/").status, 200);
}

#[test]
fn as_nobody_under_an_8_mib_memlock_limit_the_workers_still_get_io_uring() {
    let _nobody_memlock_budget = MachineLock::acquire("nobody");
    let upstream = HttpUpstream::replying("ok");
    let proxy = unprivileged(
        Proxy::builder(Bootstrap::http_to(&[upstream.addr()])),
        8 * MIB,
    )
    .start();

    assert_workers_report(&proxy, 2, "io_uring");
    assert_eq!(proxy.get("example.com", "/").status, 200);
}

#[test]
fn without_locked_memory_for_a_ring_it_refuses_to_start_by_default() {
    let _nobody_memlock_budget = MachineLock::acquire("nobody");
    let upstream = HttpUpstream::replying("ok");
    let mut proxy = unprivileged(Proxy::builder(Bootstrap::http_to(&[upstream.addr()])), 0).spawn();

    let status = proxy
        .wait_exit(Duration::from_secs(20))
        .expect("sluice kept running without an io_uring ring");
    assert_eq!(status.code(), Some(1), "exit status {status}");
    assert!(
        proxy.log().to_lowercase().contains("io_uring"),
        "the error does not name io_uring:\n{}",
        proxy.log()
    );
}

#[test]
fn with_allow_legacy_driver_it_falls_back_loudly_and_reports_it() {
    let _nobody_memlock_budget = MachineLock::acquire("nobody");
    let upstream = HttpUpstream::replying("ok");
    let proxy = unprivileged(Proxy::builder(Bootstrap::http_to(&[upstream.addr()])), 0)
        .arg("--allow-legacy-driver")
        .start();

    let log = proxy.log().to_lowercase();
    assert!(
        log.contains("io_uring") && log.contains("legacy"),
        "the fallback was not logged:\n{log}"
    );
    assert_workers_report(&proxy, 2, "legacy");
    assert_eq!(
        proxy.get("example.com", "/").status,
        200,
        "the legacy driver still proxies"
    );
}

#[test]
fn swapping_a_clusters_endpoints_moves_every_worker_without_failing_a_request() {
    const CLIENTS: usize = 8;
    const SWAP_PROPAGATION: Duration = Duration::from_secs(2);
    let a = HttpUpstream::start(|_| Reply::ok("A").delayed(Duration::from_millis(5)));
    let b = HttpUpstream::replying("B");
    let proxy = Proxy::builder(Bootstrap::http_to(&[a.addr()]))
        .concurrency(2)
        .start();
    let is_done = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);
    let answered = AtomicUsize::new(0);

    std::thread::scope(|s| {
        // Steady traffic: each client reconnects every 10 requests, so both workers keep serving.
        for _ in 0..CLIENTS {
            s.spawn(|| {
                let deadline = sluice_tests::Deadline::after(Duration::from_secs(30));
                while !is_done.load(Ordering::SeqCst) && !deadline.is_expired() {
                    let Ok(mut client) = HttpClient::try_connect(proxy.addr()) else {
                        failures.fetch_add(1, Ordering::SeqCst);
                        continue;
                    };
                    for _ in 0..10 {
                        let request = sluice_tests::Request::get("/").host("example.com");
                        let ok = client.try_send(&request.to_bytes()).is_ok()
                            && client
                                .try_read_response("GET")
                                .is_ok_and(|r| r.status == 200);
                        if !ok {
                            failures.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }

        a.wait_for_requests(100, Duration::from_secs(10));
        let swap = proxy.admin().post(
            "/sluice/cluster_endpoints?cluster=web",
            &format!("{{\"endpoints\": [\"{}\"]}}", b.addr()),
        );
        assert_eq!(swap.status, 200, "endpoint swap refused: {}", swap.text());
        let a_at_swap = a.request_count();

        // Workers pick the new endpoints up at their next safe point, as Envoy's do after an EDS
        // update, so "switched" means: soon after the swap, a window in which B serves 50 requests
        // and A none. With 8 clients spread over both workers, a lagging worker would show up.
        let mut window = (a.request_count(), b.request_count());
        let switched_after = sluice_tests::eventually(
            "every worker to send to B only (50 requests on B, none on A)",
            SWAP_PROPAGATION,
            || {
                let now = (a.request_count(), b.request_count());
                if now.0 != window.0 {
                    window = now;
                    return None;
                }
                (now.1 - window.1 >= 50).then_some(now.0 - a_at_swap)
            },
        );
        let a_settled = a.request_count();
        b.wait_for_requests(b.request_count() + 200, Duration::from_secs(10));
        is_done.store(true, Ordering::SeqCst);
        assert_eq!(
            a.request_count(),
            a_settled,
            "A got requests after every worker had switched ({switched_after} arrived on A while switching)"
        );
    });

    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "requests failed during the swap"
    );
    assert!(answered.load(Ordering::SeqCst) >= 300);

    // Many fresh connections after the swap: whichever worker takes them, they all go to B.
    let a_before = a.request_count();
    for i in 0..64 {
        let response = proxy.get("example.com", "/");
        assert_eq!(response.text(), "B", "connection {i} after the swap");
    }
    assert_eq!(a.request_count(), a_before);
    let clusters = proxy.admin().clusters().join("\n");
    assert!(
        clusters.contains(&format!("web::{}::", b.addr())),
        "{clusters}"
    );
    assert!(
        !clusters.contains(&format!("web::{}::", a.addr())),
        "{clusters}"
    );
}
