//! Hostile and broken input: random statement soups, huge and deeply nested
//! statements, unterminated quotes. Every stage (split, parse, lint, plan,
//! report) must return, without panicking, with spans inside the input.

use proptest::prelude::*;
use safe_migrate::lint::{lint, LintSettings};
use safe_migrate::plan::{plan, render, PlanSettings};
use safe_migrate::report::{render_to_string, Format, TextStyle};
use safe_migrate::source::{from_text, MigrationFile, NamingScheme};

fn file(name: &str) -> MigrationFile {
    MigrationFile {
        path: name.into(),
        version: None,
        name: name.into(),
        scheme: NamingScheme::Explicit,
    }
}

/// Runs the whole pipeline on `history` then `text` and checks every span.
fn pipeline(history: &str, text: &str) {
    let sources = vec![
        from_text(file("V1.sql"), history.to_string()),
        from_text(file("V2.sql"), text.to_string()),
    ];
    let outcome = lint(sources.clone(), &LintSettings::default());
    for f in &outcome.files {
        let len = f.source.text.len();
        for s in &f.source.statements {
            assert!(
                s.span.start <= s.span.end && s.span.end <= len,
                "statement span {:?} outside {len}",
                s.span
            );
            assert!(
                f.source.text.is_char_boundary(s.span.start) && f.source.text.is_char_boundary(s.span.end)
            );
        }
        for finding in &f.findings {
            assert!(
                finding.span.end <= len,
                "finding span {:?} outside {len}",
                finding.span
            );
        }
    }
    for format in [Format::Text, Format::Json, Format::Sarif, Format::Github] {
        let _ = render_to_string(&outcome, format, &TextStyle::plain());
    }
    let planned = plan(sources, &PlanSettings::default());
    let _ = render::text(&planned, false);
    let _ = render::sql(&planned);
    let _ = render::json(&planned);
}

const FRAGMENTS: &[&str] = &[
    "ALTER TABLE ",
    "users ",
    "\"Users\" ",
    "\"x\"\"; DROP TABLE y; --\" ",
    "ADD COLUMN ",
    "c ",
    "int ",
    "NOT NULL ",
    "DEFAULT ",
    "gen_random_uuid() ",
    "random() ",
    "ALTER COLUMN ",
    "SET NOT NULL",
    "TYPE bigint ",
    "USING ",
    "c::bigint ",
    "CREATE ",
    "UNIQUE ",
    "INDEX ",
    "CONCURRENTLY ",
    "IF NOT EXISTS ",
    "ON ",
    "ONLY ",
    "(",
    ")",
    ", ",
    ";",
    ";\n",
    "'",
    "''",
    "E'\\'",
    "$$",
    "$a$",
    "--",
    "/*",
    "*/",
    "\n",
    "\r\n",
    "BEGIN",
    "COMMIT",
    "BEGIN ATOMIC ",
    "END",
    "DO ",
    "UPDATE ",
    "SET ",
    "= ",
    "1 ",
    "WHERE ",
    "DELETE FROM ",
    "DROP INDEX ",
    "REINDEX ",
    "VACUUM (FULL) ",
    "\\set x 1\n",
    "-- migrate:ignore set-not-null -- r\n",
    "-- +goose StatementBegin\n",
    "-- +goose StatementEnd\n",
    "-- +goose Down\n",
    "ADD CONSTRAINT ",
    "FOREIGN KEY ",
    "REFERENCES ",
    "CHECK ",
    "PRIMARY KEY ",
    "NOT VALID",
    "VALIDATE CONSTRAINT ",
    "ü",
    "表",
    "\u{feff}",
    "\t",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, .. ProptestConfig::default() })]

    #[test]
    fn statement_soups_never_panic(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..60)) {
        let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
        pipeline("CREATE TABLE users (id bigint PRIMARY KEY, c int, email text);", &text);
    }

    #[test]
    fn random_identifiers_are_quoted_and_survive(name in "[a-zA-Z0-9 _\"';$ü-]{1,70}") {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let history = format!("CREATE TABLE {quoted} (id bigint PRIMARY KEY, c int);");
        let migration = format!("ALTER TABLE {quoted} ALTER COLUMN c SET NOT NULL;\nCREATE INDEX i ON {quoted} (c);");
        pipeline(&history, &migration);
        let sources = vec![from_text(file("V1.sql"), history), from_text(file("V2.sql"), migration)];
        let planned = plan(sources, &PlanSettings::default());
        let script = render::sql_script(&planned.migrations[1]);
        // The table always appears quoted exactly as PostgreSQL needs it.
        let ident = safe_migrate::pg::Ident::new(name.clone()).to_string();
        prop_assert!(script.contains(&format!("ALTER TABLE {ident} ")), "{script}");
    }
}

#[test]
fn ten_thousand_statements_in_one_file() {
    let text: String = (0..10_000)
        .map(|i| format!("ALTER TABLE users ADD COLUMN c{i} int DEFAULT {i};\n"))
        .collect();
    pipeline("CREATE TABLE users (id bigint PRIMARY KEY);", &text);
}

#[test]
fn deeply_nested_expressions_are_an_error_not_a_crash() {
    let depth = 5_000;
    let text = format!("SELECT {}1{};", "(".repeat(depth), ")".repeat(depth));
    pipeline("", &text);
    let text = format!(
        "ALTER TABLE users ADD COLUMN c int DEFAULT {}1{};",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    pipeline("CREATE TABLE users (id int);", &text);
}

#[test]
fn unterminated_constructs_are_reported() {
    for text in [
        "SELECT $tag$ never closed",
        "SELECT 'never closed",
        "/* never /* closed */",
        "SELECT \"never",
    ] {
        let sources = vec![from_text(file("V1.sql"), text.to_string())];
        let outcome = lint(sources, &LintSettings::default());
        let rules: Vec<&str> = outcome.files[0].findings.iter().map(|f| f.rule.id).collect();
        assert!(rules.contains(&"parse-error"), "{text}: {rules:?}");
    }
}

#[test]
fn a_fifty_megabyte_migration_is_linted_in_bounded_time() {
    // A 50 MB file: a function with a huge dollar-quoted body, a huge
    // comment, and ordinary statements after them that must still be seen.
    let body = "x := x + 1; -- ;\n".repeat(50 * 1024 * 1024 / 34);
    let comment = format!("/* {} */", "; ' $$ ".repeat(50 * 1024 * 1024 / 14));
    let text = format!(
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ DECLARE x int := 0; BEGIN {body} RETURN x; END $body$;\n{comment}\nCREATE INDEX i ON users (c);\n"
    );
    assert!(text.len() > 50 * 1024 * 1024);
    let sources = vec![
        from_text(
            file("V1.sql"),
            "CREATE TABLE users (id bigint PRIMARY KEY, c int);".into(),
        ),
        from_text(file("V2.sql"), text),
    ];
    let outcome = lint(sources, &LintSettings::default());
    let rules: Vec<&str> = outcome.files[1].findings.iter().map(|f| f.rule.id).collect();
    assert_eq!(rules, ["create-index-non-concurrent"]);
}
