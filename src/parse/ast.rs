//! sqlparser's AST → [`StmtKind`] facts.
//!
//! Only this file (and [`super::tokens`]) sees sqlparser types. Nothing here
//! prints user SQL back through sqlparser's `Display` into anything that
//! could be executed; `Display` is used only to read type names and, as a
//! last resort, to find function names in uncommon expression shapes.

use super::types::{TypeName, Volatility};
use super::{
    AlterAction, AlterTable, ColumnDef, Constraint, ConstraintKind, CreateIndex, CreateTable, Dml, DmlVerb,
    DropIndex, DropObjects, Expr, Generated, ObjectKind, SetVar, StmtKind,
};
use crate::pg::{volatility, Ident, LockMode, QualifiedName};
use sqlparser::ast as sp;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

/// Parses one statement with sqlparser and converts it.
///
/// The statement is tokenized once: the kinds [`super::tokens::read_first`]
/// reads from their tokens (those sqlparser rejects, and those whose facts
/// are all in their first tokens) stop there, the rest hand the same tokens
/// to the parser.
pub(super) fn parse(sql: &str) -> Result<StmtKind, String> {
    let dialect = PostgreSqlDialect {};
    let tokens = super::lexer::tokenize(sql).map_err(|e| message(e.into()))?;
    let parsed = match super::tokens::read_first(sql, tokens) {
        Ok(Some(kind)) => return Ok(kind),
        // Not the form the recogniser reads: the parser says what is wrong.
        Ok(None) => Parser::parse_sql(&dialect, sql),
        Err(tokens) => Parser::new(&dialect)
            .with_tokens_with_locations(tokens)
            .parse_statements(),
    };
    single(&parsed.map_err(message)?, sql)
}

/// [`parse`] with the parser only, skipping the token reads (to check them).
#[cfg(test)]
pub(super) fn parse_with_parser(sql: &str) -> Result<StmtKind, String> {
    single(
        &Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(message)?,
        sql,
    )
}

/// The facts of what the parser read from one split statement.
fn single(parsed: &[sp::Statement], sql: &str) -> Result<StmtKind, String> {
    match parsed {
        [one] => Ok(convert(one, sql)),
        [] => Ok(StmtKind::Other { tag: "EMPTY".into() }),
        _ => Err("the splitter saw one statement where the parser saw several".into()),
    }
}

/// sqlparser's error message without its `sql parser error: ` prefix.
fn message(e: sqlparser::parser::ParserError) -> String {
    let message = e.to_string();
    match message.strip_prefix("sql parser error: ") {
        Some(rest) => rest.to_string(),
        None => message,
    }
}

/// The first keywords of a statement, upper-cased (`CREATE FUNCTION`).
pub(super) fn tag_of(sql: &str) -> String {
    let mut words: Vec<String> = sql
        .split(|c: char| !c.is_ascii_alphabetic() && c != '_')
        .filter(|w| !w.is_empty())
        .take(4)
        .map(str::to_ascii_uppercase)
        .collect();
    // `CREATE OR REPLACE FUNCTION` is a `CREATE FUNCTION`.
    if words.len() >= 4 && words[0] == "CREATE" && words[1] == "OR" && words[2] == "REPLACE" {
        words.drain(1..3);
    }
    words.truncate(2);
    match words.first().map(String::as_str) {
        Some("CREATE" | "ALTER" | "DROP" | "COMMENT" | "REFRESH") => words.join(" "),
        Some(first) => first.to_string(),
        None => String::new(),
    }
}

