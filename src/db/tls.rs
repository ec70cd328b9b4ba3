//! TLS for the connection, with libpq's meaning of `sslmode`, `sslrootcert`,
//! `sslcert` and `sslkey`.
//!
//! `postgres::Config` understands only `sslmode=disable|prefer|require` and
//! rejects libpq's other TLS parameters as unknown options, so [`split`]
//! takes those four out of the connection string (a `postgres://` URL or
//! `key=value` pairs) and leaves the rest, verbatim, for `postgres::Config`
//! to parse. [`connector`] then builds the OpenSSL connector (through
//! `native-tls`) that the mode asks for:
//!
//! | `sslmode` | encrypted | chain verified | host name verified |
//! |---|---|---|---|
//! | `disable` | no | – | – |
//! | `allow` | only if plain is refused | no | no |
//! | `prefer` (default) | if the server offers it | no | no |
//! | `require` | yes | only with `sslrootcert` (then as `verify-ca`) | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! The chain is verified against the certificates of `sslrootcert` (a PEM
//! file) alone, or against the system's roots when it is absent or `system`.
//!
//! A client certificate (for `cert` authentication, or `clientcert=verify-*`
//! in `pg_hba.conf`, as managed databases ask) is sent when there is one: as
//! with libpq, `sslcert` (a PEM file: the certificate, then any
//! intermediates) and `sslkey` (a PEM private key: PKCS#8, PKCS#1 or SEC1),
//! defaulting to `~/.postgresql/postgresql.crt` and `postgresql.key` when
//! those exist. Unlike libpq, a `sslcert` that is named and missing is an
//! error rather than silently no certificate. The key file must not be
//! readable by group or others (libpq's rule: `0600` or less when owned by
//! the current user, `0640` or less when owned by root), and must not be
//! encrypted (`sslpassword` is not supported).
//! This module builds values; [`super::connect`] does the connecting.

use std::path::{Path, PathBuf};

/// libpq's `sslmode`, all six of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The mode as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// The system's store (no `sslrootcert`, or `sslrootcert=system`).
    System,
    /// Only the certificates in this PEM (or DER) file.
    File(PathBuf),
}

/// The TLS parameters of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    /// `prefer` when the string does not say, as with libpq.
    pub mode: SslMode,
    pub roots: RootCerts,
    /// `sslcert`, as given (`None`: `~/.postgresql/postgresql.crt` if it exists).
    pub cert: Option<PathBuf>,
    /// `sslkey`, as given (`None`: `~/.postgresql/postgresql.key`).
    pub key: Option<PathBuf>,
}

/// Splits `sslmode`, `sslrootcert`, `sslcert` and `sslkey` off `conn`: the rest of the string
/// (for `postgres::Config`) and the TLS parameters. The error is a message
/// that never contains the string itself (it may hold a password).
///
/// ```
/// use safe_migrate::db::tls::{split, RootCerts, SslMode};
/// let (rest, tls) = split("postgres://u@db/app?sslmode=verify-full&sslrootcert=%2Fca.pem&connect_timeout=5").unwrap();
/// assert_eq!(rest, "postgres://u@db/app?connect_timeout=5");
/// assert_eq!((tls.mode, tls.roots), (SslMode::VerifyFull, RootCerts::File("/ca.pem".into())));
///
/// let (rest, tls) = split("host=db sslmode='require' user=u").unwrap();
/// assert_eq!((rest.as_str(), tls.mode), ("host=db user=u", SslMode::Require));
///
/// assert!(split("postgres://db/app?sslmode=sometimes").is_err());
/// ```
pub fn split(conn: &str) -> Result<(String, TlsParams), String> {
    let is_url = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
    let (rest, pairs) = if is_url {
        split_url(conn)
    } else {
        split_key_values(conn)
    };
    let mut params = TlsParams {
        mode: SslMode::Prefer,
        roots: RootCerts::System,
        cert: None,
        key: None,
    };
    let path = |value: String| (!value.is_empty()).then(|| PathBuf::from(value));
    for (key, value) in pairs {
        match key.as_str() {
            "sslcert" => params.cert = path(value),
            "sslkey" => params.key = path(value),
            "sslmode" => {
                params.mode = SslMode::parse(&value).ok_or_else(|| {
                    format!(
                        "sslmode={value} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    )
                })?;
            }
            _ if value.is_empty() || value == "system" => params.roots = RootCerts::System,
            _ => params.roots = RootCerts::File(PathBuf::from(value)),
        }
    }
    Ok((rest, params))
}

const TAKEN: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// The URL without the taken query parameters, and their decoded values.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if TAKEN.contains(&key.as_str()) {
            taken.push((key, percent_decode(value)));
        } else if !pair.is_empty() {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, taken)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `key=value` string without the taken pairs, and their unquoted values.
