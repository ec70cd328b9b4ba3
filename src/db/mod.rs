//! The database edge: what every command that talks to PostgreSQL shares.
//! Connections with libpq's TLS settings ([`connect`], [`tls`]), the
//! server's version, error text with its SQLSTATE, and the [`catalog`]
//! reader that turns a database's schema into the model lint, plan and
//! apply start from. Nothing to the left of this module (source, parse,
//! schema, lint, plan) talks to a database.

pub mod catalog;
mod connect;
pub mod tls;

pub use connect::{connect, connect_as, redact_url};

use crate::pg::PgVersion;
use postgres::Client;

/// Connecting to or reading the database failed. Messages never hold a
/// password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL {url}: {message}")]
    BadUrl { url: String, message: String },
    #[error("{url}: {message}")]
    TlsSetup { url: String, message: String },
    #[error("cannot connect to {url} with sslmode={mode}: {message}")]
    Tls {
        url: String,
        mode: &'static str,
        message: String,
    },
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("cannot read the database's schema ({what}): {message}")]
    Catalog {
        what: &'static str,
        message: String,
        /// The SQLSTATE, when the server sent one.
        code: Option<String>,
    },
    #[error("the server's version {version} is not supported (PostgreSQL 10–18)")]
    Version { version: String },
}

impl DbError {
    fn catalog(what: &'static str, e: &postgres::Error) -> DbError {
        DbError::Catalog {
            what,
            message: error_text(e),
            code: e.code().map(|c| c.code().to_string()),
        }
    }

    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            DbError::BadUrl { .. } => "use postgres://user:password@host:port/dbname or key=value pairs",
            DbError::TlsSetup { .. } => "point sslrootcert= at a readable PEM file of CA certificates",
            DbError::Tls { .. } => {
                "check that sslrootcert holds the server's CA and that the host in the URL is a name in its \
                 certificate (verify-full); sslmode=require encrypts without verifying"
            }
            DbError::Connect { .. } => "check the host, port, user and password, and that the server is up",
            DbError::Catalog { code, .. } if code.as_deref() == Some("42501") => {
                "the user needs read access to pg_catalog (granted to PUBLIC by default): \
                 connect as a user that has it, or lint with --schema and a pg_dump --schema-only file"
            }
            DbError::Catalog { .. } => {
                "check the connection and that the user can read pg_catalog; \
                 or lint with --schema and a pg_dump --schema-only file"
            }
            DbError::Version { .. } => "use a server of PostgreSQL 10 to 18, or pass --schema with a dump",
        }
    }
}

/// A PostgreSQL error as one line: the server's message, its SQLSTATE and
/// detail, or the client's error when the server sent none.
pub fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                s.push_str(&format!("; detail: {detail}"));
            }
            s
        }
        None => e.to_string(),
    }
}

/// The server's major version.
pub fn server_version(client: &mut Client) -> Result<PgVersion, DbError> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .map_err(|e| DbError::catalog("reading server_version_num", &e))?;
    let num: i32 = row.get(0);
    let major = (num / 10000) as u32;
    PgVersion::new(major)
        .or_else(|| (major > PgVersion::MAX.major()).then_some(PgVersion::MAX))
        .ok_or(DbError::Version {
            version: num.to_string(),
        })
}
