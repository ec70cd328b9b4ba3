//! Benchmark helper for `bench/lint.sh` (built as `cargo build --release
//! --example bench_floor`).
//!
//! - `bench_floor generate DIR FILES [TABLES]`: writes the deterministic
//!   benchmark corpus, `V1__bench.sql` … `V{FILES}__bench.sql`, 20
//!   statements each. Each file creates a new table; with TABLES, file n
//!   re-creates table `t{(n - 1) % TABLES + 1}` instead and names its
//!   columns and constraints by that slot too, so the schema stops growing
//!   after TABLES files (for the memory step).
//! - `bench_floor floor DIR [parse|tokenize|kinds|read]`: the floor. Reads every `.sql`
//!   file under DIR, splits it with the project's own splitter
//!   (`safe_migrate::source::split`), then runs only sqlparser over each
//!   statement (`Parser::parse_sql(&PostgreSqlDialect {}, stmt)`, or just
//!   its tokenizer), on one thread. Prints one line of `key=value` pairs with
//!   the CPU time (user+sys, from getrusage) of the read+split phase and of
//!   the sqlparser phase. `kinds` prints sqlparser's time by statement kind;
//!   `read` stops after reading and splitting (to count that phase alone).

use safe_migrate::source::{split, PieceKind};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Tokenizer;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") if args.len() == 3 || args.len() == 4 => {
            let files: usize = args[2].parse().expect("FILES is a number");
            let tables = args.get(3).map(|t| t.parse().expect("TABLES is a number"));
            generate(Path::new(&args[1]), files, tables);
        }
        Some("floor") if args.len() >= 2 => {
            let mode = args.get(2).map(String::as_str).unwrap_or("parse");
            floor(Path::new(&args[1]), mode);
        }
        _ => {
            eprintln!(
                "usage: bench_floor generate DIR FILES [TABLES] | bench_floor floor DIR [parse|tokenize|kinds|read]"
            );
            std::process::exit(2);
        }
    }
}

/// CPU time (user + sys) of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn sql_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read DIR")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

fn floor(dir: &Path, mode: &str) {
    let wall = Instant::now();
    let cpu0 = cpu_seconds();
    // Read and split (not part of the floor: lint does this too, before parsing).
    let mut texts = Vec::new();
    let mut spans = Vec::new();
    for path in sql_files(dir) {
        let text = std::fs::read_to_string(&path).expect("read file");
        let pieces: Vec<_> = split(&text)
            .into_iter()
            .filter(|p| p.kind == PieceKind::Sql)
            .map(|p| p.span)
            .collect();
        texts.push(text);
        spans.push(pieces);
    }
    let cpu1 = cpu_seconds();
    let wall1 = wall.elapsed().as_secs_f64();
    let dialect = PostgreSqlDialect {};
    if mode == "read" {
        // Reading and splitting only: what `parse` spends before sqlparser runs.
        println!(
            "mode=read files={} read_split_cpu={:.3}",
            texts.len(),
            cpu1 - cpu0
        );
        return;
    }
    if mode == "kinds" {
        kinds(&texts, &spans);
        return;
    }
    let (mut statements, mut failed, mut tokens) = (0usize, 0usize, 0usize);
    for (text, spans) in texts.iter().zip(&spans) {
        for span in spans {
            let sql = span.slice(text);
            statements += 1;
            match mode {
                "tokenize" => match Tokenizer::new(&dialect, sql).tokenize() {
                    Ok(t) => tokens += t.len(),
                    Err(_) => failed += 1,
                },
                _ => match Parser::parse_sql(&dialect, sql) {
                    Ok(parsed) => tokens += parsed.len(),
                    Err(_) => failed += 1,
                },
            }
        }
    }
    let cpu2 = cpu_seconds();
    let wall2 = wall.elapsed().as_secs_f64();
    println!(
        "mode={mode} files={} statements={statements} failed={failed} items={tokens} \
         read_split_cpu={:.3} sqlparser_cpu={:.3} read_split_wall={:.3} sqlparser_wall={:.3}",
        texts.len(),
        cpu1 - cpu0,
        cpu2 - cpu1,
        wall1,
        wall2 - wall1
    );
}

