-- bench/live.sh traffic: 60% reads by key, 30% updates by key, 10% inserts.
\set id random(1, :maxid)
\set r random(1, 100)
\if :r <= 60
SELECT id, qty, note FROM items WHERE id = :id;
\elif :r <= 90
UPDATE items SET qty = qty + 1 WHERE id = :id;
\else
INSERT INTO items (account_id, qty, note, email) VALUES (1 + :id % 1000, 1, 'new', 'new@example.com');
\endif
