//! Lowering a plan step into what runs: the pieces `apply` and the psql
//! script (see [`super::render::sql`]) both build from, so the two cannot
//! disagree on a step's timeouts or on how a backfill finds its key.
//!
//! * [`lower`]: what a step runs: the guard and condition queries asked
//!   first, then one [`Action`] (a transaction, a check, a statement outside
//!   any transaction, or a backfill's batches).
//! * [`timeouts`]: the `SET LOCAL`s of one try of a step's (or a backfill
//!   batch's) transaction, from the try's `lock_timeout`, the
//!   `statement_timeout` and the server version.
//! * [`key_columns_sql`]: the catalog query for a backfill's key when the
//!   plan names none: the primary key, else a unique, valid, total index
//!   whose columns are all NOT NULL (composite keys included).

use super::{Backfill, Step, StepKind, TxMode};
use std::time::Duration;

/// What a step runs, once its guard and condition allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// `BEGIN`, the [`timeouts`], `sql`, `COMMIT`.
    Transaction { sql: &'a str },
    /// In a transaction under the [`timeouts`]: `query` must return true,
    /// else the migration stops.
    Check { query: &'a str },
    /// `sql` in autocommit (`CONCURRENTLY`): no `lock_timeout`, no
    /// `statement_timeout` (a timeout would leave an INVALID index).
    Outside { sql: &'a str },
    /// Keyset batches, each its own transaction under the [`timeouts`],
    /// committing as it goes; the key is the plan's, else
    /// [`key_columns_sql`]'s.
    Backfill(&'a Backfill),
}

/// A step lowered: the queries that decide whether it runs, and what runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lowered<'a> {
    /// Asked first: when it returns true the step's effect is in place and
    /// the step is skipped.
    pub guard: Option<&'a str>,
    /// Asked next: the step runs only when it returns true.
    pub only_if: Option<&'a str>,
    pub action: Action<'a>,
}

/// What `step` runs: its kind and transaction mode as one [`Action`], after
/// its guard and condition.
pub fn lower(step: &Step) -> Lowered<'_> {
    let action = match (step.kind, step.tx, &step.backfill) {
        (StepKind::Backfill, _, Some(backfill)) => Action::Backfill(backfill),
        (StepKind::Check, _, _) => Action::Check { query: &step.sql },
        (_, TxMode::Outside, _) => Action::Outside { sql: &step.sql },
        (_, TxMode::InTransaction, _) => Action::Transaction { sql: &step.sql },
    };
    Lowered {
        guard: step.guard.as_deref(),
        only_if: step.only_if.as_deref(),
        action,
    }
}

/// What a try runs with, as far as the lowering is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowerSettings {
    /// The `lock_timeout` of this try of a step whose plan says
    /// `lock_timeout` (`apply`'s short try, see `apply::queue`).
    pub try_lock_timeout: Duration,
    /// The ceiling of any try's `lock_timeout`: the bound of a step that
    /// says neither `lock_timeout` nor `statement_timeout`.
    pub lock_timeout: Duration,
    /// The `statement_timeout` of steps whose `statement_timeout` is true.
    pub statement_timeout: Duration,
    /// The server's `server_version_num`, when known: PostgreSQL 17+ also
    /// gets a `transaction_timeout`. The psql script does not know it.
    pub server_version_num: Option<i32>,
}

/// One `SET LOCAL` of a try: the setting and its value (`None`: 0, off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    pub setting: &'static str,
    pub value: Option<Duration>,
}

impl Timeout {
    /// The value as a setting's text: `50ms`, `2s` (whole seconds), or `0`.
    pub fn value_text(&self) -> String {
        match self.value.map(|t| t.as_millis()) {
            Some(ms) if ms > 0 && ms % 1000 == 0 => format!("{}s", ms / 1000),
            Some(ms) => format!("{ms}ms"),
            None => "0".to_string(),
        }
    }

    /// The value as SQL: `'50ms'`, `'2s'`, or `0`.
    pub fn value_sql(&self) -> String {
        match self.value {
            Some(_) => format!("'{}'", self.value_text()),
            None => "0".to_string(),
        }
    }

