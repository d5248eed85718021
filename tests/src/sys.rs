//! The few OS calls the harness needs beyond std: signals, child set-up before exec, RSS, file locks.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Sends `signal` (e.g. `libc::SIGTERM`) to the process `pid`.
pub fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Arranges for the spawned child to be killed if the test process dies (so a crashed or
/// timed-out test leaves no proxy behind), and optionally caps its locked memory at
/// `memlock_bytes` (soft and hard), which is what limits io_uring rings for non-root users.
pub fn prepare_child(command: &mut Command, memlock_bytes: Option<u64>) {
    let hook = move || -> io::Result<()> {
        // SAFETY: prctl with integer arguments; async-signal-safe, allowed between fork and exec.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(bytes) = memlock_bytes {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            // SAFETY: setrlimit reads the rlimit value on our stack; async-signal-safe.
            if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook only calls async-signal-safe functions and allocates nothing.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Resident set size of `pid` in bytes, from `/proc/PID/status` (`VmRSS`); `None` once it exited.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// An exclusive advisory lock on a file under the temp dir, shared by every test process (cargo
/// test threads and nextest processes alike). Used to run the few tests that need the whole machine
/// (gigabyte transfers) or a fixed resource (the default bootstrap's fixed ports, the `nobody`
/// user's memlock budget) one at a time. Released on drop.
#[derive(Debug)]
pub struct MachineLock {
    _file: File,
}

impl MachineLock {
    /// Blocks until the lock called `name` is ours.
    pub fn acquire(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("sluice-tests-{name}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .expect("open the machine lock file");
        // SAFETY: flock on a descriptor we own; blocks until granted.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {path:?}: {}", io::Error::last_os_error());
        Self { _file: file }
    }
}

/// Makes closing `stream` send a RST instead of a FIN (SO_LINGER with a zero timeout).
pub fn set_linger_zero(stream: &std::net::TcpStream) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::linger>())
        .map_err(|_| io::Error::other("linger size"))?;
    // SAFETY: setsockopt reads `len` bytes from `linger`, a live value on our stack, on a socket
    // descriptor owned by `stream`.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
