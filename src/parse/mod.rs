//! Parsing: one split [`Statement`] becomes one [`Stmt`], a typed record of
//! the facts the rules need (which table, which columns, `CONCURRENTLY` or not,
//! `NOT VALID` or not, how volatile a default is…).
//!
//! sqlparser (PostgreSQL dialect) is the parser; its AST stays inside this
//! module. Each statement is tokenized once, into sqlparser's own tokens:
//! by `lexer`, a byte-level fast path that gives exactly what sqlparser's
//! tokenizer gives for the shapes migrations are made of, or by sqlparser's
//! tokenizer for anything else. The statement kinds it rejects
//! but a lock linter must see (`DROP INDEX CONCURRENTLY`, `REINDEX`, `DO`,
//! `ALTER SEQUENCE`, `CLUSTER`, `VACUUM (…)`, `ALTER DOMAIN`, `CREATE INDEX …
//! ON ONLY`, some `ALTER TABLE` forms…) are recognised from the tokenizer's
//! output in `tokens`, as are the few kinds whose facts are all in their
//! first tokens (`COMMENT ON`, `GRANT`, `INSERT INTO t`, `BEGIN`, a simple
//! `SET`…), which skip the parser. Anything else becomes
//! [`StmtKind::Unparsed`] with the parser's message, so one bad statement
//! never hides the rest of a file.
//!
//! Positions always come from the splitter's spans, never from AST spans.

mod ast;
#[cfg(test)]
mod corpus;
mod lexer;
mod plpgsql;
pub mod slices;
mod tokens;
mod types;

use crate::pg::{Ident, LockMode, QualifiedName};
use crate::source::{PieceKind, Source, Span, Statement};
use serde::Serialize;

pub use plpgsql::DoBody;
pub use types::{TypeName, Volatility};

/// One statement's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// Where the statement stands in its file (from the splitter).
    pub span: Span,
    /// What it is.
    pub kind: StmtKind,
}

