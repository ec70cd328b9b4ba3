ALTER TABLE orders ADD COLUMN currency text;

-- Unsafe: one transaction locks every row of orders.
UPDATE orders SET currency = 'EUR';
