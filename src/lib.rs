//! safe-migrate: zero-downtime PostgreSQL migrations.
//!
//! The pipeline, one module per stage, data flowing one way:
//! [`source`] (files → statements with spans) → [`parse`] (typed facts) →
//! [`schema`] (what exists: the database's own schema, then what the
//! migrations create) → [`lint`] (the history driver and the rules:
//! findings) → [`report`] (text, JSON, SARIF, GitHub annotations); [`plan`]
//! turns findings into safe steps and [`apply`] runs them against a
//! database. [`db`] is the database edge (server version, errors, the
//! catalog reader); [`pg`] holds the PostgreSQL knowledge every stage
//! shares; [`cli`] turns arguments into settings and runs a command.
//! [`trace`] is an edge: it runs migrations on a real PostgreSQL and checks
//! the linter's lock claims against it. `docs/architecture.md` draws it.

pub mod apply;
pub mod cli;
pub mod config;
pub mod db;
pub mod lint;
pub mod parse;
pub mod pg;
pub mod plan;
pub mod progress;
pub mod report;
pub mod schema;
pub mod source;
pub mod trace;
