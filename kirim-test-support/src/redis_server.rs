//! Real `redis-server` processes for tests: one server on a free 127.0.0.1 port, or a 3-master
//! Redis Cluster. Each runs without persistence in its own temporary directory and is stopped
//! (and its directory removed) when dropped. A server can be killed, restarted on the same port,
//! and paused with `SIGSTOP` to play a stalled server.
//!
//! Nothing here talks to a system-wide Redis: every process is started by the harness.
//!
//! Methods panic when a process cannot be started or controlled: this is test support, and a
//! broken environment should fail the test loudly.

#![allow(clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to answer as itself after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a new cluster may take to report `cluster_state:ok` on every node.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(20);

const INSTALL_HINT: &str = "`redis-server` and `redis-cli` are needed by the Redis tests: run \
    scripts/test (which installs them) or `apt-get install -y redis-server`";

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// One `redis-server` on 127.0.0.1, started by the harness. Stopped on drop.
///
/// ```no_run
/// use kirim_test_support::redis_server::RedisServer;
///
/// let mut server = RedisServer::start();
/// let url = server.url(); // redis://127.0.0.1:<port>/
/// server.kill();
/// server.restart(); // same port, empty again
/// {
///     let _paused = server.pause(); // SIGSTOP; SIGCONT when the guard drops
/// }
/// # let _ = url;
/// ```
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers as itself (not another
    /// process that took the port in between).
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed or does not come up.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with extra `redis-server` arguments (`["--maxmemory", "1mb"]`).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[must_use]
    pub fn start_with(extra_args: &[&str]) -> Self {
        let dir = TempDir::new("redis");
        let mut last_failure = String::new();
        // A free port can be taken by someone else between the probe and the server's bind:
        // try a few.
        for _ in 0..5 {
            let port = free_port(false);
            let mut server = Self {
                port,
                dir: dir.clone_path(),
                extra_args: extra_args.iter().map(|&a| String::from(a)).collect(),
                child: None,
            };
            match server.spawn_and_wait() {
                Ok(()) => {
                    server.dir = dir;
                    return server;
                }
                Err(failure) => {
                    server.stop();
                    last_failure = failure;
                }
            }
        }
        panic!("redis-server did not start: {last_failure}");
    }

    /// The port the server listens on (also after a restart).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:<port>/`, for `redis::Client::open`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process is running (started and not killed).
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Runs `redis-cli -p <port> <args…>` and returns its standard output, trimmed.
    ///
    /// # Panics
    ///
    /// When `redis-cli` cannot be run or exits with an error.
    #[must_use]
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    /// Kills the server (`SIGKILL`, as a crash would) and waits for it to exit. Its data is
    /// gone: the harness runs without persistence. Does nothing when it is not running.
    pub fn kill(&mut self) {
        self.stop();
    }

    /// Starts the server again on the same port (killing it first if it still runs) and waits
    /// until it answers.
    ///
    /// # Panics
    ///
    /// When it does not come up.
    pub fn restart(&mut self) {
        self.stop();
        // The old listener is gone once the process has been reaped; Redis binds with
        // SO_REUSEADDR, so connections left in TIME_WAIT do not block the port.
        if let Err(failure) = self.spawn_and_wait() {
            self.stop();
            panic!(
                "redis-server did not restart on port {}: {failure}",
                self.port
            );
        }
    }

    /// Pauses the server with `SIGSTOP`: it keeps its socket open and accepts connections, but
    /// answers nothing, as a stalled server. It resumes (`SIGCONT`) when the guard drops, even
    /// when the test panics.
    ///
    /// # Panics
    ///
    /// When the server is not running or the signal cannot be sent.
    #[must_use = "the server resumes as soon as the guard is dropped"]
    pub fn pause(&self) -> Paused<'_> {
        let pid = self
            .pid()
            .expect("cannot pause a server that is not running");
        signal(pid, "STOP");
        Paused { server: self, pid }
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = self.dir.path().join(format!("redis-{}.log", self.port));
        let mut command = server_command(self.port, self.dir.path(), &log);
        command.args(&self.extra_args);
        let child = command.spawn().unwrap_or_else(|error| {
            panic!("cannot run redis-server ({error}); {INSTALL_HINT}");
        });
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // Our server, not whoever else may have taken the port since it was probed.
            if answers_as(self.port, pid) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("it exited with {status}; log: {}", read_log(&log)));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer from it within {START_TIMEOUT:?}; log: {}",
                    read_log(&log)
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL works on a stopped process too; wait reaps it so the port is free.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A paused server (`SIGSTOP`); resumes it (`SIGCONT`) on drop. Made by [`RedisServer::pause`].
#[derive(Debug)]
#[must_use = "the server resumes as soon as the guard is dropped"]
pub struct Paused<'a> {
    server: &'a RedisServer,
    pid: u32,
}

