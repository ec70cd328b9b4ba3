-- Unsafe: scans every row of users under ACCESS EXCLUSIVE.
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