impl Stmt {
    /// The columns this statement defines, with their table: every column
    /// of `CREATE TABLE` and of each `ALTER TABLE … ADD COLUMN`.
    pub fn defined_columns(&self) -> Vec<(&QualifiedName, &ColumnDef)> {
        match &self.kind {
            StmtKind::CreateTable(t) => t.columns.iter().map(|c| (&t.name, c)).collect(),
            StmtKind::AlterTable(a) => a
                .actions
                .iter()
                .filter_map(|action| match action {
                    AlterAction::AddColumn { column, .. } => Some((&a.table, column)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl StmtKind {
    /// Whether PostgreSQL `pg` refuses to run the statement inside a
    /// transaction block (`CONCURRENTLY`, `VACUUM`, `ALTER TYPE … ADD VALUE`
    /// before 12), so it must be sent on its own in autocommit.
    pub fn needs_autocommit(&self, pg: crate::pg::PgVersion) -> bool {
        match self {
            StmtKind::CreateIndex(i) => i.concurrently,
            StmtKind::DropIndex(d) => d.concurrently,
            StmtKind::Reindex(r) => r.concurrently,
            StmtKind::Vacuum { .. } => true,
            StmtKind::AlterTypeAddValue { .. } => !pg.at_least(12),
            StmtKind::AlterTable(a) => a.actions.iter().any(|x| {
                matches!(
                    x,
                    AlterAction::DetachPartition {
                        concurrently: true,
                        ..
                    }
                )
            }),
            _ => false,
        }
    }
}

/// What a statement is, with the facts rules look at.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    CreateTable(CreateTable),
    CreateIndex(CreateIndex),
    DropIndex(DropIndex),
    AlterTable(AlterTable),
    Reindex(Reindex),
    /// `VACUUM [FULL] …`.
    Vacuum {
        full: bool,
        tables: Vec<QualifiedName>,
    },
    /// `CLUSTER [table [USING index]]`.
    Cluster {
        table: Option<QualifiedName>,
    },
    /// `CREATE MATERIALIZED VIEW name AS …`.
    CreateMatView {
        name: QualifiedName,
    },
    /// `REFRESH MATERIALIZED VIEW [CONCURRENTLY] name`.
    RefreshMatView {
        name: QualifiedName,
        concurrently: bool,
    },
    /// `LOCK [TABLE] names [IN mode MODE]`.
    LockTable {
        tables: Vec<QualifiedName>,
        mode: LockMode,
    },
    /// `TRUNCATE names`.
    Truncate {
        tables: Vec<QualifiedName>,
    },
    /// `UPDATE` / `DELETE`.
    Dml(Dml),
    /// `INSERT INTO table …`.
    Insert {
        table: QualifiedName,
    },
    /// `DROP TABLE|VIEW|… names`.
    Drop(DropObjects),
    /// `CREATE DOMAIN name AS type [CHECK …]`.
    CreateDomain {
        name: QualifiedName,
        /// The underlying type.
        base: TypeName,
        has_check: bool,
    },
    /// `ALTER DOMAIN name …`.
    AlterDomain(AlterDomain),
    /// `CREATE TYPE name AS ENUM (…)` and other `CREATE TYPE` forms.
    CreateType {
        name: QualifiedName,
        is_enum: bool,
    },
    /// `ALTER TYPE name ADD VALUE …`.
    AlterTypeAddValue {
        name: QualifiedName,
        value: String,
    },
    /// `CREATE SEQUENCE` / `ALTER SEQUENCE`.
    Sequence {
        name: QualifiedName,
        create: bool,
    },
    /// `DO [LANGUAGE l] $$ … $$`.
    Do(DoBlock),
    /// `CREATE TRIGGER … ON table`.
    CreateTrigger {
        table: QualifiedName,
    },
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT`.
    Rollback,
    /// `SET [LOCAL] name = value` (and `SET SESSION`).
    Set(SetVar),
    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE` with a PL/pgSQL body that
    /// `EXECUTE`s constant text: what those run when the routine is called
    /// (other routines are [`StmtKind::Other`]).
    CreateRoutine {
        name: QualifiedName,
        /// The body, read like a `DO` block's; `inner` holds only the
        /// statements of its constant `EXECUTE`s.
        block: DoBlock,
    },
    /// `RESET name` / `RESET ALL`.
    Reset {
        name: Option<String>,
    },
    /// A statement understood but of no interest to any rule: queries,
    /// grants, comments, functions, extensions, views… `tag` names it
    /// (`SELECT`, `GRANT`, `CREATE FUNCTION`).
    Other {
        tag: String,
    },
    /// A psql meta-command (`\set`, `\i`, `\connect`).
    PsqlMeta,
    /// Neither parsed nor recognised; `message` is the parser's.
    Unparsed {
        message: String,
    },
}

/// `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTable {
    pub name: QualifiedName,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnDef>,
    pub constraints: Vec<Constraint>,
    /// `PARTITION OF parent`.
    pub partition_of: Option<QualifiedName>,
    /// `PARTITION BY …` (a partitioned parent).
    pub partitioned: bool,
    /// `CREATE TABLE … AS SELECT` (takes no lock on an existing table).
    pub as_query: bool,
}

/// One column definition, in `CREATE TABLE` or `ADD COLUMN`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: Ident,
    pub ty: TypeName,
    pub not_null: bool,
    pub default: Option<Expr>,
    pub generated: Option<Generated>,
    pub primary_key: bool,
    pub unique: bool,
    pub check: bool,
    pub references: Option<QualifiedName>,
}

/// How a generated column is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generated {
    /// `GENERATED … AS IDENTITY`.
    Identity,
    /// `GENERATED ALWAYS AS (expr) STORED`.
    Stored,
    /// `GENERATED ALWAYS AS (expr)` without `STORED` (virtual on PG 18).
    Virtual,
}

/// Facts about an expression (a default, a `USING` clause).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Whether evaluating it once per row could give different values.
    pub volatility: Volatility,
    /// The functions that decided the volatility (for messages), lower-case.
    pub functions: Vec<String>,
    /// Functions not in PostgreSQL's built-in catalog (assumed volatile).
    pub unknown_functions: Vec<String>,
}

/// A table constraint, inline or in `ADD CONSTRAINT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub name: Option<Ident>,
    pub kind: ConstraintKind,
}

