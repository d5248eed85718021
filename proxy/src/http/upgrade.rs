//! Upgrades and CONNECT: once the upstream accepts (`101 Switching Protocols` for an upgrade
//! such as WebSocket, a 2xx for CONNECT), the connection stops being HTTP and becomes a byte
//! stream in both directions until each side has closed.
//!
//! Which upgrades pass is the connection manager's `upgrade_configs` (each type once, lower
//! case), and a route's own `upgrade_configs` may disable or re-enable a type the connection
//! manager knows, as Envoy's `createUpgradeFilterChain` decides. CONNECT is the upgrade type
//! `connect`; it is forwarded as a request (the upstream terminates it), Envoy's default when a
//! route has no `connect_config`.

use std::time::Duration;

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};

use super::conn_manager::{Downstream, Next};
use super::error::{ErrorKind, ProxyError};
use super::h1::{self, HeadEncoder, Version};
use super::router::Forward;
use crate::io::{Reader, Transport, Writer};
use crate::runtime::snapshot::Cluster;
use crate::upstream::lb::PickContext;
use crate::upstream::{self, ActiveRequest};
use sluice_config::model::UpgradeConfig;

/// What kind of upgrade a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// `connection: upgrade` with `upgrade: <protocol>`.
    Protocol,
    /// The CONNECT method.
    Connect,
}

/// Whether the upgrade `name` (lower case) may pass: the connection manager must know the
/// type, and the route's setting for it, when it has one, overrides the connection manager's.
pub fn is_allowed(name: &[u8], hcm: &[UpgradeConfig], route: Option<&Forward>) -> bool {
    let Some(known) = hcm.iter().find(|u| u.upgrade_type.as_bytes() == name) else {
        return false;
    };
    route
        .and_then(|f| {
            f.upgrade_configs
                .iter()
                .find(|u| u.upgrade_type.as_bytes() == name)
        })
        .map_or(known.enabled, |u| u.enabled)
}

/// The upgrade type a request names: `connect` for CONNECT, else the first protocol of its
/// `upgrade` header, lower-cased into `out`.
pub fn upgrade_name<'o>(kind: Upgrade, header: Option<&[u8]>, out: &'o mut [u8; 32]) -> &'o [u8] {
    let name: &[u8] = match kind {
        Upgrade::Connect => b"connect",
        Upgrade::Protocol => header
            .and_then(|v| v.split(|&b| b == b',').next())
            .map_or(&b""[..], |v| v.trim_ascii()),
    };
    let n = name.len().min(out.len());
    out[..n].copy_from_slice(&name[..n]);
    out[..n].make_ascii_lowercase();
    &out[..n]
}

impl<T: Transport> Downstream<'_, T> {
    /// Answers the client with the upstream's accepting head (its headers as the router and
    /// the filters left them in `resp_headers`), then copies bytes both ways until both sides
    /// have closed. `head_len` is the request head's length in `rbuf`: what
    /// follows it already belongs to the tunnel.
    pub(super) async fn tunnel(
        &mut self,
        upstream: upstream::Connection,
        head_len: usize,
        resp_head_len: usize,
    ) -> Next {
        let resp = std::mem::take(&mut self.resp);
        let ubuf = std::mem::take(&mut self.ubuf);
        let status = resp.status();
        self.wbuf.clear();
        {
            // `resp_headers` holds the response as the router and the filters left it.
            let mut enc = HeadEncoder::response(&mut self.wbuf, Version::Http11, status);
            enc.header_map(&self.resp_headers);
            if status == 101 {
                let protocol = resp.header(&ubuf, b"upgrade").unwrap_or(b"websocket");
                let _ = enc.upgrade(protocol);
            }
            enc.finish();
        }
        let key_format = self.hcm.header_options.header_key_format;
        if key_format == sluice_config::model::HeaderKeyFormat::ProperCaseWords {
            h1::proper_case_header_names(&mut self.wbuf);
        }
        self.count_response(status);
        // Bytes the upstream sent right after its head are the tunnel's first bytes.
        self.wbuf
            .extend_from_slice(ubuf.get(resp_head_len..).unwrap_or(&[]));
        self.resp = resp;
        let out = std::mem::take(&mut self.wbuf);
        let (res, mut out) = self.writer.write_all(out).await;
        out.clear();
        self.wbuf = out;
        if res.is_err() {
            return Next::Close;
        }
        self.splice(upstream, head_len).await
    }

    /// Terminates a CONNECT whose route has a `connect_config`, as Envoy's TCP upstream does:
    /// opens a TCP connection to a host of the route's cluster, answers `200` once it is up,
    /// then relays bytes both ways. Failures answer as any upstream failure (503 `UF`, `UH`).
    pub(super) async fn terminate_connect(
        &mut self,
        head_len: usize,
        cluster: &Cluster,
        cluster_index: usize,
        ctx: &PickContext<'_>,
        priority: sluice_lb::breaker::Priority,
    ) -> Next {
        let worker = std::rc::Rc::clone(self.worker);
        let shard = &worker.shard;
        // CONNECT is never gRPC.
        let codes = upstream::CodeStats::new(&self.hcm.router, || false);
        let picked = worker
            .pick(cluster_index, ctx, std::time::Instant::now())
            .and_then(|id| Some((id, cluster.hosts.get(id)?)));
        let Some((host_id, host)) = picked else {
            shard.inc(cluster.stats.upstream_cx_none_healthy);
            codes.count_status(shard, cluster, 503);
            return self
                .fail(head_len, ProxyError::new(ErrorKind::NoHealthyUpstream))
                .await;
        };
        let active = ActiveRequest::begin(&worker, cluster, host_id, host);
        self.log.upstream_host = Some(host.address);
        let upstream = match upstream::connect_now(&worker, cluster, host, priority).await {
            Ok(c) => c,
            Err(e) => {
                let kind = match e {
                    upstream::ConnectError::Overflow => ErrorKind::Overflow,
                    upstream::ConnectError::PoolOverflow => ErrorKind::NoHealthyUpstream,
                    _ => {
                        shard.inc(host.stats.rq_error);
                        ErrorKind::ConnectFailed
                    }
                };
                codes.count_status(shard, cluster, 503);
                drop(active);
                return self.fail(head_len, ProxyError::new(kind)).await;
            }
        };
        upstream::count_response(shard, cluster, host, 200, codes);
        self.wbuf.clear();
        {
            let mut enc = HeadEncoder::response(&mut self.wbuf, Version::Http11, 200);
            let _ = enc.header(b"date", &worker.http_date());
            let _ = enc.header(b"server", self.hcm.server_name.as_bytes());
            enc.finish();
        }
        self.count_response(200);
        let out = std::mem::take(&mut self.wbuf);
        let (res, mut out) = self.writer.write_all(out).await;
        out.clear();
        self.wbuf = out;
        if res.is_err() {
            return Next::Close;
        }
        let next = self.splice(upstream, head_len).await;
        drop(active);
        next
    }

    /// The tunnel itself: bytes the client sent after its head (`rbuf[head_len..]`) go
    /// upstream first, then both directions are copied until each side has closed.
    async fn splice(&mut self, mut upstream: upstream::Connection, head_len: usize) -> Next {
        let early = self.rbuf.split_off(head_len.min(self.rbuf.len()));
        self.rbuf.clear();
        if !early.is_empty() {
            let (res, _) = upstream.writer.write_all(early).await;
            if res.is_err() {
                return Next::Close;
            }
        }
        let stats = &self.hcm.stats;
        let shard = &self.worker.shard;
        shard.inc(stats.downstream_cx_upgrades_total);
        shard.inc(stats.downstream_cx_upgrades_active);
        let idle = self.hcm.timeouts.stream_idle;
        pump(
            (&mut self.reader, &mut self.writer),
            (&mut upstream.reader, &mut upstream.writer),
            idle,
        )
        .await;
        shard.dec(stats.downstream_cx_upgrades_active);
        Next::Close
    }
}

