//! Starts the real `sluice` binary on a bootstrap, waits until it is ready and kills it on drop.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::admin::Admin;
use crate::bootstrap::Bootstrap;
use crate::client::{HttpClient, Response};
use crate::ports::free_port;
use crate::tempdir::TempDir;
use crate::wait::Deadline;

/// How long a proxy may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A bootstrap document to give the proxy: YAML or JSON text, ports as placeholders.
#[derive(Debug, Clone)]
pub enum Config {
    /// YAML, written to `bootstrap.yaml`.
    Yaml(String),
    /// JSON, written to `bootstrap.json`.
    Json(String),
}

impl From<&Bootstrap> for Config {
    fn from(b: &Bootstrap) -> Self {
        Config::Yaml(b.to_yaml())
    }
}

impl From<Bootstrap> for Config {
    fn from(b: Bootstrap) -> Self {
        Config::Yaml(b.to_yaml())
    }
}

impl From<&str> for Config {
    fn from(s: &str) -> Self {
        Config::Yaml(s.to_string())
    }
}

impl From<String> for Config {
    fn from(s: String) -> Self {
        Config::Yaml(s)
    }
}

/// Options for starting a proxy; [`Proxy::builder`] makes one.
#[derive(Debug, Clone)]
pub struct ProxyBuilder {
    config: Config,
    concurrency: usize,
    args: Vec<String>,
    is_inline: bool,
    user: Option<(u32, u32)>,
    memlock_bytes: Option<u64>,
    fixed: Option<(SocketAddr, Vec<SocketAddr>)>,
}

impl ProxyBuilder {
    /// Worker count (`--concurrency`, default 2 here: every test crosses workers).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Appends a command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Passes the bootstrap with `--config-yaml` instead of a file.
    pub fn inline_config(mut self) -> Self {
        self.is_inline = true;
        self
    }

    /// Runs the proxy as this user and group (the binary is copied to a world-readable place).
    pub fn as_user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    /// Caps the proxy's locked memory (RLIMIT_MEMLOCK, soft and hard).
    pub fn memlock(mut self, bytes: u64) -> Self {
        self.memlock_bytes = Some(bytes);
        self
    }

    /// Starts the proxy and waits until admin `/ready` answers 200. If it loses a race for one of
    /// its ports it is started again on fresh ones; any other early exit panics with its log.
    pub fn start(self) -> Proxy {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut proxy = self.spawn();
            match proxy.wait_ready(READY_TIMEOUT) {
                Ok(()) => return proxy,
                Err(status) => {
                    let log = proxy.log();
                    let is_port_race = log.contains("in use") || log.contains("EADDRINUSE");
                    if is_port_race && attempt < 3 {
                        continue;
                    }
                    proxy.is_quiet = true;
                    panic!(
                        "sluice did not become ready ({status}); command: {}\n--- log tail ---\n{}",
                        proxy.command_line,
                        tail(&log, 60)
                    );
                }
            }
        }
    }

    /// Starts the proxy without waiting for it (for tests that expect it to fail or exit).
    pub fn spawn(&self) -> Proxy {
        let dir = TempDir::new("proxy");
        if let Some((admin, listeners)) = &self.fixed {
            return self.launch(
                dir,
                *admin,
                listeners.clone(),
                self.args.clone(),
                String::new(),
            );
        }
        let admin_port = free_port();
        let mut text = match &self.config {
            Config::Yaml(t) | Config::Json(t) => {
                t.replace("{{admin_port}}", &admin_port.to_string())
            }
        };
        let mut listeners = Vec::new();
        for index in 0.. {
            let placeholder = format!("{{{{listener_port_{index}}}}}");
            if !text.contains(&placeholder) {
                break;
            }
            let port = free_port();
            text = text.replace(&placeholder, &port.to_string());
            listeners.push(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        let mut args: Vec<String> = Vec::new();
        if self.is_inline {
            args.push("--config-yaml".into());
            args.push(text.clone());
        } else {
            let name = match self.config {
                Config::Yaml(_) => "bootstrap.yaml",
                Config::Json(_) => "bootstrap.json",
            };
            let path = dir.write(name, &text);
            args.push("-c".into());
            args.push(path.display().to_string());
        }
        args.push("--concurrency".into());
        args.push(self.concurrency.to_string());
        args.extend(self.args.iter().cloned());
        let admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
        self.launch(dir, admin, listeners, args, text)
    }

    fn launch(
        &self,
        dir: TempDir,
        admin: SocketAddr,
        listeners: Vec<SocketAddr>,
        args: Vec<String>,
        text: String,
    ) -> Proxy {
        let bin = match self.user {
            None => crate::sluice_bin().to_path_buf(),
            Some(_) => {
                let copy = dir.path().join("sluice");
                fs::copy(crate::sluice_bin(), &copy).expect("copy sluice for another user");
                fs::set_permissions(&copy, fs::Permissions::from_mode(0o755))
                    .expect("make the sluice copy executable");
                copy
            }
        };
        let log_path = dir.path().join("sluice.log");
        let log = File::create(&log_path).expect("create the proxy log file");
        fs::set_permissions(&log_path, fs::Permissions::from_mode(0o666))
            .expect("make the proxy log writable");
        let mut command = Command::new(&bin);
        command
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file handle"))
            .stderr(log);
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            // std drops supplementary groups itself when root changes uid.
            command.uid(uid).gid(gid);
        }
        crate::sys::prepare_child(&mut command, self.memlock_bytes);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin:?}: {e}"));
        Proxy {
            pid: child.id(),
            child,
            admin: Admin::new(admin),
            listeners,
            log_path,
            command_line: format!("{} {}", bin.display(), args.join(" ")),
            exit: None,
            is_quiet: false,
            config_text: text,
            _dir: dir,
        }
    }
}

