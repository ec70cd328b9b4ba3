//! What the migrations so far have created: tables, columns, constraints and
//! indexes, built up statement by statement from [`Stmt`]s.
//!
//! Lint consults it to tell a table created in this file (no traffic, no
//! lock concern) from one that holds data, to know a column's old type, and
//! to know whether a validated `CHECK (c IS NOT NULL)` already exists. A
//! table the history never created (a file linted alone, a table made by
//! another tool) is unknown, and rules treat it as existing and populated.
//!
//! The model lives as long as the lint run and grows with the schema the
//! history builds, so it is stored compactly: every identifier once, in
//! `Names`, and small fixed-size records that name them by a 4-byte
//! `Name` (a column is 16 bytes, a constraint 28, an index 20). Lookups
//! answer with views ([`Table`]) and owned copies ([`Column`],
//! [`TableConstraint`], [`Index`]) in the parser's own types.

pub mod dump;
mod names;

use crate::parse::{AlterAction, ColumnDef, ConstraintKind, Stmt, StmtKind, TypeName};
use crate::pg::{Ident, QualifiedName};
use names::{Name, Names};
use rustc_hash::FxHashMap as HashMap;

/// A relation's key: its schema (`public` for an unqualified name, see
/// [`QualifiedName::resolved_schema`]) and its name.
type Key = (Name, Name);

/// A relation name as a statement wrote it: the schema only when it was
/// written, so that messages and generated SQL name it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rel {
    schema: Option<Name>,
    name: Name,
}

/// Where an object came from: a file index, the database (`u32::MAX - 1`)
/// or nowhere known (`u32::MAX`): see [`Origin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIndex(u32);

impl FileIndex {
    const NONE: FileIndex = FileIndex(u32::MAX);
    const DATABASE: FileIndex = FileIndex(u32::MAX - 1);

    fn of(origin: Origin) -> FileIndex {
        match origin {
            Origin::Database => FileIndex::DATABASE,
            Origin::File(index) => FileIndex(
                u32::try_from(index)
                    .ok()
                    .filter(|&i| i < u32::MAX - 1)
                    .expect("fewer than 4 billion files"),
            ),
        }
    }

    fn get(self) -> Option<usize> {
        self.origin().and_then(Origin::file)
    }

    fn origin(self) -> Option<Origin> {
        match self {
            FileIndex::NONE => None,
            FileIndex::DATABASE => Some(Origin::Database),
            FileIndex(i) => Some(Origin::File(i as usize)),
        }
    }
}

/// Where a table (or domain, or materialized view) in the model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// The database's own schema, read from its catalog or from a schema
    /// dump: it existed before the migrations and holds data.
    Database,
    /// Created by the file with this index in the history being walked.
    File(usize),
}

impl Origin {
    /// The file index, for an object a migration file created.
    pub fn file(self) -> Option<usize> {
        match self {
            Origin::File(index) => Some(index),
            Origin::Database => None,
        }
    }
}

/// How big a table is, as the catalog estimates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TableSize {
    /// `pg_class.reltuples`; `None` when the table was never vacuumed or
    /// analyzed (PostgreSQL 14+ says -1; older versions say 0 for both).
    pub rows: Option<u64>,
    /// Bytes on disk of the heap, its indexes and TOAST table, as of their
    /// last VACUUM, ANALYZE or index build (`relpages`, read without touching
    /// a file); a heap never vacuumed or analyzed is measured exactly.
    pub bytes: u64,
}

impl std::fmt::Display for TableSize {
    /// `~48.2M rows, 12 GB`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rows {
            Some(rows) => write!(
                f,
                "~{} rows, ",
                human(rows as f64, 1000.0, &["", "k", "M", "G", "T"])
            )?,
            None => f.write_str("rows unknown (never analyzed), ")?,
        }
        let bytes = human(self.bytes as f64, 1024.0, &[" B", " kB", " MB", " GB", " TB"]);
        f.write_str(&bytes)
    }
}

/// `n` with one decimal and the unit of its magnitude (none below 10 of the first).
fn human(n: f64, step: f64, units: &[&str]) -> String {
    let mut value = n;
    let mut unit = 0;
    while value >= step && unit + 1 < units.len() {
        value /= step;
        unit += 1;
    }
    let number = if unit == 0 || value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    format!("{}{}", number.strip_suffix(".0").unwrap_or(&number), units[unit])
}

/// A run of names in [`Schema::lists`]: a constraint's or an index's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct List {
    start: u32,
    len: u32,
}

/// The schema model.
#[derive(Debug, Clone)]
pub struct Schema {
    names: Names,
    /// The schema of unqualified names: `public`, or the first schema of
    /// the database's `search_path` ([`Schema::set_default_schema`]).
    public: Name,
    tables: HashMap<Key, TableData>,
    /// Index key (the table's schema, the index name) → index.
    indexes: HashMap<Key, IndexData>,
    /// Domains the history created or altered.
    domains: HashMap<Key, Domain>,
    /// Materialized views → where each came from.
    matviews: HashMap<Key, FileIndex>,
    /// Each distinct column type once; columns name it by position.
    types: Vec<TypeName>,
    type_ids: HashMap<TypeName, u32>,
    /// The column lists of constraints and indexes, one after another.
    /// A dropped or replaced one's entries stay until [`Schema::compact_lists`].
    lists: Vec<Name>,
    /// `lists` is compacted when it grows past this length.
    lists_limit: usize,
}

/// The smallest [`Schema::lists_limit`].
const MIN_LISTS_LIMIT: usize = 4096;

impl Default for Schema {
    fn default() -> Schema {
        let mut names = Names::default();
        let public = names.intern("public");
        Schema {
            names,
            public,
            tables: HashMap::default(),
            indexes: HashMap::default(),
            domains: HashMap::default(),
            matviews: HashMap::default(),
            types: Vec::new(),
            type_ids: HashMap::default(),
            lists: Vec::new(),
            lists_limit: MIN_LISTS_LIMIT,
        }
    }
}