fn convert(stmt: &sp::Statement, sql: &str) -> StmtKind {
    use sp::Statement as S;
    match stmt {
        S::CreateTable(t) => StmtKind::CreateTable(create_table(t)),
        S::CreateIndex(i) => StmtKind::CreateIndex(create_index(i)),
        S::AlterTable(a) => StmtKind::AlterTable(alter_table(a)),
        S::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => drop(*object_type, *if_exists, names, *cascade),
        S::Update(u) => match table_of(&u.table.relation) {
            Some(table) => {
                let (bounded, matched) = bounded_columns(u.selection.as_ref());
                StmtKind::Dml(Dml {
                    verb: DmlVerb::Update,
                    table,
                    has_where: u.selection.is_some(),
                    bounded,
                    matched,
                })
            }
            None => StmtKind::Other { tag: "UPDATE".into() },
        },
        S::Delete(d) => delete(d),
        S::Insert(i) => match &i.table {
            sp::TableObject::TableName(name) => StmtKind::Insert {
                table: qualified(name),
            },
            _ => StmtKind::Other { tag: "INSERT".into() },
        },
        S::Truncate(t) => StmtKind::Truncate {
            tables: t.table_names.iter().map(|n| qualified(&n.name)).collect(),
        },
        S::Lock(l) => StmtKind::LockTable {
            tables: l.tables.iter().map(|t| qualified(&t.name)).collect(),
            mode: l.lock_mode.as_ref().map_or(LockMode::AccessExclusive, lock_mode),
        },
        S::Vacuum(v) => StmtKind::Vacuum {
            full: v.full,
            tables: v.table_name.iter().map(qualified).collect(),
        },
        S::CreateView(v) if v.materialized => StmtKind::CreateMatView {
            name: qualified(&v.name),
        },
        S::RefreshMaterializedView(r) => StmtKind::RefreshMatView {
            name: qualified(&r.name),
            concurrently: r.concurrently,
        },
        S::StartTransaction { .. } => StmtKind::Begin,
        S::Commit { .. } => StmtKind::Commit,
        S::Rollback { savepoint: None, .. } => StmtKind::Rollback,
        S::Set(set) => set_var(set, sql),
        S::Reset(r) => match &r.reset {
            sp::Reset::ALL => StmtKind::Reset { name: None },
            sp::Reset::ConfigurationParameter(name) => StmtKind::Reset {
                name: Some(name.to_string().to_lowercase()),
            },
            sp::Reset::SessionAuthorization => StmtKind::Other { tag: tag_of(sql) },
        },
        S::AlterType(t) => match &t.operation {
            sp::AlterTypeOperation::AddValue(add) => StmtKind::AlterTypeAddValue {
                name: qualified(&t.name),
                value: add.value.value.clone(),
            },
            _ => StmtKind::Other {
                tag: "ALTER TYPE".into(),
            },
        },
        S::CreateType {
            name, representation, ..
        } => StmtKind::CreateType {
            name: qualified(name),
            is_enum: matches!(
                representation,
                Some(sp::UserDefinedTypeRepresentation::Enum { .. })
            ),
        },
        S::CreateDomain(d) => StmtKind::CreateDomain {
            name: qualified(&d.name),
            base: TypeName::parse(&d.data_type.to_string()),
            has_check: !d.constraints.is_empty(),
        },
        S::CreateSequence { name, .. } => StmtKind::Sequence {
            name: qualified(name),
            create: true,
        },
        S::CreateTrigger(t) => StmtKind::CreateTrigger {
            table: qualified(&t.table_name),
        },
        _ => StmtKind::Other { tag: tag_of(sql) },
    }
}

/// Folds a sqlparser identifier the way PostgreSQL does.
pub(super) fn ident(i: &sp::Ident) -> Ident {
    if i.quote_style.is_some() {
        Ident::new(i.value.clone())
    } else {
        Ident::new(i.value.to_lowercase())
    }
}

fn qualified(name: &sp::ObjectName) -> QualifiedName {
    let parts: Vec<Ident> = name
        .0
        .iter()
        .map(|p| match p {
            sp::ObjectNamePart::Identifier(i) => ident(i),
            other => Ident::new(other.to_string()),
        })
        .collect();
    let mut parts = parts.into_iter().rev();
    let name = parts.next().unwrap_or_else(|| Ident::new(""));
    QualifiedName {
        schema: parts.next(),
        name,
    }
}

