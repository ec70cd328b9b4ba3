//! Catalog-read benchmark: how long `migrate` takes to read the schema of a
//! database with many tables (the starting point of `lint --database-url`,
//! `plan --database-url` and every `apply`).
//!
//!   cargo run --release --example bench_catalog [TABLES] [RUNS]
//!
//! Starts a throwaway cluster from the local server binaries, creates TABLES
//! tables (default 5,000), each with 6 columns, a primary key, a unique
//! constraint, a CHECK, a foreign key to the previous table and two more
//! indexes (one partial, one on an expression), then reads the catalog RUNS
//! times (default 5) and prints each time, the median, and what was read.

use safe_migrate::db::catalog;
use safe_migrate::trace::cluster::TempCluster;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let tables: usize = args
        .next()
        .map_or(5000, |a| a.parse().expect("TABLES is a number"));
    let runs: usize = args.next().map_or(5, |a| a.parse().expect("RUNS is a number"));
    let cluster = TempCluster::start().expect("a throwaway cluster starts");
    let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls).unwrap();
    admin.batch_execute("CREATE DATABASE bench").unwrap();
    let mut client = postgres::Client::connect(&cluster.url("bench"), postgres::NoTls).unwrap();
    let started = Instant::now();
    client
        .batch_execute(&format!(
            "DO $$ BEGIN FOR i IN 1..{tables} LOOP
               EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, parent bigint, email varchar(200) NOT NULL,
                 amount numeric(12,2) CHECK (amount >= 0), created_at timestamptz NOT NULL DEFAULT now(), note text,
                 UNIQUE (email))', i);
               IF i > 1 THEN
                 EXECUTE format('ALTER TABLE t%s ADD FOREIGN KEY (parent) REFERENCES t%s (id)', i, i - 1);
               END IF;
               EXECUTE format('CREATE INDEX ON t%s (created_at) WHERE note IS NOT NULL', i);
               EXECUTE format('CREATE INDEX ON t%s (lower(note))', i);
             END LOOP; END $$; ANALYZE;"
        ))
        .unwrap();
    eprintln!(
        "created {tables} tables in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut times: Vec<Duration> = Vec::new();
    let mut last = None;
    for run in 1..=runs {
        let t = Instant::now();
        let read = catalog::read(&mut client).expect("the catalog reads");
        let elapsed = t.elapsed();
        println!("run {run}: {:.3} s", elapsed.as_secs_f64());
        times.push(elapsed);
        last = Some(read);
    }
    times.sort();
    let read = last.expect("at least one run");
    println!(
        "catalog of {} tables ({} facts; {} statements of DDL, {} not understood): median {:.3} s over {runs} runs",
        read.tables,
        read.schema.facts().len(),
        read.load.statements,
        read.load.unknown,
        times[times.len() / 2].as_secs_f64()
    );
}