    /// `SET LOCAL <setting> = <value>` (no semicolon).
    pub fn set_local(&self) -> String {
        format!("SET LOCAL {} = {}", self.setting, self.value_sql())
    }
}

/// The `SET LOCAL`s of one try of a step's (or a batch's) transaction.
///
/// * `lock_timeout`: the try's for a step whose plan says `lock_timeout`. A
///   step that says no (a check: it reads the catalog and takes no lock
///   traffic waits for) is bounded by its `statement_timeout` instead; one
///   with neither gets the `lock_timeout` ceiling, so no try is ever
///   unbounded.
/// * `statement_timeout`: the setting, or 0 for scans.
/// * `transaction_timeout` (PostgreSQL 17+): twice the `statement_timeout`
///   plus the ceiling, a second net for steps of several statements; 0 for
///   scans, like `statement_timeout`.
pub fn timeouts(step: &Step, s: &LowerSettings) -> Vec<Timeout> {
    let mut out = Vec::new();
    let lock = if step.lock_timeout {
        Some(s.try_lock_timeout)
    } else if step.statement_timeout {
        None
    } else {
        Some(s.lock_timeout)
    };
    if let Some(t) = lock {
        out.push(Timeout {
            setting: "lock_timeout",
            value: Some(t.max(Duration::from_millis(1))),
        });
    }
    let statement = step.statement_timeout.then_some(s.statement_timeout);
    out.push(Timeout {
        setting: "statement_timeout",
        value: statement,
    });
    if s.server_version_num.is_some_and(|v| v >= 170_000) {
        out.push(Timeout {
            setting: "transaction_timeout",
            value: statement.map(|t| t.saturating_mul(2) + s.lock_timeout),
        });
    }
    out
}

