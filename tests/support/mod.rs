//! Real-PostgreSQL test support: a throwaway cluster shared by one test binary.
//!
//! Nothing that talks to Postgres is tested against a mock. Each test binary
//! that says `mod support;` gets one cluster, started the first time a test
//! asks for a database, and every test gets its own database in it
//! ([`fresh_database`]).
//!
//! # The cluster
//!
//! `initdb` writes a cluster into a directory under `/tmp`; the server listens
//! only on a unix socket in that directory (`listen_addresses = ''`) and is
//! tuned for throwaway data (`fsync`, `synchronous_commit` and
//! `full_page_writes` off). `initdb` and `postgres` refuse to run as root, so
//! when the tests run as root (as here and in CI) they run as the `postgres`
//! system user, which then owns the directory.
//!
//! # Cleanup
//!
//! The cluster lives in a static that is never dropped, so the server is owned
//! by a watchdog shell instead of by a Rust value. The watchdog starts the
//! server as its own child, reports `ready` once `pg_isready` says so, then
//! blocks reading its stdin: a pipe whose only write end this test process
//! holds. When the process ends in any way (normal exit, panic, `SIGKILL`) the
//! kernel closes that end, the read sees end-of-file, and the watchdog sends
//! the server `SIGQUIT` (an immediate shutdown), waits for it and deletes the
//! directory. On a normal exit an `atexit` handler closes the pipe itself and
//! waits for the watchdog, so the server is gone before `cargo test` moves on
//! to the next binary. The watchdog and the server run in a process group of
//! their own, so a Ctrl-C aimed at the tests does not kill them before they
//! clean up.
//!
//! A test that needs the server itself to go away and come back calls
//! [`restart_server`]: the watchdog reads `restart` from the same pipe, stops
//! the server with a fast shutdown, starts it again on the same data
//! directory and port, and answers `restarted`.
//!
//! # A cluster of its own
//!
//! A test binary that needs other server settings (TLS, a TCP listener)
//! starts a cluster of its own with [`own_cluster`], leaving the shared one
//! as it is. It is stopped and deleted at exit in the same way.
//!
//! # Another server
//!
//! With `MIGRATE_TEST_DATABASE_URL` set (a `postgres://` URL of a role that
//! may create databases), no cluster is started and databases are created on
//! that server instead.
#![allow(dead_code)]

pub mod migrate;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The environment variable that points the tests at an existing server.
pub const DATABASE_URL_VAR: &str = "MIGRATE_TEST_DATABASE_URL";

/// A database of its own for one test, dropped when this value is.
pub struct TestDb {
    /// The database's name.
    pub name: String,
    /// A URL that both the `postgres` crate and `psql` accept, e.g.
    /// `postgres://postgres@/t_1_4242?host=/tmp/safe-migrate-pg.abc/sock&port=40123`.
    pub url: String,
}

impl TestDb {
    /// A new connection to this database.
    pub fn client(&self) -> postgres::Client {
        connect(&self.url)
    }

    /// Runs `sql` with `psql -v ON_ERROR_STOP=1 -X -q -d <url>`, feeding it on
    /// stdin so statements run one at a time as they would from a migration
    /// file (with `-c` a multi-statement string is one implicit transaction).
    pub fn psql(&self, sql: &str) -> Output {
        psql_command(&self.url, &[])
            .feed(sql)
            .unwrap_or_else(|e| panic!("running psql on {}: {e}", self.name))
    }

