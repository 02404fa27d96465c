//! Test support for `ecr-reconcile`, shared by its integration tests
//! (`tests/integration/`) and its benches:
//!
//! - [`moto`]: starts moto, an independent ECR implementation, on a free loopback
//!   port, seeds it with the AWS SDK, and runs the real binary against it;
//! - [`proxy`]: a fault-injecting HTTP proxy to put between the binary and moto;
//! - [`ecr_public`]: a loopback Amazon ECR Public (its API and the distribution API's
//!   manifest reads) on a free port, with helpers that push images and read back state;
//! - [`kubernetes`]: a loopback Kubernetes API server (list endpoints, paging, RBAC
//!   per namespace, bearer tokens) and a kubeconfig that reaches it;
//! - [`generator`]: deterministic registry snapshots (the bundled example and the
//!   large ones of the benchmark).
//!
//! The binary under test comes in from the caller as a [`Binary`]:
//! `env!("CARGO_BIN_EXE_ecr-reconcile")` exists only when cargo compiles an integration
//! test or a bench of the package that owns the binary, not here.

pub mod ecr_public;
pub mod generator;
pub mod kubernetes;
pub mod moto;
pub mod proxy;
mod serve;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The `ecr-reconcile` binary under test, with a home folder of its own.
#[derive(Clone, Debug)]
pub struct Binary {
    path: PathBuf,
    /// `HOME` and `XDG_CACHE_HOME` of every run: an empty temporary folder, removed
    /// when the last clone of this `Binary` goes, so that no run reads or writes the
    /// user's own (the manifest cache, the AWS configuration files) and runs of one
    /// `Binary` share a cache only with each other.
    home: Arc<tempfile::TempDir>,
}

impl Binary {
    /// The binary at `path`; tests and benches pass
    /// `env!("CARGO_BIN_EXE_ecr-reconcile")`.
    pub fn new(path: impl Into<PathBuf>) -> Binary {
        Binary {
            path: path.into(),
            home: Arc::new(tempfile::tempdir().expect("a temporary home folder")),
        }
    }

    /// The home folder its runs get (`HOME`; the manifest cache is in `.cache` there).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The binary with none of the environment that changes what it does: no AWS
    /// region, profile, credentials or endpoint and no colour settings from the
    /// machine that runs the tests (a developer's shell often has `AWS_REGION`), no
    /// instance metadata, no standard input, and a home and cache folder of its own
    /// (see [`Binary::home`]).
    pub fn hermetic(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        for var in [
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_ECR",
            "AWS_ENDPOINT_URL_ECS",
            "AWS_ENDPOINT_URL_LAMBDA",
            "AWS_ENDPOINT_URL_STS",
            "KUBECONFIG",
            "NO_COLOR",
            "CLICOLOR",
            "CLICOLOR_FORCE",
            "GITHUB_ACTIONS",
            "GITHUB_WORKSPACE",
            "GITHUB_STEP_SUMMARY",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", self.home())
            .env("XDG_CACHE_HOME", self.home().join(".cache"))
            .env("LOCALAPPDATA", self.home())
            .stdin(Stdio::null());
        cmd
    }

    /// The binary, set up to talk to `endpoint` with test credentials, colour off,
    /// run in `dir` when given. ECS and Lambda (for `in_use`) and STS (the caller's
    /// identity) are sent there too, as moto serves every service on one port.
    pub fn command(&self, endpoint: &str, args: &[&str], dir: Option<&Path>) -> Command {
        let mut cmd = self.hermetic();
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        cmd.args(args)
            .args(["--endpoint-url", endpoint, "--color", "never"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL_ECS", endpoint)
            .env("AWS_ENDPOINT_URL_LAMBDA", endpoint)
            .env("AWS_ENDPOINT_URL_STS", endpoint);
        if !args.contains(&"--region") {
            cmd.args(["--region", moto::REGION]);
        }
        cmd
    }
}

/// A loopback port where nothing listens, kept that way while this lives: the socket
/// is bound but never listens, so connections are refused and no other server of the
/// test process (tests share one) can be given the port meanwhile.
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ClosedPort {
    /// Reserves a free loopback port.
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind a loopback port");
        let url = format!("http://{}", socket.local_addr().unwrap());
        ClosedPort {
            _socket: socket,
            url,
        }
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}
