//! `migrate.yaml`.
