//! The database edge: what every command that reads a live PostgreSQL
//! shares. The server's version, error text with its SQLSTATE, and the
//! [`catalog`] reader that turns a database's schema into the model lint,
//! plan and apply start from. Nothing to the left of this module (source,
//! parse, schema, lint, plan) talks to a database.

pub mod catalog;

use crate::pg::PgVersion;
use postgres::Client;

/// Reading the database failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
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
