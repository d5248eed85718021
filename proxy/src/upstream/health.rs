//! Active health checking on the control thread.
//!
//! Every host of a cluster with `health_checks` gets a task on the control thread's runtime
//! that checks it, one check at a time: an HTTP/1.1 `GET` of the configured path (connection
//! kept between checks unless `reuse_connection: false`) or a TCP connect. Each result goes
//! through the host's [`CheckSession`] (Envoy's thresholds and flags, in `sluice-lb`); when
//! the host's health changes, a new snapshot is published, so workers pick hosts by it.
//!
//! The health of each host lives in the [`HealthTable`], which `Snapshot::build` reads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use sluice_config::model;
use sluice_lb::SplitMix64;
use sluice_lb::health::{
    CheckOutcome, CheckSession, CheckState, CheckTiming, FailureType, HealthEvent, HealthFlags,
    StatusRanges, Transition,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::http::h1::{self, BodyDecoder, Method, Parse, ResponseHead};
use crate::runtime::control::Control;
use crate::runtime::snapshot::Host;

/// Active health checking's view of one host.
#[derive(Debug, Clone)]
struct HostHealth {
    /// The flags active health checking sets (`FAILED_ACTIVE_HC` and the like).
    flags: HealthFlags,
    session: CheckSession,
    /// Where its checks connect (its `health_check_config` applied).
    target: SocketAddr,
    /// The `host` of its HTTP checks: the endpoint's `health_check_config.hostname`, else
    /// the check's `host`, else the cluster's name.
    host_header: String,
}

/// The health of every checked host, by cluster and address.
#[derive(Debug, Default)]
pub struct HealthTable {
    hosts: HashMap<(String, SocketAddr), HostHealth>,
    /// Each health-checked cluster's check, shared with its hosts' tasks.
    checks: HashMap<String, Arc<model::HealthCheck>>,
    /// Hosts outlier detection has ejected (see `crate::upstream::outlier`).
    pub ejected: std::collections::HashSet<(String, SocketAddr)>,
}

/// Envoy's health flags for an endpoint's `health_status` (as this proxy has always mapped it:
/// draining as failed and pending removal).
fn eds_flags(status: model::HealthStatus) -> HealthFlags {
    match status {
        model::HealthStatus::Unknown | model::HealthStatus::Healthy => HealthFlags::empty(),
        model::HealthStatus::Unhealthy | model::HealthStatus::Timeout => {
            HealthFlags::FAILED_EDS_HEALTH
        }
        model::HealthStatus::Draining => {
            HealthFlags::FAILED_EDS_HEALTH.union(HealthFlags::PENDING_DYNAMIC_REMOVAL)
        }
        model::HealthStatus::Degraded => HealthFlags::DEGRADED_EDS_HEALTH,
    }
}

impl HealthTable {
    /// The flags of an endpoint of `cluster`: its `health_status` and, when the cluster is
    /// health checked, what the checks found. A host not checked yet is failing, as Envoy
    /// starts every checked host.
    pub fn endpoint_flags(
        &self,
        cluster: &model::Cluster,
        address: SocketAddr,
        status: model::HealthStatus,
        check_disabled: bool,
    ) -> HealthFlags {
        let mut flags = eds_flags(status);
        if !self.ejected.is_empty() && self.ejected.contains(&(cluster.name.clone(), address)) {
            flags.set(HealthFlags::FAILED_OUTLIER_CHECK);
        }
        if cluster.health_check.is_some() && !check_disabled {
            let checked = self
                .hosts
                .get(&(cluster.name.clone(), address))
                .map_or(HealthFlags::FAILED_ACTIVE_HC, |h| h.flags);
            flags.set(checked);
        }
        flags
    }

    /// [`HealthTable::endpoint_flags`] of a host of a built snapshot.
    pub fn flags(&self, cluster: &model::Cluster, host: &Host) -> HealthFlags {
        self.endpoint_flags(
            cluster,
            host.address,
            host.health,
            host.health_check_disabled,
        )
    }

    /// Starts tracking the hosts of health-checked clusters that are not tracked yet (failing
    /// until their first check, as Envoy adds them), follows changes of their checks and
    /// `health_check_config`, and forgets hosts that left. Returns the hosts that are new, for
    /// their checks to begin.
    pub fn reconcile(&mut self, clusters: &[model::Cluster]) -> Vec<(String, SocketAddr)> {
        let mut wanted = HashMap::new();
        self.checks.retain(|name, _| {
            clusters
                .iter()
                .any(|c| c.name == *name && c.health_check.is_some())
        });
        for c in clusters {
            let Some(hc) = &c.health_check else {
                continue;
            };
            if self.checks.get(&c.name).is_none_or(|known| **known != *hc) {
                self.checks.insert(c.name.clone(), Arc::new(hc.clone()));
            }
            let check_host = match &hc.kind {
                model::HealthCheckKind::Http(http) if !http.host.is_empty() => http.host.as_str(),
                _ => c.name.as_str(),
            };
            for ep in c
                .load_assignment
                .endpoints
                .iter()
                .flat_map(|g| &g.lb_endpoints)
            {
                let ep_hc = &ep.health_check_config;
                if ep_hc.disable_active_health_check {
                    continue;
                }
                let host_header = if ep_hc.hostname.is_empty() {
                    check_host.to_owned()
                } else {
                    ep_hc.hostname.clone()
                };
                wanted.insert(
                    (c.name.clone(), ep.address),
                    (ep_hc.check_address(ep.address), host_header),
                );
            }
        }
        self.hosts.retain(|k, _| wanted.contains_key(k));
        let mut added = Vec::new();
        for (key, (target, host_header)) in wanted {
            match self.hosts.get_mut(&key) {
                Some(h) => (h.target, h.host_header) = (target, host_header),
                None => {
                    self.hosts.insert(
                        key.clone(),
                        HostHealth {
                            flags: HealthFlags::FAILED_ACTIVE_HC,
                            session: CheckSession::new(),
                            target,
                            host_header,
                        },
                    );
                    added.push(key);
                }
            }
        }
        added.sort();
        added
    }

    /// The check of `cluster`, if it is health checked.
    fn check_of(&self, cluster: &str) -> Option<Arc<model::HealthCheck>> {
        self.checks.get(cluster).cloned()
    }
}

/// A response from `address` of `cluster` carried `x-envoy-immediate-health-check-fail`:
/// Envoy's passive failure. The host is excluded and fails its health check at once; the
/// check's own schedule goes on (a later pass brings it back). Returns whether the host's
/// flags changed.
pub fn fail_from_traffic(control: &mut Control, cluster: &str, address: SocketAddr) -> bool {
    let Some(hc) = control.health.check_of(cluster) else {
        return false;
    };
    let timing = timing(&hc);
    let stats = control
        .snapshot
        .clusters
        .iter()
        .find(|c| c.name == cluster)
        .and_then(|c| c.health_check_stats);
    let Some(h) = control.health.hosts.get_mut(&(cluster.to_owned(), address)) else {
        return false;
    };
    let before = h.flags;
    h.flags.set(HealthFlags::EXCLUDED_VIA_IMMEDIATE_HC_FAIL);
    let outcome = h
        .session
        .on_failure(&timing, &mut h.flags, FailureType::Passive, false);
    let changed = h.flags != before;
    if let Some(s) = stats {
        record_into(&control.registry.control_shard(), s, &outcome);
    }
    if let Some(path) = &hc.event_log_path {
        write_events(path, &hc, cluster, address, &outcome.events);
    }
    changed
}

/// Appends `events` to the health check event log as Envoy's file sink writes them: one
/// `envoy.data.core.v3.HealthCheckEvent` per line in protobuf's JSON, every primitive field
/// printed. A log that cannot be written costs the events, not the checks.
fn write_events(
    path: &str,
    hc: &model::HealthCheck,
    cluster: &str,
    address: SocketAddr,
    events: &[HealthEvent],
) {
    use std::io::Write as _;
    if events.is_empty() {
        return;
    }
    let mut lines = String::new();
    for e in events {
        lines.push_str(&event_json(
            hc,
            cluster,
            address,
            e,
            std::time::SystemTime::now(),
        ));
        lines.push('\n');
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(lines.as_bytes()));
    if let Err(e) = written {
        log::warn!("health check event log {path}: {e}");
    }
}

/// One event as a JSON object, fields in the proto's order.
fn event_json(
    hc: &model::HealthCheck,
    cluster: &str,
    address: SocketAddr,
    event: &HealthEvent,
    at: std::time::SystemTime,
) -> String {
    let checker = match hc.kind {
        model::HealthCheckKind::Http(_) => "HTTP",
        model::HealthCheckKind::TcpConnect | model::HealthCheckKind::Tcp { .. } => "TCP",
    };
    let (name, body) = match *event {
        HealthEvent::EjectUnhealthy { failure_type } => (
            "eject_unhealthy_event",
            format!("{{\"failure_type\":\"{}\"}}", failure_type.as_str()),
        ),
        HealthEvent::AddHealthy { first_check } => (
            "add_healthy_event",
            format!("{{\"first_check\":{first_check}}}"),
        ),
        HealthEvent::Failure {
            failure_type,
            first_check,
        } => (
            "health_check_failure_event",
            format!(
                "{{\"failure_type\":\"{}\",\"first_check\":{first_check}}}",
                failure_type.as_str()
            ),
        ),
        HealthEvent::Degraded => ("degraded_healthy_host", "{}".to_owned()),
        HealthEvent::NoLongerDegraded => ("no_longer_degraded_host", "{}".to_owned()),
    };
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"health_checker_type\":\"{checker}\",\"host\":{{\"socket_address\":{{\"protocol\":\"TCP\",\"address\":{},\"port_value\":{},\"resolver_name\":\"\",\"ipv4_compat\":false}}}},\"cluster_name\":{},\"{name}\":{body},\"timestamp\":\"{}\"}}",
        quoted(&address.ip().to_string()),
        address.port(),
        quoted(cluster),
        crate::access_log::protobuf_timestamp(at),
    )
}

