//! `migrate apply --targets FILE` and `migrate status --targets FILE`: the
//! per-target run (connect, plan against the target's own catalog and
//! history, [`apply::apply`]) and the printing; the targets file and the
//! rollout order are [`apply::fleet`]'s.

use super::{
    apply_settings, plan_for, resolve_database, write_event_text, ApplyArgs, DatabaseRun, Error, OutputFormat,
};
use crate::apply::fleet::{self, Outcome, Policy, Target, TargetResult};
use crate::apply::{self, Event, MigrationState};
use crate::db;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where per-target lines go: one writer, shared by the worker threads.
struct Printer {
    json: bool,
    out: Mutex<std::io::Stdout>,
}

impl Printer {
    fn new(json: bool) -> Printer {
        Printer {
            json,
            out: Mutex::new(std::io::stdout()),
        }
    }

    fn write(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stdout must not stop the rollout; the exit code still tells.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }

    /// A target's state change: `[name] text`, or a `target` JSON event.
    fn state(&self, target: &Target, state: &str, text: &str) {
        if self.json {
            let line = serde_json::json!({"event": "target", "target": target.name, "state": state, "message": text});
            self.write(&format!("{line}\n"));
        } else {
            self.write(&format!("[{}] {text}\n", target.name));
        }
    }

    /// An apply event of `target`: as `migrate apply` writes it, each line
    /// prefixed with the target (text: migrations, retries and waits only,
    /// not every step), or the JSON event with a `target` field.
    fn event(&self, target: &Target, event: &Event) {
        if self.json {
            if let Ok(serde_json::Value::Object(mut fields)) = serde_json::to_value(event) {
                fields.insert("target".to_string(), target.name.clone().into());
                self.write(&format!("{}\n", serde_json::Value::Object(fields)));
            }
            return;
        }
        let shown = matches!(
            event,
            Event::WaitingForRunLock
                | Event::MigrationStarted { .. }
                | Event::ResumingChanged { .. }
                | Event::StepRetry { .. }
                | Event::MigrationApplied { .. }
                | Event::MigrationFailed { .. }
                | Event::MigrationAdopted { .. }
                | Event::WaitingForLock { .. }
                | Event::BlockerCancelled { .. }
        );
        if !shown {
            return;
        }
        let mut buf = Vec::new();
        if write_event_text(&mut buf, event).is_err() {
            return;
        }
        let text = String::from_utf8_lossy(&buf);
        let prefixed: String = text
            .lines()
            .map(|line| format!("[{}] {}\n", target.name, line.trim_start()))
            .collect();
        self.write(&prefixed);
    }
}

/// `migrate apply --targets FILE`.
pub(super) fn apply_command(args: &ApplyArgs, file: &Path) -> Result<u8, Error> {
    let targets = fleet::load(file)?;
    let base = resolve_database(&args.db)?;
    let json = args.db.format == OutputFormat::Json;
    let printer = Printer::new(json);
    let policy = Policy {
        jobs: usize::from(args.jobs),
        canary: args.canary,
        keep_going: args.keep_going,
    };
    let run = |target: &Target, stop: &Arc<AtomicBool>| {
        let mut run = target_run(&base, target);
        run_target(target, args, &mut run, &printer, stop)
    };
    let outcomes = fleet::rollout(&targets, policy, &run);
    let mut out = std::io::stdout().lock();
    if json {
        for (target, o) in targets.iter().zip(&outcomes) {
            let error = match &o.result {
                TargetResult::Failed { error, .. } => Some(error.as_str()),
                _ => None,
            };
            let line = serde_json::json!({
                "event": "target_result",
                "target": target.name,
                "before": o.before,
                "after": o.after,
                "duration_ms": o.duration.as_millis() as u64,
                "result": o.result.kind(),
                "summary": o.result.text(),
                "error": error,
            });
            writeln!(out, "{line}")?;
        }
    } else {
        let width = targets.iter().map(|t| t.name.len()).max().unwrap_or(0).max(6);
        writeln!(out)?;
        writeln!(
            out,
            "{:<width$}  {:<17}  {:>9}  result",
            "target", "version", "duration"
        )?;
        for (target, o) in targets.iter().zip(&outcomes) {
            let version = format!(
                "{} → {}",
                o.before.as_deref().unwrap_or("-"),
                o.after.as_deref().unwrap_or("-")
            );
            let duration = format!("{}ms", o.duration.as_millis());
            writeln!(
                out,
                "{:<width$}  {version:<17}  {duration:>9}  {}",
                target.name,
                o.result.text()
            )?;
        }
        let count = |f: fn(&TargetResult) -> bool| outcomes.iter().filter(|o| f(&o.result)).count();
        writeln!(
            out,
            "{} target(s): {} applied, {} up to date, {} failed, {} skipped",
            outcomes.len(),
            count(|r| matches!(r, TargetResult::Applied { .. })),
            count(|r| *r == TargetResult::UpToDate),
            count(|r| matches!(r, TargetResult::Failed { .. } | TargetResult::Stopped { .. })),
            count(|r| *r == TargetResult::Skipped),
        )?;
        if outcomes.iter().any(|o| !o.result.ok()) {
            writeln!(
                out,
                "rerun the same command to resume: failed targets resume where they stopped, up-to-date ones are skipped"
            )?;
        }
    }
    out.flush()?;
    Ok(u8::from(outcomes.iter().any(|o| !o.result.ok())))
}

