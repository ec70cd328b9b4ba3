//! The schema every rule's `bad` and `good` examples run after.
//!
//! Rule examples are linted as a migration that follows [`SCHEMA`], so their
//! tables exist and hold data. The lock-truth tests create the same schema in
//! a real database, fill it with [`POPULATE`], run each `bad` example inside a
//! transaction and compare `pg_locks` with what the rule claims.

/// Tables, indexes and types that exist before the examples run.
pub const SCHEMA: &str = "\
CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE users (id bigint PRIMARY KEY, account_id bigint, email text, name varchar(50), age int, created_at timestamp);
CREATE INDEX users_email_idx ON users (email);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, total numeric(10,2), status text);
CREATE INDEX orders_status_idx ON orders (status);
CREATE MATERIALIZED VIEW order_totals AS SELECT user_id, sum(total) AS total FROM orders GROUP BY user_id;
CREATE UNIQUE INDEX order_totals_user_idx ON order_totals (user_id);
CREATE TABLE events (id bigint NOT NULL, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 (id bigint NOT NULL, created_at timestamptz NOT NULL);
CREATE TYPE order_status AS ENUM ('new', 'paid');
CREATE DOMAIN positive_int AS int;
";

/// Rows for the lock-truth tests, so scans and rewrites have work to do.
pub const POPULATE: &str = "\
INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 100) g;
INSERT INTO users SELECT g, g % 100 + 1, 'user' || g || '@example.com', 'user ' || g, g % 90, timestamp '2024-06-01 12:00' + g * interval '1 minute' FROM generate_series(1, 2000) g;
INSERT INTO orders SELECT g, g % 2000 + 1, g % 500, 'new' FROM generate_series(1, 5000) g;
INSERT INTO events SELECT g, timestamptz '2024-01-01' + g * interval '1 hour' FROM generate_series(1, 1000) g;
INSERT INTO events_2025 SELECT g, timestamptz '2025-01-01' + g * interval '1 hour' FROM generate_series(1, 1000) g;
REFRESH MATERIALIZED VIEW order_totals;
ANALYZE;
";
