//! The schema every rule's `bad` and `good` examples are linted against, and
//! that the lock-truth tests create (populated) in a real database.

/// Tables that exist before the examples run.
pub const SCHEMA: &str = "CREATE TABLE users (id bigint PRIMARY KEY, email text, name varchar(50), age int);";