/// The run of `target`: the migrations and settings of `base`, planned
/// from the target's catalog and history.
fn target_run(base: &DatabaseRun, target: &Target) -> DatabaseRun {
    let mut lint = base.lint.clone();
    lint.start = super::StartFrom::Database(target.url.clone());
    DatabaseRun {
        lint,
        url: Some(target.url.clone()),
    }
}

/// One target, start to end: never fails, the outcome says how it went.
fn run_target(
    target: &Target,
    args: &ApplyArgs,
    run: &mut DatabaseRun,
    printer: &Printer,
    stop: &Arc<AtomicBool>,
) -> Outcome {
    let started = Instant::now();
    printer.state(target, "started", &format!("started ({})", target.shown_url()));
    let mut before = None;
    let mut after = None;
    let mut applied = 0usize;
    let mut failed_at: Option<(String, usize)> = None;
    let result = (|| -> Result<TargetResult, Error> {
        let history_schema = target.history_schema(&args.db.history_schema);
        let mut client = db::connect_as(&target.url, "safe-migrate apply", |c| target.configure(c))?;
        apply::lock::check_session(&mut client)?;
        let (plan, start_schema) = plan_for(run, Some(&mut client), args.batch_size, &history_schema)?;
        let settings = apply::ApplySettings {
            history_schema,
            run_lock_key: target.run_lock_key(&args.db.history_schema),
            monitor_url: Some(apply::monitor::MonitorUrl(target.url.clone())),
            start_schema,
            // A stopping rollout ends this target after the migration it is in.
            stop: Some(Arc::clone(stop)),
            ..apply_settings(args)
        };
        // From the history, not the plan: a resumed run's plan replays
        // the interrupted run's applied migrations as context.
        before = apply::status(&plan, &mut client, &settings)?
            .into_iter()
            .filter(|s| {
                s.path.is_some() && matches!(s.state, MigrationState::Applied | MigrationState::Baseline)
            })
            .map(|s| s.version)
            .next_back();
        after.clone_from(&before);
        let mut events = |event: &Event| {
            match event {
                Event::MigrationApplied { version, .. } => {
                    applied += 1;
                    after = Some(version.clone());
                }
                Event::MigrationFailed { version, step, .. } => failed_at = Some((version.clone(), *step)),
                _ => {}
            }
            printer.event(target, event);
        };
        let summary = apply::apply(&plan, &mut client, &settings, &mut events)?;
        if summary.stopped {
            return Ok(TargetResult::Stopped { applied: 0 });
        }
        Ok(TargetResult::UpToDate)
    })();
    let result = match result {
        Ok(TargetResult::UpToDate) if applied > 0 => TargetResult::Applied { migrations: applied },
        Ok(TargetResult::Stopped { .. }) => TargetResult::Stopped { applied },
        Ok(r) => r,
        Err(e) => {
            let (migration, step) = match failed_at {
                Some((m, k)) => (Some(m), Some(k)),
                None => (None, None),
            };
            TargetResult::Failed {
                migration,
                step,
                error: e.to_string(),
            }
        }
    };
    let outcome = Outcome {
        before,
        after,
        duration: started.elapsed(),
        result,
    };
    let text = match &outcome.result {
        TargetResult::Failed { error, .. } => format!("{}: {error}", outcome.result.text()),
        other => format!("done: {}", other.text()),
    };
    printer.state(target, outcome.result.kind(), &text);
    outcome
}

