//! Showing a plan: numbered steps and a diff for people (`text`), a psql
//! script for teams that deploy plain SQL (`sql`), and the plan model as
//! JSON (`json`, documented in `docs/plan-format.md`).

use super::{Backfill, MigrationPlan, Outcome, Plan, Step, StepKind, TxMode};
use crate::plan::lower::{self, Action, LowerSettings};
use crate::plan::sql::{dollar_tag, literal};
use std::fmt::Write;
use std::time::Duration;

/// What the psql script's steps are lowered with (see [`lower::timeouts`]):
/// a 2 s `lock_timeout` on every try (the script does not retry), a 30 s
/// `statement_timeout` on short steps, and no `transaction_timeout` (the
/// script does not know the server's version).
pub const SCRIPT_SETTINGS: LowerSettings = LowerSettings {
    try_lock_timeout: Duration::from_secs(2),
    lock_timeout: Duration::from_secs(2),
    statement_timeout: Duration::from_secs(30),
    server_version_num: None,
};

fn key_list(b: &Backfill) -> String {
    b.key.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
}

/// One batch's statement, as a description of what a backfill runs.
pub fn backfill_batch_sql(b: &Backfill) -> String {
    let key = if b.key.is_empty() {
        "<primary key>".to_string()
    } else {
        key_list(b)
    };
    let filter = b.filter.as_ref().map(|f| format!(" AND {f}")).unwrap_or_default();
    format!(
        "{} WHERE ({key}) > (<last key>) AND ({key}) <= (<batch end>){filter}",
        b.head
    )
}

fn lock_line(step: &Step) -> String {
    match (&step.lock, &step.table) {
        (Some(lock), Some(table)) => format!("{lock} on {table} ({})", lock.blocks().describe()),
        (Some(lock), None) => format!("{lock} ({})", lock.blocks().describe()),
        _ => "no table lock".to_string(),
    }
}

/// The planned SQL of a migration, as the diff's right-hand side.
fn planned_text(m: &MigrationPlan) -> String {
    let mut out = String::new();
    for step in &m.steps {
        match step.kind {
            StepKind::Check => {
                let _ = writeln!(out, "-- check: {}", step.note.as_deref().unwrap_or(""));
            }
            _ => {
                let _ = writeln!(out, "{};", step.sql);
            }
        }
    }
    out
}