/// Envoy's timing for a configured health check.
pub fn timing(hc: &model::HealthCheck) -> CheckTiming {
    CheckTiming {
        timeout: hc.timeout,
        interval: hc.interval,
        unhealthy_interval: hc.unhealthy_interval,
        unhealthy_edge_interval: hc.unhealthy_edge_interval,
        healthy_edge_interval: hc.healthy_edge_interval,
        no_traffic_interval: hc.no_traffic_interval,
        no_traffic_healthy_interval: hc.no_traffic_healthy_interval,
        interval_jitter: hc.interval_jitter,
        interval_jitter_percent: hc.interval_jitter_percent,
        initial_jitter: hc.initial_jitter,
        unhealthy_threshold: hc.unhealthy_threshold,
        healthy_threshold: hc.healthy_threshold,
        always_log_failures: hc.always_log_health_check_failures,
    }
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed {
        degraded: bool,
    },
    Failed {
        kind: FailureType,
        retriable: bool,
        /// The answer carried `x-envoy-immediate-health-check-fail`: the host leaves the
        /// load balancer's sets until it is healthy again.
        exclude: bool,
    },
}

/// Starts the checks of hosts the table does not track yet. Called on the control thread's
/// runtime, inside its `LocalSet`.
pub fn start_new_checks(control: &Rc<RefCell<Control>>) {
    let added = {
        let mut c = control.borrow_mut();
        let clusters = c.bootstrap.clusters.clone();
        c.health.reconcile(&clusters)
    };
    for (cluster, address) in added {
        tokio::task::spawn_local(check_host(Rc::clone(control), cluster, address));
    }
}

