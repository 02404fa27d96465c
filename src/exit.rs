//! Exit codes, in one place. They follow Terraform's `-detailed-exitcode` convention
//! and are documented in the book (`docs/src/output.md`).

/// Success; with `--detailed-exitcode`, success and nothing to do.
pub const SUCCESS: u8 = 0;
/// Any error: invalid desired-state files, an unreadable snapshot or plan, a registry
/// error, a refused apply. Nothing was deleted because of the error.
pub const ERROR: u8 = 1;
/// With `--detailed-exitcode`: success, and the registry does not match the desired
/// state: the plan has changes, or a repository is refused or not found (they need
/// attention).
pub const CHANGES: u8 = 2;
/// `apply` or `restore` stopped by SIGINT (128 + 2, as a shell reports it): nothing
/// new was sent after the signal; what was sent is answered, checked and journalled.
pub const INTERRUPTED: u8 = 130;
/// The same, stopped by SIGTERM (128 + 15).
pub const TERMINATED: u8 = 143;

/// The exit code of a run stopped by `signal` (its number).
pub fn of_signal(signal: i32) -> u8 {
    match signal {
        15 => TERMINATED,
        _ => INTERRUPTED,
    }
}
