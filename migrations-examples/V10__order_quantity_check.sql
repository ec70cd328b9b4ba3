-- migrate:no-transaction
-- Safe: the constraint is added NOT VALID (instant), then validated in its
-- own transaction under SHARE UPDATE EXCLUSIVE, which lets traffic through
-- (the directive above keeps a runner that wraps files from joining them).
ALTER TABLE orders ADD CONSTRAINT orders_quantity_positive CHECK (quantity > 0) NOT VALID;

ALTER TABLE orders VALIDATE CONSTRAINT orders_quantity_positive;