/// The check loop of one host; it ends when the host or its cluster's health check goes.
async fn check_host(control: Rc<RefCell<Control>>, cluster: String, address: SocketAddr) {
    let key = (cluster.clone(), address);
    let mut rng = SplitMix64::new(seed_for(&key));
    let mut conn: Option<TcpStream> = None;
    let Some(hc) = control.borrow().health.check_of(&cluster) else {
        return;
    };
    let mut delay = timing(&hc).initial_delay(|| rng.next_u64());
    loop {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // The configuration may have changed while this task slept.
        let Some(hc) = control.borrow().health.check_of(&cluster) else {
            return;
        };
        let Some((target, host_header)) = control
            .borrow()
            .health
            .hosts
            .get(&key)
            .map(|h| (h.target, h.host_header.clone()))
        else {
            return;
        };
        let timing = timing(&hc);
        let stats = control
            .borrow()
            .snapshot
            .clusters
            .iter()
            .find(|c| c.name == cluster)
            .and_then(|c| c.health_check_stats);
        let shard = control.borrow().registry.control_shard();
        if let Some(s) = stats {
            shard.inc(s.attempt);
        }
        let verdict =
            match tokio::time::timeout(hc.timeout, check(&hc, &host_header, target, &mut conn))
                .await
            {
                Ok(v) => v,
                Err(_) => {
                    conn = None;
                    Verdict::Failed {
                        kind: FailureType::NetworkTimeout,
                        retriable: false,
                        exclude: false,
                    }
                }
            };
        if matches!(
            verdict,
            Verdict::Failed {
                kind: FailureType::Network | FailureType::NetworkTimeout,
                ..
            }
        ) || !hc.reuse_connection
        {
            conn = None;
        }
        let (outcome, state, flags_changed) = {
            let mut c = control.borrow_mut();
            let Some(h) = c.health.hosts.get_mut(&key) else {
                return;
            };
            let before = h.flags;
            let HostHealth { flags, session, .. } = h;
            let (outcome, state) = match verdict {
                Verdict::Passed { degraded } => (
                    session.on_success(&timing, flags, degraded),
                    CheckState::Healthy,
                ),
                Verdict::Failed {
                    kind,
                    retriable,
                    exclude,
                } => {
                    if exclude {
                        flags.set(HealthFlags::EXCLUDED_VIA_IMMEDIATE_HC_FAIL);
                    }
                    (
                        session.on_failure(&timing, flags, kind, retriable),
                        CheckState::Unhealthy,
                    )
                }
            };
            (outcome, state, *flags != before)
        };
        record(&control, stats, &outcome);
        if let Some(path) = &hc.event_log_path {
            write_events(path, &hc, &cluster, address, &outcome.events);
        }
        // `successful_active_health_check_uneject_host`: a pass ends an outlier ejection.
        let unejected = {
            let mut c = control.borrow_mut();
            let failing = c
                .health
                .hosts
                .get(&key)
                .is_some_and(|h| h.flags.contains(HealthFlags::FAILED_ACTIVE_HC));
            c.outliers.on_health_check(
                &cluster,
                address,
                state == CheckState::Healthy,
                failing,
                std::time::Instant::now(),
            )
        };
        // A flag can change without a transition (an exclusion on a host already failing):
        // the snapshot follows the flags either way.
        if outcome.transition == Transition::Changed || flags_changed || unejected {
            let published = control.borrow_mut().publish_health();
            if let Err(e) = published {
                log::warn!("health check of {address} in cluster `{cluster}`: {e}");
            }
        }
        let had_traffic = had_traffic(&control.borrow(), &cluster);
        delay = timing.next_interval(state, outcome.transition, had_traffic, || rng.next_u64());
    }
}