/// [`timeouts`] as one line of SQL: `SET LOCAL …; SET LOCAL …`.
pub fn set_local_timeouts(step: &Step, s: &LowerSettings) -> String {
    timeouts(step, s)
        .iter()
        .map(Timeout::set_local)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The catalog query for a backfill's key columns when the plan names none:
/// rows of (the column's name as text, its `format_type`, its position),
/// in key order; none when the table has no usable key. `table` is an SQL
/// expression of type text naming the table (`$1::text`, or a literal).
pub fn key_columns_sql(table: &str) -> String {
    format!(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), k.ord::int
 FROM pg_catalog.pg_index i
 CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indexrelid = (
     -- The primary key, else a unique, valid, total index on NOT NULL columns.
     SELECT i2.indexrelid FROM pg_catalog.pg_index i2
     WHERE i2.indrelid = to_regclass({table}) AND i2.indisunique AND i2.indisvalid
       AND i2.indpred IS NULL AND i2.indexprs IS NULL
       AND NOT EXISTS (
           SELECT 1 FROM unnest(i2.indkey::int2[]) AS c(attnum)
           LEFT JOIN pg_catalog.pg_attribute a2
             ON a2.attrelid = i2.indrelid AND a2.attnum = c.attnum
           WHERE a2.attnum IS NULL OR NOT a2.attnotnull)
     ORDER BY i2.indisprimary DESC, i2.indnatts, i2.indexrelid
     LIMIT 1)
 ORDER BY k.ord"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sql::Sql;
    use crate::source::Span;

    fn settings(server: Option<i32>) -> LowerSettings {
        LowerSettings {
            try_lock_timeout: Duration::from_millis(50),
            lock_timeout: Duration::from_millis(500),
            statement_timeout: Duration::from_secs(5),
            server_version_num: server,
        }
    }

    fn span() -> Span {
        Span::new(0, 0)
    }

    #[test]
    fn a_ddl_try_gets_the_try_lock_timeout_and_the_statement_timeout() {
        let ddl = Step::ddl(Sql::kw("ALTER TABLE t ADD COLUMN c int"), span());
        assert_eq!(
            set_local_timeouts(&ddl, &settings(Some(150_004))),
            "SET LOCAL lock_timeout = '50ms'; SET LOCAL statement_timeout = '5s'"
        );
        // Without a known server version there is no transaction_timeout.
        assert_eq!(
            set_local_timeouts(&ddl, &settings(None)),
            "SET LOCAL lock_timeout = '50ms'; SET LOCAL statement_timeout = '5s'"
        );
    }

    #[test]
    fn a_check_is_bounded_by_its_statement_timeout_and_a_scan_has_none() {
        let check = Step::check(Sql::kw("SELECT true"), span(), "holds");
        assert_eq!(
            set_local_timeouts(&check, &settings(Some(160_000))),
            "SET LOCAL statement_timeout = '5s'"
        );
        let validate = Step::validate(Sql::kw("ALTER TABLE t VALIDATE CONSTRAINT c"), span());
        assert_eq!(
            set_local_timeouts(&validate, &settings(Some(160_000))),
            "SET LOCAL lock_timeout = '50ms'; SET LOCAL statement_timeout = 0"
        );
    }

    #[test]
    fn a_step_with_neither_timeout_gets_the_ceiling() {
        let mut step = Step::ddl(Sql::kw("ALTER TABLE t ADD COLUMN c int"), span());
        step.lock_timeout = false;
        step.statement_timeout = false;
        assert_eq!(
            set_local_timeouts(&step, &settings(Some(170_000))),
            "SET LOCAL lock_timeout = '500ms'; SET LOCAL statement_timeout = 0; \
             SET LOCAL transaction_timeout = 0"
        );
    }

    #[test]
    fn postgres_17_gets_a_transaction_timeout() {
        let ddl = Step::ddl(Sql::kw("ALTER TABLE t ADD COLUMN c int"), span());
        assert_eq!(
            set_local_timeouts(&ddl, &settings(Some(170_000))),
            "SET LOCAL lock_timeout = '50ms'; SET LOCAL statement_timeout = '5s'; \
             SET LOCAL transaction_timeout = '10500ms'"
        );
    }

    #[test]
    fn a_zero_try_lock_timeout_is_never_zero() {
        let ddl = Step::ddl(Sql::kw("ALTER TABLE t ADD COLUMN c int"), span());
        let s = LowerSettings {
            try_lock_timeout: Duration::ZERO,
            ..settings(None)
        };
        assert_eq!(timeouts(&ddl, &s)[0].value, Some(Duration::from_millis(1)));
    }

    #[test]
    fn a_step_lowers_by_its_kind_and_transaction_mode() {
        let ddl = Step::ddl(Sql::kw("ALTER TABLE t ADD COLUMN c int"), span());
        assert_eq!(
            lower(&ddl).action,
            Action::Transaction {
                sql: "ALTER TABLE t ADD COLUMN c int"
            }
        );
        let check = Step::check(Sql::kw("SELECT true"), span(), "holds");
        assert_eq!(lower(&check).action, Action::Check { query: "SELECT true" });
        let mut build = Step::concurrent(Sql::kw("CREATE INDEX CONCURRENTLY i ON t (c)"), span());
        build.guard = Some("SELECT g".into());
        build.only_if = Some("SELECT o".into());
        let lowered = lower(&build);
        assert_eq!(
            lowered.action,
            Action::Outside {
                sql: "CREATE INDEX CONCURRENTLY i ON t (c)"
            }
        );
        assert_eq!(
            (lowered.guard, lowered.only_if),
            (Some("SELECT g"), Some("SELECT o"))
        );
        let backfill = Backfill {
            table: crate::pg::QualifiedName::bare(crate::pg::Ident::new("t")),
            key: Vec::new(),
            head: "UPDATE t SET c = 1".into(),
            filter: None,
            batch_size: 1000,
        };
        let step = Step::backfill(backfill.clone(), span());
        assert_eq!(lower(&step).action, Action::Backfill(&backfill));
        assert_eq!(lower(&step).guard, None);
    }

    #[test]
    fn the_key_query_takes_the_table_expression() {
        let sql = key_columns_sql("'public.t'");
        assert!(sql.contains("to_regclass('public.t')"));
        assert!(sql.contains("i2.indisprimary DESC"));
    }
}