    /// Like [`TestDb::psql`], and panics with psql's stderr unless it succeeds.
    pub fn psql_ok(&self, sql: &str) -> String {
        let out = self.psql(sql);
        assert!(
            out.status.success(),
            "psql failed ({}) on {}:\n{}\n--- sql ---\n{sql}",
            out.status,
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort: a failure here must not turn a passing test into a panic
        // (or a panicking one into an abort).
        if let Ok(mut admin) = postgres::Client::connect(&server().admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// Creates a new, uniquely named, empty database (`t_<n>_<pid>`).
pub fn fresh_database() -> TestDb {
    create_database("")
}

/// Creates a new database as a copy of `template` (`CREATE DATABASE … TEMPLATE`),
/// which no session may be connected to meanwhile. Copying a populated
/// database is much faster than filling a new one.
pub fn copy_database(template: &TestDb) -> TestDb {
    create_database(&format!(" TEMPLATE {}", template.name))
}

fn create_database(options: &str) -> TestDb {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let server = server();
    let name = format!(
        "t_{}_{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    );
    let mut admin = connect(&server.admin_url);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}{options}"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}{options}: {}", error_text(&e)));
    TestDb {
        url: with_dbname(&server.admin_url, &name),
        name,
    }
}

/// Restarts this test binary's cluster: a fast shutdown (every session is
/// terminated with SQLSTATE 57P01, as by `pg_ctl restart -m fast`), then a new
/// server on the same data directory, socket and port. Returns when it
/// accepts connections again.
///
/// Every test in the binary shares the cluster, so a binary that calls this
/// should hold only the test that does (`tests/fault_restart.rs`). Panics
/// when the tests run against `MIGRATE_TEST_DATABASE_URL`, a server they do
/// not own.
pub fn restart_server() {
    let server = server();
    let Some(cluster) = &server.cluster else {
        panic!("{DATABASE_URL_VAR} is set: not restarting a server the tests do not own");
    };
    cluster
        .restart()
        .unwrap_or_else(|e| panic!("restarting the test cluster: {e}"));
}

/// The directory of the cluster's unix socket and its port, for a proxy
/// (PgBouncer) in front of it; `None` with `MIGRATE_TEST_DATABASE_URL`.
pub fn socket_and_port() -> Option<(PathBuf, u16)> {
    let cluster = server().cluster.as_ref()?;
    Some((cluster.socket_dir(), cluster.port))
}

/// `Some((uid, gid))` of the user the server runs as when the tests run as
/// root (processes that must read the cluster's socket directory, such as
/// PgBouncer, run as that user too).
pub fn server_user() -> Option<(u32, u32)> {
    server_owner().ok().flatten()
}

/// Connects to `url`, panicking with the server's message on failure.
pub fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to {url}: {}", error_text(&e)))
}

/// The server's message and detail for a database error, else the error itself.
pub fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                s.push_str(&format!("; detail: {detail}"));
            }
            s
        }
        None => e.to_string(),
    }
}

/// A `psql` command for `url` with the flags every test wants, plus `extra`.
pub fn psql_command(url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(pg_binary("psql"));
    cmd.args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-d", url])
        .args(extra);
    cmd
}

/// Runs a command with `input` on stdin.
pub trait Feed {
    fn feed(&mut self, input: &str) -> std::io::Result<Output>;
}

impl Feed for Command {
    fn feed(&mut self, input: &str) -> std::io::Result<Output> {
        let mut child = self
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_owned();
        // Write from another thread so a chatty child cannot deadlock us.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output()?;
        // A child that exits early (ON_ERROR_STOP) closes the pipe: not our error.
        let _ = writer.join();
        Ok(out)
    }
}

/// Where the tests' server is and how to reach it as a superuser.
struct Server {
    /// URL of the maintenance database (`postgres`), used to create and drop.
    admin_url: String,
    /// The throwaway cluster, when we started one.
    cluster: Option<Cluster>,
}

/// The server, started (or found) on first use. A failure to start is kept,
/// so every test reports it without trying again.
static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

fn server() -> &'static Server {
    let server = SERVER.get_or_init(|| match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(Server {
            admin_url: url.trim().to_string(),
            cluster: None,
        }),
        _ => Cluster::start().map(|cluster| Server {
            admin_url: cluster.url("postgres"),
            cluster: Some(cluster),
        }),
    });
    match server {
        Ok(server) => server,
        Err(e) => panic!("no PostgreSQL for the tests: {e}"),
    }
}

/// What a cluster of a test binary's own adds to the shared cluster's setup.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Also listen on 127.0.0.1 at [`Cluster::port`] (the unix socket stays).
    pub tcp: bool,
    /// Files written into the cluster root before the server starts, owned
    /// by the server's user with mode 0600: (file name, contents). Settings
    /// name them relative to the data directory: `../<name>`.
    pub files: Vec<(String, Vec<u8>)>,
    /// More `postgres -c` settings, after (so overriding) the usual ones.
    pub settings: Vec<String>,
}

/// Clusters started by [`own_cluster`], stopped at exit.
static OWN_CLUSTERS: Mutex<Vec<&'static Cluster>> = Mutex::new(Vec::new());

/// Starts a cluster for this test binary alone, set up as the shared one
/// plus `options`. It lives until the process exits.
pub fn own_cluster(options: &ClusterOptions) -> Result<&'static Cluster, String> {
    let cluster: &'static Cluster = Box::leak(Box::new(Cluster::start_with(options)?));
    match OWN_CLUSTERS.lock() {
        Ok(mut own) => own.push(cluster),
        Err(poisoned) => poisoned.into_inner().push(cluster),
    }
    Ok(cluster)
}

/// A throwaway cluster owned by a watchdog process (see the module docs).
pub struct Cluster {
    /// The temporary directory: `data/`, `sock/` and logs.
    root: PathBuf,
    port: u16,
    /// The watchdog, the write end of its stdin (taken at exit) and its
    /// stdout, where it answers `restart`.
    watchdog: Mutex<Option<Watchdog>>,
}