/// Whether the cluster has ever opened an upstream connection (Envoy's test for the
/// no-traffic intervals).
fn had_traffic(control: &Control, cluster: &str) -> bool {
    control
        .snapshot
        .clusters
        .iter()
        .find(|c| c.name == cluster)
        .is_some_and(|c| {
            control
                .registry
                .value(c.stats.upstream_cx_total, crate::stats::Kind::Counter)
                > 0
        })
}

fn record(
    control: &Rc<RefCell<Control>>,
    stats: Option<crate::runtime::snapshot::HealthCheckStats>,
    outcome: &CheckOutcome,
) {
    let Some(s) = stats else {
        return;
    };
    let shard = control.borrow().registry.control_shard();
    record_into(&shard, s, outcome);
}

fn record_into(
    shard: &crate::stats::Shard,
    s: crate::runtime::snapshot::HealthCheckStats,
    outcome: &CheckOutcome,
) {
    let d = outcome.stats;
    shard.add(s.success, d.success);
    shard.add(s.failure, d.failure);
    shard.add(s.network_failure, d.network_failure);
    shard.add(s.passive_failure, d.passive_failure);
    for (gauge, delta) in [(s.healthy, d.healthy), (s.degraded, d.degraded)] {
        match delta.signum() {
            1 => shard.inc(gauge),
            -1 => shard.dec(gauge),
            _ => {}
        }
    }
}

