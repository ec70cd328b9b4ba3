//! TLS against real PostgreSQL: a cluster of this binary's own (the shared
//! one of the other tests is untouched) with `ssl=on`, a self-signed
//! certificate for `localhost` made with `openssl req -x509`, listening on
//! 127.0.0.1. Each `sslmode` is checked by asking the server itself
//! (`pg_stat_ssl`) whether the session is encrypted.
//!
//! `hostaddr=127.0.0.1` fixes where the connection goes, so the host in the
//! URL is only the name the certificate is checked against: `localhost`
//! (in the certificate) or `wrong.invalid` (not).
//!
//! Client certificates: the role `certuser` may log in over TLS only with
//! `cert` authentication (`pg_hba.conf`), which takes the user from the
//! certificate's CN; the server trusts the self-signed `certuser`
//! certificate as its `ssl_ca_file`.

mod support;

use safe_migrate::apply::ApplyError;
use safe_migrate::db::DbError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use support::migrate::{assert_exit, assert_stderr_has, assert_stdout_has, migrate, migrate_cmd, migrations};
use support::{own_cluster, Cluster, ClusterOptions};

/// Makes a self-signed certificate `{name}.crt` and key `{name}.key` (mode
/// 0600) for the common name `cn` in `dir`.
fn self_signed(dir: &Path, name: &str, cn: &str) -> (Vec<u8>, Vec<u8>) {
    let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
        ])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-addext", &format!("subjectAltName=DNS:{cn}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("running openssl (the openssl command line tool is needed for this test)");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (std::fs::read(crt).unwrap(), std::fs::read(key).unwrap())
}

/// The directory of certificates and keys the tests make, kept for the
/// whole run: `server`, `other` (for `localhost`) and `client` (for
/// `certuser`), each `.crt` and `.key`.
fn material() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The TLS cluster, started on first use; its root holds `server.crt` (the
/// server's certificate, also the client's root) and `other.crt` (an
/// unrelated self-signed certificate).
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<&'static Cluster, String>> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| {
        let dir = material();
        let (crt, key) = self_signed(dir, "server", "localhost");
        let (other, _) = self_signed(dir, "other", "localhost");
        let (client, _) = self_signed(dir, "client", "certuser");
        // hba_file is not read relative to the data directory, so it
        // lives here, readable by the server's user.
        let hba = dir.join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust\n\
             hostssl all certuser 127.0.0.1/32 cert\n\
             host all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        std::fs::set_permissions(&hba, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cluster = own_cluster(&ClusterOptions {
            tcp: true,
            files: vec![
                ("server.crt".into(), crt),
                ("server.key".into(), key),
                ("other.crt".into(), other),
                ("client-ca.crt".into(), client),
            ],
            settings: vec![
                "ssl=on".into(),
                "ssl_cert_file=../server.crt".into(),
                "ssl_key_file=../server.key".into(),
                "ssl_ca_file=../client-ca.crt".into(),
                format!("hba_file={}", hba.display()),
            ],
        })?;
        let mut admin = safe_migrate::db::connect(&cluster.url("postgres")).map_err(|e| e.to_string())?;
        admin
            .batch_execute("CREATE ROLE certuser LOGIN")
            .map_err(|e| e.to_string())?;
        Ok(cluster)
    });
    match cluster {
        Ok(cluster) => cluster,
        Err(e) => panic!("no TLS cluster: {e}"),
    }
}

fn root_cert(name: &str) -> PathBuf {
    cluster().root().join(name)
}

/// `postgres://postgres@{host}:{port}/postgres?hostaddr=127.0.0.1&{params}`.
fn url(host: &str, params: &str) -> String {
    format!(
        "postgres://postgres@{host}:{}/postgres?hostaddr=127.0.0.1&{params}",
        cluster().port()
    )
}

