//! Catalog queries that guards and checks use: each returns one boolean.
//!
//! Names reach the catalog as string literals of their folded form
//! (`pg_class.relname`, `pg_constraint.conname`), relations through
//! `to_regclass` of their quoted SQL spelling, so mixed-case, schema-qualified
//! and reserved-word names resolve exactly as PostgreSQL resolves them.

use super::sql::{regclass, Sql};
use crate::pg::{Ident, QualifiedName};

/// True when `table` has a constraint `name` (validated, if `validated`).
pub fn constraint_exists(table: &QualifiedName, name: &Ident, validated: bool) -> Sql {
    let mut sql = Sql::kw("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid =")
        .sql(&regclass(table))
        .then("AND conname =")
        .literal(name.as_str());
    if validated {
        sql = sql.then("AND convalidated");
    }
    sql.glue(")")
}

/// True when `table.column` exists.
pub fn column_exists(table: &QualifiedName, column: &Ident) -> Sql {
    Sql::kw("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid =")
        .sql(&regclass(table))
        .then("AND attname =")
        .literal(column.as_str())
        .then("AND NOT attisdropped)")
}

/// True when `table.column` is NOT NULL.
pub fn column_not_null(table: &QualifiedName, column: &Ident) -> Sql {
    Sql::kw("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid =")
        .sql(&regclass(table))
        .then("AND attname =")
        .literal(column.as_str())
        .then("AND attnotnull AND NOT attisdropped)")
}

/// True when the index exists and is valid.
pub fn index_valid(index: &QualifiedName) -> Sql {
    Sql::kw("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index WHERE indexrelid =")
        .sql(&regclass(index))
        .then("AND indisvalid)")
}

/// True when an index of that name exists but is INVALID (a failed concurrent build).
pub fn index_invalid(index: &QualifiedName) -> Sql {
    Sql::kw("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index WHERE indexrelid =")
        .sql(&regclass(index))
        .then("AND NOT indisvalid)")
}

/// True when no relation of that name exists.
pub fn relation_absent(name: &QualifiedName) -> Sql {
    Sql::kw("SELECT").sql(&regclass(name)).then("IS NULL")
}
