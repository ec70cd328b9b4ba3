//! Connecting: a URL or key-value string with libpq's TLS settings
//! (`sslmode`, `sslrootcert`, client certificates; see [`super::tls`]),
//! errors that never contain the password, and [`redact_url`] for showing a
//! URL.

use super::tls;
use super::{error_text, DbError};

/// `url` with any password replaced by `***`: the user part of a
/// `postgres://user:password@host` URL, a `password=` query parameter, and a
/// `password=` key of a key-value connection string (quoted or not, with
/// spaces around `=` or not).
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                out.replace_range(start..rest_start + at, "***");
            }
        }
    }
    let mut search = 0;
    while let Some(found) = out[search..].find("password") {
        let key_end = search + found + "password".len();
        // `password=x`, `password = x` (key-value) and `password='a b'`.
        let after_key = out[key_end..].trim_start();
        let Some(value) = after_key.strip_prefix('=') else {
            search = key_end;
            continue;
        };
        let value = value.trim_start();
        let start = out.len() - value.len();
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            let close = quoted.char_indices().find(|&(_, c)| {
                let closes = c == '\'' && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            });
            close.map_or(out.len(), |(i, _)| start + 1 + i + 1)
        } else {
            value
                .find(|c: char| c == '&' || c.is_whitespace())
                .map_or(out.len(), |i| start + i)
        };
        out.replace_range(start..end, "***");
        search = start + 3;
    }
    out
}

/// Connects with the URL (or key-value string), with TLS as its `sslmode`
/// says (libpq's meaning, `prefer` by default; see [`tls`]). No message
/// built here contains the password.
pub fn connect(url: &str) -> Result<postgres::Client, DbError> {
    connect_as(url, "safe-migrate apply", |_| {})
}

/// [`connect`] as `application_name`, with `configure` applied to the
/// connection settings first (a notice callback, say).
pub fn connect_as(
    url: &str,
    application_name: &str,
    configure: impl FnOnce(&mut postgres::Config),
) -> Result<postgres::Client, DbError> {
    use postgres::config::SslMode as Negotiate;
    use tls::SslMode;
    let shown = redact_url(url);
    let bad_url = |message: String| DbError::BadUrl {
        url: shown.clone(),
        message,
    };
    let (rest, params) = tls::split(url).map_err(bad_url)?;
    let mut config: postgres::Config = rest
        .parse()
        .map_err(|e: postgres::Error| bad_url(scrub(&e.to_string(), url)))?;
    config.application_name(application_name);
    configure(&mut config);
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let connector = tls::connector(&params).map_err(|message| DbError::TlsSetup {
        url: shown.clone(),
        message,
    })?;
    let plain = |config: &mut postgres::Config| config.ssl_mode(Negotiate::Disable).connect(postgres::NoTls);
    // libpq ignores sslmode on unix sockets, where PostgreSQL never offers TLS.
    let unix_only = config.get_hostaddrs().is_empty()
        && !config.get_hosts().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, postgres::config::Host::Unix(_)));
    let result = match params.mode {
        _ if unix_only => plain(&mut config),
        SslMode::Disable => plain(&mut config),
        // libpq: `allow` tries without TLS first, `prefer` with TLS first;
        // either falls back to the other when the first try fails.
        SslMode::Allow => {
            plain(&mut config).or_else(|_| config.ssl_mode(Negotiate::Require).connect(connector.clone()))
        }
        SslMode::Prefer => match config.ssl_mode(Negotiate::Prefer).connect(connector.clone()) {
            Err(e) if is_tls_failure(&e) => plain(&mut config),
            other => other,
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            config.ssl_mode(Negotiate::Require).connect(connector)
        }
    };
    result.map_err(|e| {
        let mut message = error_text(&e);
        // The handshake error says only that it failed; OpenSSL says why
        // (`certificate verify failed … (hostname mismatch)`).
        if let Some(cause) = std::error::Error::source(&e).filter(|_| is_tls_failure(&e)) {
            message = format!("{message}: {cause}");
        }
        if let Some(p) = password.as_deref().filter(|p| !p.is_empty()) {
            message = message.replace(p, "***");
        }
        let message = scrub(&message, url);
        if is_tls_failure(&e) {
            DbError::Tls {
                url: shown,
                mode: params.mode.as_str(),
                message,
            }
        } else {
            DbError::Connect { url: shown, message }
        }
    })
}

/// Whether the TLS handshake itself failed (a certificate or host name that
/// does not verify), as opposed to the server refusing the connection.
fn is_tls_failure(e: &postgres::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.downcast_ref::<native_tls::Error>().is_some())
}

/// Removes the URL and its password from a message, in case a library quoted them.
fn scrub(message: &str, url: &str) -> String {
    message.replace(url, &redact_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_every_form() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/app"),
            "postgres://bob:***@db:5432/app"
        );
        assert_eq!(redact_url("postgres://bob@db/app"), "postgres://bob@db/app");
        assert_eq!(
            redact_url("postgres://db/app?user=bob&password=s3cret&sslmode=disable"),
            "postgres://db/app?user=bob&password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("host=db password=s3cret user=bob"),
            "host=db password=*** user=bob"
        );
    }

    #[test]
    fn redacts_passwords_among_tls_parameters() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db/app?sslmode=verify-full&sslrootcert=/ca.pem"),
            "postgres://bob:***@db/app?sslmode=verify-full&sslrootcert=/ca.pem"
        );
        assert_eq!(
            redact_url("postgres://db/app?sslrootcert=/ca.pem&password=s3cret&sslmode=require"),
            "postgres://db/app?sslrootcert=/ca.pem&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("host=db password = 's3 c\\'ret' sslmode=require"),
            "host=db password = *** sslmode=require"
        );
        assert_eq!(redact_url("host=db password='s3 cret"), "host=db password=***");
    }

    #[test]
    fn a_bad_sslmode_is_a_bad_url_without_the_password() {
        let Err(e) = connect("postgres://u:pw-secret@localhost/db?sslmode=always") else {
            panic!("connected with an unknown sslmode")
        };
        assert!(matches!(e, DbError::BadUrl { .. }), "{e}");
        assert!(e.to_string().contains("sslmode=always"), "{e}");
        assert!(!e.to_string().contains("pw-secret"), "{e}");
    }
}
