//! Printing a [`Trace`]: text for people, JSON for scripts.
//!
//! The JSON document:
//!
//! ```json
//! {
//!   "server_version": "15.18 (Debian 15.18-1.pgdg120+1)", "pg_version": 15,
//!   "files": [{
//!     "file": "migrations/V4__require_user_email.sql",
//!     "filled": [{ "table": "users", "rows": 100, "skipped": null }],
//!     "statements": [{
//!       "line": 2, "sql": "ALTER TABLE users ALTER COLUMN email SET NOT NULL",
//!       "execution": "transaction" | "autocommit" | "skipped",
//!       "skipped": null | "transaction-control" | "psql-meta",
//!       "duration_ms": 1.3, "error": null,
//!       "locks": [{ "relation": "users", "mode": "ACCESS EXCLUSIVE" }],
//!       "rewrites": ["orders", "orders_pkey"],
//!       "notes": ["verifying table \"users\""],
//!       "findings": [{ "rule": "set-not-null", "lock": "ACCESS EXCLUSIVE", "table": "users" }],
//!       "discrepancies": [{ "kind": "wrong-lock", "rule": "…", "table": "…", "claimed": "…", "observed": "…" | null }
//!                       | { "kind": "missed-rewrite", "table": "…", "lock": "…", "rewritten": ["…"] }
//!                       | { "kind": "no-rewrite", "rule": "…", "table": "…" }]
//!     }]
//!   }],
//!   "summary": { "files": 10, "statements": 12, "skipped": 0, "failed": 0, "discrepancies": 0 }
//! }
//! ```
//!
//! Lines are 1-based (see [`crate::report`]); lock modes use SQL spellings.

use super::{Claim, FileTrace, ObservedLock, StatementTrace, Trace, TraceSummary};
use crate::report::LineIndex;
use serde::Serialize;
use std::fmt::Write as _;

/// The statement's first line, shortened to about 100 characters.
fn headline(sql: &str) -> String {
    let first = sql.split('\n').next().unwrap_or("").trim_end();
    let mut out: String = first.chars().take(100).collect();
    if out.len() < first.len() || first.len() < sql.trim_end().len() {
        out.push_str(" …");
    }
    out
}

/// The trace as text: one block per statement, then a summary line.
pub fn text(trace: &Trace) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "traced on PostgreSQL {} (rules for PostgreSQL {})",
        trace.server_version,
        trace.pg_version.major()
    );
    for file in &trace.files {
        let path = file.source.file.path.display();
        let index = LineIndex::new(&file.source.text);
        let _ = writeln!(out, "\n== {path}");
        let filled: Vec<String> = file
            .fills
            .iter()
            .filter(|f| f.skipped.is_none())
            .map(|f| format!("{} ({} rows)", f.table, f.rows))
            .collect();
        if !filled.is_empty() {
            let _ = writeln!(out, "   filled {}", filled.join(", "));
        }
        for fill in &file.fills {
            if let Some(reason) = &fill.skipped {
                let _ = writeln!(out, "   left {} empty: {reason}", fill.table);
            }
        }
        for stmt in &file.statements {
            let line = index.position(stmt.span.start).line;
            let sql = stmt.span.slice(&file.source.text);
            let _ = writeln!(out, "{path}:{line}: {}", headline(sql));
            let execution = match stmt.execution {
                Ok(super::Execution::Transaction) => "in its own transaction",
                Ok(super::Execution::Autocommit) => "in autocommit, locks sampled",
                Err(super::Skip::TransactionControl) => {
                    let _ = writeln!(out, "   skipped: each statement runs in its own transaction");
                    continue;
                }
                Err(super::Skip::PsqlMeta) => {
                    let _ = writeln!(out, "   skipped: psql meta-command");
                    continue;
                }
            };
            let _ = writeln!(
                out,
                "   {execution}, {:.1} ms",
                stmt.duration.as_secs_f64() * 1000.0
            );
            if let Some(error) = &stmt.error {
                let _ = writeln!(out, "   failed: {error}");
            }
            let locks: Vec<String> = stmt
                .locks
                .iter()
                .map(|l| format!("{} {}", l.mode.sql_name(), l.relation))
                .collect();
            let _ = writeln!(
                out,
                "   locks: {}",
                if locks.is_empty() {
                    "none".to_string()
                } else {
                    locks.join(", ")
                }
            );
            let _ = writeln!(
                out,
                "   rewrote: {}",
                if stmt.rewrites.is_empty() {
                    "nothing".to_string()
                } else {
                    stmt.rewrites.join(", ")
                }
            );
            for note in &stmt.notes {
                let _ = writeln!(out, "   server: {note}");
            }
            for claim in &stmt.claims {
                let what = match (&claim.lock, &claim.table) {
                    (Some(lock), Some(table)) => format!(" ({} on {table})", lock.sql_name()),
                    (Some(lock), None) => format!(" ({})", lock.sql_name()),
                    _ => String::new(),
                };
                let _ = writeln!(out, "   lint: {}{what}", claim.rule);
            }
            for d in &stmt.discrepancies {
                let _ = writeln!(out, "   discrepancy: {d}");
            }
        }
    }
    let s = trace.summary();
    let _ = writeln!(
        out,
        "\n{} statement(s) traced in {} file(s), {} skipped, {} failed, {} discrepanc{}",
        s.statements,
        s.files,
        s.skipped,
        s.failed,
        s.discrepancies,
        if s.discrepancies == 1 { "y" } else { "ies" }
    );
    out
}