/// Copies bytes between two connections until both directions have ended (an EOF on one side
/// half-closes the other) or nothing moved for `idle`. Each open side keeps a read posted;
/// whichever completes is written to the other side while the other read stays in flight, so
/// no read is ever cancelled with data in it.
async fn pump<A: Transport, B: Transport>(
    a: (&mut Reader<A>, &mut Writer<A>),
    b: (&mut Reader<B>, &mut Writer<B>),
    idle: Option<Duration>,
) {
    let (a_read, a_write) = a;
    let (b_read, b_write) = b;
    let mut buf = Vec::new();
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        if a_open {
            a_read.post();
        }
        if b_open {
            b_read.post();
        }
        let ready = async {
            monoio::select! {
                _ = a_read.completed(), if a_open => true,
                _ = b_read.completed(), if b_open => false,
            }
        };
        let from_a = match idle {
            Some(t) => match monoio::time::timeout(t, ready).await {
                Ok(r) => r,
                Err(_) => return,
            },
            None => ready.await,
        };
        let written = if from_a {
            pass_on(a_read, b_write, &mut buf, &mut a_open).await
        } else {
            pass_on(b_read, a_write, &mut buf, &mut b_open).await
        };
        if !written {
            return;
        }
    }
}

/// Collects the completed read of `from` and writes its bytes to `to`; at end of stream marks
/// `from` closed and half-closes `to`. False when the write failed.
async fn pass_on<F: Transport, G: Transport>(
    from: &mut Reader<F>,
    to: &mut Writer<G>,
    buf: &mut Vec<u8>,
    open: &mut bool,
) -> bool {
    buf.clear();
    let (res, back) = from.read_append(std::mem::take(buf)).await;
    *buf = back;
    match res {
        Ok(0) | Err(_) => {
            *open = false;
            let _ = to.shutdown().await;
            true
        }
        Ok(_) => {
            let (res, back) = to.write_all(std::mem::take(buf)).await;
            *buf = back;
            res.is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(t: &str, enabled: bool) -> UpgradeConfig {
        UpgradeConfig {
            upgrade_type: t.into(),
            enabled,
            terminate_connect: false,
        }
    }

    #[test]
    fn upgrade_types_follow_the_connection_manager_and_route_overrides() {
        let hcm = [cfg("websocket", true), cfg("connect", false)];
        assert!(is_allowed(b"websocket", &hcm, None));
        assert!(
            !is_allowed(b"h2c", &hcm, None),
            "unknown to the connection manager"
        );
        assert!(!is_allowed(b"connect", &hcm, None), "known but disabled");
        let mut out = [0u8; 32];
        assert_eq!(
            upgrade_name(Upgrade::Protocol, Some(b"WebSocket, foo"), &mut out),
            b"websocket"
        );
        assert_eq!(upgrade_name(Upgrade::Connect, None, &mut out), b"connect");
    }
}
