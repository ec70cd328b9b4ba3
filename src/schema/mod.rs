//! What the migrations so far have created: tables, columns, constraints and
//! indexes, built up statement by statement from [`Stmt`]s.
//!
//! Lint consults it to tell a table created in this file (no traffic, no
//! lock concern) from one that holds data, to know a column's old type, and
//! to know whether a validated `CHECK (c IS NOT NULL)` already exists. A
//! table the history never created (a file linted alone, a table made by
//! another tool) is unknown, and rules treat it as existing and populated.

use crate::parse::{AlterAction, ColumnDef, ConstraintKind, Stmt, StmtKind, TypeName};
use crate::pg::{Ident, QualifiedName};
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// A relation's key: (schema, name), unqualified names in `public`
/// ([`QualifiedName::key`]), boxed to keep the model small.
type Key = (Box<str>, Box<str>);

/// The key `name` is stored under.
fn stored(name: &QualifiedName) -> Key {
    (name.resolved_schema().into(), name.name.as_str().into())
}

/// A key to look up without building one: a stored [`Key`], or a
/// [`QualifiedName`] as it resolves. Both hash and compare as the pair of
/// `&str`s, as `(String, String)` itself hashes.
trait KeyView {
    fn pair(&self) -> (&str, &str);
}

impl KeyView for Key {
    fn pair(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl KeyView for (&str, &str) {
    fn pair(&self) -> (&str, &str) {
        *self
    }
}

impl KeyView for QualifiedName {
    fn pair(&self) -> (&str, &str) {
        (self.resolved_schema(), self.name.as_str())
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pair().hash(state);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for dyn KeyView + '_ {}

/// `name` as a lookup key.
fn key(name: &QualifiedName) -> &dyn KeyView {
    name
}

/// The schema model.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    tables: HashMap<Key, Table>,
    /// Index name (schema, name) → table key.
    indexes: HashMap<Key, Index>,
    /// Domains the history created or altered.
    domains: HashMap<Key, Domain>,
    /// Materialized views the history created → index of the file that created each.
    matviews: HashMap<Key, usize>,
    /// One copy of each distinct column type, shared by the columns.
    types: HashSet<TypeName>,
}

/// The shared copy of `ty` in `types`.
fn shared(types: &mut HashSet<TypeName>, ty: TypeName) -> TypeName {
    if let Some(known) = types.get(&ty) {
        return known.clone();
    }
    types.insert(ty.clone());
    ty
}

/// A domain the history created or altered.
#[derive(Debug, Clone, Default)]
struct Domain {
    /// Whether it carries a constraint.
    constrained: bool,
    /// The underlying type, when the history created the domain.
    base: Option<TypeName>,
    /// Index of the file that created it; `None` when the history only altered it.
    created_in: Option<usize>,
}

/// A table the history created.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Index of the file that created it; `None` for a table the history
    /// only altered (created elsewhere).
    pub created_in: Option<usize>,
    pub columns: Vec<Column>,
    pub constraints: Vec<TableConstraint>,
    /// Declared `PARTITION BY`.
    pub partitioned: bool,
    /// `PARTITION OF parent`.
    pub partition_of: Option<QualifiedName>,
}

/// A column as the history left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: Ident,
    pub ty: TypeName,
    pub not_null: bool,
    /// Declared `PRIMARY KEY` on the column itself.
    pub primary_key: bool,
    /// Index of the file that added it (in `CREATE TABLE` or `ADD COLUMN`);
    /// `None` when the history only saw it altered.
    pub added_in: Option<usize>,
}

/// A named table constraint.
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

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &Ident) -> Option<&Column> {
        self.columns.iter().find(|c| &c.name == name)
    }

    /// Whether a validated CHECK proves `column` has no NULLs, which lets
    /// PostgreSQL 12+ skip the `SET NOT NULL` scan.
    pub fn has_validated_not_null_check(&self, column: &Ident) -> bool {
        self.constraints.iter().any(|c| {
            c.validated && matches!(&c.kind, ConstraintKind::Check { not_null_columns } if not_null_columns.contains(column))
        })
    }

    /// The primary key's columns, when the history declared one.
    pub fn primary_key(&self) -> Option<Vec<Ident>> {
        let inline: Vec<Ident> = self
            .columns
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| c.name.clone())
            .collect();
        if !inline.is_empty() {
            return Some(inline);
        }
        self.constraints.iter().find_map(|c| match &c.kind {
            ConstraintKind::PrimaryKey { columns, .. } if !columns.is_empty() => Some(columns.clone()),
            _ => None,
        })
    }

    /// The constraint named `name`.
    pub fn constraint(&self, name: &Ident) -> Option<&TableConstraint> {
        self.constraints.iter().find(|c| c.name.as_ref() == Some(name))
    }
}

fn column_of(def: &ColumnDef, file_index: usize, types: &mut HashSet<TypeName>) -> Column {
    Column {
        name: def.name.clone(),
        ty: shared(types, def.ty.storage()),
        not_null: def.not_null || def.primary_key,
        primary_key: def.primary_key,
        added_in: Some(file_index),
    }
}

