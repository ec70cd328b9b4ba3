//! Fleet apply: one migration history over many targets (databases, or
//! tenant schemas in one database), each a full, independent [`super::apply`]
//! with its own connection, run lock, history, plan and resume.
//!
//! This module owns the targets file ([`load`]), what a target connects
//! with ([`Target::configure`], [`Target::history_schema`],
//! [`Target::run_lock_key`]) and the rollout order ([`rollout`]): canaries
//! one by one, then up to `jobs` targets at once on their own threads, and
//! no new target after a failure unless `keep_going`. Running one target is
//! the caller's (the CLI plans each against its own catalog); nothing here
//! prints. `docs/fleet.md` describes the file and the policies.

use crate::db::redact_url;
use crate::pg::Ident;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One target of the fleet, as the targets file names it (with `${VAR}`s
/// expanded: the URL may hold a password, so show it only through
/// [`Target::shown_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub url: String,
    /// Schema-per-tenant: the schema the target's objects resolve through
    /// first (`search_path = schema, public`).
    pub schema: Option<String>,
}

impl Target {
    /// The URL with any password replaced by `***`.
    pub fn shown_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The schema holding this target's history: `base` for a database
    /// target, `<base>_<schema>` for a tenant schema (one history per
    /// tenant, outside the tenant's own schema so that dumping or dropping
    /// the tenant's objects never touches it).
    pub fn history_schema(&self, base: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{base}_{schema}"),
            None => base.to_string(),
        }
    }

    /// The run lock key: the default for a database target; for a tenant
    /// schema, one derived from its history schema, so that tenants of one
    /// database are applied concurrently while two runners of one tenant
    /// still exclude each other.
    pub fn run_lock_key(&self, base_history: &str) -> i64 {
        match &self.schema {
            None => super::lock::RUN_LOCK_KEY,
            // FNV-1a: stable across builds and platforms, unlike std's hasher.
            Some(_) => {
                let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
                for byte in self.history_schema(base_history).bytes() {
                    hash ^= u64::from(byte);
                    hash = hash.wrapping_mul(0x0100_0000_01b3);
                }
                hash as i64
            }
        }
    }

    /// Sets the connection's `search_path` to the tenant schema first (a
    /// startup option, so every session of the target, the monitor's too,
    /// has it before its first statement). Nothing for a database target.
    pub fn configure(&self, config: &mut postgres::Config) {
        if let Some(schema) = &self.schema {
            let quoted = Ident::new(schema.as_str()).to_string();
            // Startup options are split on spaces; a backslash escapes one.
            let value = quoted.replace(' ', "\\ ");
            config.options(&format!("-c search_path={value}"));
        }
    }
}

/// The targets file could not be used (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{}: cannot read the targets file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{}: no targets: the file's `targets:` list is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: target `{name}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        name: String,
        message: String,
    },
    #[error("{}: target `{name}`: the url references ${{{var}}}, which is not set in the environment", path.display())]
    MissingVar {
        path: PathBuf,
        name: String,
        var: String,
    },
}

impl FleetError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            FleetError::Read { .. } => "check the path given to --targets",
            FleetError::Syntax { .. } | FleetError::Empty { .. } => {
                "the file is YAML: `targets:` then a list of `- {name: NAME, url: postgres://…, schema: TENANT}` \
                 (schema optional); see docs/fleet.md"
            }
            FleetError::Invalid { .. } => {
                "give every target a unique name, a url and, for a tenant schema, a schema name"
            }
            FleetError::MissingVar { .. } => {
                "export the variable (e.g. the password) before running, or write the value into the url"
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    targets: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    url: String,
    #[serde(default)]
    schema: Option<String>,
}

/// Reads a targets file, expanding `${VAR}` in each url from the
/// environment.
pub fn load(path: &Path) -> Result<Vec<Target>, FleetError> {
    let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, &|var| std::env::var(var).ok())
}