/// The kind of a table constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    Check {
        /// Columns the expression proves NOT NULL (top-level `c IS NOT NULL` conjuncts).
        not_null_columns: Vec<Ident>,
    },
    ForeignKey {
        columns: Vec<Ident>,
        references: QualifiedName,
    },
    Unique {
        columns: Vec<Ident>,
        using_index: Option<Ident>,
    },
    PrimaryKey {
        columns: Vec<Ident>,
        using_index: Option<Ident>,
    },
    Exclusion,
    /// PG 18: `CONSTRAINT n NOT NULL col`.
    NotNull {
        column: Ident,
    },
}

/// `CREATE INDEX`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateIndex {
    pub name: Option<QualifiedName>,
    pub table: QualifiedName,
    pub unique: bool,
    pub concurrently: bool,
    pub if_not_exists: bool,
    /// `ON ONLY table` (partitioned parent only).
    pub only: bool,
    /// Plain column references among the key columns.
    pub columns: Vec<Ident>,
    /// A plain b-tree index over plain columns: no expressions, operator
    /// classes, orderings, predicate, `INCLUDE` or options. Only such an
    /// index can be copied from these facts alone (the column swap does).
    pub simple: bool,
}

/// `DROP INDEX`.
#[derive(Debug, Clone, PartialEq)]
pub struct DropIndex {
    pub names: Vec<QualifiedName>,
    pub concurrently: bool,
    pub if_exists: bool,
}

/// `REINDEX`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reindex {
    pub target: ReindexTarget,
    pub name: Option<QualifiedName>,
    pub concurrently: bool,
}

/// What `REINDEX` rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReindexTarget {
    Index,
    Table,
    Schema,
    Database,
    System,
}

/// `ALTER TABLE name action, …`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterTable {
    pub table: QualifiedName,
    pub if_exists: bool,
    pub only: bool,
    pub actions: Vec<AlterAction>,
}

/// One subcommand of `ALTER TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub enum AlterAction {
    AddColumn {
        column: ColumnDef,
        if_not_exists: bool,
    },
    DropColumn {
        columns: Vec<Ident>,
        if_exists: bool,
    },
    AlterType {
        column: Ident,
        ty: TypeName,
        using: Option<Expr>,
    },
    SetNotNull {
        column: Ident,
    },
    DropNotNull {
        column: Ident,
    },
    SetDefault {
        column: Ident,
        default: Expr,
    },
    DropDefault {
        column: Ident,
    },
    AddConstraint {
        constraint: Constraint,
        not_valid: bool,
    },
    ValidateConstraint {
        name: Ident,
    },
    DropConstraint {
        name: Ident,
        if_exists: bool,
    },
    RenameConstraint {
        from: Ident,
        to: Ident,
    },
    RenameColumn {
        from: Ident,
        to: Ident,
    },
    RenameTable {
        to: Ident,
    },
    SetSchema {
        schema: Ident,
    },
    SetLogged,
    SetUnlogged,
    AttachPartition {
        partition: QualifiedName,
    },
    DetachPartition {
        partition: QualifiedName,
        concurrently: bool,
        /// `FINALIZE`: completes an interrupted `CONCURRENTLY` detach.
        finalize: bool,
    },
    /// `ALTER COLUMN c SET STATISTICS n`, `SET (attribute_option …)`.
    SetColumnStatistics {
        column: Ident,
    },
    /// `ALTER COLUMN c SET STORAGE …` / `SET COMPRESSION …`.
    SetColumnStorage {
        column: Ident,
    },
    /// `ALTER COLUMN c ADD GENERATED … AS IDENTITY`.
    AddIdentity {
        column: Ident,
    },
    /// `SET (storage_parameter = …)` / `RESET (…)`.
    SetStorageParams,
    /// `ENABLE/DISABLE TRIGGER`, `ENABLE/DISABLE ROW LEVEL SECURITY`, `OWNER TO`, …:
    /// brief, no scan. `lock` is what PostgreSQL takes for it.
    Other {
        what: String,
        lock: LockMode,
    },
}