/// A domain the history created or altered.
#[derive(Debug, Clone)]
struct Domain {
    /// Whether it carries a constraint.
    constrained: bool,
    /// The underlying type, when the history created the domain.
    base: Option<TypeName>,
    /// Where it was created; [`FileIndex::NONE`] when the history only altered it.
    created_in: FileIndex,
}

impl Default for Domain {
    fn default() -> Domain {
        Domain {
            constrained: false,
            base: None,
            created_in: FileIndex::NONE,
        }
    }
}

/// A table as stored.
#[derive(Debug, Clone)]
struct TableData {
    created_in: FileIndex,
    /// Read from the catalog, for a table of the database.
    size: Option<TableSize>,
    partitioned: bool,
    partition_of: Option<Rel>,
    columns: Vec<ColumnData>,
    constraints: Vec<ConstraintData>,
}

impl TableData {
    /// A table the history only altered.
    fn altered() -> TableData {
        TableData {
            created_in: FileIndex::NONE,
            size: None,
            partitioned: false,
            partition_of: None,
            columns: Vec::new(),
            constraints: Vec::new(),
        }
    }

    fn column(&self, name: Name) -> Option<&ColumnData> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A column as stored.
#[derive(Debug, Clone)]
struct ColumnData {
    name: Name,
    /// Position in [`Schema::types`].
    ty: u32,
    added_in: FileIndex,
    not_null: bool,
    primary_key: bool,
}

/// A table constraint as stored.
#[derive(Debug, Clone)]
struct ConstraintData {
    name: Option<Name>,
    validated: bool,
    kind: KindData,
}

/// [`ConstraintKind`] as stored.
#[derive(Debug, Clone)]
enum KindData {
    Check {
        not_null_columns: List,
    },
    ForeignKey {
        columns: List,
        references: Rel,
    },
    Unique {
        columns: List,
        using_index: Option<Name>,
    },
    PrimaryKey {
        columns: List,
        using_index: Option<Name>,
    },
    Exclusion,
    NotNull {
        column: Name,
    },
}

/// An index as stored.
#[derive(Debug, Clone)]
struct IndexData {
    table: Rel,
    columns: List,
    unique: bool,
    simple: bool,
}

/// A table the history created or altered, as the model holds it.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    schema: &'a Schema,
    data: &'a TableData,
}

/// A column as the history left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub ty: TypeName,
    pub not_null: bool,
    /// Declared `PRIMARY KEY` on the column itself.
    pub primary_key: bool,
    /// Index of the file that added it (in `CREATE TABLE` or `ADD COLUMN`);
    /// `None` when the history only saw it altered.
    pub added_in: Option<usize>,
}

/// A table constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct TableConstraint {
    pub name: Option<Ident>,
    pub kind: ConstraintKind,
    /// `false` while it is `NOT VALID`.
    pub validated: bool,
}

/// An index.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub table: QualifiedName,
    pub columns: Vec<Ident>,
    pub unique: bool,
    /// A plain b-tree index over `columns` and nothing else (see
    /// [`crate::parse::CreateIndex::simple`]).
    pub simple: bool,
}

impl<'a> Table<'a> {
    /// Index of the file that created it; `None` for a table of the
    /// database or one the history only altered (created elsewhere).
    pub fn created_in(&self) -> Option<usize> {
        self.data.created_in.get()
    }

    /// Where it came from; `None` for a table the history only altered
    /// (created elsewhere, by something the model never saw).
    pub fn origin(&self) -> Option<Origin> {
        self.data.created_in.origin()
    }

    /// Its size, when it was read from the database's catalog.
    pub fn size(&self) -> Option<TableSize> {
        self.data.size
    }

    /// Declared `PARTITION BY`.
    pub fn partitioned(&self) -> bool {
        self.data.partitioned
    }

    /// `PARTITION OF parent`.
    pub fn partition_of(&self) -> Option<QualifiedName> {
        self.data.partition_of.map(|p| self.schema.qualified(p))
    }

    /// The column named `name`.
    pub fn column(&self, name: &Ident) -> Option<Column> {
        let c = self.data.column(self.schema.names.find(name.as_str())?)?;
        Some(Column {
            ty: self.schema.types[c.ty as usize].clone(),
            not_null: c.not_null,
            primary_key: c.primary_key,
            added_in: c.added_in.get(),
        })
    }

    /// The table's constraints, in the order the history added them.
    pub fn constraints(&self) -> impl Iterator<Item = TableConstraint> + 'a {
        let schema = self.schema;
        self.data.constraints.iter().map(move |c| schema.constraint(c))
    }

    /// Whether a validated CHECK proves `column` has no NULLs, which lets
    /// PostgreSQL 12+ skip the `SET NOT NULL` scan.
    pub fn has_validated_not_null_check(&self, column: &Ident) -> bool {
        let Some(column) = self.schema.names.find(column.as_str()) else {
            return false;
        };
        self.data.constraints.iter().any(|c| {
            c.validated
                && matches!(c.kind, KindData::Check { not_null_columns } if self.schema.list(not_null_columns).contains(&column))
        })
    }

    /// The primary key's columns, when the history declared one.
    pub fn primary_key(&self) -> Option<Vec<Ident>> {
        let inline: Vec<Ident> = self
            .data
            .columns
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| self.schema.ident(c.name))
            .collect();
        if !inline.is_empty() {
            return Some(inline);
        }
        self.data.constraints.iter().find_map(|c| match c.kind {
            KindData::PrimaryKey { columns, .. } if columns.len > 0 => Some(self.schema.idents(columns)),
            _ => None,
        })
    }

    /// The constraint named `name`.
    pub fn constraint(&self, name: &Ident) -> Option<TableConstraint> {
        let name = self.schema.names.find(name.as_str())?;
        self.data
            .constraints
            .iter()
            .find(|c| c.name == Some(name))
            .map(|c| self.schema.constraint(c))
    }
}

