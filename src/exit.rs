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