/// The foreign key an inline `REFERENCES` on a column definition creates.
fn inline_foreign_key(def: &ColumnDef) -> Option<TableConstraint> {
    Some(TableConstraint {
        name: None,
        kind: ConstraintKind::ForeignKey {
            columns: vec![def.name.clone()],
            references: def.references.clone()?,
        },
        validated: true,
    })
}

impl Schema {
    /// The table named `name`, if the history created or altered it.
    pub fn table(&self, name: &QualifiedName) -> Option<&Table> {
        self.tables.get(key(name))
    }

    /// The index named `name`.
    pub fn index(&self, name: &QualifiedName) -> Option<&Index> {
        self.indexes.get(key(name))
    }

    /// Indexes on `table`.
    pub fn indexes_on<'a>(&'a self, table: &'a QualifiedName) -> impl Iterator<Item = &'a Index> + 'a {
        self.indexes.values().filter(move |i| i.table.same(table))
    }

    /// Whether `type_name` (as written in a column type) is a domain with a
    /// CHECK constraint: adding a column of such a type rewrites the table.
    pub fn is_constrained_domain(&self, type_name: &str) -> bool {
        let (schema, name) = match type_name.rsplit_once('.') {
            Some((s, n)) => (s.trim_matches('"'), n.trim_matches('"')),
            None => ("public", type_name),
        };
        self.domains
            .get(&(schema, name) as &dyn KeyView)
            .is_some_and(|d| d.constrained)
    }

    /// The base type of an unconstrained domain named `type_name` (as written
    /// in a column type): a change to such a domain over a binary-coercible
    /// base needs no rewrite.
    pub fn unconstrained_domain_base(&self, type_name: &str) -> Option<&TypeName> {
        let (schema, name) = match type_name.rsplit_once('.') {
            Some((s, n)) => (s.trim_matches('"'), n.trim_matches('"')),
            None => ("public", type_name),
        };
        let domain = self.domains.get(&(schema, name) as &dyn KeyView)?;
        if domain.constrained {
            return None;
        }
        domain.base.as_ref()
    }

    /// Index of the file that created the domain `name`, if the history did.
    pub fn domain_created_in(&self, name: &QualifiedName) -> Option<usize> {
        self.domains.get(key(name)).and_then(|d| d.created_in)
    }

    /// Index of the file that created the materialized view `name`, if the history did.
    pub fn matview_created_in(&self, name: &QualifiedName) -> Option<usize> {
        self.matviews.get(key(name)).copied()
    }

    /// Indexes on `table`, with their names.
    pub fn indexes_with_names<'a>(
        &'a self,
        table: &'a QualifiedName,
    ) -> impl Iterator<Item = (Ident, &'a Index)> + 'a {
        let mut found: Vec<(Ident, &Index)> = self
            .indexes
            .iter()
            .filter(move |(_, i)| i.table.same(table))
            .map(|((_, name), i)| (Ident::new(name.clone()), i))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.into_iter()
    }

    /// The partitions of `parent` the history created, by name.
    pub fn partitions_of(&self, parent: &QualifiedName) -> Vec<QualifiedName> {
        let mut found: Vec<QualifiedName> = self
            .tables
            .iter()
            .filter(|(_, t)| t.partition_of.as_ref().is_some_and(|p| p.same(parent)))
            .map(|((schema, name), _)| QualifiedName {
                schema: (&**schema != "public" || parent.schema.is_some()).then(|| Ident::new(&**schema)),
                name: Ident::new(&**name),
            })
            .collect();
        found.sort();
        found
    }

    /// Tables with a foreign key that references `table`.
    pub fn referencing<'a>(&'a self, table: &'a QualifiedName) -> impl Iterator<Item = &'a Table> + 'a {
        self.tables.values().filter(move |t| {
            t.constraints.iter().any(|c| {
                matches!(&c.kind, ConstraintKind::ForeignKey { references, .. } if references.same(table))
            })
        })
    }

    /// Applies one statement of the file with index `file_index`.
    pub fn apply(&mut self, stmt: &Stmt, file_index: usize) {
        match &stmt.kind {
            StmtKind::CreateTable(t) => {
                if t.if_not_exists && self.tables.contains_key(key(&t.name)) {
                    return;
                }
                let mut table = Table {
                    created_in: Some(file_index),
                    columns: t
                        .columns
                        .iter()
                        .map(|c| column_of(c, file_index, &mut self.types))
                        .collect(),
                    constraints: t.columns.iter().filter_map(inline_foreign_key).collect(),
                    partitioned: t.partitioned,
                    partition_of: t.partition_of.clone(),
                };
                for c in &t.constraints {
                    table.constraints.push(TableConstraint {
                        name: c.name.clone(),
                        kind: c.kind.clone(),
                        validated: true,
                    });
                }
                for col in &t.columns {
                    if col.primary_key {
                        let index = Ident::derived(&[t.name.name.as_str(), "pkey"]);
                        self.add_index(&t.name, index, vec![col.name.clone()], true, true);
                    }
                }
                for c in &t.constraints {
                    self.add_constraint_index(&t.name, c);
                }
                table.constraints.shrink_to_fit();
                self.tables.insert(stored(&t.name), table);
            }
            StmtKind::CreateIndex(i) => {
                let name = i.name.as_ref().map_or_else(
                    || Ident::derived(&[i.table.name.as_str(), "idx"]),
                    |n| n.name.clone(),
                );
                self.add_index(&i.table, name, i.columns.clone(), i.unique, i.simple);
            }
            StmtKind::DropIndex(d) => {
                for name in &d.names {
                    self.indexes.remove(key(name));
                }
            }
            StmtKind::Drop(d) => {
                for name in &d.names {
                    match d.kind {
                        crate::parse::ObjectKind::Table => {
                            self.tables.remove(key(name));
                        }
                        crate::parse::ObjectKind::MaterializedView => {
                            self.matviews.remove(key(name));
                        }
                        _ => {}
                    }
                }
            }
            StmtKind::CreateMatView { name } => {
                self.matviews.insert(stored(name), file_index);
            }
            StmtKind::CreateDomain {
                name,
                base,
                has_check,
            } => {
                self.domains.insert(
                    stored(name),
                    Domain {
                        constrained: *has_check,
                        base: Some(base.clone()),
                        created_in: Some(file_index),
                    },
                );
            }
            StmtKind::AlterDomain(d) => {
                if let crate::parse::DomainAction::AddConstraint { .. } = d.action {
                    self.domains.entry(stored(&d.name)).or_default().constrained = true;
                }
            }
            StmtKind::AlterTable(a) => {
                for action in &a.actions {
                    self.alter(&a.table, action, file_index);
                }
            }
            _ => {}
        }
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
        self.add_index(table, name, columns.clone(), true, true);
    }

    fn add_index(
        &mut self,
        table: &QualifiedName,
        name: Ident,
        columns: Vec<Ident>,
        unique: bool,
        simple: bool,
    ) {
        let key = (table.resolved_schema().into(), name.as_str().into());
        self.indexes.insert(
            key,
            Index {
                table: table.clone(),
                columns,
                unique,
                simple,
            },
        );
    }

    fn alter(&mut self, name: &QualifiedName, action: &AlterAction, file_index: usize) {
        match action {
            AlterAction::RenameTable { to } => {
                if let Some(table) = self.tables.remove(key(name)) {
                    let new = QualifiedName {
                        schema: name.schema.clone(),
                        name: to.clone(),
                    };
                    for index in self.indexes.values_mut().filter(|i| i.table.same(name)) {
                        index.table = new.clone();
                    }
                    self.tables.insert(stored(&new), table);
                }
                return;
            }
            AlterAction::SetSchema { schema } => {
                if let Some(table) = self.tables.remove(key(name)) {
                    let new = QualifiedName {
                        schema: Some(schema.clone()),
                        name: name.name.clone(),
                    };
                    self.tables.insert(stored(&new), table);
                }
                return;
            }
            _ => {}
        }
        if let AlterAction::AddConstraint { constraint, .. } = action {
            self.add_constraint_index(name, constraint);
        }
        let types = &mut self.types;
        let table = self.tables.entry(stored(name)).or_default();
        match action {
            AlterAction::AddColumn { column, .. } if table.column(&column.name).is_none() => {
                table.columns.push(column_of(column, file_index, types));
                table.columns.shrink_to_fit();
                table.constraints.extend(inline_foreign_key(column));
            }
            AlterAction::DropColumn { columns, .. } => table.columns.retain(|c| !columns.contains(&c.name)),
            AlterAction::AlterType { column, ty, .. } => {
                let ty = shared(types, ty.clone());
                if let Some(c) = table.columns.iter_mut().find(|c| &c.name == column) {
                    c.ty = ty;
                } else {
                    table.columns.push(Column {
                        name: column.clone(),
                        ty,
                        not_null: false,
                        primary_key: false,
                        added_in: None,
                    });
                }
            }
            AlterAction::SetNotNull { column } | AlterAction::DropNotNull { column } => {
                let not_null = matches!(action, AlterAction::SetNotNull { .. });
                if let Some(c) = table.columns.iter_mut().find(|c| &c.name == column) {
                    c.not_null = not_null;
                }
            }
            AlterAction::RenameColumn { from, to } => {
                if let Some(c) = table.columns.iter_mut().find(|c| &c.name == from) {
                    c.name = to.clone();
                }
            }
            AlterAction::AddConstraint {
                constraint,
                not_valid,
            } => {
                table.constraints.push(TableConstraint {
                    name: constraint.name.clone(),
                    kind: constraint.kind.clone(),
                    validated: !not_valid,
                });
                table.constraints.shrink_to_fit();
            }
            AlterAction::ValidateConstraint { name } => {
                for c in table
                    .constraints
                    .iter_mut()
                    .filter(|c| c.name.as_ref() == Some(name))
                {
                    c.validated = true;
                }
            }
            AlterAction::DropConstraint { name, .. } => {
                table.constraints.retain(|c| c.name.as_ref() != Some(name))
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
            .constraints
            .iter()
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
}
