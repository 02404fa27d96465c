//! `ecr-reconcile explain`: why the plan keeps, untags or deletes one image, through
//! the binary and the library, on the bundled example.

use std::path::PathBuf;
use std::process::Output;

use ecr_reconcile::ops::explain::{ExplainRequest, ImageKey, ImageQuery, explain};
use ecr_reconcile::ops::{Source, SourceSpec};
use ecr_reconcile::plan::ActionKind;
use ecr_reconcile::plan::explain::{Effect, Outcome};

const EXAMPLES: &str = "examples/desired";
const SNAPSHOT: &str = "examples/snapshot.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    let mut cmd = crate::common::hermetic();
    cmd.current_dir(root()).args(args);
    cmd.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn an_untagged_release_says_which_entry_keeps_it_and_what_goes() {
    let out = run(&[
        "explain",
        "payments/api:v1.0.0",
        "--snapshot",
        SNAPSHOT,
        EXAMPLES,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("explain_untag_human", text(&out.stdout));
}

#[test]
fn a_pull_request_build_shows_its_rank_and_age_in_json() {
    let out = run(&[
        "explain",
        "payments/api:pr-835",
        "--snapshot",
        SNAPSHOT,
        EXAMPLES,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"]["outcome"], "kept");
    let rule = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "allow-list pattern `pr-*`")
        .unwrap();
    assert_eq!(rule["effect"], "keeps");
    assert!(
        rule["detail"]
            .as_str()
            .unwrap()
            .contains("keep_latest 5: newest-push rank 5 of 40 matching images, within"),
        "{rule}"
    );
    insta::assert_json_snapshot!("explain_pr_json", json);
}

#[test]
fn what_is_not_there_is_one_line_and_exit_1() {
    let out = run(&[
        "explain",
        "payments/api:v1.38",
        "--snapshot",
        SNAPSHOT,
        EXAMPLES,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: payments/api (123456789012/eu-west-1) has no image tagged `v1.38` (did you mean `v1.3.8`?)\n"
    );
    let out = run(&[
        "explain",
        "payments/apii:v1",
        "--snapshot",
        SNAPSHOT,
        EXAMPLES,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: no declared repository is named `payments/apii`")
    );
    let out = run(&[
        "explain",
        "payments/api@sha256:12",
        "--snapshot",
        SNAPSHOT,
        EXAMPLES,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("REPOSITORY[:TAG|@DIGEST]"),
        "{}",
        text(&out.stderr)
    );
}

/// For every image of the example, the verdict is what the plan does with it, and a
/// step keeps it exactly when it stays.
#[test]
fn every_image_of_the_example_is_explained_as_the_plan_decides() {
    let source = Source::open(&SourceSpec {
        snapshot: Some(root().join(SNAPSHOT)),
        parallelism: 4,
        max_attempts: 1,
        ..SourceSpec::default()
    })
    .unwrap();
    let desired = ecr_reconcile::config::load(&[root().join(EXAMPLES)]).unwrap();
    let plan = ecr_reconcile::ops::plan::plan(&source, &desired, &Default::default())
        .unwrap()
        .plan;
    let snap = ecr_reconcile::registry::snapshot::read(&root().join(SNAPSHOT)).unwrap();
    let mut explained = 0;
    for repo in &snap.registries[0].repositories {
        let Some(planned) = plan
            .repositories
            .iter()
            .find(|r| r.repository.name == repo.name)
        else {
            continue;
        };
        for img in &repo.images {
            let request = ExplainRequest {
                query: ImageQuery {
                    repository: repo.name.to_string(),
                    image: ImageKey::Digest(img.digest.clone()),
                },
                now: None,
                allow_empty: false,
            };
            let e = explain(&source, &desired, &request).unwrap();
            let action = planned.actions.iter().find(|a| a.digest == img.digest);
            let expected = match action.map(|a| a.kind) {
                Some(ActionKind::Delete) => Outcome::Deleted,
                Some(ActionKind::Untag) => Outcome::Untagged,
                Some(ActionKind::Archive) => Outcome::Archived,
                Some(ActionKind::Reactivate) => Outcome::Reactivated,
                None => Outcome::Kept,
            };
            assert_eq!(e.verdict.outcome, expected, "{}: {e:#?}", img.digest);
            let keeps = e.steps.iter().any(|s| s.effect == Effect::Keeps);
            assert_eq!(
                keeps,
                expected != Outcome::Deleted,
                "{}: {e:#?}",
                img.digest
            );
            explained += 1;
        }
    }
    assert!(explained > 200, "{explained}");
}
