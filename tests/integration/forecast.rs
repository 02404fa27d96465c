//! `plan --forecast`: what the same files would remove as the clock moves on, through
//! the binary, in each format, on a fixture where nothing goes today.

use std::path::PathBuf;
use std::process::Output;

const FIXTURE: &str = "tests/fixtures/forecast";
const SNAPSHOT: &str = "tests/fixtures/forecast/snapshot.json";

fn run(args: &[&str]) -> Output {
    let mut cmd = crate::common::hermetic();
    cmd.current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .args(args);
    cmd.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_no_op_plan_says_in_its_comment_what_expires_within_the_horizon() {
    let out = run(&[
        "plan",
        "--snapshot",
        SNAPSHOT,
        FIXTURE,
        "--forecast",
        "7d",
        "--format",
        "markdown",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(
        md.contains("**No changes. 1 repository unchanged.**\n\n**5 tags (5 images deleted) expire within 7 days.**"),
        "{md}"
    );
    insta::assert_snapshot!("forecast_markdown", md);
}

#[test]
fn the_human_forecast_lists_each_day_and_says_no_push_is_simulated() {
    let out = run(&["plan", "--snapshot", SNAPSHOT, FIXTURE, "--forecast", "7d"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("forecast_human", text(&out.stdout));
}

#[test]
fn the_json_forecast_is_in_the_plan_document_and_a_shorter_horizon_sees_less() {
    let json = |horizon: &str| -> serde_json::Value {
        let out = run(&[
            "plan",
            "--snapshot",
            SNAPSHOT,
            FIXTURE,
            "--forecast",
            horizon,
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let week = json("7d");
    let f = &week["forecast"];
    assert_eq!(f["horizon"], "7d");
    assert_eq!(f["until"], "2026-11-27T12:00:00Z");
    assert_eq!(f["pushes_simulated"], false);
    let steps = f["repositories"][0]["steps"].as_array().unwrap();
    let days: Vec<u64> = steps.iter().map(|s| s["day"].as_u64().unwrap()).collect();
    assert_eq!(days, [1, 2, 3, 4, 7]);
    assert_eq!(steps[0]["actions"][0]["tags"][0], "main-1");
    // pulled_within expires too: pr-7, last pulled 2026-11-19, on day 2.
    assert_eq!(steps[1]["actions"][0]["tags"][0], "pr-7");
    let short = json("36h");
    let steps = short["forecast"]["repositories"][0]["steps"]
        .as_array()
        .unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(short["forecast"]["until"], "2026-11-22T00:00:00Z");
    // Without the flag, no forecast at all.
    let out = run(&["plan", "--snapshot", SNAPSHOT, FIXTURE, "--format", "json"]);
    let plain: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plain.get("forecast").is_none());
}

#[test]
fn a_horizon_that_is_no_duration_or_too_long_is_a_usage_error() {
    for bad in ["7", "0d", "400d"] {
        let out = run(&["plan", "--snapshot", SNAPSHOT, FIXTURE, "--forecast", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(
            text(&out.stderr).contains("--forecast"),
            "{bad}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "");
    }
}