/// `floor DIR kinds`: sqlparser's parse time by statement kind (the first
/// two words), to see where the floor goes.
fn kinds(texts: &[String], spans: &[Vec<safe_migrate::source::Span>]) {
    let dialect = PostgreSqlDialect {};
    let mut by_kind: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
    for (text, spans) in texts.iter().zip(spans) {
        for span in spans {
            let sql = span.slice(text);
            let words: Vec<&str> = sql
                .lines()
                .find(|l| !l.trim_start().starts_with("--") && !l.trim().is_empty())
                .unwrap_or("")
                .split_whitespace()
                .take(2)
                .collect();
            // The first word, and the second after CREATE/ALTER/DROP/SET/REINDEX.
            let kind = match words.first().map(|w| w.to_ascii_uppercase()) {
                Some(w) if ["CREATE", "ALTER", "DROP", "SET", "REINDEX"].contains(&w.as_str()) => {
                    words.clone()
                }
                _ => words.into_iter().take(1).collect(),
            };
            let start = Instant::now();
            let _ = std::hint::black_box(Parser::parse_sql(&dialect, sql));
            let entry = by_kind.entry(kind.join(" ")).or_default();
            entry.0 += 1;
            entry.1 += start.elapsed().as_secs_f64();
        }
    }
    let total: f64 = by_kind.values().map(|v| v.1).sum();
    for (kind, (n, secs)) in &by_kind {
        println!("{kind:<28} {n:>7} {secs:>7.3} s {:>5.1} %", 100.0 * secs / total);
    }
}

