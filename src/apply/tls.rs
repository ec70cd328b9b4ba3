//! TLS for the connection, with libpq's meaning of `sslmode` and `sslrootcert`.
//!
//! `postgres::Config` understands only `sslmode=disable|prefer|require` and
//! rejects libpq's other TLS parameters as unknown options, so [`split`]
//! takes `sslmode` and `sslrootcert` out of the connection string (a
//! `postgres://` URL or `key=value` pairs) and leaves the rest, verbatim, for
//! `postgres::Config` to parse. [`connector`] then builds the OpenSSL
//! connector (through `native-tls`) that the mode asks for:
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
//! This module builds values; [`super::connect`] does the connecting.

use std::path::PathBuf;

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
}

/// Splits `sslmode` and `sslrootcert` off `conn`: the rest of the string
/// (for `postgres::Config`) and the TLS parameters. The error is a message
/// that never contains the string itself (it may hold a password).
///
/// ```
/// use safe_migrate::apply::tls::{split, RootCerts, SslMode};
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
    };
    for (key, value) in pairs {
        match key.as_str() {
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

const TAKEN: [&str; 2] = ["sslmode", "sslrootcert"];

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
    let connector = builder.build().map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok(postgres_native_tls::MakeTlsConnector::new(connector))
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
        };
        let Err(e) = connector(&params) else {
            panic!("built a connector without its root certificate")
        };
        assert!(e.contains("cannot read sslrootcert /nonexistent/ca.pem"), "{e}");
    }
}
