//! What a user sees when AWS is not set up or says no: one line that says what to
//! do, never the SDK's error dump; the error chain only at `-vv`.

use std::path::Path;
use std::process::Output;

use testkit::ClosedPort;
use testkit::moto::{Moto, text};
use testkit::proxy::{Faults, Phase, Proxy, Verdict};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/desired");

/// The binary on a machine with a region and no AWS configuration at all.
fn unconfigured(home: &Path) -> crate::common::Held {
    let mut cmd = crate::common::hermetic();
    cmd.env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_REGION", "eu-west-1");
    cmd
}

/// The one line of stderr, which must say `what` and not look like a dump.
fn one_line(out: &Output, what: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(what), "{what:?} in {err}");
    for dump in ["DispatchFailure", "ConnectorError", "{", "Some("] {
        assert!(!err.contains(dump), "{dump:?} in {err}");
    }
    err
}

#[test]
fn missing_credentials_are_one_line_and_the_chain_is_at_vv() {
    let home = tempfile::tempdir().unwrap();
    let port = ClosedPort::new();
    let args = ["plan", EXAMPLES, "--endpoint-url", &port.url];
    let out = unconfigured(home.path()).args(args).output().unwrap();
    let err = one_line(&out, "no AWS credentials found");
    assert!(err.contains("AWS_PROFILE"), "says what to do: {err}");

    let out = unconfigured(home.path())
        .args(args)
        .arg("-vv")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("request failed") && err.contains("CredentialsNotLoaded"),
        "the chain at -vv: {err}"
    );
}

#[test]
fn an_unreachable_endpoint_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    let port = ClosedPort::new();
    let out = unconfigured(home.path())
        .args(["plan", EXAMPLES, "--endpoint-url", &port.url])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    // It names the endpoint and what was tried, once (not once to list the first
    // repository and once more to ask for the account).
    let err = one_line(&out, &format!("could not connect to {} (", port.url));
    assert!(
        err.contains("in 5 attempts") && err.contains("--endpoint-url"),
        "{err}"
    );
}

#[test]
fn a_host_name_that_does_not_exist_is_one_line_naming_it_and_not_retried() {
    let home = tempfile::tempdir().unwrap();
    // `.invalid` never resolves (RFC 6761).
    let url = "http://ecr.registry.invalid";
    let out = unconfigured(home.path())
        .args(["plan", EXAMPLES, "--endpoint-url", url])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    let err = one_line(
        &out,
        &format!("could not connect to {url}: its host name does not resolve ("),
    );
    assert!(err.contains("not retried"), "{err}");
}

#[test]
fn no_region_is_one_line_naming_the_file() {
    let home = tempfile::tempdir().unwrap();
    let out = unconfigured(home.path())
        .env_remove("AWS_REGION")
        .args(["plan", EXAMPLES])
        .output()
        .unwrap();
    let err = one_line(
        &out,
        "identity.yaml:4:3: no region for repository `identity/auth`",
    );
    assert!(
        err.contains("--region") && err.contains("AWS_REGION"),
        "{err}"
    );
}

#[test]
fn refusals_of_the_credentials_say_what_to_do() {
    let m = Moto::start(crate::common::binary());
    m.create_repository("payments/api");
    let p = Proxy::start(&m.url, Faults::default());
    for (kind, message, what) in [
        (
            "ExpiredTokenException",
            "The security token included in the request is expired",
            "refresh them",
        ),
        (
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:DescribeImages",
            "listed under IAM permissions in docs/src/aws.md",
        ),
        (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            "check AWS_ACCESS_KEY_ID",
        ),
        (
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
            "check AWS_SECRET_ACCESS_KEY",
        ),
    ] {
        p.set_hook(move |_, phase| match phase {
            Phase::Before => Verdict::Answer {
                status: 400,
                kind,
                message,
            },
            Phase::After => Verdict::Pass,
        });
        let out = m
            .binary()
            .command(&p.url, &["plan", EXAMPLES], None)
            .output()
            .unwrap();
        let err = one_line(&out, kind);
        assert!(err.contains(message) && err.contains(what), "{err}");
    }
}

#[test]
fn missing_credentials_with_an_account_in_the_file_are_one_line_and_no_plan() {
    // With the account in the file no call is needed to learn it: the first calls are
    // the repositories' own, and each failed alone, under a plan of nothing.
    let home = tempfile::tempdir().unwrap();
    let file = with_account(home.path());
    let port = ClosedPort::new();
    for command in ["plan", "apply"] {
        let out = unconfigured(home.path())
            .args([command, file.to_str().unwrap(), "--endpoint-url", &port.url])
            .output()
            .unwrap();
        one_line(&out, "no AWS credentials found");
        assert_eq!(text(&out.stdout), "", "{command}: no plan of nothing");
    }
}

#[test]
fn a_profile_that_does_not_exist_is_named() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("no-config"),
        "[profile ci]\nregion = eu-west-1\n",
    )
    .unwrap();
    let out = unconfigured(home.path())
        .args(["plan", EXAMPLES, "--profile", "nope"])
        .output()
        .unwrap();
    let err = one_line(&out, "profile `nope` not found in ");
    assert!(
        err.contains("no-config") && err.contains("no-credentials"),
        "{err}"
    );
    assert!(!err.contains("IMDS"), "{err}");
}

#[test]
fn a_registry_no_repository_can_reach_is_one_line_and_no_plan() {
    let home = tempfile::tempdir().unwrap();
    let file = with_account(home.path());
    let port = ClosedPort::new();
    let out = unconfigured(home.path())
        .env("AWS_ACCESS_KEY_ID", "AKIAFAKE")
        .env("AWS_SECRET_ACCESS_KEY", "fake")
        .args(["plan", file.to_str().unwrap(), "--endpoint-url", &port.url])
        .args(["--max-attempts", "1"])
        .output()
        .unwrap();
    let err = one_line(&out, &format!("could not connect to {} (", port.url));
    assert!(err.contains("in 1 attempt:"), "{err}");
    assert_eq!(text(&out.stdout), "", "no plan of nothing");
}

/// A desired-state file that names its account, so no call is needed to learn it.
fn with_account(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("acct.yaml");
    std::fs::write(
        &file,
        "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nrepositories:\n  a/b:\n    tags: [x]\n  c/d:\n    tags: [y]\n",
    )
    .unwrap();
    file
}
