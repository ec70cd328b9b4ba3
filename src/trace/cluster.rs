//! A throwaway PostgreSQL cluster: for `migrate trace --temp`, and the one
//! the test suite's `tests/support` runs every real-PostgreSQL test against.
//!
//! `initdb` writes a cluster into a new directory under the system temp dir;
//! the server listens only on a unix socket inside it (`listen_addresses =
//! ''`) and is tuned for disposable data (`fsync`, `synchronous_commit`,
//! `full_page_writes` and autovacuum off). The binaries come from the
//! directory named by `MIGRATE_PG_BINDIR` (how `tests/pg-matrix.sh` runs the
//! tests on each major version), else `pg_config --bindir`, else `PATH`,
//! else the newest `/usr/lib/postgresql/*/bin`. `initdb` and `postgres` refuse to run as
//! root, so when our effective uid is 0 they run as the `postgres` system
//! user, which then owns the directory.
//!
//! The server is owned by a small watchdog shell: it starts the server as its
//! own child, prints `ready`, then blocks reading its stdin, a pipe whose only
//! write end this process holds. Dropping [`TempCluster`] closes the pipe and
//! waits; if this process dies in any other way (panic, `SIGKILL`) the kernel
//! closes the pipe. Either way the watchdog shuts the server down immediately
//! (`SIGQUIT`) and deletes the directory, so nothing outlives the process. A
//! `restart` line on the pipe ([`TempCluster::restart`]) is a fast shutdown
//! and a new server on the same data directory and port.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Why the throwaway cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no PostgreSQL server binaries (initdb, postgres) in $MIGRATE_PG_BINDIR (when set), else `pg_config --bindir`, PATH or /usr/lib/postgresql/*/bin")]
    NoBinaries,
    #[error("running as root, but there is no `postgres` user to run the throwaway server as")]
    NoPostgresUser,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the throwaway server did not start: {log}")]
    NotReady { log: String },
    #[error("the throwaway server is stopped")]
    Stopped,
}

/// What a cluster adds to the usual throwaway setup.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Also listen on 127.0.0.1 at [`TempCluster::port`] (the unix socket stays).
    pub tcp: bool,
    /// Files written into the cluster root before the server starts, owned
    /// by the server's user with mode 0600: (file name, contents). Settings
    /// name them relative to the data directory: `../<name>`.
    pub files: Vec<(String, Vec<u8>)>,
    /// More `postgres -c` settings, after (so overriding) the usual ones.
    pub settings: Vec<String>,
}

/// The bootstrap superuser `initdb -U` creates.
pub const SUPERUSER: &str = "postgres";

/// A running throwaway cluster; stopped and deleted when dropped.
#[derive(Debug)]
pub struct TempCluster {
    root: PathBuf,
    port: u16,
    watchdog: Option<Watchdog>,
}

/// The watchdog shell, the write end of its stdin and its stdout (where it
/// answers `restart`).
#[derive(Debug)]
struct Watchdog {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// `$1` root, `$2` bindir, `$3` socket dir, `$4` port; the rest are server options.
const WATCHDOG: &str = r#"
trap '' INT HUP PIPE
root=$1 bin=$2 sock=$3 port=$4
shift 4
exec 2>>"$root/watchdog.log"
fail() {
    echo "$1" >&2
    echo failed
    tail -n 40 "$root/watchdog.log" "$root/postgres.log" 2>/dev/null
    rm -rf "$root"
    exit 1
}
# pg_isready where the binaries have it; else what `pg_ctl -w` reads: line 8
# of postmaster.pid says `ready` once connections are accepted (PostgreSQL 10+).
ready() {
    if [ -x "$bin/pg_isready" ]; then
        "$bin/pg_isready" -q -h "$sock" -p "$port" -U postgres -d postgres
    else
        [ "$(sed -n 8p "$root/data/postmaster.pid" 2>/dev/null | tr -d ' ')" = ready ]
    fi
}
start() {
    "$bin/postgres" -D "$root/data" "$@" </dev/null >>"$root/postgres.log" 2>&1 &
    pid=$!
    tries=0
    until ready; do
        tries=$((tries + 1))
        if ! kill -0 "$pid" 2>/dev/null || [ "$tries" -gt 600 ]; then
            kill -QUIT "$pid" 2>/dev/null
            wait "$pid"
            fail "the server was not ready after $tries tries"
        fi
        sleep 0.1
    done
}
"$bin/initdb" -D "$root/data" -U postgres --auth=trust --no-sync \
    -E UTF8 --locale=C >&2 || fail "initdb failed"
start "$@"
echo ready
# Blocks until this process closes the pipe or exits. A `restart` line is a
# fast shutdown, as `pg_ctl restart -m fast` does it, then a new server on
# the same data directory and port.
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

impl TempCluster {
    /// Runs `initdb` and starts the server in a new directory
    /// `safe-migrate-trace.<pid>.<n>`; returns once it accepts connections.
    pub fn start() -> Result<TempCluster, ClusterError> {
        TempCluster::start_with("safe-migrate-trace", &ClusterOptions::default())
    }

