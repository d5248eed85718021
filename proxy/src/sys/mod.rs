//! The few places Sluice talks to the kernel directly: signal masks and waits.
//!
//! Every `unsafe` block of the proxy lives here, each with the reason it is sound.

use std::io;

/// The signals the main thread handles itself: everything else keeps its default action.
pub const HANDLED: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn handled_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any read, and
    // sigaddset only writes inside it. Both take a valid pointer to our local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in HANDLED {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Blocks the handled signals in the calling thread. Call it on the main thread before any
/// other thread starts, so every thread inherits the mask and only [`wait`] receives them.
pub fn block_handled_signals() -> io::Result<()> {
    let set = handled_set();
    // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Waits for one of the handled signals and returns its number.
pub fn wait() -> io::Result<libc::c_int> {
    let set = handled_set();
    let mut sig: libc::c_int = 0;
    // SAFETY: both pointers are to live locals; sigwait writes the signal number into `sig`.
    let rc = unsafe { libc::sigwait(&set, &mut sig) };
    if rc == 0 {
        Ok(sig)
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Sends SIGTERM to this process: how `/quitquitquit` joins the normal shutdown path.
pub fn terminate_self() {
    let pid = std::process::id() as libc::pid_t;
    // SAFETY: kill has no memory-safety preconditions; the pid is our own.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// RLIMIT_MEMLOCK soft limit in bytes (`None` when unlimited), reported when a ring fails.
pub fn memlock_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; the resource id is valid.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    if rc != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        None
    } else {
        Some(lim.rlim_cur)
    }
}

/// Makes a listening socket stop listening now: `shutdown(SHUT_RD)` moves a Linux TCP
/// listener out of the LISTEN state, so new connections are refused at once even while an
/// io_uring accept on it is still being cancelled and its close is still queued.
pub fn stop_listening(fd: std::os::fd::RawFd) -> io::Result<()> {
    // SAFETY: shutdown takes a descriptor number and touches no memory of ours; a stale or
    // wrong descriptor only yields an error.
    let rc = unsafe { libc::shutdown(fd, libc::SHUT_RD) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The local address a connected socket is bound to (`getsockname`).
pub fn local_addr(fd: std::os::fd::RawFd) -> io::Result<std::net::SocketAddr> {
    // SAFETY: the descriptor is borrowed for this call only, from a socket its owner keeps
    // open while it asks.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    socket2::SockRef::from(&fd)
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))
}
