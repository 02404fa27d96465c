//! `ecr-reconcile test`: the test files of a desired state, end to end through the
//! binary. It never calls AWS: every endpoint points at a closed port, with
//! credentials and a region set, and the cases still run.

use std::path::PathBuf;
use std::process::Output;

use testkit::ClosedPort;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const FAILING: &str = "tests/fixtures/test/failing";

/// The binary in the checkout, every AWS endpoint at `closed`, with credentials and
/// a region, so that any call it made would be tried (and fail).
fn run(args: &[&str], closed: &ClosedPort, envs: &[(&str, &str)]) -> Output {
    let mut cmd = crate::common::hermetic();
    cmd.current_dir(root())
        .args(args)
        .env("AWS_ENDPOINT_URL", &closed.url)
        .env("AWS_ENDPOINT_URL_ECR", &closed.url)
        .env("AWS_ENDPOINT_URL_ECS", &closed.url)
        .env("AWS_ENDPOINT_URL_LAMBDA", &closed.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_examples_pass_without_any_aws_call() {
    let closed = ClosedPort::new();
    let out = run(&["test", "examples/desired"], &closed, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let stdout = text(&out.stdout);
    assert!(stdout.ends_with("\n2 passed, 0 failed\n"), "{stdout}");
    // The same files planned against that endpoint do try it, and fail: the
    // endpoint is what `test` would have reached.
    let plan = run(&["plan", "examples/desired"], &closed, &[]);
    assert_eq!(plan.status.code(), Some(1));
    assert!(
        text(&plan.stderr).contains("error"),
        "{}",
        text(&plan.stderr)
    );
}

#[test]
fn a_failing_case_shows_what_differs_and_exits_1() {
    let closed = ClosedPort::new();
    let out = run(&["test", FAILING], &closed, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    insta::assert_snapshot!("test_failing", text(&out.stdout));
}

#[test]
fn junit_and_github_annotations_point_at_the_failed_case() {
    let closed = ClosedPort::new();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let out = run(
        &["test", FAILING, "--junit", junit.to_str().unwrap()],
        &closed,
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let annotations: Vec<&str> = stderr.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 1, "{stderr}");
    assert!(
        annotations[0].starts_with(
            "::error file=tests/fixtures/test/failing/app.test.yaml,line=21,col=5,title=ecr-reconcile test::case `the three newest stay (wrong: keep_latest is 2)` failed%0A"
        ),
        "{stderr}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    insta::assert_snapshot!("test_failing_junit", xml);
}

#[test]
fn an_invalid_test_file_stops_in_one_line_at_its_position() {
    let closed = ClosedPort::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join(FAILING).join("app.yaml"),
        dir.path().join("app.yaml"),
    )
    .unwrap();
    let case = std::fs::read_to_string(root().join(FAILING).join("app.test.yaml"))
        .unwrap()
        .replacen(
            "        kept: [v1, pr-2, pr-3]",
            "        kep: [v1, pr-2, pr-3]",
            1,
        );
    let file = dir.path().join("app.test.yaml");
    std::fs::write(&file, case).unwrap();
    let out = run(&["test", file.to_str().unwrap()], &closed, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "", "no case runs");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: {}:17:9: unknown field `kep`",
            file.display()
        )),
        "{stderr}"
    );
}
