//! The starting point of every command run against a database: its schema
//! read from the catalog, and the migrations its history says are applied
//! (context only: their objects are in the catalog already).
//!
//! A run that stopped halfway (a failed or killed `apply`) left the catalog
//! with part of a plan's work in it: planning the rest from the catalog
//! would make a different plan. So each migration records the schema its
//! run was planned from (as the catalog reader's DDL), and a resumed run
//! plans from that schema again, replaying the migrations of the
//! interrupted run as one deploy: the same plan, step for step.

use super::history::{self, Status};
use super::ApplyError;
use crate::db::catalog::{self, Catalog};
use crate::schema::dump;
use crate::schema::Schema;
use postgres::GenericClient;
use std::collections::HashSet;

/// A database's schema and applied history.
#[derive(Debug)]
pub struct DatabaseContext {
    pub catalog: Catalog,
    /// Ids ([`super::migration_id`]) of the migrations applied completely.
    pub applied: HashSet<String>,
    /// An interrupted run to plan again, if there is one.
    pub resume: Option<Resume>,
}

/// An interrupted run: the schema it was planned from and its migrations.
#[derive(Debug)]
pub struct Resume {
    /// The catalog's DDL when the run began.
    pub start_ddl: String,
    /// Ids of the migrations the run began (applied or not).
    pub migrations: HashSet<String>,
}

impl DatabaseContext {
    /// The schema to plan from, the migrations that are context only, and
    /// the DDL to record for the migrations this run begins.
    pub fn start(self) -> (Schema, HashSet<String>, String) {
        match self.resume {
            Some(resume) => {
                let mut schema = Schema::default();
                dump::load(&resume.start_ddl, &mut schema);
                let applied = self
                    .applied
                    .into_iter()
                    .filter(|id| !resume.migrations.contains(id))
                    .collect();
                (schema, applied, resume.start_ddl)
            }
            None => (self.catalog.schema, self.applied, self.catalog.ddl),
        }
    }
}

/// Reads the catalog and the history kept in `history_schema` (none when
/// the history does not exist yet). Changes nothing.
pub fn read(client: &mut postgres::Client, history_schema: &str) -> Result<DatabaseContext, ApplyError> {
    let catalog = catalog::read(client)?;
    let history = history::load(client, history_schema)?;
    let applied: HashSet<String> = history
        .migrations()
        .iter()
        .filter(|m| m.status == Status::Applied)
        .map(|m| m.version.clone())
        .collect();
    let starts = recorded_starts(client, history_schema)?;
    let unfinished = history
        .migrations()
        .iter()
        .filter(|m| m.status != Status::Applied)
        .find_map(|m| starts.iter().find(|(v, _)| *v == m.version));
    let resume = unfinished.map(|(_, ddl)| Resume {
        start_ddl: ddl.clone(),
        migrations: starts
            .iter()
            .filter(|(_, d)| d == ddl)
            .map(|(v, _)| v.clone())
            .collect(),
    });
    Ok(DatabaseContext {
        catalog,
        applied,
        resume,
    })
}

/// (version, start DDL) of every migration that recorded one.
fn recorded_starts(client: &mut postgres::Client, schema: &str) -> Result<Vec<(String, String)>, ApplyError> {
    let table = format!("{}.starts", history::q(schema));
    let exists: bool = client
        .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&table])
        .map_err(|e| history::err(schema, e))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    Ok(client
        .query(&format!("SELECT version, start_schema FROM {table}"), &[])
        .map_err(|e| history::err(schema, e))?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Records that migration `version` began from the schema `ddl` (kept when
/// an earlier attempt recorded one).
pub fn record_start(
    client: &mut impl GenericClient,
    schema: &str,
    version: &str,
    ddl: &str,
) -> Result<(), ApplyError> {
    let s = history::q(schema);
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {s}.starts (
             version text PRIMARY KEY REFERENCES {s}.migrations (version) ON DELETE CASCADE,
             start_schema text NOT NULL);
         INSERT INTO {s}.starts (version, start_schema) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING"
    );
    let (create, insert) = sql.split_once(";\n").expect("two statements");
    client
        .batch_execute(create)
        .map_err(|e| history::err(schema, e))?;
    client
        .execute(insert.trim(), &[&version, &ddl])
        .map_err(|e| history::err(schema, e))?;
    Ok(())
}