    /// [`TempCluster::start`] in a directory `<prefix>.<pid>.<n>`, with `options`.
    pub fn start_with(prefix: &str, options: &ClusterOptions) -> Result<TempCluster, ClusterError> {
        let bindir = server_bindir().ok_or(ClusterError::NoBinaries)?;
        let owner = server_owner()?;
        let root = make_root(prefix)?;
        let sock = root.join("sock");
        let io = |what: String| move |source| ClusterError::Io { what, source };
        let give = |path: &Path| match owner {
            Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(io(format!("giving {} to the postgres user", path.display()))),
            None => Ok(()),
        };
        let prepare = || -> Result<(), ClusterError> {
            fs::create_dir(&sock).map_err(io(format!("creating {}", sock.display())))?;
            give(&root)?;
            give(&sock)?;
            fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
                .map_err(io(format!("chmod {}", root.display())))?;
            for (name, contents) in &options.files {
                let path = root.join(name);
                fs::write(&path, contents).map_err(io(format!("writing {}", path.display())))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                    .map_err(io(format!("chmod {}", path.display())))?;
                give(&path)?;
            }
            Ok(())
        };
        let port = match prepare().and_then(|()| free_port()) {
            Ok(port) => port,
            Err(e) => {
                let _ = fs::remove_dir_all(&root);
                return Err(e);
            }
        };
        let mut settings = vec![
            "listen_addresses=".to_string(),
            format!("port={port}"),
            format!("unix_socket_directories={}", sock.display()),
            "fsync=off".to_string(),
            "synchronous_commit=off".to_string(),
            "full_page_writes=off".to_string(),
            "autovacuum=off".to_string(),
            "max_locks_per_transaction=256".to_string(),
            "log_min_messages=warning".to_string(),
        ];
        if options.tcp {
            settings.push("listen_addresses=127.0.0.1".to_string());
        }
        settings.extend(options.settings.iter().cloned());
        let mut cmd = Command::new("sh");
        if let Some((uid, gid)) = owner {
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir(&root)
            .arg("-c")
            .arg(WATCHDOG)
            .arg(format!("{prefix}-watchdog"))
            .arg(&root)
            .arg(&bindir)
            .arg(&sock)
            .arg(port.to_string());
        for setting in &settings {
            cmd.arg("-c").arg(setting);
        }
        // Its own process group, so a Ctrl-C aimed at us does not kill it
        // before it cleans up (it sees our end of the pipe close instead).
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(source) => {
                let _ = fs::remove_dir_all(&root);
                return Err(ClusterError::Io {
                    what: "starting the watchdog shell".into(),
                    source,
                });
            }
        };
        // From here on the watchdog deletes the directory.
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        if line.trim() != "ready" {
            let mut log = String::new();
            let _ = stdout.read_to_string(&mut log);
            drop(stdin);
            let _ = child.wait();
            return Err(ClusterError::NotReady {
                log: format!("{line}{log}").trim().to_string(),
            });
        }
        Ok(TempCluster {
            root,
            port,
            watchdog: Some(Watchdog { child, stdin, stdout }),
        })
    }

