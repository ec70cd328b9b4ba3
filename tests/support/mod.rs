//! Real-PostgreSQL test support: a throwaway cluster shared by one test binary.
//!
//! Nothing that talks to Postgres is tested against a mock. Each test binary
//! that says `mod support;` gets one cluster, started the first time a test
//! asks for a database, and every test gets its own database in it
//! ([`fresh_database`]).
//!
//! # The cluster
//!
//! The cluster is the library's own throwaway cluster
//! (`safe_migrate::trace::cluster::TempCluster`, which `migrate trace --temp`
//! runs): `initdb` writes it into a directory under the temp dir (`/tmp`
//! unless `TMPDIR` says otherwise); the server listens
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

pub use safe_migrate::trace::cluster::ClusterOptions;
use safe_migrate::trace::cluster::{self, ClusterError, TempCluster};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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
    cluster::server_owner().ok().flatten()
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
        _ => Cluster::start().and_then(|cluster| {
            before_13_with_gen_random_uuid(&cluster.url("template1"))?;
            Ok(Server {
                admin_url: cluster.url("postgres"),
                cluster: Some(cluster),
            })
        }),
    });
    match server {
        Ok(server) => server,
        Err(e) => panic!("no PostgreSQL for the tests: {e}"),
    }
}

/// `gen_random_uuid()`, which the examples and fixtures use, is built in
/// from PostgreSQL 13 on; before that it comes with pgcrypto. Installed in
/// `template1` of our own cluster, so every test database has it
/// (`tests/pg-matrix.sh` runs the tests on 12).
fn before_13_with_gen_random_uuid(template1: &str) -> Result<(), String> {
    let mut client = postgres::Client::connect(template1, postgres::NoTls).map_err(|e| error_text(&e))?;
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .map_err(|e| error_text(&e))?
        .get(0);
    if version < 130000 {
        client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
            .map_err(|e| {
                format!(
                    "PostgreSQL {version} needs pgcrypto for gen_random_uuid(): {}",
                    error_text(&e)
                )
            })?;
    }
    Ok(())
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

/// A throwaway cluster ([`safe_migrate::trace::cluster::TempCluster`]: a
/// watchdog process owns the server, see the module docs), shared by the
/// tests of one binary.
pub struct Cluster {
    /// The cluster's directory (`data/`, `sock/` and logs) and port, kept
    /// here so reading them takes no lock.
    root: PathBuf,
    port: u16,
    /// `None` once stopped (at exit).
    inner: Mutex<Option<TempCluster>>,
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        Cluster::start_with(&ClusterOptions::default())
    }

    fn start_with(options: &ClusterOptions) -> Result<Cluster, String> {
        let mut options = options.clone();
        // More sessions than a trace needs: tests run in parallel.
        options.settings.splice(
            0..0,
            [
                "max_connections=200".to_string(),
                "shared_buffers=32MB".to_string(),
            ],
        );
        let cluster = TempCluster::start_with("safe-migrate-pg", &options).map_err(|e| match e {
            ClusterError::NoBinaries => format!("{e}; install PostgreSQL or set {DATABASE_URL_VAR}"),
            e => e.to_string(),
        })?;
        let cluster = Cluster {
            root: cluster.root().to_path_buf(),
            port: cluster.port(),
            inner: Mutex::new(Some(cluster)),
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
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.as_ref() {
            Some(cluster) => cluster.url(dbname),
            None => panic!("the test cluster is stopped"),
        }
    }

    /// Stops the server and deletes the cluster (dropping the [`TempCluster`]).
    fn stop(&self) {
        let taken = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
    }

    /// Asks the watchdog for a fast shutdown and a new server (see [`restart_server`]).
    fn restart(&self) -> Result<(), String> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let cluster = inner.as_mut().ok_or("the cluster is stopped")?;
        cluster
            .restart()
            .map_err(|e| format!("the test cluster did not come back: {e}"))
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

/// A client binary such as `psql`: beside the server's, else from PATH.
pub fn pg_binary(name: &str) -> PathBuf {
    static BINDIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINDIR
        .get_or_init(cluster::server_bindir)
        .as_ref()
        .map(|dir| dir.join(name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
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