/// [`load`] of `text`, with `env` for the variables (`path` names the file
/// in errors).
pub fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Target>, FleetError> {
    let file: File = serde_yaml::from_str(text).map_err(|e| FleetError::Syntax {
        path: path.to_path_buf(),
        line: e.location().map(|l| l.line()),
        // serde_yaml appends " at line L column C"; the line is shown first.
        message: scrub_location(&e.to_string()),
    })?;
    if file.targets.is_empty() {
        return Err(FleetError::Empty {
            path: path.to_path_buf(),
        });
    }
    let invalid = |name: &str, message: String| FleetError::Invalid {
        path: path.to_path_buf(),
        name: name.to_string(),
        message,
    };
    let mut targets: Vec<Target> = Vec::with_capacity(file.targets.len());
    for entry in file.targets {
        let name = entry.name.trim().to_string();
        if name.is_empty() {
            return Err(invalid("", "the name is empty".to_string()));
        }
        if targets.iter().any(|t| t.name == name) {
            return Err(invalid(
                &name,
                "the name is used by an earlier target too".to_string(),
            ));
        }
        let url = expand(&entry.url, env).map_err(|var| match var {
            Expand::Missing(var) => FleetError::MissingVar {
                path: path.to_path_buf(),
                name: name.clone(),
                var,
            },
            Expand::Unclosed => invalid(&name, "the url has a `${` with no closing `}`".to_string()),
        })?;
        if url.trim().is_empty() {
            return Err(invalid(&name, "the url is empty".to_string()));
        }
        let schema = match entry.schema.map(|s| s.trim().to_string()) {
            Some(s) if s.is_empty() => return Err(invalid(&name, "the schema is empty".to_string())),
            Some(s) if s.len() > 40 => {
                return Err(invalid(
                    &name,
                    format!("schema `{s}` is longer than 40 bytes (its history schema name must fit in 63)"),
                ))
            }
            other => other,
        };
        targets.push(Target { name, url, schema });
    }
    Ok(targets)
}

fn scrub_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

enum Expand {
    Missing(String),
    Unclosed,
}

/// `${VAR}` → the variable's value; `$` elsewhere is kept.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Expand> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(Expand::Unclosed)?;
        let var = &after[..end];
        out.push_str(&env(var).ok_or_else(|| Expand::Missing(var.to_string()))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How a rollout proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Targets applied at once after the canaries (at least 1).
    pub jobs: usize,
    /// The first this many targets are applied one by one first; a failure
    /// among them stops the rollout whatever `keep_going` says.
    pub canary: usize,
    /// Start new targets after one failed.
    pub keep_going: bool,
}

/// How one target ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetResult {
    /// Migrations were applied and the target is up to date.
    Applied { migrations: usize },
    /// Nothing was pending.
    UpToDate,
    /// Stopped at `migration` step `step` (resumable), or before any step
    /// (`migration` None: connecting, planning, the run lock, drift…).
    Failed {
        migration: Option<String>,
        step: Option<usize>,
        error: String,
    },
    /// The rollout stopped (another target failed) after this one applied
    /// `applied` of its pending migrations; the next run resumes it.
    Stopped { applied: usize },
    /// Never started: an earlier failure stopped the rollout.
    Skipped,
}

impl TargetResult {
    /// Whether the target ended up to date.
    pub fn ok(&self) -> bool {
        matches!(self, TargetResult::Applied { .. } | TargetResult::UpToDate)
    }

    /// The result as the summary table shows it.
    pub fn text(&self) -> String {
        match self {
            TargetResult::Applied { migrations } => format!("applied {migrations}"),
            TargetResult::UpToDate => "up to date".to_string(),
            TargetResult::Failed {
                migration: Some(m),
                step: Some(k),
                ..
            } => format!("failed at migration {m} step {k}"),
            TargetResult::Failed {
                migration: Some(m), ..
            } => format!("failed at migration {m}"),
            TargetResult::Failed { .. } => "failed".to_string(),
            TargetResult::Stopped { applied } => format!("stopped after {applied} migration(s)"),
            TargetResult::Skipped => "skipped".to_string(),
        }
    }

    /// A short name for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            TargetResult::Applied { .. } => "applied",
            TargetResult::UpToDate => "up_to_date",
            TargetResult::Failed { .. } => "failed",
            TargetResult::Stopped { .. } => "stopped",
            TargetResult::Skipped => "skipped",
        }
    }
}

/// One target's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The last applied migration before the run (None: none).
    pub before: Option<String>,
    /// The last applied migration after it.
    pub after: Option<String>,
    pub duration: Duration,
    pub result: TargetResult,
}

impl Outcome {
    /// A target that never started.
    pub fn skipped() -> Outcome {
        Outcome {
            before: None,
            after: None,
            duration: Duration::ZERO,
            result: TargetResult::Skipped,
        }
    }
}

/// Runs `run` on every target as `policy` says and returns each target's
/// outcome, in the targets' order. `run` gets the target and a flag that is
/// set once the rollout is stopping: it should finish the migration it is
/// in and start no other.
pub fn rollout(
    targets: &[Target],
    policy: Policy,
    run: &(dyn Fn(&Target, &Arc<AtomicBool>) -> Outcome + Sync),
) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; targets.len()];
    let stop = Arc::new(AtomicBool::new(false));
    let canaries = policy.canary.min(targets.len());
    for (i, target) in targets.iter().enumerate().take(canaries) {
        let outcome = run(target, &stop);
        let failed = !outcome.result.ok();
        outcomes[i] = Some(outcome);
        if failed {
            return finish(outcomes);
        }
    }
    let next = AtomicUsize::new(canaries);
    let results = Mutex::new(outcomes);
    std::thread::scope(|scope| {
        for _ in 0..policy
            .jobs
            .max(1)
            .min(targets.len().saturating_sub(canaries).max(1))
        {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(target) = targets.get(i) else { return };
                let outcome = run(target, &stop);
                if !outcome.result.ok() && !policy.keep_going {
                    stop.store(true, Ordering::SeqCst);
                }
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(outcome);
            });
        }
    });
    finish(results.into_inner().unwrap_or_else(|e| e.into_inner()))
}

