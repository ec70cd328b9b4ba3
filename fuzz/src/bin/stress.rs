//! The stable fallback for the libFuzzer target: the same
//! [`safe_migrate_fuzz::pipeline`] on inputs from a seeded generator
//! (statement soups of SQL fragments, then byte-level mutations of them), for
//! a number of iterations or seconds, reporting inputs per second. A panic
//! is caught, its input written to `artifacts/stress-<seed>-<n>.bin` (replay
//! it with `--replay FILE`), and the run exits 1.
//!
//! ```text
//! cargo run --release --no-default-features --bin stress -- [--seed N] [--iterations N] [--seconds S] [--replay FILE]
//! ```

use std::time::{Duration, Instant};

/// splitmix64, so a seed replays the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces of the statements the rules and rewrites look for, and of the
/// lexical corners the splitter must get right.
const FRAGMENTS: &[&str] = &[
    "ALTER TABLE ",
    "users ",
    "orders ",
    "\"Users\" ",
    "public.users ",
    "\"x\"\"; DROP TABLE y; --\" ",
    "ADD COLUMN ",
    "c ",
    "email ",
    "amount ",
    "n ",
    "id ",
    "int ",
    "bigint ",
    "text ",
    "jsonb ",
    "varchar(10) ",
    "timestamp ",
    "serial ",
    "NOT NULL ",
    "NULL ",
    "DEFAULT ",
    "0 ",
    "now() ",
    "gen_random_uuid() ",
    "random() ",
    "ALTER COLUMN ",
    "SET NOT NULL",
    "DROP NOT NULL",
    "TYPE bigint ",
    "TYPE text ",
    "USING ",
    "c::bigint ",
    "SET DATA TYPE ",
    "CREATE ",
    "UNIQUE ",
    "INDEX ",
    "CONCURRENTLY ",
    "IF NOT EXISTS ",
    "IF EXISTS ",
    "ON ",
    "ONLY ",
    "(",
    ")",
    ", ",
    ";",
    ";\n",
    "'",
    "''",
    "'it''s' ",
    "E'\\'",
    "$$",
    "$a$",
    "$a$ ",
    "--",
    "/*",
    "*/",
    "\n",
    "\r\n",
    "\r",
    "BEGIN",
    "BEGIN;\n",
    "COMMIT",
    "COMMIT;\n",
    "ROLLBACK;\n",
    "BEGIN ATOMIC ",
    "END",
    "DO ",
    "$$ BEGIN ",
    " END $$",
    "EXECUTE ",
    "UPDATE ",
    "SET ",
    "= ",
    "1 ",
    "WHERE ",
    "DELETE FROM ",
    "INSERT INTO ",
    "VALUES ",
    "DROP INDEX ",
    "DROP TABLE ",
    "DROP COLUMN ",
    "RENAME COLUMN ",
    "RENAME TO ",
    "TO ",
    "REINDEX ",
    "TABLE ",
    "VACUUM (FULL) ",
    "CLUSTER ",
    "TRUNCATE ",
    "LOCK TABLE ",
    "IN ACCESS EXCLUSIVE MODE",
    "REFRESH MATERIALIZED VIEW ",
    "ATTACH PARTITION ",
    "DETACH PARTITION ",
    "FOR VALUES FROM (1) TO (2) ",
    "ALTER TYPE ",
    "ADD VALUE ",
    "ALTER DOMAIN ",
    "SET LOGGED ",
    "SET lock_timeout = '1s';\n",
    "\\set x 1\n",
    "\\i other.sql\n",
    "-- migrate:ignore set-not-null -- r\n",
    "-- migrate:no-transaction\n",
    "-- +goose StatementBegin\n",
    "-- +goose StatementEnd\n",
    "-- +goose Up\n",
    "-- +goose Down\n",
    "ADD CONSTRAINT ",
    "k ",
    "FOREIGN KEY ",
    "REFERENCES ",
    "CHECK ",
    "(c > 0) ",
    "PRIMARY KEY ",
    "EXCLUDE ",
    "NOT VALID",
    "VALIDATE CONSTRAINT ",
    "ü",
    "表",
    "\u{feff}",
    "\t",
    "\0",
    "🦀",
];

fn soup(rng: &mut Rng) -> Vec<u8> {
    let mut out = vec![rng.next() as u8, rng.next() as u8];
    for _ in 0..rng.below(80) {
        out.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes());
    }
    out
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(5) {
            0 if !input.is_empty() => {
                let end = (at + rng.below(8)).min(input.len());
                input.drain(at.min(end)..end);
            }
            1 => input.insert(at, rng.next() as u8),
            2 if at < input.len() => input[at] ^= 1 << rng.below(8),
            3 => {
                let f = FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes();
                input.splice(at..at, f.iter().copied());
            }
            _ if !input.is_empty() => {
                // Repeat a slice: deep nesting, long runs.
                let start = rng.below(input.len());
                let end = (start + 1 + rng.below(16)).min(input.len());
                let piece = input[start..end].to_vec();
                for _ in 0..rng.below(64) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            _ => {}
        }
    }
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let i = args.iter().position(|a| a == name)?;
    let value = args.get(i + 1)?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot read {value:?}")),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = arg::<String>(&args, "--replay") {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        safe_migrate_fuzz::pipeline(&data);
        println!("{path}: no panic");
        return;
    }
    let seed: u64 = arg(&args, "--seed").unwrap_or(1);
    let iterations: u64 = arg(&args, "--iterations").unwrap_or(u64::MAX);
    let limit = Duration::from_secs_f64(arg(&args, "--seconds").unwrap_or(if iterations == u64::MAX {
        10.0
    } else {
        f64::MAX / 2.0
    }));
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut bytes = 0u64;
    let mut done = 0u64;
    let mut input = Vec::new();
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    while done < iterations && started.elapsed() < limit {
        // Half fresh soups, half mutations of the last input.
        if done % 2 == 0 || input.len() > 64 * 1024 {
            input = soup(&mut rng);
        } else {
            mutate(&mut rng, &mut input);
        }
        bytes += input.len() as u64;
        let data = input.clone();
        if std::panic::catch_unwind(|| safe_migrate_fuzz::pipeline(&data)).is_err() {
            std::fs::create_dir_all("artifacts").expect("artifacts/");
            let path = format!("artifacts/stress-{seed}-{done}.bin");
            std::fs::write(&path, &input).expect("writing the input");
            eprintln!("input {done} panicked; saved to {path}");
            std::process::exit(1);
        }
        done += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seed {seed}: {done} inputs ({:.1} MB) in {secs:.1}s, {:.0} inputs/s, no panic",
        bytes as f64 / 1e6,
        done as f64 / secs
    );
}