/// The watchdog shell and both ends of the pipes the test process holds.
struct Watchdog {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The bootstrap superuser `initdb -U` creates.
const SUPERUSER: &str = "postgres";

/// The watchdog: `$1` is the cluster root, `$2` the server bindir, `$3` the
/// socket directory, `$4` the port; the rest are `postgres` options.
///
/// It runs `initdb` and then the server as its own child, so it reaps the
/// server and nothing named postgres outlives it (a restart, too, starts the
/// new server as the watchdog's child). It prints `ready`, or
/// `failed` and the logs; either way it deletes the root when it is done, so
/// a test process killed at any point leaves nothing behind.
const WATCHDOG: &str = r#"
trap '' INT HUP PIPE
root=$1 bin=$2 sock=$3 port=$4
shift 4
exec 2>>"$root/watchdog.log"
fail() {
    echo "$1" >&2
    echo failed
    cat "$root/watchdog.log" "$root/postgres.log" 2>/dev/null
    rm -rf "$root"
    exit 1
}
start() {
    "$bin/postgres" -D "$root/data" "$@" </dev/null >>"$root/postgres.log" 2>&1 &
    pid=$!
    tries=0
    until "$bin/pg_isready" -q -h "$sock" -p "$port" -U postgres -d postgres; do
        tries=$((tries + 1))
        if ! kill -0 "$pid" 2>/dev/null || [ "$tries" -gt 600 ]; then
            kill -QUIT "$pid" 2>/dev/null
            wait "$pid"
            fail "the server was not ready after $tries tries"
        fi
        sleep 0.1
    done
}
"$bin/initdb" -D "$root/data" -U postgres --auth=trust --no-sync --no-instructions \
    -E UTF8 --locale=C >&2 || fail "initdb failed"
start "$@"
echo ready
# Blocks until the test process closes the pipe or exits. A `restart` line
# (support::restart_server) is a fast shutdown, as `pg_ctl restart -m fast`
# does it, then a new server on the same data directory and port.
while read -r command; do
    if [ "$command" = restart ]; then
        kill -INT "$pid"
        wait "$pid"
        start "$@"
        echo restarted
    fi
done
# SIGQUIT is an immediate shutdown; the postmaster takes its backends with it.
kill -QUIT "$pid"
wait "$pid"
rm -rf "$root"
"#;

impl Cluster {
    fn start() -> Result<Cluster, String> {
        Cluster::start_with(&ClusterOptions::default())
    }

    fn start_with(options: &ClusterOptions) -> Result<Cluster, String> {
        let bindir = server_bindir()?;
        let owner = server_owner()?;
        let tmp = tempfile::Builder::new()
            .prefix("safe-migrate-pg.")
            .tempdir_in("/tmp")
            .map_err(|e| format!("creating a temp dir in /tmp: {e}"))?;
        let root = tmp.path().to_path_buf();
        let sock = root.join("sock");
        fs::create_dir(&sock).map_err(|e| format!("creating {}: {e}", sock.display()))?;
        if let Some((uid, gid)) = owner {
            for dir in [&root, &sock] {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                    .map_err(|e| format!("chown {} to the postgres user: {e}", dir.display()))?;
            }
        }
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("chmod {}: {e}", root.display()))?;
        for (name, contents) in &options.files {
            let path = root.join(name);
            fs::write(&path, contents).map_err(|e| format!("writing {}: {e}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("chmod {}: {e}", path.display()))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .map_err(|e| format!("chown {} to the postgres user: {e}", path.display()))?;
            }
        }

        let port = free_port()?;
        let mut settings = vec![
            "listen_addresses=".to_string(),
            format!("port={port}"),
            format!("unix_socket_directories={}", sock.display()),
            "fsync=off".to_string(),
            "synchronous_commit=off".to_string(),
            "full_page_writes=off".to_string(),
            "max_connections=200".to_string(),
            "shared_buffers=32MB".to_string(),
            "max_locks_per_transaction=256".to_string(),
            "autovacuum=off".to_string(),
            "log_min_messages=warning".to_string(),
        ];
        if options.tcp {
            settings.push("listen_addresses=127.0.0.1".to_string());
        }
        settings.extend(options.settings.iter().cloned());
        let mut cmd = run_as(Command::new("sh"), owner, &root);
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("safe-migrate-pg-watchdog")
            .arg(&root)
            .arg(&bindir)
            .arg(&sock)
            .arg(port.to_string());
        for setting in &settings {
            cmd.arg("-c").arg(setting);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawning the watchdog shell: {e}"))?;
        // From here on the watchdog deletes the directory.
        let _ = tmp.keep();
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        if line.trim() != "ready" {
            let mut logs = String::new();
            let _ = stdout.read_to_string(&mut logs);
            drop(stdin);
            let _ = child.wait();
            return Err(format!("the test cluster did not start:\n{line}{logs}"));
        }
        let cluster = Cluster {
            root,
            port,
            watchdog: Mutex::new(Some(Watchdog { child, stdin, stdout })),
        };
        register_exit_hook();
        Ok(cluster)
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    /// The cluster's directory (`data/`, `sock/`, the [`ClusterOptions::files`]).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The port, of the unix socket and (with [`ClusterOptions::tcp`]) of 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `dbname` on this cluster, through the unix socket.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@/{dbname}?host={}&port={}",
            url_encode(&self.socket_dir().to_string_lossy()),
            self.port
        )
    }