fn finish(outcomes: Vec<Option<Outcome>>) -> Vec<Outcome> {
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(Outcome::skipped))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "PGPASS").then(|| "s3cret".to_string())
    }

    fn parsed(text: &str) -> std::result::Result<Vec<Target>, FleetError> {
        parse(text, Path::new("targets.yaml"), &env)
    }

    #[test]
    fn reads_targets_and_expands_variables() {
        let targets = parsed(
            "targets:\n  - name: eu\n    url: postgres://app:${PGPASS}@eu/app\n  - {name: t1, url: 'postgres://h/db', schema: tenant_1}\n",
        )
        .unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].url, "postgres://app:s3cret@eu/app");
        assert_eq!(targets[0].shown_url(), "postgres://app:***@eu/app");
        assert_eq!(targets[1].schema.as_deref(), Some("tenant_1"));
        assert_eq!(targets[1].history_schema("safe_migrate"), "safe_migrate_tenant_1");
        assert_eq!(targets[0].history_schema("safe_migrate"), "safe_migrate");
        assert_eq!(
            targets[0].run_lock_key("safe_migrate"),
            crate::apply::lock::RUN_LOCK_KEY
        );
        assert_ne!(
            targets[1].run_lock_key("safe_migrate"),
            crate::apply::lock::RUN_LOCK_KEY
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let e = parsed("targets:\n  - {name: eu, url: 'postgres://app:${NOPE}@eu/app'}\n").unwrap_err();
        assert!(
            matches!(&e, FleetError::MissingVar { var, .. } if var == "NOPE"),
            "{e}"
        );
        assert!(
            e.to_string().contains("${NOPE}") && e.to_string().contains("`eu`"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let e = parsed("targets:\n  - name: eu\n    url: postgres://h/db\n    shema: x\n").unwrap_err();
        let FleetError::Syntax { line, message, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(*line, Some(4), "{e}");
        assert!(message.contains("shema"), "{e}");
        assert!(e.to_string().starts_with("targets.yaml:4: "), "{e}");
    }

    #[test]
    fn duplicate_and_empty_are_refused() {
        let e = parsed("targets:\n  - {name: a, url: x}\n  - {name: a, url: y}\n").unwrap_err();
        assert!(matches!(e, FleetError::Invalid { .. }), "{e}");
        assert!(matches!(
            parsed("targets: []\n").unwrap_err(),
            FleetError::Empty { .. }
        ));
        assert!(matches!(
            parsed("targets:\n  - {name: a, url: x, schema: ''}\n").unwrap_err(),
            FleetError::Invalid { .. }
        ));
    }

    fn target(name: &str) -> Target {
        Target {
            name: name.to_string(),
            url: String::new(),
            schema: None,
        }
    }

    fn outcome(ok: bool) -> Outcome {
        Outcome {
            result: if ok {
                TargetResult::UpToDate
            } else {
                TargetResult::Failed {
                    migration: None,
                    step: None,
                    error: "boom".into(),
                }
            },
            ..Outcome::skipped()
        }
    }

    #[test]
    fn a_failing_canary_stops_everything() {
        let targets: Vec<Target> = ["a", "b", "c", "d"].map(target).to_vec();
        let ran = Mutex::new(Vec::new());
        let run = |t: &Target, _: &Arc<AtomicBool>| {
            ran.lock().unwrap().push(t.name.clone());
            outcome(t.name != "b")
        };
        let policy = Policy {
            jobs: 4,
            canary: 2,
            keep_going: true,
        };
        let out = rollout(&targets, policy, &run);
        assert_eq!(*ran.lock().unwrap(), ["a", "b"]);
        assert_eq!(out[2].result, TargetResult::Skipped);
        assert_eq!(out[3].result, TargetResult::Skipped);
    }

    #[test]
    fn after_a_failure_only_keep_going_starts_more() {
        let targets: Vec<Target> = ["a", "b", "c", "d"].map(target).to_vec();
        let run = |t: &Target, _: &Arc<AtomicBool>| outcome(t.name != "a");
        let serial = Policy {
            jobs: 1,
            canary: 0,
            keep_going: false,
        };
        let out = rollout(&targets, serial, &run);
        assert!(
            out[1..].iter().all(|o| o.result == TargetResult::Skipped),
            "{out:?}"
        );
        let out = rollout(
            &targets,
            Policy {
                keep_going: true,
                ..serial
            },
            &run,
        );
        assert!(
            out[1..].iter().all(|o| o.result == TargetResult::UpToDate),
            "{out:?}"
        );
    }
}