/// A per-host seed, so hosts do not draw the same jitter.
fn seed_for(key: &(String, SocketAddr)) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(key)
}

/// One check of `address`.
async fn check(
    hc: &model::HealthCheck,
    host: &str,
    address: SocketAddr,
    conn: &mut Option<TcpStream>,
) -> Verdict {
    let network = Verdict::Failed {
        kind: FailureType::Network,
        retriable: false,
        exclude: false,
    };
    if let model::HealthCheckKind::TcpConnect = hc.kind {
        // Connect only: the connection is closed at once, as Envoy does.
        return match TcpStream::connect(address).await {
            Ok(_) => Verdict::Passed { degraded: false },
            Err(_) => network,
        };
    }
    let stream = match conn.take() {
        Some(s) => s,
        None => match TcpStream::connect(address).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                s
            }
            Err(_) => return network,
        },
    };
    let done = match &hc.kind {
        model::HealthCheckKind::Http(http) => http_check(stream, http, host).await,
        model::HealthCheckKind::Tcp { send, receive } => tcp_check(stream, send, receive)
            .await
            .map(|keep| (Verdict::Passed { degraded: false }, keep)),
        model::HealthCheckKind::TcpConnect => Err(()),
    };
    match done {
        Ok((verdict, keep)) => {
            *conn = keep;
            verdict
        }
        Err(()) => network,
    }
}

/// Sends the check request and reads the whole answer. Returns the verdict and the connection
/// when it can carry the next check.
async fn http_check(
    mut stream: TcpStream,
    http: &model::HttpHealthCheck,
    host: &str,
) -> Result<(Verdict, Option<TcpStream>), ()> {
    let request = format!(
        "GET {} HTTP/1.1\r\nhost: {host}\r\nuser-agent: Envoy/HC\r\n\r\n",
        http.path
    );
    stream.write_all(request.as_bytes()).await.map_err(|_| ())?;
    let limits = h1::Limits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut head = ResponseHead::new();
    let head_len = loop {
        if !buf.is_empty() {
            match head.parse(&buf, &limits, Method::Get) {
                Ok(Parse::Complete(n)) if head.status() >= 200 => break n,
                // An interim answer: skip it.
                Ok(Parse::Complete(n)) => {
                    buf.drain(..n);
                    continue;
                }
                Ok(Parse::Partial) => {}
                Err(_) => return Err(()),
            }
        }
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(());
        }
    };
    let status = head.status();
    let headers = head.headers(&buf);
    let degraded = headers.get(b"x-envoy-degraded").is_some();
    let immediate_fail = headers
        .get(b"x-envoy-immediate-health-check-fail")
        .is_some();
    let mut keep = head.is_keep_alive();
    // Read the body to its end, so the connection is ready for the next check.
    let mut body = BodyDecoder::new(head.body(), &limits);
    let mut rest = buf.split_off(head_len);
    loop {
        let progress = body.advance(&rest).map_err(|_| ())?;
        if progress.is_done {
            keep &= progress.consumed == rest.len();
            break;
        }
        rest.clear();
        if read_more(&mut stream, &mut rest).await? == 0 {
            if head.body() == h1::BodyKind::CloseDelimited {
                keep = false;
                break;
            }
            return Err(());
        }
    }
    let expected = ranges(&http.expected_statuses);
    let verdict = if expected.contains(status) {
        Verdict::Passed { degraded }
    } else {
        Verdict::Failed {
            kind: FailureType::Active,
            retriable: ranges(&http.retriable_statuses).contains(status),
            exclude: immediate_fail,
        }
    };
    Ok((verdict, keep.then_some(stream)))
}