    /// Closes the watchdog's stdin and waits for it to stop the server.
    fn stop(&self) {
        let taken = match self.watchdog.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(Watchdog {
            mut child,
            stdin,
            stdout,
        }) = taken
        {
            drop(stdin);
            drop(stdout);
            let _ = child.wait();
        }
    }

    /// Asks the watchdog for a fast shutdown and a new server (see [`restart_server`]).
    fn restart(&self) -> Result<(), String> {
        let mut guard = self.watchdog.lock().unwrap_or_else(|p| p.into_inner());
        let watchdog = guard.as_mut().ok_or("the cluster is stopped")?;
        writeln!(watchdog.stdin, "restart").map_err(|e| format!("asking the watchdog to restart: {e}"))?;
        watchdog
            .stdin
            .flush()
            .map_err(|e| format!("asking the watchdog to restart: {e}"))?;
        let mut line = String::new();
        watchdog
            .stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading the watchdog's answer: {e}"))?;
        if line.trim() != "restarted" {
            let mut logs = String::new();
            let _ = watchdog.stdout.read_to_string(&mut logs);
            return Err(format!("the test cluster did not come back:\n{line}{logs}"));
        }
        Ok(())
    }
}

/// Stops the clusters when the test binary exits normally. (Abnormal exits
/// are covered by the watchdog seeing its stdin close.) Registered once.
fn register_exit_hook() {
    extern "C" fn stop_cluster() {
        // Never unwind across the FFI boundary.
        let _ = std::panic::catch_unwind(|| {
            // `get` never blocks or initializes; the hook is registered while
            // `SERVER` is being initialized, so at exit it is set.
            if let Some(Ok(Server {
                cluster: Some(cluster),
                ..
            })) = SERVER.get()
            {
                cluster.stop();
            }
            // `try_lock`: a test thread may still hold it at exit.
            if let Ok(own) = OWN_CLUSTERS.try_lock() {
                for cluster in own.iter() {
                    cluster.stop();
                }
            }
        });
    }
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a plain `extern "C" fn` that does not unwind.
    REGISTERED.call_once(|| unsafe {
        libc::atexit(stop_cluster);
    });
}

/// Configures `cmd` to run as `owner` (when we are root) in `dir`.
fn run_as(mut cmd: Command, owner: Option<(u32, u32)>, dir: &Path) -> Command {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    cmd.current_dir(dir);
    cmd
}

/// `Some((uid, gid))` of the `postgres` user when we are root, else `None`.
fn server_owner() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let from_passwd = fs::read_to_string("/etc/passwd").ok().and_then(|passwd| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
    });
    if let Some(ids) = from_passwd {
        return Ok(Some(ids));
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Ok(Some((uid, gid))),
        _ => Err(
            "running as root, but there is no `postgres` user to run the server as \
                  (initdb and postgres refuse to run as root)"
                .to_string(),
        ),
    }
}

/// The directory holding `initdb`, `postgres` and `pg_isready`.
fn server_bindir() -> Result<PathBuf, String> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server(&dir) {
                // A symlinked initdb (e.g. /usr/local/bin) finds its siblings
                // by its real path; use that directory.
                let real = fs::canonicalize(dir.join("initdb")).ok();
                return Ok(real
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .unwrap_or(dir));
            }
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_server(bin))
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL server binaries (initdb, postgres): not in `pg_config --bindir`, PATH or \
         /usr/lib/postgresql/*/bin; install PostgreSQL or set MIGRATE_TEST_DATABASE_URL"
            .to_string()
    })
}

/// A client binary such as `psql`: beside the server's, else from PATH.
pub fn pg_binary(name: &str) -> PathBuf {
    static BINDIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINDIR
        .get_or_init(|| server_bindir().ok())
        .as_ref()
        .map(|dir| dir.join(name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A TCP port nothing listens on right now. The server only uses it to name
/// its socket file, but a free one keeps it from clashing with anything.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Replaces the database name in a `postgres://` URL.
pub fn with_dbname(url: &str, dbname: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{dbname}{query}", &base[..authority_end])
}

/// Percent-encodes what a URL query value cannot hold (keeps `/`).
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
