//! Knowledge tables checked against a live PostgreSQL catalog.

mod support;

use safe_migrate::parse::Volatility;
use safe_migrate::pg::volatility;

/// Functions whose volatility changed in a later major, as
/// `(name, first major with the table's volatility, volatility before it)`
/// (docs/compatibility.md). The table holds the newer one.
const VERSION_DIFFERENCES: &[(&str, u32, Volatility)] = &[
    // PostgreSQL 15 made interval output depend on IntervalStyle: stable.
    ("interval_out", 15, Volatility::Immutable),
    // Before 15 timezone(text, timetz) was volatile (it reads the current
    // date for the zone's offset); every overload was otherwise immutable.
    ("timezone", 15, Volatility::Volatile),
];

/// Every built-in function's volatility in our table equals the most
/// volatile of its overloads in `pg_proc` (on the test server's version).
#[test]
fn volatility_table_matches_pg_proc() {
    let db = support::fresh_database();
    let mut client = db.client();
    let rows = client
        .query(
            "SELECT proname::text, max(CASE provolatile WHEN 'v' THEN 3 WHEN 's' THEN 2 ELSE 1 END)::int4
             FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace AND prokind IN ('f', 'w', 'a')
             GROUP BY 1",
            &[],
        )
        .unwrap();
    assert!(rows.len() > 2000, "pg_proc looks empty: {}", rows.len());
    let major: u32 = client
        .query_one("SELECT current_setting('server_version_num')::int4 / 10000", &[])
        .unwrap()
        .get::<_, i32>(0) as u32;
    let mut wrong = Vec::new();
    let mut missing = 0;
    for row in &rows {
        let name: String = row.get(0);
        let level: i32 = row.get(1);
        let expected = match level {
            3 => Volatility::Volatile,
            2 => Volatility::Stable,
            _ => Volatility::Immutable,
        };
        let known_difference = VERSION_DIFFERENCES
            .iter()
            .any(|(n, before, v)| *n == name && major < *before && *v == expected);
        match volatility::of_function(&name) {
            Some(v) if v == expected || known_difference => {}
            Some(v) => wrong.push(format!("{name}: table says {v:?}, pg_proc says {expected:?}")),
            None => missing += 1,
        }
    }
    assert!(
        wrong.is_empty(),
        "volatility disagrees with pg_proc:\n{}",
        wrong.join("\n")
    );
    // A newer server may add functions; the table must still know nearly all.
    assert!(
        missing * 100 < rows.len(),
        "{missing} of {} pg_proc names unknown",
        rows.len()
    );
}