/// `UPDATE` or `DELETE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dml {
    pub verb: DmlVerb,
    pub table: QualifiedName,
    pub has_where: bool,
    /// The columns the `WHERE` clause bounds, in its top-level `AND`s: `c =
    /// …` (both sides of `a = b`), `c = ANY (…)`, `c IN (list)`, `c BETWEEN … AND …`, or both a lower
    /// and an upper comparison. Empty without a `WHERE`, or when an `OR` (or
    /// anything else) is all it has.
    pub bounded: Vec<Ident>,
    /// Of `bounded`, the columns matched against values (`=`, `= ANY`, `IN`
    /// list) rather than a range: a `WHERE` that picks rows by value.
    pub matched: Vec<Ident>,
}

/// Which data-changing statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DmlVerb {
    Update,
    Delete,
}

/// `DROP <kind> names`.
#[derive(Debug, Clone, PartialEq)]
pub struct DropObjects {
    pub kind: ObjectKind,
    pub names: Vec<QualifiedName>,
    pub if_exists: bool,
    pub cascade: bool,
}

/// The kinds of object `DROP` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    Sequence,
    Type,
    Domain,
    Schema,
    Other,
}

/// `ALTER DOMAIN`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterDomain {
    pub name: QualifiedName,
    pub action: DomainAction,
}

/// What `ALTER DOMAIN` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainAction {
    AddConstraint { not_valid: bool },
    ValidateConstraint,
    Other,
}

/// A `DO` block.
#[derive(Debug, Clone, PartialEq)]
pub struct DoBlock {
    /// The body between the dollar quotes, in the coordinates of the text
    /// the statement was parsed from (the file, for [`parse_source`]).
    /// `None` for a quoted-string body (`DO 'BEGIN … END'`), whose escapes
    /// would have to be undone first.
    pub body: Option<Span>,
    /// `LANGUAGE x`, lower-case; `plpgsql` when omitted.
    pub language: String,
    /// What the body runs, read once when the statement is parsed
    /// (empty for a quoted-string body or another language).
    pub inner: DoBody,
}

/// `SET [LOCAL|SESSION] name = value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetVar {
    /// Lower-case parameter name, e.g. `lock_timeout`.
    pub name: String,
    /// The value as written, quotes removed.
    pub value: String,
    /// `SET LOCAL`: lasts until the end of the transaction.
    pub local: bool,
}

/// Parses every statement of a file.
///
/// A split statement that holds several statements (a goose
/// `-- +goose StatementBegin` … `-- +goose StatementEnd` block, which the
/// splitter keeps whole because goose sends it as one query) gives one
/// [`Stmt`] per statement inside it, each with its own span.
pub fn parse_source(source: &Source) -> Vec<Stmt> {
    parse_source_indexed(source).into_iter().map(|(_, s)| s).collect()
}

/// [`parse_source`], each `Stmt` paired with the index in
/// [`Source::statements`] of the split statement it came from (what ignore
/// directives refer to).
pub fn parse_source_indexed(source: &Source) -> Vec<(usize, Stmt)> {
    let mut out = Vec::with_capacity(source.statements.len());
    for (index, statement) in source.statements.iter().enumerate() {
        let inner = match statement.kind {
            PieceKind::Sql => inner_statements(&source.text, statement),
            _ => Vec::new(),
        };
        if inner.len() > 1 {
            out.extend(inner.iter().map(|s| (index, parse_statement(&source.text, s))));
        } else {
            out.push((index, parse_statement(&source.text, statement)));
        }
    }
    out
}