/// Whether the session `url` connects with is encrypted, as the server sees it.
fn encrypted(url: &str) -> Result<bool, ApplyError> {
    let mut client = safe_migrate::db::connect(url)?;
    let row = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .unwrap();
    Ok(row.get(0))
}

#[test]
fn require_encrypts_without_verifying_the_certificate() {
    // The certificate is self-signed and `wrong.invalid` is not its name:
    // `require` does not care.
    assert!(encrypted(&url("wrong.invalid", "sslmode=require")).unwrap());
}

#[test]
fn require_with_a_root_certificate_verifies_the_chain() {
    let good = format!(
        "sslmode=require&sslrootcert={}",
        root_cert("server.crt").display()
    );
    assert!(encrypted(&url("wrong.invalid", &good)).unwrap());
    let bad = format!("sslmode=require&sslrootcert={}", root_cert("other.crt").display());
    let e = encrypted(&url("localhost", &bad)).unwrap_err();
    assert!(matches!(e, ApplyError::Db(DbError::Tls { .. })), "{e}");
}

#[test]
fn verify_full_accepts_the_right_host_and_root() {
    let params = format!(
        "sslmode=verify-full&sslrootcert={}",
        root_cert("server.crt").display()
    );
    assert!(encrypted(&url("localhost", &params)).unwrap());
}

#[test]
fn verify_full_refuses_a_host_name_not_in_the_certificate() {
    let params = format!(
        "sslmode=verify-full&sslrootcert={}",
        root_cert("server.crt").display()
    );
    let e = encrypted(&url("wrong.invalid", &params)).unwrap_err();
    assert!(matches!(e, ApplyError::Db(DbError::Tls { .. })), "{e}");
    let message = e.to_string();
    assert!(message.contains("sslmode=verify-full"), "{message}");
    assert!(message.contains("certificate verify failed"), "{message}");
    assert!(message.contains("hostname mismatch"), "{message}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let params = format!(
        "sslmode=verify-ca&sslrootcert={}",
        root_cert("server.crt").display()
    );
    assert!(encrypted(&url("wrong.invalid", &params)).unwrap());
    // Without sslrootcert the system's roots are used, and they do not
    // vouch for a self-signed certificate.
    let e = encrypted(&url("localhost", "sslmode=verify-ca")).unwrap_err();
    assert!(matches!(e, ApplyError::Db(DbError::Tls { .. })), "{e}");
    assert!(e.to_string().contains("certificate verify failed"), "{e}");
}

#[test]
fn disable_connects_in_the_clear_and_prefer_encrypts() {
    assert!(!encrypted(&url("localhost", "sslmode=disable")).unwrap());
    assert!(encrypted(&url("localhost", "sslmode=prefer")).unwrap());
    // libpq's default is `prefer`.
    assert!(encrypted(&url("localhost", "connect_timeout=10")).unwrap());
    // `allow` tries without TLS first, and this server takes that.
    assert!(!encrypted(&url("localhost", "sslmode=allow")).unwrap());
}

/// A migrations directory with one migration.
fn one_migration() -> tempfile::TempDir {
    migrations(&[("V1__create.sql", "CREATE TABLE t (id int);\n")])
}

/// The TLS parameters that verify the server's certificate and host name.
fn verify_full() -> String {
    format!(
        "sslmode=verify-full&sslrootcert={}",
        root_cert("server.crt").display()
    )
}

#[test]
fn the_cli_reports_a_failed_verification_without_the_password() {
    let dir = one_migration();
    let secret = "tls-sekrit-7";
    let run = |host: &str| {
        let url = url(host, &verify_full()).replacen("postgres@", &format!("postgres:{secret}@"), 1);
        migrate(dir.path(), &url, &["status"])
    };
    let out = run("wrong.invalid");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("hostname mismatch"), "{stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
    assert!(stderr.contains("postgres:***@wrong.invalid"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));

    let out = run("localhost");
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pending"));
}

