-- Safe: varchar(200) -> text is binary-coercible, no rewrite.
ALTER TABLE orders ALTER COLUMN note TYPE text;

-- Unsafe: integer -> bigint rewrites the table and every index.
ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;