/// A tiny deterministic PRNG (xorshift64*), so the corpus is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The 20 statement shapes, one per slot of a file, with varying names and details.
fn generate(dir: &Path, files: usize, tables: Option<usize>) {
    std::fs::create_dir_all(dir).expect("create DIR");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    // The number in the names file `n` creates: its own, or its table slot.
    let slot = |n: usize| tables.map_or(n, |k| (n - 1) % k.max(1) + 1);
    for n in 1..=files {
        let mut s = String::with_capacity(4096);
        let t = format!("t{}", slot(n));
        // An existing table from an earlier file, so FKs and ALTERs hit old tables.
        let old = if n > 1 {
            format!("t{}", slot(1 + rng.below(n as u64 - 1) as usize))
        } else {
            t.clone()
        };
        let r = rng.below(1000);
        let m = slot(n);
        // Constraint names: per file, or per slot (so they repeat too).
        let (fk, chk) = match tables {
            None => (format!("{old}_fk{n}"), format!("{old}_chk{n}")),
            Some(_) => (format!("fk{m}"), format!("chk{m}")),
        };
        let _ = writeln!(s, "-- Migration {n}: benchmark corpus, deterministic.");
        let _ = writeln!(
            s,
            "/* Adds table {t}, touches {old}; isn't real, it's a 'benchmark'. */"
        );
        // 1
        let _ = writeln!(s, "SET lock_timeout = '{}s';", 1 + r % 5);
        // 2
        let _ = writeln!(
            s,
            "CREATE TABLE {t} (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \
             name text NOT NULL,\n  email varchar({}) UNIQUE,\n  price numeric(10, 2) CHECK (price >= 0),\n  \
             owner_id bigint REFERENCES {old} (id),\n  created_at timestamptz NOT NULL DEFAULT now(),\n  \
             note text DEFAULT 'it''s fine',\n  CONSTRAINT {t}_name_len CHECK (length(name) < 200)\n);",
            50 + r % 200
        );
        // 3
        if r % 3 == 0 {
            let _ = writeln!(s, "CREATE INDEX CONCURRENTLY {t}_email_idx ON {t} (email);");
        } else {
            let _ = writeln!(
                s,
                "CREATE INDEX {t}_email_idx ON {t} USING btree (email, created_at);"
            );
        }
        // 4
        let _ = writeln!(
            s,
            "CREATE UNIQUE INDEX IF NOT EXISTS {t}_name_key ON {t} (lower(name)) WHERE note IS NOT NULL;"
        );
        // 5
        match r % 4 {
            0 => {
                let _ = writeln!(s, "ALTER TABLE {old} ADD COLUMN c{m} integer;");
            }
            1 => {
                let _ = writeln!(s, "ALTER TABLE {old} ADD COLUMN c{m} integer NOT NULL DEFAULT 0;");
            }
            2 => {
                let _ = writeln!(
                    s,
                    "ALTER TABLE {old} ADD COLUMN c{m} uuid DEFAULT gen_random_uuid();"
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "ALTER TABLE {old} ADD COLUMN c{m} timestamptz DEFAULT clock_timestamp();"
                );
            }
        }
        // 6
        let _ = writeln!(s, "ALTER TABLE {old} ALTER COLUMN name SET NOT NULL;");
        // 7
        if r % 2 == 0 {
            let _ = writeln!(s, "ALTER TABLE {t} ADD CONSTRAINT {t}_owner_fk FOREIGN KEY (owner_id) REFERENCES {old} (id) NOT VALID;");
        } else {
            let _ = writeln!(
                s,
                "ALTER TABLE {old} ADD CONSTRAINT {fk} FOREIGN KEY (owner_id) REFERENCES {t} (id);"
            );
        }
        // 8
        let _ = writeln!(
            s,
            "ALTER TABLE {old} ADD CONSTRAINT {chk} CHECK (price < {}){};",
            1000 + r,
            if r % 2 == 0 { " NOT VALID" } else { "" }
        );
        // 9
        let _ = writeln!(s, "ALTER TABLE {old} VALIDATE CONSTRAINT {chk};");
        // 10
        if r % 5 == 0 {
            let _ = writeln!(s, "UPDATE {old} SET note = 'bulk';");
        } else {
            let _ = writeln!(
                s,
                "UPDATE {old} SET note = 'o''reilly', price = price * 1.1 WHERE id BETWEEN {r} AND {};",
                r + 100
            );
        }
        // 11
        if r % 7 == 0 {
            let _ = writeln!(s, "DELETE FROM {old};");
        } else {
            let _ = writeln!(
                s,
                "DELETE FROM {old} WHERE created_at < now() - interval '30 days' AND note <> 'keep';"
            );
        }
        // 12
        let _ = writeln!(
            s,
            "INSERT INTO {t} (name, email, price) VALUES ('a', 'a@example.com', 1.5), ('b''s', 'b@example.com', {}.25) ON CONFLICT DO NOTHING;",
            r
        );
        // 13
        let _ = writeln!(
            s,
            "CREATE OR REPLACE FUNCTION {t}_touch() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n  \
             NEW.created_at := now(); -- keep; this semicolon is inside the body\n  RETURN NEW;\nEND;\n$fn$;"
        );
        // 14
        let _ = writeln!(s, "-- a comment between statements; with a semicolon");
        let _ = writeln!(
            s,
            "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_{}') THEN\n    \
             RAISE NOTICE 'missing role';\n  END IF;\nEND\n$$;",
            r % 10
        );
        // 15, 16
        let _ = writeln!(s, "BEGIN;");
        let _ = writeln!(s, "SET LOCAL statement_timeout = '5min';");
        // 17
        let _ = writeln!(s, "COMMIT;");
        // 18
        let _ = writeln!(s, "DROP INDEX CONCURRENTLY IF EXISTS {old}_email_idx;");
        // 19
        if r % 2 == 0 {
            let _ = writeln!(s, "REINDEX INDEX CONCURRENTLY {t}_name_key;");
        } else {
            let _ = writeln!(s, "REINDEX TABLE {old};");
        }
        // 20
        let _ = writeln!(
            s,
            "COMMENT ON TABLE {t} IS 'Benchmark table \"{t}\" -- don''t use';"
        );
        std::fs::write(dir.join(format!("V{n}__bench.sql")), s).expect("write file");
    }
}