fn table_of(factor: &sp::TableFactor) -> Option<QualifiedName> {
    match factor {
        sp::TableFactor::Table { name, .. } => Some(qualified(name)),
        _ => None,
    }
}

fn delete(d: &sp::Delete) -> StmtKind {
    let from = match &d.from {
        sp::FromTable::WithFromKeyword(t) | sp::FromTable::WithoutKeyword(t) => t,
    };
    let (bounded, matched) = bounded_columns(d.selection.as_ref());
    match from.first().and_then(|t| table_of(&t.relation)) {
        Some(table) => StmtKind::Dml(Dml {
            verb: DmlVerb::Delete,
            table,
            has_where: d.selection.is_some(),
            bounded,
            matched,
        }),
        None => StmtKind::Other { tag: "DELETE".into() },
    }
}

/// The columns a `WHERE` clause bounds, and of those the ones it matches
/// against values (see [`Dml::bounded`], [`Dml::matched`]).
fn bounded_columns(selection: Option<&sp::Expr>) -> (Vec<Ident>, Vec<Ident>) {
    fn conjuncts<'e>(e: &'e sp::Expr, out: &mut Vec<&'e sp::Expr>) {
        match e {
            sp::Expr::BinaryOp {
                left,
                op: sp::BinaryOperator::And,
                right,
            } => {
                conjuncts(left, out);
                conjuncts(right, out);
            }
            sp::Expr::Nested(inner) => conjuncts(inner, out),
            _ => out.push(e),
        }
    }
    fn column(e: &sp::Expr) -> Option<Ident> {
        match e {
            sp::Expr::Identifier(i) => Some(ident(i)),
            sp::Expr::CompoundIdentifier(parts) => parts.last().map(ident),
            sp::Expr::Nested(inner) => column(inner),
            _ => None,
        }
    }
    let Some(selection) = selection else {
        return (Vec::new(), Vec::new());
    };
    let mut parts = Vec::new();
    conjuncts(selection, &mut parts);
    let (mut bounded, mut lower, mut upper) = (Vec::new(), Vec::new(), Vec::new());
    for part in parts {
        use sp::BinaryOperator as Op;
        match part {
            sp::Expr::BinaryOp { left, op, right } => {
                let (col, op) = match (column(left), column(right)) {
                    // `a.id = b.id` (a join, a loop variable's field): either may be the key.
                    (Some(l), Some(r)) if *op == Op::Eq => {
                        bounded.extend([l, r]);
                        continue;
                    }
                    (Some(c), None) => (c, op.clone()),
                    // `5 < id` reads as `id > 5`.
                    (None, Some(c)) => (
                        c,
                        match op {
                            Op::Lt => Op::Gt,
                            Op::LtEq => Op::GtEq,
                            Op::Gt => Op::Lt,
                            Op::GtEq => Op::LtEq,
                            other => other.clone(),
                        },
                    ),
                    _ => continue,
                };
                match op {
                    Op::Eq => bounded.push(col),
                    Op::Gt | Op::GtEq => lower.push(col),
                    Op::Lt | Op::LtEq => upper.push(col),
                    _ => {}
                }
            }
            sp::Expr::AnyOp {
                left,
                compare_op: Op::Eq,
                ..
            } => bounded.extend(column(left)),
            sp::Expr::In {
                expr,
                target: sp::InTarget::List(_),
                negated: false,
                ..
            } => bounded.extend(column(expr)),
            sp::Expr::Between {
                expr, negated: false, ..
            } => lower.extend(column(expr).into_iter().inspect(|c| upper.push(c.clone()))),
            _ => {}
        }
    }
    let matched = bounded.clone();
    bounded.extend(lower.into_iter().filter(|c| upper.contains(c)));
    (bounded, matched)
}