/// `migrate status --targets FILE`: targets × migrations.
pub(super) fn status_command(args: &super::DatabaseArgs, file: &Path) -> Result<u8, Error> {
    let targets = fleet::load(file)?;
    let base = resolve_database(args)?;
    let json = args.format == OutputFormat::Json;
    let mut rows: Vec<(String, Result<Vec<apply::MigrationStatus>, String>)> = Vec::new();
    for target in &targets {
        let mut run = target_run(&base, target);
        let statuses = (|| -> Result<_, Error> {
            let history_schema = target.history_schema(&args.history_schema);
            let mut client = db::connect_as(&target.url, "safe-migrate status", |c| target.configure(c))?;
            let (plan, _) = plan_for(&mut run, Some(&mut client), 1000, &history_schema)?;
            let settings = apply::ApplySettings {
                history_schema,
                ..apply::ApplySettings::default()
            };
            Ok(apply::status(&plan, &mut client, &settings)?)
        })();
        rows.push((target.name.clone(), statuses.map_err(|e| e.to_string())));
    }
    let bad = |s: &apply::MigrationStatus| {
        matches!(
            s.state,
            MigrationState::Changed
                | MigrationState::Missing
                | MigrationState::InProgress { failed: true, .. }
        )
    };
    let mut out = std::io::stdout().lock();
    if json {
        for (name, statuses) in &rows {
            let line = match statuses {
                Ok(s) => serde_json::json!({"target": name, "migrations": s, "ok": !s.iter().any(bad)}),
                Err(e) => serde_json::json!({"target": name, "error": e, "ok": false}),
            };
            writeln!(out, "{line}")?;
        }
    } else {
        // Columns: every migration any target knows, in the first order seen.
        let mut versions: Vec<String> = Vec::new();
        for (_, statuses) in &rows {
            for s in statuses.iter().flatten() {
                if !versions.contains(&s.version) {
                    versions.push(s.version.clone());
                }
            }
        }
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(6);
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|(_, statuses)| match statuses {
                Ok(s) => versions
                    .iter()
                    .map(|v| s.iter().find(|s| &s.version == v).map_or("-".to_string(), cell))
                    .collect(),
                Err(_) => Vec::new(),
            })
            .collect();
        let col = |i: usize| {
            cells
                .iter()
                .filter_map(|c| c.get(i).map(String::len))
                .chain([versions[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..versions.len()).map(col).collect();
        write!(out, "{:<width$}", "target")?;
        for (v, w) in versions.iter().zip(&widths) {
            write!(out, "  {v:<w$}")?;
        }
        writeln!(out)?;
        for ((name, statuses), cells) in rows.iter().zip(&cells) {
            write!(out, "{name:<width$}")?;
            match statuses {
                Ok(_) => {
                    for (c, w) in cells.iter().zip(&widths) {
                        write!(out, "  {c:<w$}")?;
                    }
                    writeln!(out)?;
                }
                Err(e) => writeln!(out, "  error: {e}")?,
            }
        }
    }
    out.flush()?;
    let failing = rows.iter().any(|(_, s)| match s {
        Ok(s) => s.iter().any(bad),
        Err(_) => true,
    });
    Ok(u8::from(failing))
}

fn cell(s: &apply::MigrationStatus) -> String {
    match &s.state {
        MigrationState::Applied => "applied".to_string(),
        MigrationState::Baseline => "baseline".to_string(),
        MigrationState::Pending => "pending".to_string(),
        MigrationState::InProgress {
            step, failed: true, ..
        } => format!("failed@{step}"),
        MigrationState::InProgress { step, .. } => format!("running@{step}"),
        MigrationState::Changed => "CHANGED".to_string(),
        MigrationState::Missing => "MISSING".to_string(),
    }
}