/// Values are quoted with `'…'` and escape with `\`, as libpq's are.
fn split_key_values(conn: &str) -> (String, Vec<(String, String)>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut taken = Vec::new();
    let mut chars = conn.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else { break };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '=').is_some() {
            while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '\'' if quoted => break,
                    c if c.is_whitespace() && !quoted => break,
                    c => value.push(c),
                }
            }
        }
        let end = chars.peek().map_or(conn.len(), |&(i, _)| i);
        if TAKEN.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            kept.push(conn[start..end].trim_end());
        }
    }
    (kept.join(" "), taken)
}

/// The connector `params` ask for. `Err` is a message for the user, e.g.
/// an unreadable `sslrootcert`.
pub fn connector(params: &TlsParams) -> Result<postgres_native_tls::MakeTlsConnector, String> {
    let mut builder = native_tls::TlsConnector::builder();
    let verify_chain = match (params.mode, &params.roots) {
        (SslMode::VerifyCa | SslMode::VerifyFull, _) => true,
        // libpq: `require` with a root certificate verifies the chain as `verify-ca`.
        (SslMode::Require, RootCerts::File(_)) => true,
        _ => false,
    };
    if verify_chain {
        if let RootCerts::File(path) = &params.roots {
            let shown = path.display();
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read sslrootcert {shown}: {e}"))?;
            let certs = if bytes.windows(10).any(|w| w == b"-----BEGIN") {
                native_tls::Certificate::stack_from_pem(&bytes)
            } else {
                native_tls::Certificate::from_der(&bytes).map(|c| vec![c])
            }
            .map_err(|e| format!("sslrootcert {shown} holds no usable certificate: {e}"))?;
            if certs.is_empty() {
                return Err(format!("sslrootcert {shown} holds no certificate"));
            }
            builder.disable_built_in_roots(true);
            for cert in certs {
                builder.add_root_certificate(cert);
            }
        }
    } else {
        builder.danger_accept_invalid_certs(true);
    }
    builder.danger_accept_invalid_hostnames(params.mode != SslMode::VerifyFull);
    if let Some(identity) = client_identity(params)? {
        builder.identity(identity);
    }
    let connector = builder.build().map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok(postgres_native_tls::MakeTlsConnector::new(connector))
}

/// `~/.postgresql/<name>`, libpq's default place for client files.
fn default_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".postgresql").join(name))
}

/// The client certificate and key to send, if any (see the module docs).
fn client_identity(params: &TlsParams) -> Result<Option<native_tls::Identity>, String> {
    let cert = match &params.cert {
        Some(cert) => cert.clone(),
        None => match default_file("postgresql.crt") {
            Some(cert) if cert.is_file() => cert,
            _ => return Ok(None),
        },
    };
    let key = match &params.key {
        Some(key) => key.clone(),
        None => default_file("postgresql.key").unwrap_or_else(|| cert.with_extension("key")),
    };
    identity(&cert, &key).map(Some)
}

/// Reads a PEM certificate (chain) and its PEM private key as libpq would.
pub fn identity(cert: &Path, key: &Path) -> Result<native_tls::Identity, String> {
    let (cert_shown, key_shown) = (cert.display(), key.display());
    let cert_pem = std::fs::read(cert).map_err(|e| format!("cannot read sslcert {cert_shown}: {e}"))?;
    let x509 = openssl::x509::X509::from_pem(&cert_pem)
        .map_err(|e| format!("sslcert {cert_shown} holds no PEM certificate: {e}"))?;
    let meta = std::fs::metadata(key).map_err(|e| format!("cannot read sslkey {key_shown}: {e}"))?;
    check_key_mode(&meta).map_err(|rule| format!("sslkey {key_shown} has group or world access; {rule}"))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("cannot read sslkey {key_shown}: {e}"))?;
    if key_pem.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(format!(
            "sslkey {key_shown} is encrypted, and sslpassword is not supported: \
             decrypt it (`openssl pkey -in KEY -out KEY.plain`) and keep it mode 0600"
        ));
    }
    // Never let OpenSSL prompt on the terminal for a passphrase.
    let pkey = openssl::pkey::PKey::private_key_from_pem_callback(&key_pem, |_| Ok(0))
        .map_err(|e| format!("sslkey {key_shown} holds no PEM private key: {e}"))?;
    let public = x509
        .public_key()
        .map_err(|e| format!("sslcert {cert_shown}: {e}"))?;
    if !public.public_eq(&pkey) {
        return Err(format!(
            "sslkey {key_shown} is not the key of sslcert {cert_shown}"
        ));
    }
    // native-tls takes PKCS#8 only; libpq also reads PKCS#1 and SEC1 keys.
    let pkcs8 = pkey
        .private_key_to_pem_pkcs8()
        .map_err(|e| format!("sslkey {key_shown}: {e}"))?;
    native_tls::Identity::from_pkcs8(&cert_pem, &pkcs8).map_err(|e| format!("sslcert {cert_shown}: {e}"))
}

