//! Which table-level lock each statement takes on which relation.
//!
//! The modes follow the PostgreSQL docs (ALTER TABLE, CREATE INDEX, …, and
//! "Explicit Locking"); the lock-truth tests check them against `pg_locks`
//! on a real server. Only the strongest lock per relation is listed.
//!
//! Some locks fall on tables the statement does not name: dropping a table,
//! a foreign-key column or a foreign key, or changing a foreign-key column's
//! type, also takes ACCESS EXCLUSIVE on the referenced table (its side of
//! the constraint's triggers goes). Those come from the schema model, so a
//! table the history never created shows only the locks the statement names.

use crate::parse::{AlterAction, ConstraintKind, Stmt, StmtKind};
use crate::pg::{Ident, LockMode, PgVersion, QualifiedName};
use crate::schema::{Schema, Table};

/// The lock a single `ALTER TABLE` subcommand takes on its table.
pub fn alter_action_lock(action: &AlterAction, pg: PgVersion) -> LockMode {
    use AlterAction as A;
    match action {
        // VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE (PG docs, ALTER TABLE).
        A::ValidateConstraint { .. } => LockMode::ShareUpdateExclusive,
        // Adding a foreign key takes SHARE ROW EXCLUSIVE on the table.
        A::AddConstraint { constraint, .. }
            if matches!(constraint.kind, ConstraintKind::ForeignKey { .. }) =>
        {
            LockMode::ShareRowExclusive
        }
        A::SetColumnStatistics { .. } | A::SetStorageParams => LockMode::ShareUpdateExclusive,
        // DETACH PARTITION CONCURRENTLY (PG 14+) takes SHARE UPDATE EXCLUSIVE on the parent.
        A::DetachPartition {
            concurrently: true, ..
        } if pg.at_least(14) => LockMode::ShareUpdateExclusive,
        // ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent (PG 12+).
        A::AttachPartition { .. } if pg.at_least(12) => LockMode::ShareUpdateExclusive,
        A::Other { lock, .. } => *lock,
        _ => LockMode::AccessExclusive,
    }
}

/// The tables `table`'s foreign keys reference, of the foreign keys `pick`
/// selects (by their columns and name).
fn referenced(table: Option<Table>, pick: impl Fn(&[Ident], Option<&Ident>) -> bool) -> Vec<QualifiedName> {
    table
        .into_iter()
        .flat_map(|t| t.constraints())
        .filter_map(|c| match c.kind {
            ConstraintKind::ForeignKey { columns, references } if pick(&columns, c.name.as_ref()) => {
                Some(references)
            }
            _ => None,
        })
        .collect()
}

/// The relations a statement locks, with the strongest mode on each, as the
/// schema model before it says.
pub fn statement_locks(stmt: &Stmt, pg: PgVersion, schema: &Schema) -> Vec<(QualifiedName, LockMode)> {
    let mut out: Vec<(QualifiedName, LockMode)> = Vec::new();
    let mut add = |table: &QualifiedName, mode: LockMode| match out.iter_mut().find(|(t, _)| t.same(table)) {
        Some((_, m)) => *m = (*m).max(mode),
        None => out.push((table.clone(), mode)),
    };
    match &stmt.kind {
        StmtKind::AlterTable(a) => {
            let known = schema.table(&a.table);
            for action in &a.actions {
                add(&a.table, alter_action_lock(action, pg));
                let dropped: Vec<QualifiedName> = match action {
                    AlterAction::DropColumn { columns, .. } => {
                        referenced(known, |fk, _| fk.iter().any(|c| columns.contains(c)))
                    }
                    AlterAction::AlterType { column, .. } => referenced(known, |fk, _| fk.contains(column)),
                    AlterAction::DropConstraint { name, .. } => referenced(known, |columns, fk| match fk {
                        Some(fk) => fk == name,
                        // PostgreSQL's name for it: `<table>_<columns>_fkey`.
                        None => {
                            let mut parts = vec![a.table.name.as_str()];
                            parts.extend(columns.iter().map(Ident::as_str));
                            parts.push("fkey");
                            Ident::derived(&parts) == *name
                        }
                    }),
                    _ => Vec::new(),
                };
                for parent in &dropped {
                    add(parent, LockMode::AccessExclusive);
                }
                match action {
                    AlterAction::AddConstraint { constraint, .. } => {
                        if let ConstraintKind::ForeignKey { references, .. } = &constraint.kind {
                            add(references, LockMode::ShareRowExclusive);
                        }
                    }
                    AlterAction::AddColumn { column, .. } => {
                        if let Some(references) = &column.references {
                            add(references, LockMode::ShareRowExclusive);
                        }
                    }
                    AlterAction::AttachPartition { partition }
                    | AlterAction::DetachPartition { partition, .. } => {
                        add(partition, LockMode::AccessExclusive);
                    }
                    _ => {}
                }
            }
        }
        StmtKind::CreateIndex(i) => add(
            &i.table,
            if i.concurrently {
                LockMode::ShareUpdateExclusive
            } else {
                LockMode::Share
            },
        ),
        StmtKind::CreateTable(t) => {
            for column in &t.columns {
                if let Some(references) = &column.references {
                    add(references, LockMode::ShareRowExclusive);
                }
            }
            for c in &t.constraints {
                if let ConstraintKind::ForeignKey { references, .. } = &c.kind {
                    add(references, LockMode::ShareRowExclusive);
                }
            }
            if let Some(parent) = &t.partition_of {
                add(parent, LockMode::AccessExclusive);
            }
        }
        StmtKind::Vacuum { full: true, tables } | StmtKind::Truncate { tables } => {
            tables.iter().for_each(|t| add(t, LockMode::AccessExclusive))
        }
        StmtKind::Vacuum { full: false, tables } => {
            tables.iter().for_each(|t| add(t, LockMode::ShareUpdateExclusive))
        }
        StmtKind::Cluster { table: Some(t) } => add(t, LockMode::AccessExclusive),
        StmtKind::RefreshMatView { name, concurrently } => add(
            name,
            if *concurrently {
                LockMode::Exclusive
            } else {
                LockMode::AccessExclusive
            },
        ),
        StmtKind::LockTable { tables, mode } => tables.iter().for_each(|t| add(t, *mode)),
        StmtKind::Dml(d) => add(&d.table, LockMode::RowExclusive),
        StmtKind::Insert { table } => add(table, LockMode::RowExclusive),
        StmtKind::Drop(d) if d.kind == crate::parse::ObjectKind::Table => {
            for name in &d.names {
                add(name, LockMode::AccessExclusive);
                for parent in referenced(schema.table(name), |_, _| true) {
                    add(&parent, LockMode::AccessExclusive);
                }
            }
        }
        StmtKind::CreateTrigger { table } => add(table, LockMode::ShareRowExclusive),
        StmtKind::Reindex(r) => {
            if let Some(name) = &r.name {
                add(
                    name,
                    if r.concurrently {
                        LockMode::ShareUpdateExclusive
                    } else {
                        LockMode::Share
                    },
                )
            }
        }
        _ => {}
    }
    out
}
