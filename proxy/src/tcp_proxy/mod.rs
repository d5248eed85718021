//! `envoy.filters.network.tcp_proxy`: one upstream connection per downstream connection,
//! bytes copied both ways untouched, each direction closed on its own (half-close).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};

use crate::io::{Reader, Transport, Writer};

use crate::runtime::snapshot::{Snapshot, TcpProxy};
use crate::runtime::worker::Worker;
use crate::stats::StatId;
use crate::upstream;

/// Copy buffer per direction. Bounds what a connection holds in memory.
const BUFFER_BYTES: usize = 64 * 1024;

/// Proxies one downstream connection until both directions are closed.
///
/// Generic over the downstream transport; the upstream side is plain TCP.
pub async fn serve<T: Transport>(
    worker: &Rc<Worker>,
    snapshot: &Snapshot,
    tcp: &TcpProxy,
    downstream: T,
) {
    worker.shard.inc(tcp.stats.downstream_cx_total);
    let Some(cluster) = snapshot.clusters.get(tcp.cluster) else {
        worker.shard.inc(tcp.stats.downstream_cx_no_route);
        return;
    };
    let pick_ctx = crate::upstream::lb::PickContext::default();
    let Some((host_id, host)) = worker
        .pick(tcp.cluster, &pick_ctx, Instant::now())
        .and_then(|i| Some((i, cluster.hosts.get(i)?)))
    else {
        worker.shard.inc(cluster.stats.upstream_cx_none_healthy);
        return;
    };
    // The connection counts as one active request for least request, as in Envoy.
    let active = cluster.lb.active_requests();
    let ticket = active.begin(worker.index, cluster.lb.active_slot(host_id as u32));
    let Ok(upstream::Connection {
        reader: up_rd,
        writer: up_wr,
        accounting,
        ..
    }) = upstream::connect_now::<monoio::net::TcpStream>(worker, cluster, host, Default::default())
        .await
    else {
        active.end(worker.index, ticket);
        return;
    };
    let (down_rd, down_wr, _) = crate::io::split(downstream);
    let activity = Cell::new(Instant::now());
    let shard = &worker.shard;
    let _ = monoio::join!(
        copy(
            down_rd,
            up_wr,
            tcp.idle_timeout,
            &activity,
            shard,
            tcp.stats.downstream_cx_rx_bytes_total,
            cluster.stats.upstream_cx_tx_bytes_total
        ),
        copy(
            up_rd,
            down_wr,
            tcp.idle_timeout,
            &activity,
            shard,
            tcp.stats.downstream_cx_tx_bytes_total,
            cluster.stats.upstream_cx_rx_bytes_total
        ),
    );
    drop(accounting);
    active.end(worker.index, ticket);
}

/// Copies one direction until EOF or error, then half-closes the writer.
async fn copy<A: Transport, B: Transport>(
    mut from: Reader<A>,
    mut to: Writer<B>,
    idle_timeout: Option<Duration>,
    activity: &Cell<Instant>,
    shard: &crate::stats::Shard,
    counter_a: StatId,
    counter_b: StatId,
) {
    let mut buf = Vec::with_capacity(BUFFER_BYTES);
    loop {
        buf.clear();
        let (res, b) = match idle_timeout {
            None => from.read_discard(buf).await,
            Some(limit) => {
                let read = from.read_discard(buf);
                let mut read = std::pin::pin!(read);
                loop {
                    let since = activity.get().elapsed();
                    let left = limit.saturating_sub(since);
                    if left.is_zero() {
                        let _ = to.shutdown().await;
                        return;
                    }
                    match monoio::time::timeout(left, &mut read).await {
                        Ok(r) => break r,
                        // The other direction may have been busy; look again.
                        Err(_) => continue,
                    }
                }
            }
        };
        buf = b;
        match res {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                activity.set(Instant::now());
                shard.add(counter_a, n as u64);
                shard.add(counter_b, n as u64);
                let (res, b) = to.write_all(buf).await;
                buf = b;
                if res.is_err() {
                    return;
                }
            }
        }
    }
}
