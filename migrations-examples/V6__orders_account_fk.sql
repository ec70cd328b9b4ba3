-- Unsafe: validates every order while blocking writes to orders and accounts.
ALTER TABLE orders ADD CONSTRAINT orders_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id);