fn lock_mode(mode: &sp::LockTableMode) -> LockMode {
    use sp::LockTableMode as M;
    match mode {
        M::AccessShare => LockMode::AccessShare,
        M::RowShare => LockMode::RowShare,
        M::RowExclusive => LockMode::RowExclusive,
        M::ShareUpdateExclusive => LockMode::ShareUpdateExclusive,
        M::Share => LockMode::Share,
        M::ShareRowExclusive => LockMode::ShareRowExclusive,
        M::Exclusive => LockMode::Exclusive,
        M::AccessExclusive => LockMode::AccessExclusive,
    }
}

fn set_var(set: &sp::Set, sql: &str) -> StmtKind {
    match set {
        sp::Set::SingleAssignment {
            scope,
            variable,
            values,
            ..
        } => {
            let value = values.first().map(literal_text).unwrap_or_default();
            StmtKind::Set(SetVar {
                name: variable.to_string().to_lowercase(),
                value,
                local: matches!(scope, Some(sp::ContextModifier::Local)),
            })
        }
        sp::Set::SetTimeZone { local, value } => StmtKind::Set(SetVar {
            name: "timezone".into(),
            value: literal_text(value),
            local: *local,
        }),
        _ => StmtKind::Other { tag: tag_of(sql) },
    }
}