/// libpq's rule for a private key file: `u=rw` (0600) or less when owned by
/// the current user, `u=rw,g=r` (0640) or less when owned by root.
fn check_key_mode(meta: &std::fs::Metadata) -> Result<(), &'static str> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() == euid && mode & 0o077 != 0 {
        return Err("it must be mode 0600 or less when owned by the current user (chmod 600 it)");
    }
    if meta.uid() == 0 && mode & 0o037 != 0 {
        return Err("it must be mode 0640 or less when owned by root");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(conn: &str) -> SslMode {
        split(conn).unwrap().1.mode
    }

    #[test]
    fn defaults_to_prefer_like_libpq() {
        assert_eq!(mode("postgres://u@db/app"), SslMode::Prefer);
        assert_eq!(mode("host=db user=u"), SslMode::Prefer);
    }

    #[test]
    fn takes_the_tls_parameters_out_of_a_url() {
        let (rest, tls) =
            split("postgres://u:pw@db:5432/app?sslrootcert=/etc/ca.pem&application_name=x&sslmode=verify-ca")
                .unwrap();
        assert_eq!(rest, "postgres://u:pw@db:5432/app?application_name=x");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(tls.roots, RootCerts::File("/etc/ca.pem".into()));
        let (rest, tls) = split("postgresql://db/app?sslmode=require&sslrootcert=system").unwrap();
        assert_eq!(
            (rest.as_str(), tls.roots),
            ("postgresql://db/app", RootCerts::System)
        );
    }

    #[test]
    fn takes_the_tls_parameters_out_of_key_values() {
        let (rest, tls) = split(
            "host=db  sslrootcert = '/my certs/ca.pem' password='a b\\'c' sslmode=verify-full port=5432",
        )
        .unwrap();
        assert_eq!(rest, "host=db password='a b\\'c' port=5432");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.roots, RootCerts::File("/my certs/ca.pem".into()));
    }

    #[test]
    fn takes_the_client_certificate_and_key() {
        let (rest, tls) = split(
            "postgres://u@db/app?sslcert=%2Fc%2Fclient.crt&application_name=x&sslkey=/c/client.key&sslmode=require",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@db/app?application_name=x");
        assert_eq!(tls.cert, Some("/c/client.crt".into()));
        assert_eq!(tls.key, Some("/c/client.key".into()));
        let (rest, tls) = split("host=db sslcert='/my certs/c.crt' user=u").unwrap();
        assert_eq!(rest, "host=db user=u");
        assert_eq!((tls.cert, tls.key), (Some("/my certs/c.crt".into()), None));
    }

    #[test]
    fn reports_a_named_client_certificate_that_is_missing() {
        let params = TlsParams {
            mode: SslMode::Require,
            roots: RootCerts::System,
            cert: Some("/nonexistent/client.crt".into()),
            key: None,
        };
        let Err(e) = connector(&params) else {
            panic!("built a connector without its client certificate")
        };
        assert!(e.contains("cannot read sslcert /nonexistent/client.crt"), "{e}");
    }

    #[test]
    fn rejects_an_unknown_mode_without_quoting_the_string() {
        let e = split("postgres://u:secret@db/app?sslmode=always").unwrap_err();
        assert!(e.contains("sslmode=always"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn reports_an_unreadable_root_certificate() {
        let params = TlsParams {
            mode: SslMode::VerifyFull,
            roots: RootCerts::File("/nonexistent/ca.pem".into()),
            cert: None,
            key: None,
        };
        let Err(e) = connector(&params) else {
            panic!("built a connector without its root certificate")
        };
        assert!(e.contains("cannot read sslrootcert /nonexistent/ca.pem"), "{e}");
    }
}
