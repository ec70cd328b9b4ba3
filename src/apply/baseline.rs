//! `migrate baseline`: marking every migration up to a version applied
//! without running it, for a database created by hand or restored from a
//! dump, whose schema already holds what those migrations would create.
//!
//! The marked migrations are recorded like adopted ones
//! ([`super::history::adopt_migration`]) with the origin
//! [`history::BASELINE`], which `migrate status` shows; their checksums are
//! the files' as they are now, so a later edit is drift as usual. Takes the
//! run lock like `apply`, and writes the history in one transaction.

use super::{checksum, history, lock, migration_id, run, ApplyError, ApplySettings};
use crate::plan::{MigrationPlan, Plan};
use crate::source::MigrationVersion;

/// Marks every migration of `plan` up to and including `upto` applied,
/// returning the ones it marked (those already applied are left as they
/// are). `upto` must be the version of a migration file
/// ([`ApplyError::BaselineUnknown`]); a migration that started here and did
/// not finish is refused ([`ApplyError::BaselineInProgress`]).
pub fn baseline<'p>(
    plan: &'p Plan,
    client: &mut postgres::Client,
    settings: &ApplySettings,
    upto: &MigrationVersion,
) -> Result<Vec<&'p MigrationPlan>, ApplyError> {
    if !plan
        .migrations
        .iter()
        .any(|m| m.file.version.as_ref() == Some(upto))
    {
        let versions: Vec<String> = plan
            .migrations
            .iter()
            .filter_map(|m| Some(m.file.version.as_ref()?.to_string()))
            .collect();
        return Err(ApplyError::BaselineUnknown {
            version: upto.to_string(),
            range: match (versions.first(), versions.last()) {
                (Some(first), Some(last)) => format!("the files' versions run from {first} to {last}"),
                _ => "no migration file has a version".to_string(),
            },
        });
    }
    lock::check_session(client)?;
    lock::acquire(client, settings, &mut |_| {})?;
    let result = mark(plan, client, settings, upto);
    lock::release(client, settings.run_lock_key);
    result
}

fn mark<'p>(
    plan: &'p Plan,
    client: &mut postgres::Client,
    settings: &ApplySettings,
    upto: &MigrationVersion,
) -> Result<Vec<&'p MigrationPlan>, ApplyError> {
    let schema = settings.history_schema.as_str();
    history::ensure(client, schema)?;
    let history = history::load(client, schema)?;
    let mut marked = Vec::new();
    for m in &plan.migrations {
        if m.file.version.as_ref().is_none_or(|v| v > upto) {
            continue;
        }
        match history.migration(&migration_id(&m.file)) {
            None => marked.push(m),
            Some(row) if row.status == history::Status::Applied => {}
            Some(_) => {
                return Err(ApplyError::BaselineInProgress {
                    migration: m.file.path.display().to_string(),
                })
            }
        }
    }
    let failed = |e: postgres::Error| ApplyError::History {
        schema: schema.to_string(),
        message: run::error_text(&e),
    };
    let mut tx = client.transaction().map_err(failed)?;
    for m in &marked {
        history::adopt_migration(
            &mut tx,
            schema,
            &migration_id(&m.file),
            m,
            &checksum(&m.text),
            history::BASELINE,
        )?;
    }
    tx.commit().map_err(failed)?;
    Ok(marked)
}
