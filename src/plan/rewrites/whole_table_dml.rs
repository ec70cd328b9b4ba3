//! `UPDATE`/`DELETE` of a whole table → the same statement in keyset batches
//! over the primary key, each batch its own short transaction.

use super::Rewrite;
use crate::lint::rules::whole_table_dml;
use crate::parse::{slices, DmlVerb, StmtKind};
use crate::plan::sql::{SourceSlice, Sql};
use crate::plan::{Backfill, PlanContext, Refusal, Step};
use crate::source::Span;

pub(crate) static REWRITE: Rewrite = Rewrite {
    id: "batched-dml",
    fixes: &[&whole_table_dml::RULE],
    build,
};

fn build(cx: &PlanContext) -> Result<Vec<Step>, Refusal> {
    let StmtKind::Dml(dml) = &cx.stmt.kind else {
        return Err(Refusal::new("not an UPDATE or DELETE statement"));
    };
    let text = cx.stmt_text();
    let upper = text.to_ascii_uppercase();
    if upper.starts_with("WITH") || upper.contains("RETURNING") {
        return Err(Refusal::new(
            "a WITH or RETURNING clause cannot be split into batches by this rewrite",
        ));
    }
    // The statement's own condition is kept: each batch changes the rows of
    // its key range that meet it.
    let condition = if dml.has_where {
        Some(slices::where_condition(text).ok_or_else(|| Refusal::new("cannot find the WHERE condition"))?)
    } else {
        None
    };
    let head = match dml.verb {
        DmlVerb::Update => {
            let set = slices::update_set(text).ok_or_else(|| Refusal::new("cannot find the SET list"))?;
            let rest = text[set.end..].trim_start();
            if !(rest.is_empty()
                || condition.is_some() && rest.get(..5).is_some_and(|w| w.eq_ignore_ascii_case("WHERE")))
            {
                return Err(Refusal::new(
                    "UPDATE … FROM cannot be split into batches by this rewrite",
                ));
            }
            Span::new(cx.stmt.span.start, cx.stmt.span.start + set.end)
        }
        DmlVerb::Delete => {
            if upper.contains(" USING ") {
                return Err(Refusal::new(
                    "DELETE … USING cannot be split into batches by this rewrite",
                ));
            }
            match condition {
                // `DELETE FROM t WHERE c`: the head stops before `WHERE`.
                Some(c) => {
                    let before = text[..c.start].trim_end();
                    let before = &before[..before.len() - "WHERE".len()];
                    Span::new(cx.stmt.span.start, cx.stmt.span.start + before.trim_end().len())
                }
                None => cx.stmt.span,
            }
        }
    };
    let key = cx
        .schema
        .table(&dml.table)
        .and_then(|t| t.primary_key())
        .unwrap_or_default();
    let note = if key.is_empty() {
        "change rows in short batches; the primary key is read from the catalog at run time"
    } else {
        "change rows in short batches by primary key"
    };
    Ok(vec![Step::backfill(
        Backfill {
            table: dml.table.clone(),
            key,
            head: Sql::default()
                .slice(SourceSlice::new(cx.text, head))
                .into_string(),
            filter: condition.map(|c| format!("({})", c.slice(text))),
            batch_size: cx.batch_size,
        },
        cx.stmt.span,
    )
    .note(note)])
}

#[cfg(test)]
mod tests {
    use crate::plan::rewrites::testing::script;

    #[test]
    fn batches_updates_by_primary_key() {
        insta::assert_snapshot!(script("UPDATE users SET name = 'it''s', age = age + 1;", 15));
    }

    #[test]
    fn keeps_the_predicate_of_a_broad_where() {
        let s = script(
            "UPDATE orders SET status = 'archived' WHERE status IS NOT NULL AND total < 10;",
            15,
        );
        assert!(
            s.contains("UPDATE orders SET status = 'archived' WHERE")
                && s.contains("AND ((status IS NOT NULL AND total < 10))"),
            "{s}"
        );
        let s = script("DELETE FROM orders WHERE status IS NULL RETURNING id;", 15);
        assert!(s.contains("refused"), "{s}");
        let s = script("DELETE FROM orders WHERE status IS NULL;", 15);
        assert!(
            s.contains("DELETE FROM orders WHERE") && s.contains("AND ((status IS NULL))"),
            "{s}"
        );
    }

    #[test]
    fn batches_deletes() {
        assert!(script("DELETE FROM orders;", 15).contains("DELETE FROM orders WHERE"));
    }
}
