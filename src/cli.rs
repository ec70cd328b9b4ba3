//! Command line.

/// Runs the command line; returns the exit code.
pub fn run() -> i32 {
    0
}