/// The text view: per migration, numbered steps, a unified diff of the
/// original against the planned SQL, and a summary line.
pub fn text(plan: &Plan, colour: bool) -> String {
    let mut out = String::new();
    let (mut kept, mut rewritten, mut refused) = (0, 0, 0);
    for m in &plan.migrations {
        let (k, w, r) = m.counts();
        kept += k;
        rewritten += w;
        refused += r;
        if w == 0 && r == 0 {
            continue;
        }
        let _ = writeln!(out, "== {} ({} steps)", m.file.path.display(), m.steps.len());
        let mut sized = Vec::new();
        for (i, step) in m.steps.iter().enumerate() {
            let tx = if step.tx == TxMode::Outside {
                ", outside a transaction"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {:>2}. [{}{tx}] {}",
                i + 1,
                step.kind.name(),
                lock_line(step)
            );
            for line in step.sql.lines() {
                let _ = writeln!(out, "        {line}");
            }
            if let Some(note) = &step.note {
                let _ = writeln!(out, "        -- {note}");
            }
            // A table's size once per migration, and with every backfill.
            if let (Some(size), Some(table)) = (step.size, &step.table) {
                let batches = match (&step.backfill, size.rows) {
                    (Some(b), Some(rows)) => Some(format!(
                        "; about {} batches of {} rows to start",
                        rows.div_ceil(u64::from(b.batch_size)).max(1),
                        b.batch_size
                    )),
                    _ => None,
                };
                if batches.is_some() || !sized.contains(&table) {
                    let _ = writeln!(out, "        -- {table}: {size}{}", batches.unwrap_or_default());
                    sized.push(table);
                }
            }
        }
        for s in &m.statements {
            if let Outcome::Refused { rule, reason } = &s.outcome {
                let _ = writeln!(out, "  refused [{rule}]: {reason}");
            }
        }
        let planned = planned_text(m);
        let diff = similar::TextDiff::from_lines(m.text.as_str(), planned.as_str());
        let path = m.file.path.display().to_string();
        let unified = diff
            .unified_diff()
            .context_radius(2)
            .header(&path, &format!("{path} (planned)"))
            .to_string();
        for line in unified.lines() {
            let painted = match (colour, line.chars().next()) {
                (true, Some('+')) if !line.starts_with("+++") => format!("\x1b[32m{line}\x1b[0m"),
                (true, Some('-')) if !line.starts_with("---") => format!("\x1b[31m{line}\x1b[0m"),
                (true, Some('@')) => format!("\x1b[36m{line}\x1b[0m"),
                _ => line.to_string(),
            };
            let _ = writeln!(out, "  {painted}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} migrations: {kept} statements kept, {rewritten} rewritten, {refused} refused",
        plan.migrations.len()
    );
    out
}

/// psql lines that run `body` only when `condition` (a boolean query) holds.
fn conditional(condition: &str, body: &str) -> String {
    format!("SELECT ({condition}) AS run_step \\gset\n\\if :run_step\n{body}\\endif\n")
}

fn transactional(step: &Step, sql: &str) -> String {
    let mut s = String::from("BEGIN;\n");
    for t in lower::timeouts(step, &SCRIPT_SETTINGS) {
        let _ = writeln!(s, "{};", t.set_local());
    }
    let _ = writeln!(s, "{sql};\nCOMMIT;");
    s
}

/// The `set_config` calls that give one batch of a `DO` loop the step's
/// `SET LOCAL` timeouts.
fn batch_timeouts(step: &Step) -> String {
    lower::timeouts(step, &SCRIPT_SETTINGS)
        .iter()
        .map(|t| {
            format!(
                "PERFORM set_config({}, {}, true);\n",
                literal(t.setting),
                literal(&t.value_text())
            )
        })
        .collect()
}

fn backfill_block(step: &Step, b: &Backfill) -> String {
    let filter = b
        .filter
        .as_ref()
        .map(|f| format!(" AND ({f})"))
        .unwrap_or_default();
    let table = b.table.to_string();
    let mut body = String::new();
    if b.key.is_empty() {
        // The key is read from the catalog at run time, by apply's query:
        // the primary key, else a unique index on NOT NULL columns. Keys
        // travel as text arrays, cast back to each column's type.
        let _ = write!(
            body,
            "DECLARE\n  cols text[];\n  types text[];\n  list text;\n  texts text;\n  descs text;\n\
  after_last text;\n  upto_next text;\n  last_key text[];\n  next_key text[];\nBEGIN\n\
  SELECT array_agg(quote_ident(k.name) ORDER BY k.ord), array_agg(k.type ORDER BY k.ord) INTO cols, types\n\
  FROM ({key_sql}) AS k(name, type, ord);\n\
  IF cols IS NULL THEN\n\
    RAISE EXCEPTION 'batched backfill needs a primary key or a unique index on NOT NULL columns on %', {table_literal};\n\
  END IF;\n\
  list := array_to_string(cols, ', ');\n\
  SELECT string_agg(c || '::text', ', ' ORDER BY i), string_agg(c || ' DESC', ', ' ORDER BY i),\n\
         string_agg(format('$1[%s]::%s', i, types[i::int]), ', ' ORDER BY i),\n\
         string_agg(format('$2[%s]::%s', i, types[i::int]), ', ' ORDER BY i)\n\
    INTO texts, descs, after_last, upto_next\n\
    FROM unnest(cols) WITH ORDINALITY AS u(c, i);\n\
  LOOP\n\
{timeouts}\
    EXECUTE format('SELECT ARRAY[%s] FROM (SELECT %s FROM {table_fmt} WHERE ($1 IS NULL OR (%s) > (%s)){filter_fmt} ORDER BY %s LIMIT {n}) batch ORDER BY %s LIMIT 1', texts, list, list, after_last, list, descs)\n\
      INTO next_key USING last_key;\n\
    EXIT WHEN next_key IS NULL;\n\
    EXECUTE format('{head_fmt} WHERE ($1 IS NULL OR (%s) > (%s)) AND (%s) <= (%s){filter_fmt}', list, after_last, list, upto_next)\n\
      USING last_key, next_key;\n\
    last_key := next_key;\n\
    COMMIT;\n\
  END LOOP;\nEND\n",
            key_sql = lower::key_columns_sql(&literal(&table)),
            table_literal = literal(&table),
            timeouts = batch_timeouts(step),
            table_fmt = table.replace('\'', "''").replace('%', "%%"),
            filter_fmt = filter.replace('\'', "''").replace('%', "%%"),
            head_fmt = b.head.replace('\'', "''").replace('%', "%%"),
            n = b.batch_size,
        );
    } else {
        let keys = key_list(b);
        let col = |k: &crate::pg::Ident| format!("{table}.{k}%TYPE");
        let last: Vec<String> = (1..=b.key.len()).map(|i| format!("last_{i}")).collect();
        let next: Vec<String> = (1..=b.key.len()).map(|i| format!("next_{i}")).collect();
        body.push_str("DECLARE\n  started boolean := false;\n");
        for (i, k) in b.key.iter().enumerate() {
            let _ = writeln!(body, "  {} {};\n  {} {};", last[i], col(k), next[i], col(k));
        }
        let after = format!("(NOT started OR ({keys}) > ({}))", last.join(", "));
        let desc: Vec<String> = b.key.iter().map(|k| format!("{k} DESC")).collect();
        let _ = write!(
            body,
            "BEGIN\n  LOOP\n\
{timeouts}\
    SELECT {keys} INTO {next} FROM (SELECT {keys} FROM {table} WHERE {after}{filter} ORDER BY {keys} LIMIT {n}) batch\n\
      ORDER BY {desc} LIMIT 1;\n\
    EXIT WHEN NOT FOUND;\n\
    {head} WHERE {after} AND ({keys}) <= ({next}){filter};\n\
    SELECT {next}, true INTO {last}, started;\n\
    COMMIT;\n\
  END LOOP;\nEND\n",
            timeouts = batch_timeouts(step),
            next = next.join(", "),
            last = last.join(", "),
            desc = desc.join(", "),
            head = b.head,
            n = b.batch_size,
        );
    }
    let tag = dollar_tag("backfill", &body);
    format!("DO {tag}\n{body}{tag};\n")
}

fn check_block(step: &Step, query: &str) -> String {
    let message = literal(&format!(
        "plan check failed: {}",
        step.note.as_deref().unwrap_or("catalog assertion")
    ));
    let body =
        format!(" BEGIN IF NOT coalesce(({query}), false) THEN RAISE EXCEPTION {message}; END IF; END ");
    let tag = dollar_tag("check", &body);
    format!("DO {tag}{body}{tag};\n")
}

/// The psql script of one migration: `psql -v ON_ERROR_STOP=1 -f plan.sql`
/// runs it. Steps are lowered as `apply` lowers them (see [`lower`], with
/// [`SCRIPT_SETTINGS`]): transactional steps set their timeouts with `SET LOCAL`;
/// concurrent steps run bare; backfills are `DO` loops that commit per batch
/// (PostgreSQL 11+); guards and conditions use psql's `\gset` and `\if`, so a
/// re-run skips what is done.
pub fn sql_script(m: &MigrationPlan) -> String {
    let mut out = format!("-- plan for {}\n", m.file.path.display());
    for s in &m.statements {
        if let Outcome::Refused { rule, reason } = &s.outcome {
            let _ = writeln!(out, "-- refused [{rule}]: {reason}");
        }
    }
    for (i, step) in m.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n-- step {}: {} — {}",
            i + 1,
            step.kind.name(),
            lock_line(step)
        );
        if let Some(note) = &step.note {
            let _ = writeln!(out, "-- {note}");
        }
        let lowered = lower::lower(step);
        let mut body = match lowered.action {
            Action::Check { query } => check_block(step, query),
            Action::Backfill(b) => backfill_block(step, b),
            Action::Outside { sql } => format!("{sql};\n"),
            Action::Transaction { sql } => format!("{}\n", transactional(step, sql)),
        };
        if let Some(only_if) = lowered.only_if {
            body = conditional(only_if, &body);
        }
        if let Some(guard) = lowered.guard {
            body = conditional(&format!("SELECT NOT ({guard})"), &body);
        }
        out.push_str(&body);
    }
    out
}

/// The psql script of a whole plan.
pub fn sql(plan: &Plan) -> String {
    plan.migrations
        .iter()
        .map(sql_script)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The plan model as pretty JSON.
pub fn json(plan: &Plan) -> String {
    let mut s =
        serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    s.push('\n');
    s
}