#[test]
fn sslmode_is_ignored_on_a_unix_socket_as_libpq_does() {
    let url = format!("{}&sslmode=verify-full", cluster().url("postgres"));
    assert!(!encrypted(&url).unwrap());
}

#[test]
fn trace_connects_as_apply_does() {
    let mut admin = safe_migrate::db::connect(&url("localhost", "sslmode=require")).unwrap();
    admin.batch_execute("CREATE DATABASE trace_tls").unwrap();
    let dir = one_migration();
    let run = |host: &str| {
        let url = url(host, &verify_full()).replace("/postgres?", "/trace_tls?");
        migrate(dir.path(), &url, &["trace"])
    };
    let out = run("wrong.invalid");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("hostname mismatch"), "{stderr}");
    let out = run("localhost");
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("V1__create.sql"));
}

/// A URL for `certuser` that verifies the server, with `params` after.
fn certuser_url(params: &str) -> String {
    url("localhost", &format!("{}&{params}", verify_full())).replacen("postgres@", "certuser@", 1)
}

/// `sslcert=…&sslkey=…` for the client certificate and the key file `key`.
fn client_files(key: &str) -> String {
    format!(
        "sslcert={}&sslkey={}",
        material().join("client.crt").display(),
        material().join(key).display()
    )
}

/// Who the server says the session is, and the certificate it saw.
fn session_user_and_dn(url: &str) -> (String, String) {
    let mut client = safe_migrate::db::connect(url).unwrap_or_else(|e| panic!("{e}"));
    let row = client
        .query_one(
            "SELECT current_user::text, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn a_client_certificate_logs_in_with_its_common_name() {
    cluster();
    let (user, dn) = session_user_and_dn(&certuser_url(&client_files("client.key")));
    assert_eq!((user.as_str(), dn.as_str()), ("certuser", "/CN=certuser"));

    // libpq also reads a SEC1 (`BEGIN EC PRIVATE KEY`) key.
    let sec1 = material().join("client-sec1.key");
    let out = Command::new("openssl")
        .args(["ec", "-in"])
        .arg(material().join("client.key"))
        .arg("-out")
        .arg(&sec1)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::set_permissions(&sec1, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(std::fs::read_to_string(&sec1)
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let (user, _) = session_user_and_dn(&certuser_url(&client_files("client-sec1.key")));
    assert_eq!(user, "certuser");
}

#[test]
fn the_cli_connects_with_a_client_certificate_and_fails_without_one() {
    let dir = one_migration();
    // An empty HOME: no ~/.postgresql/postgresql.crt to fall back on.
    let home = tempfile::tempdir().unwrap();
    let run = |url: &str| {
        migrate_cmd(dir.path(), url, &["status"])
            .env("HOME", home.path())
            .output()
            .unwrap()
    };
    let out = run(&certuser_url("connect_timeout=10"));
    assert_exit(&out, 2);
    assert_stderr_has(&out, "certificate");
    let out = run(&certuser_url(&client_files("client.key")));
    assert_exit(&out, 0);
    assert_stdout_has(&out, "pending");
}

#[test]
fn an_open_or_wrong_client_key_is_refused_before_connecting() {
    cluster();
    let open = material().join("client-open.key");
    std::fs::copy(material().join("client.key"), &open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let Err(e) = safe_migrate::db::connect(&certuser_url(&client_files("client-open.key"))) else {
        panic!("connected with a key file others may read")
    };
    assert!(matches!(e, DbError::TlsSetup { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("client-open.key has group or world access"),
        "{e}"
    );
    assert_eq!(ApplyError::from(e).exit_code(), 2);

    let Err(e) = safe_migrate::db::connect(&certuser_url(&client_files("other.key"))) else {
        panic!("connected with another certificate's key")
    };
    assert!(matches!(e, DbError::TlsSetup { .. }), "{e}");
    assert!(
        e.to_string().contains("other.key is not the key of sslcert"),
        "{e}"
    );
}
