//! A real PostgreSQL server for tests: `initdb` into a temporary directory, `postgres` on a free
//! 127.0.0.1 port with trust authentication and without durability (`fsync=off`: the tests
//! crash the receivers, not the machine). Stopped, and its directory removed, on drop. It can be
//! killed (`SIGKILL`) or stopped and restarted on the same port with its data, to play a
//! database that goes away under load.
//!
//! `initdb` refuses to run as root: as root, the harness gives the directory to the `postgres`
//! user and runs the server binaries as that user (the child process is then the server
//! itself, so killing and reaping it act on the server).
//!
//! The binaries are looked up in the newest `/usr/lib/postgresql/<version>/bin` (where Debian
//! puts them, off `PATH`), then `pg_config --bindir`, then `PATH`.
//!
//! Methods panic when a process cannot be started or controlled: this is test support, and a
//! broken environment should fail the test loudly.

#![allow(clippy::expect_used)]

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to report itself ready after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

const INSTALL_HINT: &str = "PostgreSQL's server binaries are needed by the SQL inbox tests: run \
    scripts/test (which installs them) or `apt-get install -y postgresql`";

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// One PostgreSQL server on 127.0.0.1, started by the harness. Stopped on drop.
///
/// ```no_run
/// use kirim_test_support::postgres_server::PostgresServer;
///
/// let mut server = PostgresServer::start();
/// let url = server.create_database(); // postgres://postgres@127.0.0.1:<port>/<fresh name>
/// server.stop(); // an immediate shutdown; the data stays
/// server.restart(); // same port, same data
/// # let _ = url;
/// ```
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

impl PostgresServer {
    /// Initialises a cluster in a fresh temporary directory and starts it on a free port.
    ///
    /// # Panics
    ///
    /// When PostgreSQL is not installed, `initdb` fails, or the server does not come up.
    #[must_use]
    pub fn start() -> Self {
        let bin = bindir();
        let owner = server_user();
        let dir = std::env::temp_dir().join(format!(
            "kirim-postgres-{}-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        let mut server = Self {
            port: 0,
            dir,
            bin,
            owner,
            child: None,
        };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&server.dir, Some(uid), Some(gid))
                .expect("give the data directory to the postgres user");
        }
        let output = server
            .command("initdb")
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync", "--pgdata"])
            .arg(server.data())
            .output()
            .unwrap_or_else(|error| panic!("cannot run initdb ({error}); {INSTALL_HINT}"));
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut last_failure = String::new();
        // A free port can be taken by someone else between the probe and the server's bind.
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(failure) => {
                    server.kill();
                    last_failure = failure;
                }
            }
        }
        panic!("postgres did not start: {last_failure}");
    }

    /// The port the server listens on (also after a restart).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    #[must_use]
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database of a fresh name and returns its URL: cheap, so each test (or each
    /// receiver fleet) gets its own.
    ///
    /// # Panics
    ///
    /// When `createdb` fails.
    #[must_use]
    pub fn create_database(&self) -> String {
        let name = format!(
            "kirim_{}_{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let output = Command::new(self.bin.join("createdb"))
            .args(["--host=127.0.0.1", "--username=postgres"])
            .arg(format!("--port={}", self.port))
            .arg(&name)
            .output()
            .expect("run createdb");
        assert!(
            output.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.url(&name)
    }

    /// Whether the server process is running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server with `SIGKILL`, as a crash would, and reaps it. Its committed data
    /// survives (up to what `fsync=off` lets the operating system keep, which a process crash
    /// does not lose). Does nothing when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server at once (`SIGQUIT`: an immediate shutdown, connections cut, no
    /// checkpoint) and waits until it and its backends have exited. Does nothing when it is
    /// not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + START_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, with its data (stopping it first if it still
    /// runs), and waits until it is ready.
    ///
    /// # Panics
    ///
    /// When it does not come up.
    pub fn restart(&mut self) {
        self.stop();
        let mut failure = String::new();
        // Backends of a killed server may hold its shared memory for a moment.
        for _ in 0..20 {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(why) => {
                    self.kill();
                    failure = why;
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        panic!("postgres did not restart on port {}: {failure}", self.port);
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A command for one of the server binaries, as the server's user.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command.stdin(Stdio::null());
        command
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("open the server log");
        if let Some((uid, gid)) = self.owner {
            let _ = std::os::unix::fs::chown(self.log(), Some(uid), Some(gid));
        }
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(self.data())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg("listen_addresses=127.0.0.1")
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run postgres ({error}); {INSTALL_HINT}"));
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // Our server, ready: its pid file names our child, our port, and `ready`.
            if ready(&self.data(), pid, self.port) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("it exited with {status}; log: {}", self.read_log()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready within {START_TIMEOUT:?}; log: {}",
                    self.read_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn read_log(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_else(|_| String::from("(no log)"))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `postmaster.pid`: pid, data directory, start time, port, socket directory, listen address,
/// shared memory key, status.
fn ready(data: &Path, pid: u32, port: u16) -> bool {
    let Ok(contents) = std::fs::read_to_string(data.join("postmaster.pid")) else {
        return false;
    };
    let lines: Vec<&str> = contents.lines().map(str::trim).collect();
    lines.first() == Some(&pid.to_string().as_str())
        && lines.get(3) == Some(&port.to_string().as_str())
        && lines.get(7) == Some(&"ready")
}

/// The uid and gid of `postgres` when running as root (`initdb` refuses root), else none.
fn server_user() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let output = Command::new("id").args(args).output().ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    let user =
        id(&["-u", "postgres"]).expect("a `postgres` user to run the server as (root cannot)");
    let group = id(&["-g", "postgres"]).expect("the `postgres` user's group");
    Some((user, group))
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`, else `pg_config --bindir`,
/// else whatever `PATH` finds.
fn bindir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if bin.join("initdb").exists() {
            return bin;
        }
    }
    PathBuf::new()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