    /// A `postgres://` URL for `dbname` as the superuser, over the socket.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@/{dbname}?host={}&port={}",
            url_encode(&self.socket_dir().to_string_lossy()),
            self.port
        )
    }

    /// The cluster's directory (`data/`, `sock/`, the [`ClusterOptions::files`]).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the server's unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    /// The port, of the unix socket and (with [`ClusterOptions::tcp`]) of 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A fast shutdown (every session is terminated with SQLSTATE 57P01, as
    /// by `pg_ctl restart -m fast`), then a new server on the same data
    /// directory, socket and port; returns when it accepts connections.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        let watchdog = self.watchdog.as_mut().ok_or(ClusterError::Stopped)?;
        let io = |what: &str| {
            let what = what.to_string();
            move |source| ClusterError::Io { what, source }
        };
        writeln!(watchdog.stdin, "restart").map_err(io("asking the watchdog to restart"))?;
        watchdog
            .stdin
            .flush()
            .map_err(io("asking the watchdog to restart"))?;
        let mut line = String::new();
        watchdog
            .stdout
            .read_line(&mut line)
            .map_err(io("reading the watchdog's answer"))?;
        if line.trim() != "restarted" {
            let mut log = String::new();
            let _ = watchdog.stdout.read_to_string(&mut log);
            return Err(ClusterError::NotReady {
                log: format!("{line}{log}").trim().to_string(),
            });
        }
        Ok(())
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if let Some(Watchdog {
            mut child,
            stdin,
            stdout,
        }) = self.watchdog.take()
        {
            drop(stdin);
            drop(stdout);
            let _ = child.wait();
        }
    }
}

/// A new, private directory `<prefix>.<pid>.<n>` under the temp dir.
fn make_root(prefix: &str) -> Result<PathBuf, ClusterError> {
    let base = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last = None;
    for attempt in 0..100u32 {
        let dir = base.join(format!(
            "{prefix}.{}.{}",
            std::process::id(),
            nanos.wrapping_add(attempt)
        ));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(source) => {
                return Err(ClusterError::Io {
                    what: format!("creating a directory in {}", base.display()),
                    source,
                })
            }
        }
    }
    Err(ClusterError::Io {
        what: format!("creating a directory in {}", base.display()),
        source: last.unwrap_or_else(|| std::io::Error::other("no free name")),
    })
}

/// `Some((uid, gid))` of the `postgres` user when we run as root, else
/// `None`: the user the server runs as (`initdb` and `postgres` refuse root).
pub fn server_owner() -> Result<Option<(u32, u32)>, ClusterError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let from_passwd = passwd.split('\n').find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    });
    if from_passwd.is_some() {
        return Ok(from_passwd);
    }
    // Users from NSS (LDAP, systemd-userdb…) are not in /etc/passwd.
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Ok(Some((uid, gid))),
        _ => Err(ClusterError::NoPostgresUser),
    }
}

/// The environment variable naming the directory of the server binaries
/// to use instead of the installed ones.
pub const BINDIR_VAR: &str = "MIGRATE_PG_BINDIR";

/// The directory holding `initdb` and `postgres` (and usually `pg_isready`).
/// `None` when there is none, or when [`BINDIR_VAR`] names a directory
/// without them.
pub fn server_bindir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os(BINDIR_VAR).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return has_server(&dir).then_some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_server(d)) {
            // A symlinked initdb finds its siblings by its real path.
            let real = fs::canonicalize(dir.join("initdb")).ok();
            return Some(
                real.and_then(|p| p.parent().map(Path::to_path_buf))
                    .unwrap_or(dir),
            );
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
    versioned.pop().map(|(_, bin)| bin)
}

/// A TCP port nothing listens on now; the server only uses it to name its socket.
fn free_port() -> Result<u16, ClusterError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| ClusterError::Io {
            what: "finding a free port".into(),
            source,
        })
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