/// The constraints a column definition declares on itself besides its key:
/// `UNIQUE` and `CHECK (…)` (what the check tests is not kept).
fn inline_constraints(columns: &[ColumnDef]) -> Vec<crate::parse::Constraint> {
    let mut out = Vec::new();
    for c in columns {
        if c.unique && !c.primary_key {
            out.push(crate::parse::Constraint {
                name: None,
                kind: ConstraintKind::Unique {
                    columns: vec![c.name.clone()],
                    using_index: None,
                },
            });
        }
        if c.check {
            out.push(crate::parse::Constraint {
                name: None,
                kind: ConstraintKind::Check {
                    not_null_columns: Vec::new(),
                },
            });
        }
    }
    out
}

/// Column names as a comma-separated list.
fn join(idents: &[Ident]) -> String {
    idents.iter().map(Ident::as_str).collect::<Vec<_>>().join(", ")
}

impl Schema {
    /// The table named `name`, if the history created or altered it.
    pub fn table(&self, name: &QualifiedName) -> Option<Table<'_>> {
        let data = self.tables.get(&self.find_key(name)?)?;
        Some(Table { schema: self, data })
    }

    /// The index named `name`.
    pub fn index(&self, name: &QualifiedName) -> Option<Index> {
        self.indexes.get(&self.find_key(name)?).map(|i| self.index_of(i))
    }

    /// Indexes on `table`.
    pub fn indexes_on<'a>(&'a self, table: &QualifiedName) -> impl Iterator<Item = Index> + 'a {
        let key = self.find_key(table);
        self.indexes
            .values()
            .filter(move |i| key.is_some_and(|k| self.resolved(i.table) == k))
            .map(|i| self.index_of(i))
    }

    /// Indexes on `table`, with their names, by name.
    pub fn indexes_with_names(&self, table: &QualifiedName) -> Vec<(Ident, Index)> {
        let Some(key) = self.find_key(table) else {
            return Vec::new();
        };
        let mut found: Vec<(Ident, Index)> = self
            .indexes
            .iter()
            .filter(|(_, i)| self.resolved(i.table) == key)
            .map(|(&(_, name), i)| (self.ident(name), self.index_of(i)))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Whether `type_name` (as written in a column type) is a domain with a
    /// CHECK constraint: adding a column of such a type rewrites the table.
    pub fn is_constrained_domain(&self, type_name: &str) -> bool {
        self.domain(type_name).is_some_and(|d| d.constrained)
    }

    /// The base type of an unconstrained domain named `type_name` (as written
    /// in a column type): a change to such a domain over a binary-coercible
    /// base needs no rewrite.
    pub fn unconstrained_domain_base(&self, type_name: &str) -> Option<&TypeName> {
        let domain = self.domain(type_name)?;
        if domain.constrained {
            return None;
        }
        domain.base.as_ref()
    }

    /// The domain named `type_name` as written in a column type.
    fn domain(&self, type_name: &str) -> Option<&Domain> {
        let (schema, name) = match type_name.rsplit_once('.') {
            Some((s, n)) => (s.trim_matches('"'), n.trim_matches('"')),
            None => (self.names.get(self.public), type_name),
        };
        let key = (self.names.find(schema)?, self.names.find(name)?);
        self.domains.get(&key)
    }

    /// Index of the file that created the domain `name`, if the history did.
    pub fn domain_created_in(&self, name: &QualifiedName) -> Option<usize> {
        self.domains
            .get(&self.find_key(name)?)
            .and_then(|d| d.created_in.get())
    }

    /// Index of the file that created the materialized view `name`, if the history did.
    pub fn matview_created_in(&self, name: &QualifiedName) -> Option<usize> {
        self.matviews.get(&self.find_key(name)?).and_then(|m| m.get())
    }

    /// Makes unqualified names mean `schema` (as they do where the
    /// `search_path` puts `schema` first) instead of `public`. Set before
    /// anything is stored through an unqualified name.
    pub fn set_default_schema(&mut self, schema: &str) {
        self.public = self.names.intern(schema);
    }

    /// The schema `name` is in: its own, or the one of unqualified names.
    fn intern_schema(&mut self, name: &QualifiedName) -> Name {
        match &name.schema {
            Some(schema) => self.names.intern(schema.as_str()),
            None => self.public,
        }
    }

    /// Records the catalog's size estimate for `table` (a table of the model).
    pub fn set_size(&mut self, table: &QualifiedName, size: TableSize) {
        if let Some(data) = self.find_key(table).and_then(|key| self.tables.get_mut(&key)) {
            data.size = Some(size);
        }
    }

    /// Every fact the rules read, one line each, sorted: tables with their
    /// columns (type, NOT NULL), primary key, constraints (kind, columns,
    /// validated) and indexes (columns, unique, plain), partitions, domains
    /// and materialized views. Names the database chose (an unnamed
    /// constraint's or index's) are left out, so the model of a database,
    /// of its dump and of the migrations that built it can be compared.
    pub fn facts(&self) -> Vec<String> {
        let mut out = Vec::new();
        let key_text = |key: &Key| format!("{}.{}", self.names.get(key.0), self.names.get(key.1));
        for (key, data) in &self.tables {
            let t = Table { schema: self, data };
            let table = key_text(key);
            out.push(format!(
                "table {table}{}",
                if data.partitioned { " partitioned" } else { "" }
            ));
            if let Some(parent) = data.partition_of {
                out.push(format!(
                    "table {table} partition of {}",
                    key_text(&self.resolved(parent))
                ));
            }
            for c in &data.columns {
                out.push(format!(
                    "column {table}.{} {}{}",
                    self.names.get(c.name),
                    self.types[c.ty as usize],
                    if c.not_null { " not null" } else { "" }
                ));
            }
            if let Some(pk) = t.primary_key() {
                out.push(format!("primary key {table} ({})", join(&pk)));
            }
            for c in t.constraints() {
                let validated = if c.validated { "" } else { " not valid" };
                let what = match &c.kind {
                    ConstraintKind::Check { not_null_columns } => {
                        format!("check not null ({})", join(not_null_columns))
                    }
                    ConstraintKind::ForeignKey { columns, references } => {
                        let target = self
                            .find_key(references)
                            .map_or_else(|| references.to_string(), |k| key_text(&k));
                        format!("foreign key ({}) references {target}", join(columns))
                    }
                    ConstraintKind::Unique { columns, .. } => format!("unique ({})", join(columns)),
                    ConstraintKind::PrimaryKey { .. } | ConstraintKind::NotNull { .. } => continue,
                    ConstraintKind::Exclusion => "exclusion".to_string(),
                };
                out.push(format!("constraint {table} {what}{validated}"));
            }
        }
        for i in self.indexes.values() {
            let on = key_text(&self.resolved(i.table));
            out.push(format!(
                "index on {on} ({}){}{}",
                join(&self.idents(i.columns)),
                if i.unique { " unique" } else { "" },
                if i.simple { "" } else { " not plain" }
            ));
        }
        for (key, d) in &self.domains {
            out.push(format!(
                "domain {}{}",
                key_text(key),
                if d.constrained { " constrained" } else { "" }
            ));
        }
        for key in self.matviews.keys() {
            out.push(format!("materialized view {}", key_text(key)));
        }
        out.sort();
        out
    }

    /// The number of tables in the model.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// The partitions of `parent` the history created, by name.
    pub fn partitions_of(&self, parent: &QualifiedName) -> Vec<QualifiedName> {
        let Some(key) = self.find_key(parent) else {
            return Vec::new();
        };
        let mut found: Vec<QualifiedName> = self
            .tables
            .iter()
            .filter(|(_, t)| t.partition_of.is_some_and(|p| self.resolved(p) == key))
            .map(|(&(schema, name), _)| QualifiedName {
                schema: (schema != self.public || parent.schema.is_some()).then(|| self.ident(schema)),
                name: self.ident(name),
            })
            .collect();
        found.sort();
        found
    }

    /// Tables with a foreign key that references `table`.
    pub fn referencing<'a>(&'a self, table: &QualifiedName) -> impl Iterator<Item = Table<'a>> + 'a {
        let key = self.find_key(table);
        self.tables
            .values()
            .filter(move |t| {
                key.is_some_and(|key| {
                    t.constraints.iter().any(
                        |c| matches!(c.kind, KindData::ForeignKey { references, .. } if self.resolved(references) == key),
                    )
                })
            })
            .map(move |data| Table { schema: self, data })
    }

    // Reading the stored records back.

    /// The key `name` is stored under, if every part of it was interned
    /// (otherwise nothing is stored under it).
    fn find_key(&self, name: &QualifiedName) -> Option<Key> {
        Some((
            match &name.schema {
                Some(schema) => self.names.find(schema.as_str())?,
                None => self.public,
            },
            self.names.find(name.name.as_str())?,
        ))
    }

    fn resolved(&self, rel: Rel) -> Key {
        (rel.schema.unwrap_or(self.public), rel.name)
    }

    fn ident(&self, name: Name) -> Ident {
        Ident::new(self.names.get(name))
    }

    fn qualified(&self, rel: Rel) -> QualifiedName {
        QualifiedName {
            schema: rel.schema.map(|s| self.ident(s)),
            name: self.ident(rel.name),
        }
    }

    fn list(&self, list: List) -> &[Name] {
        &self.lists[list.start as usize..(list.start + list.len) as usize]
    }

    fn idents(&self, list: List) -> Vec<Ident> {
        self.list(list).iter().map(|&n| self.ident(n)).collect()
    }

    fn index_of(&self, i: &IndexData) -> Index {
        Index {
            table: self.qualified(i.table),
            columns: self.idents(i.columns),
            unique: i.unique,
            simple: i.simple,
        }
    }

    fn constraint(&self, c: &ConstraintData) -> TableConstraint {
        let kind = match c.kind {
            KindData::Check { not_null_columns } => ConstraintKind::Check {
                not_null_columns: self.idents(not_null_columns),
            },
            KindData::ForeignKey { columns, references } => ConstraintKind::ForeignKey {
                columns: self.idents(columns),
                references: self.qualified(references),
            },
            KindData::Unique { columns, using_index } => ConstraintKind::Unique {
                columns: self.idents(columns),
                using_index: using_index.map(|n| self.ident(n)),
            },
            KindData::PrimaryKey { columns, using_index } => ConstraintKind::PrimaryKey {
                columns: self.idents(columns),
                using_index: using_index.map(|n| self.ident(n)),
            },
            KindData::Exclusion => ConstraintKind::Exclusion,
            KindData::NotNull { column } => ConstraintKind::NotNull {
                column: self.ident(column),
            },
        };
        TableConstraint {
            name: c.name.map(|n| self.ident(n)),
            kind,
            validated: c.validated,
        }
    }

    // Storing.

    fn intern_key(&mut self, name: &QualifiedName) -> Key {
        (self.intern_schema(name), self.names.intern(name.name.as_str()))
    }

    fn intern_rel(&mut self, name: &QualifiedName) -> Rel {
        Rel {
            schema: name.schema.as_ref().map(|s| self.names.intern(s.as_str())),
            name: self.names.intern(name.name.as_str()),
        }
    }

    fn intern_list(&mut self, idents: &[Ident]) -> List {
        let start = u32::try_from(self.lists.len()).expect("fewer than 4 billion listed columns");
        for ident in idents {
            let name = self.names.intern(ident.as_str());
            self.lists.push(name);
        }
        List {
            start,
            len: idents.len() as u32,
        }
    }

    fn intern_type(&mut self, ty: TypeName) -> u32 {
        if let Some(&id) = self.type_ids.get(&ty) {
            return id;
        }
        let id = u32::try_from(self.types.len()).expect("fewer than 4 billion column types");
        self.types.push(ty.clone());
        self.type_ids.insert(ty, id);
        id
    }

    fn column_of(&mut self, def: &ColumnDef, origin: Origin) -> ColumnData {
        ColumnData {
            name: self.names.intern(def.name.as_str()),
            ty: self.intern_type(def.ty.storage()),
            added_in: FileIndex::of(origin),
            not_null: def.not_null || def.primary_key,
            primary_key: def.primary_key,
        }
    }

    /// The foreign key an inline `REFERENCES` on a column definition creates.
    fn inline_foreign_key(&mut self, def: &ColumnDef) -> Option<ConstraintData> {
        let references = self.intern_rel(def.references.as_ref()?);
        Some(ConstraintData {
            name: None,
            validated: true,
            kind: KindData::ForeignKey {
                columns: self.intern_list(std::slice::from_ref(&def.name)),
                references,
            },
        })
    }

    fn constraint_data(
        &mut self,
        name: Option<&Ident>,
        kind: &ConstraintKind,
        validated: bool,
    ) -> ConstraintData {
        let kind = match kind {
            ConstraintKind::Check { not_null_columns } => KindData::Check {
                not_null_columns: self.intern_list(not_null_columns),
            },
            ConstraintKind::ForeignKey { columns, references } => KindData::ForeignKey {
                columns: self.intern_list(columns),
                references: self.intern_rel(references),
            },
            ConstraintKind::Unique { columns, using_index } => KindData::Unique {
                columns: self.intern_list(columns),
                using_index: using_index.as_ref().map(|n| self.names.intern(n.as_str())),
            },
            ConstraintKind::PrimaryKey { columns, using_index } => KindData::PrimaryKey {
                columns: self.intern_list(columns),
                using_index: using_index.as_ref().map(|n| self.names.intern(n.as_str())),
            },
            ConstraintKind::Exclusion => KindData::Exclusion,
            ConstraintKind::NotNull { column } => KindData::NotNull {
                column: self.names.intern(column.as_str()),
            },
        };
        ConstraintData {
            name: name.map(|n| self.names.intern(n.as_str())),
            validated,
            kind,
        }
    }

    /// Applies one statement of the file with index `file_index`.
    pub fn apply(&mut self, stmt: &Stmt, file_index: usize) {
        self.apply_from(stmt, Origin::File(file_index));
    }

    /// Applies one statement that comes from `origin`: a file of the
    /// history, or the database's own schema (a dump, or the DDL the catalog
    /// reader writes).
    pub fn apply_from(&mut self, stmt: &Stmt, origin: Origin) {
        let file_index = FileIndex::of(origin);
        // Here, between statements, every live list is in `tables` or `indexes`.
        if self.lists.len() > self.lists_limit {
            self.compact_lists();
        }
        match &stmt.kind {
            StmtKind::CreateTable(t) => {
                let existing = self.table(&t.name).and_then(|t| t.origin());
                // The database's table stays the database's: a migration
                // that creates it again fails there (or was applied before
                // this history was adopted), and its rows are real.
                if t.if_not_exists && existing.is_some()
                    || existing == Some(Origin::Database) && origin != Origin::Database
                {
                    return;
                }
                let columns: Vec<ColumnData> = t.columns.iter().map(|c| self.column_of(c, origin)).collect();
                let mut constraints: Vec<ConstraintData> = t
                    .columns
                    .iter()
                    .filter_map(|c| self.inline_foreign_key(c))
                    .collect();
                // A column's own UNIQUE and CHECK are table constraints in
                // the catalog (`t_c_key`, `t_c_check`), as if written apart.
                let inline = inline_constraints(&t.columns);
                for c in t.constraints.iter().chain(&inline) {
                    let data = self.constraint_data(c.name.as_ref(), &c.kind, true);
                    constraints.push(data);
                }
                constraints.shrink_to_fit();
                let partition_of = t.partition_of.as_ref().map(|p| self.intern_rel(p));
                for col in &t.columns {
                    if col.primary_key {
                        let index = Ident::derived(&[t.name.name.as_str(), "pkey"]);
                        self.add_index(&t.name, &index, std::slice::from_ref(&col.name), true, true);
                    }
                }
                for c in t.constraints.iter().chain(&inline) {
                    self.add_constraint_index(&t.name, c);
                }
                let key = self.intern_key(&t.name);
                self.tables.insert(
                    key,
                    TableData {
                        created_in: file_index,
                        size: None,
                        partitioned: t.partitioned,
                        partition_of,
                        columns,
                        constraints,
                    },
                );
            }
            StmtKind::CreateIndex(i) => {
                let name = i.name.as_ref().map_or_else(
                    || Ident::derived(&[i.table.name.as_str(), "idx"]),
                    |n| n.name.clone(),
                );
                self.add_index(&i.table, &name, &i.columns, i.unique, i.simple);
            }
            StmtKind::DropIndex(d) => {
                for name in &d.names {
                    if let Some(key) = self.find_key(name) {
                        self.indexes.remove(&key);
                    }
                }
            }
            StmtKind::Drop(d) => {
                for name in &d.names {
                    let Some(key) = self.find_key(name) else {
                        continue;
                    };
                    match d.kind {
                        crate::parse::ObjectKind::Table => {
                            self.tables.remove(&key);
                        }
                        crate::parse::ObjectKind::MaterializedView => {
                            self.matviews.remove(&key);
                        }
                        _ => {}
                    }
                }
            }
            StmtKind::CreateMatView { name } => {
                let key = self.intern_key(name);
                self.matviews.insert(key, file_index);
            }
            StmtKind::CreateDomain {
                name,
                base,
                has_check,
            } => {
                let key = self.intern_key(name);
                self.domains.insert(
                    key,
                    Domain {
                        constrained: *has_check,
                        base: Some(base.clone()),
                        created_in: file_index,
                    },
                );
            }
            StmtKind::AlterDomain(d) => {
                if let crate::parse::DomainAction::AddConstraint { .. } = d.action {
                    let key = self.intern_key(&d.name);
                    self.domains.entry(key).or_default().constrained = true;
                }
            }
            StmtKind::AlterTable(a) => {
                for action in &a.actions {
                    self.alter(&a.table, action, origin);
                }
            }
            _ => {}
        }
    }

    /// Drops the entries of dropped and replaced lists from `lists`, so that
    /// a long history that keeps replacing indexes and constraints does not
    /// keep their old columns. Runs when `lists` has doubled since the last
    /// time, so its cost per list stored stays constant.
    fn compact_lists(&mut self) {
        let old = std::mem::take(&mut self.lists);
        let mut lists = Vec::new();
        let mut keep = |list: &mut List| {
            let start = u32::try_from(lists.len()).expect("fewer than 4 billion listed columns");
            lists.extend_from_slice(&old[list.start as usize..(list.start + list.len) as usize]);
            list.start = start;
        };
        for table in self.tables.values_mut() {
            for c in &mut table.constraints {
                match &mut c.kind {
                    KindData::Check { not_null_columns: l }
                    | KindData::ForeignKey { columns: l, .. }
                    | KindData::Unique { columns: l, .. }
                    | KindData::PrimaryKey { columns: l, .. } => keep(l),
                    KindData::Exclusion | KindData::NotNull { .. } => {}
                }
            }
        }
        for index in self.indexes.values_mut() {
            keep(&mut index.columns);
        }
        self.lists_limit = (2 * lists.len()).max(MIN_LISTS_LIMIT);
        self.lists = lists;
    }

    /// The index a UNIQUE or PRIMARY KEY constraint creates, named as
    /// PostgreSQL names it (`t_pkey`, `t_a_b_key`) unless the constraint is named.
    fn add_constraint_index(&mut self, table: &QualifiedName, c: &crate::parse::Constraint) {
        let (columns, suffix) = match &c.kind {
            ConstraintKind::PrimaryKey {
                columns,
                using_index: None,
            } => (columns, "pkey"),
            ConstraintKind::Unique {
                columns,
                using_index: None,
            } => (columns, "key"),
            _ => return,
        };
        let name = c.name.clone().unwrap_or_else(|| {
            let mut parts = vec![table.name.as_str()];
            if suffix == "key" {
                parts.extend(columns.iter().map(Ident::as_str));
            }
            parts.push(suffix);
            Ident::derived(&parts)
        });
        self.add_index(table, &name, columns, true, true);
    }

    fn add_index(
        &mut self,
        table: &QualifiedName,
        name: &Ident,
        columns: &[Ident],
        unique: bool,
        simple: bool,
    ) {
        let key = (self.intern_schema(table), self.names.intern(name.as_str()));
        let index = IndexData {
            table: self.intern_rel(table),
            columns: self.intern_list(columns),
            unique,
            simple,
        };
        self.indexes.insert(key, index);
    }

    fn alter(&mut self, name: &QualifiedName, action: &AlterAction, origin: Origin) {
        match action {
            AlterAction::RenameTable { to } => {
                let Some(old) = self.find_key(name) else {
                    return;
                };
                if let Some(table) = self.tables.remove(&old) {
                    let new = self.intern_rel(&QualifiedName {
                        schema: name.schema.clone(),
                        name: to.clone(),
                    });
                    let public = self.public;
                    for index in self.indexes.values_mut() {
                        if (index.table.schema.unwrap_or(public), index.table.name) == old {
                            index.table = new;
                        }
                    }
                    self.tables.insert(self.resolved(new), table);
                }
                return;
            }
            AlterAction::AttachPartition { partition } => {
                let parent = self.intern_rel(name);
                if let Some(key) = self.find_key(partition) {
                    if let Some(table) = self.tables.get_mut(&key) {
                        table.partition_of = Some(parent);
                    }
                }
                return;
            }
            AlterAction::DetachPartition { partition, .. } => {
                if let Some(key) = self.find_key(partition) {
                    if let Some(table) = self.tables.get_mut(&key) {
                        table.partition_of = None;
                    }
                }
                return;
            }
            AlterAction::SetSchema { schema } => {
                let Some(old) = self.find_key(name) else {
                    return;
                };
                if let Some(table) = self.tables.remove(&old) {
                    let key = (self.names.intern(schema.as_str()), old.1);
                    self.tables.insert(key, table);
                }
                return;
            }
            _ => {}
        }
        if let AlterAction::AddConstraint { constraint, .. } = action {
            self.add_constraint_index(name, constraint);
        }
        // What the action stores, interned before the table is borrowed.
        let (column, added) = match action {
            AlterAction::AddColumn { column, .. } => (Some(&column.name), Some(column)),
            AlterAction::AlterType { column, .. }
            | AlterAction::SetNotNull { column }
            | AlterAction::DropNotNull { column } => (Some(column), None),
            AlterAction::RenameColumn { from, .. } => (Some(from), None),
            _ => (None, None),
        };
        let column_name = column.map(|c| self.names.intern(c.as_str()));
        let key = self.intern_key(name);
        let exists = |schema: &Schema| {
            let table = schema.tables.get(&key);
            table.is_some_and(|t| column_name.is_some_and(|c| t.column(c).is_some()))
        };
        let added = match added {
            Some(def) if !exists(self) => {
                let column = self.column_of(def, origin);
                Some((column, self.inline_foreign_key(def)))
            }
            _ => None,
        };
        let ty = match action {
            AlterAction::AlterType { ty, .. } => Some(self.intern_type(ty.clone())),
            _ => None,
        };
        let new_name = match action {
            AlterAction::RenameColumn { to, .. } => Some(self.names.intern(to.as_str())),
            _ => None,
        };
        let constraint = match action {
            AlterAction::AddConstraint {
                constraint,
                not_valid,
            } => Some(self.constraint_data(constraint.name.as_ref(), &constraint.kind, !not_valid)),
            _ => None,
        };
        // A name never interned names nothing stored.
        let find = |names: &Names, ident: &Ident| names.find(ident.as_str());
        let constraint_name = match action {
            AlterAction::ValidateConstraint { name } | AlterAction::DropConstraint { name, .. } => {
                find(&self.names, name)
            }
            _ => None,
        };
        let dropped: Vec<Name> = match action {
            AlterAction::DropColumn { columns, .. } => {
                columns.iter().filter_map(|c| find(&self.names, c)).collect()
            }
            _ => Vec::new(),
        };
        let table = self.tables.entry(key).or_insert_with(TableData::altered);
        let column = column_name.and_then(|c| table.columns.iter_mut().find(|col| col.name == c));
        match action {
            AlterAction::AddColumn { .. } => {
                if let Some((column, foreign_key)) = added {
                    table.columns.push(column);
                    table.columns.shrink_to_fit();
                    table.constraints.extend(foreign_key);
                }
            }
            AlterAction::DropColumn { .. } => table.columns.retain(|c| !dropped.contains(&c.name)),
            AlterAction::AlterType { .. } => {
                let (Some(ty), Some(name)) = (ty, column_name) else {
                    return;
                };
                match column {
                    Some(c) => c.ty = ty,
                    None => {
                        table.columns.push(ColumnData {
                            name,
                            ty,
                            added_in: FileIndex::NONE,
                            not_null: false,
                            primary_key: false,
                        });
                    }
                }
            }
            AlterAction::SetNotNull { .. } | AlterAction::DropNotNull { .. } => {
                if let Some(c) = column {
                    c.not_null = matches!(action, AlterAction::SetNotNull { .. });
                }
            }
            AlterAction::RenameColumn { .. } => {
                if let (Some(c), Some(to)) = (column, new_name) {
                    c.name = to;
                }
            }
            AlterAction::AddConstraint { .. } => {
                table.constraints.extend(constraint);
                table.constraints.shrink_to_fit();
            }
            AlterAction::ValidateConstraint { .. } => {
                for c in table.constraints.iter_mut() {
                    if constraint_name.is_some() && c.name == constraint_name {
                        c.validated = true;
                    }
                }
            }
            AlterAction::DropConstraint { .. } if constraint_name.is_some() => {
                table.constraints.retain(|c| c.name != constraint_name);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_sql;

    fn schema_after(sql: &str) -> Schema {
        let mut schema = Schema::default();
        for stmt in parse_sql(sql) {
            schema.apply(&stmt, 0);
        }
        schema
    }

    fn name(n: &str) -> QualifiedName {
        QualifiedName::bare(Ident::new(n))
    }

    #[test]
    fn tracks_columns_and_types() {
        let s = schema_after("CREATE TABLE t (id serial PRIMARY KEY, name varchar(20))\n;ALTER TABLE t ALTER COLUMN name TYPE text");
        let t = s.table(&name("t")).unwrap();
        assert_eq!(t.column(&Ident::new("id")).unwrap().ty.base, "integer");
        assert!(t.column(&Ident::new("id")).unwrap().not_null);
        assert_eq!(t.column(&Ident::new("name")).unwrap().ty.base, "text");
    }

    #[test]
    fn tracks_validated_not_null_checks() {
        let s = schema_after(
            "CREATE TABLE t (c int);\nALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID",
        );
        assert!(!s
            .table(&name("t"))
            .unwrap()
            .has_validated_not_null_check(&Ident::new("c")));
        let s = schema_after(
            "CREATE TABLE t (c int);\nALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c_nn",
        );
        assert!(s
            .table(&name("t"))
            .unwrap()
            .has_validated_not_null_check(&Ident::new("c")));
    }

    #[test]
    fn tracks_inline_foreign_keys_and_where_columns_were_added() {
        let s = schema_after("CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE c (p_id int REFERENCES p (id));\nALTER TABLE c ADD COLUMN q_id int REFERENCES q");
        let c = s.table(&name("c")).unwrap();
        let referenced: Vec<String> = c
            .constraints()
            .filter_map(|k| match &k.kind {
                ConstraintKind::ForeignKey { references, .. } => Some(references.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(referenced, ["p", "q"]);
        assert_eq!(c.column(&Ident::new("q_id")).unwrap().added_in, Some(0));
    }

    #[test]
    fn tracks_domains_and_matviews() {
        let s = schema_after(
            "CREATE DOMAIN d AS int;\nALTER DOMAIN d ADD CONSTRAINT p CHECK (VALUE > 0);\n\
             ALTER DOMAIN other ADD CONSTRAINT p CHECK (VALUE > 0);\n\
             CREATE MATERIALIZED VIEW s.\"Mv\" AS SELECT 1 AS x",
        );
        assert!(s.is_constrained_domain("d") && s.is_constrained_domain("other"));
        assert_eq!(s.domain_created_in(&name("d")), Some(0));
        assert_eq!(s.domain_created_in(&name("other")), None);
        let mv = QualifiedName {
            schema: Some(Ident::new("s")),
            name: Ident::new("Mv"),
        };
        assert_eq!(s.matview_created_in(&mv), Some(0));
        assert_eq!(s.matview_created_in(&name("mv")), None);
        let s = schema_after("CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;\nDROP MATERIALIZED VIEW mv");
        assert_eq!(s.matview_created_in(&name("mv")), None);
    }

    #[test]
    fn follows_renames() {
        let s = schema_after("CREATE TABLE \"T\" (a int);\nALTER TABLE \"T\" RENAME TO u");
        assert!(s.table(&name("T")).is_none());
        assert!(s.table(&name("u")).is_some());
    }

    #[test]
    fn follows_columns_constraints_and_indexes_through_alters() {
        let s = schema_after(
            "CREATE TABLE app.\"Orders\" (id bigint PRIMARY KEY, total int, note text, UNIQUE (total, note));\n\
             CREATE INDEX orders_note ON app.\"Orders\" (note);\n\
             ALTER TABLE app.\"Orders\" RENAME COLUMN total TO amount;\n\
             ALTER TABLE app.\"Orders\" ALTER COLUMN amount TYPE bigint, ALTER COLUMN amount SET NOT NULL;\n\
             ALTER TABLE app.\"Orders\" ALTER COLUMN seen TYPE date;\n\
             ALTER TABLE app.\"Orders\" DROP COLUMN note;\n\
             ALTER TABLE app.\"Orders\" ADD CONSTRAINT pos CHECK (amount IS NOT NULL) NOT VALID;\n\
             ALTER TABLE app.\"Orders\" ADD CONSTRAINT gone CHECK (id > 0);\n\
             ALTER TABLE app.\"Orders\" DROP CONSTRAINT gone;\n\
             ALTER TABLE app.\"Orders\" RENAME TO orders;\n\
             CREATE TABLE app.child (o bigint REFERENCES app.orders);",
        );
        let orders = QualifiedName {
            schema: Some(Ident::new("app")),
            name: Ident::new("orders"),
        };
        assert!(s
            .table(&QualifiedName {
                name: Ident::new("Orders"),
                ..orders.clone()
            })
            .is_none());
        let t = s.table(&orders).unwrap();
        let amount = t.column(&Ident::new("amount")).unwrap();
        assert_eq!((amount.ty.base.as_str(), amount.not_null), ("bigint", true));
        assert!(t.column(&Ident::new("total")).is_none() && t.column(&Ident::new("note")).is_none());
        let seen = t.column(&Ident::new("seen")).unwrap();
        assert_eq!((seen.ty.base.as_str(), seen.added_in), ("date", None));
        assert_eq!(t.primary_key(), Some(vec![Ident::new("id")]));
        assert!(t.constraint(&Ident::new("gone")).is_none());
        let pos = t.constraint(&Ident::new("pos")).unwrap();
        assert!(!pos.validated && !t.has_validated_not_null_check(&Ident::new("amount")));
        // Indexes follow the table's new name; their own names stay.
        let names: Vec<(String, String)> = s
            .indexes_with_names(&orders)
            .into_iter()
            .map(|(n, i)| (n.to_string(), i.table.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("\"Orders_pkey\"".to_string(), "app.orders".to_string()),
                ("\"Orders_total_note_key\"".to_string(), "app.orders".to_string()),
                ("orders_note".to_string(), "app.orders".to_string()),
            ]
        );
        let index = s
            .index(&QualifiedName {
                schema: Some(Ident::new("app")),
                name: Ident::new("orders_note"),
            })
            .unwrap();
        assert_eq!(
            (index.columns, index.unique, index.simple),
            (vec![Ident::new("note")], false, true)
        );
        assert!(
            s.index(&name("orders_note")).is_none(),
            "the index is in schema app"
        );
        let referencing: Vec<Option<usize>> = s.referencing(&orders).map(|t| t.created_in()).collect();
        assert_eq!(referencing, [Some(0)]);
        assert_eq!(s.referencing(&name("orders")).count(), 0);
    }

    #[test]
    fn lists_partitions_as_the_parent_is_written() {
        let s = schema_after(
            "CREATE TABLE m (at date) PARTITION BY RANGE (at);\n\
             CREATE TABLE m_1 PARTITION OF m FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');\n\
             CREATE TABLE s.m_2 PARTITION OF public.m FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');",
        );
        assert!(s.table(&name("m")).unwrap().partitioned());
        let parts: Vec<String> = s
            .partitions_of(&name("m"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(parts, ["m_1", "s.m_2"]);
        assert_eq!(
            s.table(&name("m_1"))
                .unwrap()
                .partition_of()
                .map(|p| p.to_string()),
            Some("m".to_string())
        );
    }

    #[test]
    fn replaced_indexes_and_constraints_do_not_accumulate() {
        let rounds: Vec<Vec<Stmt>> = (0..10)
            .map(|i| {
                parse_sql(&format!(
                    "CREATE TABLE t{i} (id int PRIMARY KEY, a int REFERENCES p, CHECK (a IS NOT NULL));\n\
                     CREATE INDEX i ON t{i} (a, id);"
                ))
            })
            .collect();
        let mut s = Schema::default();
        for i in 0..20_000 {
            for stmt in &rounds[i % 10] {
                s.apply(stmt, i);
            }
        }
        // 10 tables of 3 lists each, and index i: at most twice that after a compaction.
        assert!(s.lists.len() <= 2 * MIN_LISTS_LIMIT, "{}", s.lists.len());
        let t = s.table(&name("t3")).unwrap();
        assert!(t.has_validated_not_null_check(&Ident::new("a")));
        assert_eq!(t.primary_key(), Some(vec![Ident::new("id")]));
        let fk: Vec<TableConstraint> = t.constraints().collect();
        assert!(
            matches!(&fk[0].kind, ConstraintKind::ForeignKey { columns, .. } if columns == &[Ident::new("a")])
        );
        assert_eq!(
            s.index(&name("i")).unwrap().columns,
            [Ident::new("a"), Ident::new("id")]
        );
        assert_eq!(s.index(&name("t3_pkey")).unwrap().columns, [Ident::new("id")]);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        let size = |rows, bytes| TableSize { rows, bytes }.to_string();
        assert_eq!(
            size(Some(48_200_000), 12 * 1024 * 1024 * 1024),
            "~48.2M rows, 12 GB"
        );
        assert_eq!(size(Some(20_000), 2_200_000), "~20k rows, 2.1 MB");
        assert_eq!(size(Some(12), 8192), "~12 rows, 8 kB");
        assert_eq!(size(None, 0), "rows unknown (never analyzed), 0 B");
    }

    #[test]
    fn records_are_as_small_as_the_module_docs_say() {
        use std::mem::size_of;
        assert_eq!(size_of::<ColumnData>(), 16);
        assert_eq!(size_of::<ConstraintData>(), 28);
        assert_eq!(size_of::<IndexData>(), 20);
        assert_eq!(size_of::<Key>(), 8);
        assert_eq!(size_of::<Option<Rel>>(), 8);
    }
}