impl Paused<'_> {
    /// Resumes the server now.
    pub fn resume(self) {
        drop(self);
    }

    /// The paused server.
    #[must_use]
    pub fn server(&self) -> &RedisServer {
        self.server
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        signal(self.pid, "CONT");
    }
}

/// A 3-master Redis Cluster on 127.0.0.1 (no replicas), started by the harness. Stopped on drop.
///
/// ```no_run
/// use kirim_test_support::redis_server::RedisCluster;
///
/// let cluster = RedisCluster::start();
/// let nodes = cluster.urls(); // one redis://127.0.0.1:<port>/ per master
/// # let _ = nodes;
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three `redis-server --cluster-enabled yes` nodes, joins them with
    /// `redis-cli --cluster create … --cluster-replicas 0`, and waits until every node reports
    /// `cluster_state:ok`.
    ///
    /// # Panics
    ///
    /// When a node does not start or the cluster does not form.
    #[must_use]
    pub fn start() -> Self {
        let dir = TempDir::new("redis-cluster");
        let mut last_failure = String::new();
        for _ in 0..3 {
            match Self::try_start(&dir) {
                Ok(nodes) => {
                    // The last node owns the directory, so it is removed when the cluster
                    // drops.
                    let mut cluster = Self { nodes };
                    if let Some(last) = cluster.nodes.last_mut() {
                        last.dir = dir;
                    }
                    return cluster;
                }
                Err(failure) => last_failure = failure,
            }
        }
        panic!("redis cluster did not start: {last_failure}");
    }

    fn try_start(dir: &TempDir) -> Result<Vec<RedisServer>, String> {
        let mut nodes = Vec::with_capacity(3);
        for _ in 0..3 {
            let port = free_port(true);
            let config = format!("nodes-{port}.conf");
            let mut node = RedisServer {
                port,
                dir: dir.clone_path(),
                extra_args: [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &config,
                    "--cluster-node-timeout",
                    "5000",
                ]
                .iter()
                .map(|&a| String::from(a))
                .collect(),
                child: None,
            };
            node.spawn_and_wait()?;
            nodes.push(node);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run redis-cli ({error}); {INSTALL_HINT}"));
        if !output.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        for node in &nodes {
            while !node.cli(&["cluster", "info"]).contains("cluster_state:ok") {
                if Instant::now() > deadline {
                    return Err(format!(
                        "node {} never reported cluster_state:ok",
                        node.port
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(nodes)
    }

    /// The three masters.
    #[must_use]
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// `redis://127.0.0.1:<port>/` of every master, for `redis::cluster::ClusterClient`.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// The `redis-server` command line: loopback only, no persistence, its files in `dir`.
fn server_command(port: u16, dir: &Path, log: &Path) -> Command {
    let mut command = Command::new("redis-server");
    command
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--daemonize", "no"])
        .args(["--maxmemory-policy", "noeviction"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Whether a Redis server answers on `port` and is the process `pid` (`INFO server` says
/// which process it is).
fn answers_as(port: u16, pid: u32) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    let expected = format!("\r\nprocess_id:{pid}\r\n");
    let mut reply = Vec::new();
    let mut chunk = [0_u8; 4096];
    // The section is a few hundred bytes; read until the line is there or the answer ends.
    while reply.len() < 64 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
        }
        if String::from_utf8_lossy(&reply).contains(&expected) {
            return true;
        }
    }
    false
}

fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run redis-cli ({error}); {INSTALL_HINT}"));
    assert!(
        output.status.success(),
        "redis-cli {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `kill -<SIG> <pid>`: signals without a libc dependency.
fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|error| panic!("cannot run kill -{name} {pid}: {error}"));
    assert!(status.success(), "kill -{name} {pid} failed: {status}");
}

/// A port nobody listens on. With `cluster_bus`, also port + 10000 (Redis Cluster's bus).
fn free_port(cluster_bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        if !cluster_bus {
            return port;
        }
        if let Some(bus) = port.checked_add(10_000)
            && TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok()
        {
            return port;
        }
    }
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_else(|_| String::from("(no log)"))
}

/// A uniquely named directory under [`std::env::temp_dir`], removed on drop by its owner.
#[derive(Debug)]
struct TempDir {
    path: PathBuf,
    owner: bool,
}

impl TempDir {
    fn new(kind: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "kirim-{kind}-{}-{}-{nanos}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
        Self { path, owner: true }
    }

    /// The same path, without ownership: dropping it leaves the directory.
    fn clone_path(&self) -> Self {
        Self {
            path: self.path.clone(),
            owner: false,
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.owner {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
