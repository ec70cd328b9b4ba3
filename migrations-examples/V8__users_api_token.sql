-- Safe on PostgreSQL 11+: a constant default is stored in the catalog.
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;

-- Unsafe: a volatile default rewrites the whole table.
ALTER TABLE users ADD COLUMN api_token uuid DEFAULT gen_random_uuid();
