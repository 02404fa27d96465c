//! What the test modules share: the binary under test, handed to the test kit.
//! `CARGO_BIN_EXE_ecr-reconcile` is set only when cargo compiles integration tests and
//! benches, so the kit cannot find the binary itself.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::Binary;

/// The `ecr-reconcile` binary cargo built for these tests.
pub fn binary() -> Binary {
    Binary::new(env!("CARGO_BIN_EXE_ecr-reconcile"))
}

/// A command of a [`Binary`] that keeps the binary, and so its temporary home folder,
/// while it lives. A `Command` alone would outlive the folder: the binary would then
/// run with a `HOME` that is gone, and create its cache there again, outside any
/// temporary folder that is cleaned up. Keep it until the process has finished (a
/// spawned child included).
pub struct Held {
    cmd: Command,
    _binary: Binary,
}

impl Held {
    /// `make`'s command of a fresh binary, held with it.
    pub fn of(make: impl FnOnce(&Binary) -> Command) -> Held {
        let binary = binary();
        Held {
            cmd: make(&binary),
            _binary: binary,
        }
    }
}

impl Deref for Held {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.cmd
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }
}

/// The binary, set up to talk to `endpoint` (see [`Binary::command`]).
pub fn command(endpoint: &str, args: &[&str], dir: Option<&Path>) -> Held {
    Held::of(|b| b.command(endpoint, args, dir))
}

/// The binary with no region, profile, credentials or colour settings from the
/// machine (see [`Binary::hermetic`]).
pub fn hermetic() -> Held {
    Held::of(Binary::hermetic)
}

/// A temporary folder of a test's files, removed when it goes.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// An empty folder.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `content` to `name` in it.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// The path of `name` in it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A desired-state folder in `dir` with one file: `payments/api` of eu-west-1 allowing
/// `latest`, and `in_use` (the YAML under the key, indented by two spaces).
pub fn payments_desired(dir: &Path, in_use: &str) -> PathBuf {
    let d = dir.join("desired");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("payments.yaml"),
        format!(
            "version: 1\nregistry:\n  region: eu-west-1\nrepositories:\n  payments/api:\n    tags: [latest]\nin_use:\n{in_use}"
        ),
    )
    .unwrap();
    d
}