/// Writes `send`, then reads until every `receive` segment has arrived in order (Envoy's
/// `PayloadMatcher`: each found after the previous one's end). No answer that matches is a
/// failure only by the check's timeout, or by the peer closing. Returns the connection when
/// it can carry the next check; a check without `receive` passes once the bytes are written
/// and closes, as Envoy's connect-only mode.
async fn tcp_check(
    mut stream: TcpStream,
    send: &[u8],
    receive: &[Vec<u8>],
) -> Result<Option<TcpStream>, ()> {
    if !send.is_empty() {
        stream.write_all(send).await.map_err(|_| ())?;
    }
    if receive.is_empty() {
        return Ok(None);
    }
    let mut got = Vec::new();
    loop {
        if payload_matches(&got, receive) {
            return Ok(Some(stream));
        }
        if read_more(&mut stream, &mut got).await? == 0 {
            return Err(());
        }
    }
}

/// Whether `segments` occur in `data` in order, each after the previous one's end.
fn payload_matches(data: &[u8], segments: &[Vec<u8>]) -> bool {
    let mut from = 0;
    for seg in segments {
        let Some(rest) = data.get(from..) else {
            return false;
        };
        match rest.windows(seg.len()).position(|w| w == seg.as_slice()) {
            Some(at) => from += at + seg.len(),
            None => return false,
        }
    }
    true
}