#[derive(Serialize)]
struct JsonTrace<'a> {
    server_version: &'a str,
    pg_version: u32,
    files: Vec<JsonFile<'a>>,
    summary: TraceSummary,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    file: String,
    filled: &'a [super::Fill],
    statements: Vec<JsonStatement<'a>>,
}

#[derive(Serialize)]
struct JsonStatement<'a> {
    line: usize,
    sql: &'a str,
    execution: &'static str,
    skipped: Option<super::Skip>,
    duration_ms: f64,
    error: Option<&'a str>,
    locks: &'a [ObservedLock],
    rewrites: &'a [String],
    notes: &'a [String],
    findings: &'a [Claim],
    discrepancies: &'a [super::Discrepancy],
}

fn json_statement<'a>(
    file: &'a FileTrace,
    index: &LineIndex<'_>,
    stmt: &'a StatementTrace,
) -> JsonStatement<'a> {
    JsonStatement {
        line: index.position(stmt.span.start).line,
        sql: stmt.span.slice(&file.source.text),
        execution: match stmt.execution {
            Ok(super::Execution::Transaction) => "transaction",
            Ok(super::Execution::Autocommit) => "autocommit",
            Err(_) => "skipped",
        },
        skipped: stmt.execution.err(),
        duration_ms: stmt.duration.as_secs_f64() * 1000.0,
        error: stmt.error.as_deref(),
        locks: &stmt.locks,
        rewrites: &stmt.rewrites,
        notes: &stmt.notes,
        findings: &stmt.claims,
        discrepancies: &stmt.discrepancies,
    }
}

/// The trace as one pretty-printed JSON document with a trailing newline.
pub fn json(trace: &Trace) -> String {
    let doc = JsonTrace {
        server_version: &trace.server_version,
        pg_version: trace.pg_version.major(),
        files: trace
            .files
            .iter()
            .map(|file| {
                let index = LineIndex::new(&file.source.text);
                JsonFile {
                    file: file.source.file.path.display().to_string(),
                    filled: &file.fills,
                    statements: file
                        .statements
                        .iter()
                        .map(|s| json_statement(file, &index, s))
                        .collect(),
                }
            })
            .collect(),
        summary: trace.summary(),
    };
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}
