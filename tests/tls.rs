//! TLS against real PostgreSQL: a cluster of this binary's own (the shared
//! one of the other tests is untouched) with `ssl=on`, a self-signed
//! certificate for `localhost` made with `openssl req -x509`, listening on
//! 127.0.0.1. Each `sslmode` is checked by asking the server itself
//! (`pg_stat_ssl`) whether the session is encrypted.
//!
//! `hostaddr=127.0.0.1` fixes where the connection goes, so the host in the
//! URL is only the name the certificate is checked against: `localhost`
//! (in the certificate) or `wrong.invalid` (not).

mod support;

use safe_migrate::apply::{self, ApplyError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use support::migrate::{assert_exit, migrate, migrations};
use support::{own_cluster, Cluster, ClusterOptions};

/// Makes a self-signed certificate and key for `localhost` in `dir`.
fn self_signed(dir: &Path, name: &str) -> (Vec<u8>, Vec<u8>) {
    let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
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
    (std::fs::read(crt).unwrap(), std::fs::read(key).unwrap())
}

/// The TLS cluster, started on first use; its root holds `server.crt` (the
/// server's certificate, also the client's root) and `other.crt` (an
/// unrelated self-signed certificate).
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<&'static Cluster, String>> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (crt, key) = self_signed(dir.path(), "server");
        let (other, _) = self_signed(dir.path(), "other");
        own_cluster(&ClusterOptions {
            tcp: true,
            files: vec![
                ("server.crt".into(), crt),
                ("server.key".into(), key),
                ("other.crt".into(), other),
            ],
            settings: vec![
                "ssl=on".into(),
                "ssl_cert_file=../server.crt".into(),
                "ssl_key_file=../server.key".into(),
            ],
        })
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
    let mut client = apply::connect(url)?;
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
    assert!(matches!(e, ApplyError::Tls { .. }), "{e}");
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
    assert!(matches!(e, ApplyError::Tls { .. }), "{e}");
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
    assert!(matches!(e, ApplyError::Tls { .. }), "{e}");
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
    let mut admin = apply::connect(&url("localhost", "sslmode=require")).unwrap();
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