/// The statements inside one split statement, in file coordinates: one for
/// an ordinary statement, several for a goose statement block.
fn inner_statements(text: &str, statement: &Statement) -> Vec<Statement> {
    let sql = statement.span.slice(text);
    if !sql.contains(';') {
        return Vec::new();
    }
    crate::source::split(sql)
        .into_iter()
        .filter(|p| matches!(p.kind, PieceKind::Sql | PieceKind::PsqlMeta))
        .map(|p| Statement {
            span: p.span.shift(statement.span.start),
            kind: p.kind,
        })
        .collect()
}

/// Parses one statement.
///
/// ```
/// use safe_migrate::parse::{parse_sql, StmtKind};
/// let stmts = parse_sql("DROP INDEX CONCURRENTLY idx; SELEKT 1");
/// assert!(matches!(&stmts[0].kind, StmtKind::DropIndex(d) if d.concurrently));
/// assert!(matches!(&stmts[1].kind, StmtKind::Unparsed { .. }));
/// ```
pub fn parse_statement(text: &str, statement: &Statement) -> Stmt {
    let sql = statement.span.slice(text);
    let mut kind = match statement.kind {
        PieceKind::PsqlMeta => StmtKind::PsqlMeta,
        _ => match ast::parse(sql) {
            Ok(kind) => kind,
            Err(message) => tokens::recognise(sql).unwrap_or(StmtKind::Unparsed { message }),
        },
    };
    // The parsers see only the statement's text; their spans move into the
    // coordinates of `text`.
    if let StmtKind::Do(block) = &mut kind {
        block.body = block.body.map(|b| b.shift(statement.span.start));
        block.inner = plpgsql::do_body(text, block);
    }
    // Only a body that says EXECUTE can hold constant dynamic SQL.
    if matches!(&kind, StmtKind::Other { tag } if tag == "CREATE FUNCTION" || tag == "CREATE PROCEDURE")
        && sql
            .as_bytes()
            .windows(7)
            .any(|w| w.eq_ignore_ascii_case(b"EXECUTE"))
    {
        if let Some((name, mut block)) = tokens::routine(sql) {
            block.body = block.body.map(|b| b.shift(statement.span.start));
            block.inner = plpgsql::executed(text, &block);
            if !block.inner.statements.is_empty() {
                kind = StmtKind::CreateRoutine { name, block };
            }
        }
    }
    Stmt {
        span: statement.span,
        kind,
    }
}

/// Splits and parses a snippet of SQL (for tests, docs and nested bodies).
pub fn parse_sql(sql: &str) -> Vec<Stmt> {
    crate::source::split(sql)
        .into_iter()
        .filter(|p| matches!(p.kind, PieceKind::Sql | PieceKind::PsqlMeta))
        .map(|p| {
            parse_statement(
                sql,
                &Statement {
                    span: p.span,
                    kind: p.kind,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_set_and_reset() {
        let stmts =
            parse_sql("SET LOCAL lock_timeout = '2s'; SET lock_timeout TO 0; RESET Lock_Timeout; RESET ALL");
        assert!(
            matches!(&stmts[0].kind, StmtKind::Set(s) if s.name == "lock_timeout" && s.value == "2s" && s.local)
        );
        assert!(matches!(&stmts[1].kind, StmtKind::Set(s) if s.value == "0" && !s.local));
        assert_eq!(
            stmts[2].kind,
            StmtKind::Reset {
                name: Some("lock_timeout".into())
            }
        );
        assert_eq!(stmts[3].kind, StmtKind::Reset { name: None });
    }

    #[test]
    fn lists_defined_columns() {
        let stmts =
            parse_sql("CREATE TABLE t (a int, b text); ALTER TABLE s.u ADD COLUMN c json, DROP COLUMN d");
        let names = |s: &Stmt| -> Vec<String> {
            s.defined_columns()
                .iter()
                .map(|(t, c)| format!("{t}.{}", c.name))
                .collect()
        };
        assert_eq!(names(&stmts[0]), ["t.a", "t.b"]);
        assert_eq!(names(&stmts[1]), ["s.u.c"]);
    }
}