/// The text of a literal value, unquoted (for `SET` values such as `'2s'`).
fn literal_text(expr: &sp::Expr) -> String {
    match expr {
        sp::Expr::Value(v) => match &v.value {
            sp::Value::SingleQuotedString(s) | sp::Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        sp::Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

fn drop(kind: sp::ObjectType, if_exists: bool, names: &[sp::ObjectName], cascade: bool) -> StmtKind {
    let names: Vec<QualifiedName> = names.iter().map(qualified).collect();
    let kind = match kind {
        sp::ObjectType::Index => {
            return StmtKind::DropIndex(DropIndex {
                names,
                concurrently: false,
                if_exists,
            });
        }
        sp::ObjectType::Table => ObjectKind::Table,
        sp::ObjectType::View => ObjectKind::View,
        sp::ObjectType::MaterializedView => ObjectKind::MaterializedView,
        sp::ObjectType::Sequence => ObjectKind::Sequence,
        sp::ObjectType::Type => ObjectKind::Type,
        sp::ObjectType::Schema => ObjectKind::Schema,
        _ => ObjectKind::Other,
    };
    StmtKind::Drop(DropObjects {
        kind,
        names,
        if_exists,
        cascade,
    })
}

fn create_table(t: &sp::CreateTable) -> CreateTable {
    CreateTable {
        name: qualified(&t.name),
        if_not_exists: t.if_not_exists,
        columns: t.columns.iter().map(column).collect(),
        constraints: t.constraints.iter().filter_map(constraint).collect(),
        partition_of: t.partition_of.as_ref().map(qualified),
        partitioned: t.partition_by.is_some(),
        as_query: t.query.is_some(),
    }
}

pub(super) fn column(c: &sp::ColumnDef) -> ColumnDef {
    let mut col = ColumnDef {
        name: ident(&c.name),
        ty: TypeName::parse(&c.data_type.to_string()),
        not_null: false,
        default: None,
        generated: None,
        primary_key: false,
        unique: false,
        check: false,
        references: None,
    };
    for option in &c.options {
        match &option.option {
            sp::ColumnOption::NotNull => col.not_null = true,
            sp::ColumnOption::Null => col.not_null = false,
            sp::ColumnOption::Default(e) => col.default = Some(expr(e)),
            sp::ColumnOption::PrimaryKey(_) => {
                col.primary_key = true;
                col.not_null = true;
            }
            sp::ColumnOption::Unique(_) => col.unique = true,
            sp::ColumnOption::ForeignKey(fk) => col.references = Some(qualified(&fk.foreign_table)),
            sp::ColumnOption::Check(_) => col.check = true,
            sp::ColumnOption::Generated {
                generation_expr,
                generation_expr_mode,
                ..
            } => {
                col.generated = Some(match (generation_expr, generation_expr_mode) {
                    (None, _) => Generated::Identity,
                    (Some(_), Some(sp::GeneratedExpressionMode::Stored)) => Generated::Stored,
                    (Some(_), _) => Generated::Virtual,
                });
            }
            _ => {}
        }
    }
    col
}

fn index_columns(columns: &[sp::IndexColumn]) -> Vec<Ident> {
    columns
        .iter()
        .filter_map(|c| match &c.column.expr {
            sp::Expr::Identifier(i) => Some(ident(i)),
            _ => None,
        })
        .collect()
}

pub(super) fn constraint(c: &sp::TableConstraint) -> Option<Constraint> {
    use sp::TableConstraint as T;
    let (name, kind) = match c {
        T::Unique(u) => (
            u.name.as_ref(),
            ConstraintKind::Unique {
                columns: index_columns(&u.columns),
                using_index: None,
            },
        ),
        T::PrimaryKey(p) => (
            p.name.as_ref(),
            ConstraintKind::PrimaryKey {
                columns: index_columns(&p.columns),
                using_index: None,
            },
        ),
        T::ForeignKey(f) => (
            f.name.as_ref(),
            ConstraintKind::ForeignKey {
                columns: f.columns.iter().map(ident).collect(),
                references: qualified(&f.foreign_table),
            },
        ),
        T::Check(k) => (
            k.name.as_ref(),
            ConstraintKind::Check {
                not_null_columns: not_null_conjuncts(&k.expr),
            },
        ),
        T::Exclude(e) => (e.name.as_ref(), ConstraintKind::Exclusion),
        T::PrimaryKeyUsingIndex(u) => (
            u.name.as_ref(),
            ConstraintKind::PrimaryKey {
                columns: Vec::new(),
                using_index: Some(ident(&u.index_name)),
            },
        ),
        T::UniqueUsingIndex(u) => (
            u.name.as_ref(),
            ConstraintKind::Unique {
                columns: Vec::new(),
                using_index: Some(ident(&u.index_name)),
            },
        ),
        T::Index(_) | T::FulltextOrSpatial(_) => return None,
    };
    Some(Constraint {
        name: name.map(ident),
        kind,
    })
}

/// Columns proven NOT NULL by top-level `AND`ed `c IS NOT NULL` terms, the
/// only shape PostgreSQL 12+ uses to skip the `SET NOT NULL` scan.
fn not_null_conjuncts(e: &sp::Expr) -> Vec<Ident> {
    match e {
        sp::Expr::IsNotNull(inner) => match inner.as_ref() {
            sp::Expr::Identifier(i) => vec![ident(i)],
            sp::Expr::Nested(n) => not_null_conjuncts(&sp::Expr::IsNotNull(n.clone())),
            _ => Vec::new(),
        },
        sp::Expr::Nested(inner) => not_null_conjuncts(inner),
        sp::Expr::BinaryOp {
            left,
            op: sp::BinaryOperator::And,
            right,
        } => {
            let mut cols = not_null_conjuncts(left);
            cols.extend(not_null_conjuncts(right));
            cols
        }
        _ => Vec::new(),
    }
}

fn create_index(i: &sp::CreateIndex) -> CreateIndex {
    CreateIndex {
        name: i.name.as_ref().map(qualified),
        table: qualified(&i.table_name),
        unique: i.unique,
        concurrently: i.concurrently,
        if_not_exists: i.if_not_exists,
        only: false,
        columns: index_columns(&i.columns),
        simple: i.columns.iter().all(|c| {
            matches!(c.column.expr, sp::Expr::Identifier(_))
                && c.operator_class.is_none()
                && c.column.options.sort.is_none()
                && c.column.options.nulls_first.is_none()
        }) && i.predicate.is_none()
            && i.include.is_empty()
            && i.with.is_empty()
            && i.nulls_distinct.is_none()
            && matches!(i.using, None | Some(sp::IndexType::BTree)),
    }
}

fn alter_table(a: &sp::AlterTable) -> AlterTable {
    AlterTable {
        table: qualified(&a.name),
        if_exists: a.if_exists,
        only: a.only,
        actions: a.operations.iter().map(alter_action).collect(),
    }
}

fn alter_action(op: &sp::AlterTableOperation) -> AlterAction {
    use sp::AlterTableOperation as O;
    match op {
        O::AddConstraint {
            constraint: c,
            not_valid,
        } => match constraint(c) {
            Some(constraint) => AlterAction::AddConstraint {
                constraint,
                not_valid: *not_valid,
            },
            None => other(op, LockMode::AccessExclusive),
        },
        O::AddColumn {
            if_not_exists,
            column_def,
            ..
        } => AlterAction::AddColumn {
            column: column(column_def),
            if_not_exists: *if_not_exists,
        },
        O::DropConstraint { if_exists, name, .. } => AlterAction::DropConstraint {
            name: ident(name),
            if_exists: *if_exists,
        },
        O::DropColumn {
            column_names,
            if_exists,
            ..
        } => AlterAction::DropColumn {
            columns: column_names.iter().map(ident).collect(),
            if_exists: *if_exists,
        },
        O::AttachPartitionOf { partition, .. } => AlterAction::AttachPartition {
            partition: qualified(partition),
        },
        O::DetachPartitionOf { partition, mode } => AlterAction::DetachPartition {
            partition: qualified(partition),
            concurrently: matches!(mode, Some(sp::DetachPartitionMode::Concurrently)),
            finalize: matches!(mode, Some(sp::DetachPartitionMode::Finalize)),
        },
        O::RenameColumn {
            old_column_name,
            new_column_name,
        } => AlterAction::RenameColumn {
            from: ident(old_column_name),
            to: ident(new_column_name),
        },
        O::RenameTable { table_name } => {
            let (sp::RenameTableNameKind::As(name) | sp::RenameTableNameKind::To(name)) = table_name;
            AlterAction::RenameTable {
                to: qualified(name).name,
            }
        }
        O::RenameConstraint { old_name, new_name } => AlterAction::RenameConstraint {
            from: ident(old_name),
            to: ident(new_name),
        },
        O::ValidateConstraint { name } => AlterAction::ValidateConstraint { name: ident(name) },
        O::SetLogged => AlterAction::SetLogged,
        O::SetUnlogged => AlterAction::SetUnlogged,
        O::SetOptionsParens { .. } | O::ResetOptions { .. } | O::SetTblProperties { .. } => {
            AlterAction::SetStorageParams
        }
        O::AlterColumn {
            column_name,
            op: col_op,
        } => alter_column(ident(column_name), col_op, op),
        // Trigger enable/disable takes SHARE ROW EXCLUSIVE (PostgreSQL docs, ALTER TABLE).
        O::EnableTrigger { .. }
        | O::DisableTrigger { .. }
        | O::EnableAlwaysTrigger { .. }
        | O::EnableReplicaTrigger { .. } => other(op, LockMode::ShareRowExclusive),
        _ => other(op, LockMode::AccessExclusive),
    }
}

fn alter_column(
    column: Ident,
    op: &sp::AlterColumnOperation,
    whole: &sp::AlterTableOperation,
) -> AlterAction {
    use sp::AlterColumnOperation as C;
    match op {
        C::SetNotNull => AlterAction::SetNotNull { column },
        C::DropNotNull => AlterAction::DropNotNull { column },
        C::SetDefault { value } => AlterAction::SetDefault {
            column,
            default: expr(value),
        },
        C::DropDefault => AlterAction::DropDefault { column },
        C::SetDataType { data_type, using, .. } => AlterAction::AlterType {
            column,
            ty: TypeName::parse(&data_type.to_string()),
            using: using.as_ref().map(expr),
        },
        C::AddGenerated { .. } => AlterAction::AddIdentity { column },
        C::GenericOptions { .. } => other(whole, LockMode::AccessExclusive),
    }
}

fn other(op: &sp::AlterTableOperation, lock: LockMode) -> AlterAction {
    let what = tag_of(&op.to_string()).to_lowercase();
    AlterAction::Other { what, lock }
}

/// Facts about an expression: its volatility and the functions behind it.
pub(super) fn expr(e: &sp::Expr) -> Expr {
    let mut facts = Expr {
        volatility: Volatility::Immutable,
        functions: Vec::new(),
        unknown_functions: Vec::new(),
    };
    walk(e, &mut facts);
    facts
}

fn note_function(name: &str, facts: &mut Expr) {
    let name = name.to_lowercase();
    // SQL-standard value functions (`current_timestamp`, `current_user`…) are
    // keywords, not pg_proc entries; all are STABLE.
    const SQL_VALUE_FUNCTIONS: &[&str] = &[
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "localtime",
        "localtimestamp",
        "session_user",
        "system_user",
        "user",
    ];
    let known = SQL_VALUE_FUNCTIONS
        .contains(&name.as_str())
        .then_some(Volatility::Stable);
    let v = match known.or_else(|| volatility::of_function(&name)) {
        Some(v) => v,
        None => {
            if !facts.unknown_functions.contains(&name) {
                facts.unknown_functions.push(name.clone());
            }
            Volatility::Volatile
        }
    };
    if v > Volatility::Immutable && !facts.functions.contains(&name) {
        facts.functions.push(name);
    }
    facts.volatility = facts.volatility.max(v);
}

fn walk(e: &sp::Expr, facts: &mut Expr) {
    use sp::Expr as E;
    match e {
        E::Identifier(_) | E::CompoundIdentifier(_) | E::Value(_) | E::TypedString { .. } => {}
        E::Function(f) => {
            let name = f
                .name
                .0
                .last()
                .map(|p| p.to_string().trim_matches('"').to_string())
                .unwrap_or_default();
            note_function(&name, facts);
            if let sp::FunctionArguments::List(list) = &f.args {
                for arg in &list.args {
                    let (sp::FunctionArg::Named { arg, .. }
                    | sp::FunctionArg::ExprNamed { arg, .. }
                    | sp::FunctionArg::Unnamed(arg)) = arg;
                    if let sp::FunctionArgExpr::Expr(inner) = arg {
                        walk(inner, facts);
                    }
                }
            }
        }
        E::Cast { expr, .. } => walk(expr, facts),
        E::Nested(inner) | E::UnaryOp { expr: inner, .. } => walk(inner, facts),
        E::IsNull(inner) | E::IsNotNull(inner) | E::IsTrue(inner) | E::IsFalse(inner) => walk(inner, facts),
        E::BinaryOp { left, right, .. } => {
            walk(left, facts);
            walk(right, facts);
        }
        _ => scan_tokens(&e.to_string(), facts),
    }
}

/// Last resort for expression shapes the walker does not model: every word
/// followed by `(` that is not a keyword is taken as a function call.
fn scan_tokens(text: &str, facts: &mut Expr) {
    const NOT_FUNCTIONS: &[&str] = &[
        "all",
        "and",
        "any",
        "array",
        "as",
        "between",
        "case",
        "cast",
        "coalesce",
        "else",
        "end",
        "exists",
        "extract",
        "greatest",
        "in",
        "interval",
        "is",
        "least",
        "like",
        "not",
        "nullif",
        "or",
        "over",
        "row",
        "some",
        "substring",
        "then",
        "trim",
        "values",
        "when",
        "overlay",
        "position",
        "collate",
        "filter",
        "within",
        "varchar",
        "char",
        "character",
        "numeric",
        "decimal",
        "timestamp",
        "time",
        "bit",
        "varying",
    ];
    let Ok(tokens) = super::lexer::tokenize(text) else {
        facts.volatility = Volatility::Volatile;
        return;
    };
    let significant: Vec<&Token> = tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    for pair in significant.windows(2) {
        if let (Token::Word(w), Token::LParen) = (pair[0], pair[1]) {
            let name = w.value.to_lowercase();
            if w.quote_style.is_some() || !NOT_FUNCTIONS.contains(&name.as_str()) {
                note_function(&name, facts);
            }
        }
    }
}
