//! What the test modules share: the binary under test, handed to the test kit.
//! `CARGO_BIN_EXE_ecr-reconcile` is set only when cargo compiles integration tests and
//! benches, so the kit cannot find the binary itself.

use std::path::Path;
use std::process::Command;

use testkit::Binary;

/// The `ecr-reconcile` binary cargo built for these tests.
pub fn binary() -> Binary {
    Binary::new(env!("CARGO_BIN_EXE_ecr-reconcile"))
}

/// The binary, set up to talk to `endpoint` (see [`Binary::command`]).
pub fn command(endpoint: &str, args: &[&str], dir: Option<&Path>) -> Command {
    binary().command(endpoint, args, dir)
}
