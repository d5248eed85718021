//! Upstream connections: connecting with the cluster's timeout, per-worker pools of idle
//! keep-alive connections, and the load balancer adapter.

pub mod lb;
pub mod pool;

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::net::TcpStream;

use crate::runtime::snapshot::{Cluster, Host};
use crate::runtime::worker::Worker;
use crate::stats::{Shard, StatId};

/// An open upstream connection, counted in its host's and cluster's gauges until dropped.
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    pub stream: TcpStream,
    /// The peer.
    pub address: SocketAddr,
    /// Keeps the connection counted; may be split off with the socket.
    pub accounting: Accounting,
}

/// Decrements the active-connection gauges when the connection goes away.
#[derive(Debug)]
pub struct Accounting {
    shard: Arc<Shard>,
    host_cx_active: StatId,
    cluster_cx_active: StatId,
    cluster_cx_destroy: StatId,
}

impl Drop for Accounting {
    fn drop(&mut self) {
        self.shard.dec(self.host_cx_active);
        self.shard.dec(self.cluster_cx_active);
        self.shard.inc(self.cluster_cx_destroy);
    }
}

/// Why a new upstream connection could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// Refused, unreachable, reset while connecting.
    Failed(io::Error),
    /// `connect_timeout` elapsed.
    Timeout,
}

/// Opens a new connection to `host` of `cluster`, counting it in the stats.
pub async fn connect(
    worker: &Rc<Worker>,
    cluster: &Cluster,
    host: &Host,
) -> Result<Connection, ConnectError> {
    let shard = &worker.shard;
    shard.inc(cluster.stats.upstream_cx_total);
    shard.inc(host.stats.cx_total);
    let attempt = monoio::time::timeout(
        cluster.connect_timeout.max(Duration::from_millis(1)),
        TcpStream::connect_addr(host.address),
    )
    .await;
    let stream = match attempt {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shard.inc(cluster.stats.upstream_cx_connect_fail);
            shard.inc(host.stats.cx_connect_fail);
            return Err(ConnectError::Failed(e));
        }
        Err(_) => {
            shard.inc(cluster.stats.upstream_cx_connect_fail);
            shard.inc(cluster.stats.upstream_cx_connect_timeout);
            shard.inc(host.stats.cx_connect_fail);
            return Err(ConnectError::Timeout);
        }
    };
    // Small request/response exchanges must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    shard.inc(cluster.stats.upstream_cx_active);
    shard.inc(host.stats.cx_active);
    Ok(Connection {
        stream,
        address: host.address,
        accounting: Accounting {
            shard: Arc::clone(shard),
            host_cx_active: host.stats.cx_active,
            cluster_cx_active: cluster.stats.upstream_cx_active,
            cluster_cx_destroy: cluster.stats.upstream_cx_destroy,
        },
    })
}
