-- Safe: a nullable column without a default is a catalog-only change, and
-- the index is built concurrently (outside a transaction).
ALTER TABLE users ADD COLUMN last_login_at timestamptz;

CREATE INDEX CONCURRENTLY IF NOT EXISTS users_last_login_at_idx ON users (last_login_at);