/// Samples a process's resident set size in the background and keeps the peak.
#[derive(Debug)]
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssSampler {
    /// Starts sampling `pid` every 20 ms.
    pub fn start(pid: u32) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::SeqCst) {
                peak = peak.max(crate::sys::rss_bytes(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling and returns the peak RSS in bytes.
    pub fn peak(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

/// A running `sluice` process.
#[derive(Debug)]
pub struct Proxy {
    child: Child,
    pid: u32,
    admin: Admin,
    listeners: Vec<SocketAddr>,
    log_path: PathBuf,
    command_line: String,
    exit: Option<ExitStatus>,
    is_quiet: bool,
    config_text: String,
    _dir: TempDir,
}

impl Proxy {
    /// Starts `sluice` on `config` with two workers and waits until it is ready.
    pub fn start(config: impl Into<Config>) -> Self {
        Self::builder(config).start()
    }

    /// Options for starting `sluice` on `config`.
    pub fn builder(config: impl Into<Config>) -> ProxyBuilder {
        ProxyBuilder {
            config: config.into(),
            concurrency: 2,
            args: Vec::new(),
            is_inline: false,
            user: None,
            memlock_bytes: None,
            fixed: None,
        }
    }

    /// Options for starting `sluice` with no bootstrap at all (its embedded default), expecting its
    /// admin endpoint at `admin` and its listeners at `listeners`.
    pub fn without_config(admin: SocketAddr, listeners: &[SocketAddr]) -> ProxyBuilder {
        ProxyBuilder {
            fixed: Some((admin, listeners.to_vec())),
            ..Self::builder("")
        }
    }

    /// The first listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.listener(0)
    }

    /// The address of listener `index` (in bootstrap order).
    pub fn listener(&self, index: usize) -> SocketAddr {
        *self
            .listeners
            .get(index)
            .unwrap_or_else(|| panic!("the bootstrap has no listener {index}"))
    }

    /// The admin endpoint.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The bootstrap as given to the process (ports filled in).
    pub fn config_text(&self) -> &str {
        &self.config_text
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A new client connection to the first listener.
    pub fn client(&self) -> HttpClient {
        HttpClient::connect(self.addr())
    }

    /// `GET path` with `Host: host` on a fresh connection to the first listener.
    pub fn get(&self, host: &str, path: &str) -> Response {
        self.client().get(host, path)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process.
    pub fn signal(&self, signal: i32) {
        crate::sys::send_signal(self.pid, signal).expect("signal the proxy");
    }

    /// Starts sampling the process's RSS; [`RssSampler::peak`] gives the highest value seen.
    pub fn sample_rss(&self) -> RssSampler {
        RssSampler::start(self.pid)
    }

    /// Current resident set size in bytes.
    pub fn rss_bytes(&self) -> u64 {
        crate::sys::rss_bytes(self.pid).unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Deadline::after(timeout);
        let mut attempt = 0;
        loop {
            if let Some(status) = self.poll_exit() {
                return Some(status);
            }
            if deadline.is_expired() {
                return None;
            }
            deadline.pause(attempt);
            attempt += 1;
        }
    }

    /// Waits until admin `/ready` answers 200, or returns how the process ended / that it timed out.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Deadline::after(timeout);
        let mut attempt = 0;
        loop {
            if let Some(status) = self.poll_exit() {
                return Err(format!("exited early with {status}"));
            }
            if let Ok(mut client) = HttpClient::try_connect(self.admin.addr()) {
                client.set_read_timeout(Duration::from_secs(2));
                let request = crate::client::Request::get("/ready").header("connection", "close");
                if client.try_send(&request.to_bytes()).is_ok()
                    && let Ok(response) = client.try_read_response("GET")
                    && response.status == 200
                {
                    return Ok(());
                }
            }
            if deadline.is_expired() {
                return Err(format!("not ready within {timeout:?}"));
            }
            deadline.pause(attempt);
            attempt += 1;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.poll_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() && !self.is_quiet {
            let log = self.log();
            // A panic's first line is the useful one, and a backtrace pushes it out of the tail.
            let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked at")).collect();
            eprintln!(
                "--- sluice (pid {}, exit {:?}) command: {} ---\n{}--- log tail ---\n{}",
                self.pid,
                self.exit,
                self.command_line,
                panics.iter().map(|l| format!("{l}\n")).collect::<String>(),
                tail(&log, 40)
            );
        }
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The result of a run of `sluice` that is expected to exit by itself.
#[derive(Debug)]
pub struct RunOutcome {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl RunOutcome {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `sluice args...` in `dir` and waits up to `timeout` for it to exit; panics (after killing
/// it) if it does not.
pub fn run_sluice(args: &[&str], dir: &std::path::Path, timeout: Duration) -> RunOutcome {
    let out_path = dir.join("run.stdout");
    let err_path = dir.join("run.stderr");
    let mut command = Command::new(crate::sluice_bin());
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create the stdout file"))
        .stderr(File::create(&err_path).expect("create the stderr file"));
    crate::sys::prepare_child(&mut command, None);
    let mut child = command.spawn().expect("spawn sluice");
    let deadline = Deadline::after(timeout);
    let mut attempt = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the sluice process") {
            break status;
        }
        if deadline.is_expired() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`sluice {}` still running after {timeout:?}; stderr:\n{}",
                args.join(" "),
                tail(&fs::read_to_string(&err_path).unwrap_or_default(), 40)
            );
        }
        deadline.pause(attempt);
        attempt += 1;
    };
    RunOutcome {
        status,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}
