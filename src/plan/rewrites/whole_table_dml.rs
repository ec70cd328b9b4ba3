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
    let head = match dml.verb {
        DmlVerb::Update => {
            let set = slices::update_set(text).ok_or_else(|| Refusal::new("cannot find the SET list"))?;
            if !text[set.end..].trim().is_empty() {
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
            cx.stmt.span
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
            filter: None,
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
    fn batches_deletes() {
        assert!(script("DELETE FROM orders;", 15).contains("DELETE FROM orders WHERE"));
    }
}
