//! Listening sockets: one per worker per listener, bound with SO_REUSEPORT so the kernel
//! spreads new connections across workers without a shared accept queue.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};

/// Accept backlog per socket.
const BACKLOG: i32 = 1024;

/// Binds a non-blocking listening socket with SO_REUSEADDR and SO_REUSEPORT.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds a listening socket without SO_REUSEPORT (the admin endpoint: one owner, and a second
/// process on the same port is an error, not a silent share).
pub fn bind_plain(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