fn ranges(list: &[(u16, u16)]) -> StatusRanges {
    // Ranges were checked at load.
    StatusRanges::new(list.to_vec()).unwrap_or_else(|_| StatusRanges::default_expected())
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, ()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await.map_err(|_| ())?;
    buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(with_check: bool) -> model::Cluster {
        let yaml = format!(
            r#"
static_resources:
  clusters:
  - name: web
    load_assignment:
      cluster_name: web
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: 1 }} }} }}
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: 2 }} }} }}
          health_status: DEGRADED
{}
"#,
            if with_check {
                "    health_checks:\n    - timeout: 1s\n      interval: 1s\n      unhealthy_threshold: 1\n      healthy_threshold: 1\n      tcp_health_check: {}\n"
            } else {
                ""
            }
        );
        let loaded = sluice_config::load_str(&yaml, "test.yaml", sluice_config::Format::Yaml)
            .expect("valid");
        loaded
            .bootstrap
            .clusters
            .into_iter()
            .next()
            .expect("one cluster")
    }

    #[test]
    fn checked_hosts_start_failing_and_combine_with_their_discovery_status() {
        let a: SocketAddr = "127.0.0.1:1".parse().expect("address");
        let b: SocketAddr = "127.0.0.1:2".parse().expect("address");
        let unchecked = cluster(false);
        let table = HealthTable::default();
        assert_eq!(
            table.endpoint_flags(&unchecked, a, model::HealthStatus::Unknown, false),
            HealthFlags::empty()
        );
        let checked = cluster(true);
        let mut table = HealthTable::default();
        let added = table.reconcile(std::slice::from_ref(&checked));
        assert_eq!(added, [("web".to_string(), a), ("web".to_string(), b)]);
        assert_eq!(
            table
                .endpoint_flags(&checked, b, model::HealthStatus::Degraded, false)
                .to_string(),
            "/failed_active_hc/degraded_eds_health"
        );
        // A pass clears the check's flag; discovery's stays.
        let timing = timing(checked.health_check.as_ref().expect("a check"));
        if let Some(h) = table.hosts.get_mut(&("web".to_string(), b)) {
            h.session.on_success(&timing, &mut h.flags, false);
        }
        assert_eq!(
            table.endpoint_flags(&checked, b, model::HealthStatus::Degraded, false),
            HealthFlags::DEGRADED_EDS_HEALTH
        );
        // An endpoint that opts out of checks is not failed for the lack of them.
        assert_eq!(
            table.endpoint_flags(&checked, a, model::HealthStatus::Unknown, true),
            HealthFlags::empty()
        );
        // Tracked hosts are not added twice; hosts that leave are forgotten.
        assert!(table.reconcile(std::slice::from_ref(&checked)).is_empty());
        assert!(table.reconcile(&[]).is_empty());
        assert!(!table.hosts.contains_key(&("web".to_string(), b)));
    }

    #[test]
    fn payload_segments_match_in_order_and_apart() {
        let segs = |s: &[&str]| s.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
        assert!(payload_matches(b"+PONG\r\n", &segs(&["PONG"])));
        assert!(payload_matches(b"ab--cd", &segs(&["ab", "cd"])));
        assert!(!payload_matches(b"cd--ab", &segs(&["ab", "cd"])));
        assert!(!payload_matches(b"abc", &segs(&["abc", "c"])));
        assert!(!payload_matches(b"PON", &segs(&["PONG"])));
    }

    #[test]
    fn events_are_written_as_envoys_json() {
        let hc = model::HealthCheck {
            timeout: std::time::Duration::from_secs(1),
            interval: std::time::Duration::from_secs(1),
            initial_jitter: std::time::Duration::ZERO,
            interval_jitter: std::time::Duration::ZERO,
            interval_jitter_percent: 0,
            unhealthy_threshold: 1,
            healthy_threshold: 1,
            reuse_connection: true,
            event_log_path: None,
            always_log_health_check_failures: false,
            no_traffic_interval: std::time::Duration::from_secs(60),
            no_traffic_healthy_interval: std::time::Duration::from_secs(60),
            unhealthy_interval: std::time::Duration::from_secs(1),
            unhealthy_edge_interval: std::time::Duration::from_secs(1),
            healthy_edge_interval: std::time::Duration::from_secs(1),
            kind: model::HealthCheckKind::TcpConnect,
            loc: model::Loc::default(),
        };
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_328_062_345);
        let line = event_json(
            &hc,
            "web",
            "127.0.0.1:8080".parse().expect("address"),
            &HealthEvent::EjectUnhealthy {
                failure_type: FailureType::NetworkTimeout,
            },
            at,
        );
        assert_eq!(
            line,
            r#"{"health_checker_type":"TCP","host":{"socket_address":{"protocol":"TCP","address":"127.0.0.1","port_value":8080,"resolver_name":"","ipv4_compat":false}},"cluster_name":"web","eject_unhealthy_event":{"failure_type":"NETWORK_TIMEOUT"},"timestamp":"2026-12-03T20:01:02.345Z"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&event_json(
            &hc,
            "web",
            "[::1]:80".parse().expect("address"),
            &HealthEvent::Failure {
                failure_type: FailureType::Active,
                first_check: true,
            },
            at,
        ))
        .expect("JSON");
        assert_eq!(v["health_check_failure_event"]["first_check"], true);
        assert_eq!(v["host"]["socket_address"]["address"], "::1");
    }

    #[test]
    fn every_timing_field_of_the_check_reaches_the_state_machine() {
        use std::time::Duration as D;
        let hc = model::HealthCheck {
            timeout: D::from_millis(1),
            interval: D::from_millis(2),
            initial_jitter: D::from_millis(3),
            interval_jitter: D::from_millis(4),
            interval_jitter_percent: 5,
            unhealthy_threshold: 6,
            healthy_threshold: 7,
            reuse_connection: true,
            event_log_path: None,
            always_log_health_check_failures: true,
            no_traffic_interval: D::from_millis(8),
            no_traffic_healthy_interval: D::from_millis(9),
            unhealthy_interval: D::from_millis(10),
            unhealthy_edge_interval: D::from_millis(11),
            healthy_edge_interval: D::from_millis(12),
            kind: model::HealthCheckKind::TcpConnect,
            loc: model::Loc::default(),
        };
        let t = timing(&hc);
        assert_eq!(
            (t.timeout, t.interval, t.initial_jitter, t.interval_jitter),
            (
                D::from_millis(1),
                D::from_millis(2),
                D::from_millis(3),
                D::from_millis(4)
            )
        );
        assert_eq!(
            (
                t.interval_jitter_percent,
                t.unhealthy_threshold,
                t.healthy_threshold
            ),
            (5, 6, 7)
        );
        assert_eq!(
            (
                t.no_traffic_interval,
                t.no_traffic_healthy_interval,
                t.unhealthy_interval,
                t.unhealthy_edge_interval,
                t.healthy_edge_interval
            ),
            (
                D::from_millis(8),
                D::from_millis(9),
                D::from_millis(10),
                D::from_millis(11),
                D::from_millis(12)
            )
        );
    }
}
