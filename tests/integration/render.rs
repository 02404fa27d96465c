//! Snapshot tests of the three renderings of the example plan, and checks that the
//! JSON rendering is the documented, schema-valid plan document.
//!
//! Paths are relative to the crate root, where cargo runs integration tests (the
//! process's directory is left alone: other tests run in the same process), so the
//! rendered plans and their snapshots do not depend on where the checkout lives.

use std::path::Path;

use ecr_reconcile::config;
use ecr_reconcile::model::Region;
use ecr_reconcile::ops::run::{RunSettings, make_plan};
use ecr_reconcile::plan::{Plan, PlanOptions};
use ecr_reconcile::registry::snapshot;
use ecr_reconcile::render::{Format, render};
use ecr_reconcile::schema::{SchemaKind, json as schema_json};

fn example_plan() -> Plan {
    let desired = config::load(&["examples/desired".into()]).unwrap();
    let snap = snapshot::read(Path::new("examples/snapshot.json")).unwrap();
    let settings = RunSettings {
        default_region: Some(Region::parse("eu-west-1").unwrap()),
        now: snap.generated_at.unwrap(),
        options: PlanOptions::default(),
        parallelism: 4,
        source_label: "snapshot:examples/snapshot.json".into(),
    };
    let registry = snap.into_registry();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut plan = rt
        .block_on(make_plan(&registry, &desired, &settings))
        .unwrap();
    plan.api_calls = registry.calls();
    plan
}

fn rendered(plan: &Plan, format: Format) -> String {
    let mut out = Vec::new();
    render(plan, format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn human() {
    let text = rendered(&example_plan(), Format::Human);
    assert!(
        text.contains('\u{1b}'),
        "human output carries styles; the stream strips them"
    );
    let plain = anstream::adapter::strip_str(&text).to_string();
    assert!(plain.contains("  - delete "));
    assert!(plain.contains("  ~ untag "));
    assert!(plain.contains("warning[plan::tag-not-found]"));
    assert!(plain.contains("examples/desired/payments.yaml:13:9"));
    assert!(plain.lines().last().unwrap().starts_with("Plan: "));
    insta::assert_snapshot!("human", plain);
}

#[test]
fn markdown() {
    let text = rendered(&example_plan(), Format::Markdown);
    assert!(!text.contains('\u{1b}'));
    let first_lines: Vec<&str> = text.lines().take(3).collect();
    assert!(
        first_lines[2].starts_with("**Plan: "),
        "summary first: {first_lines:?}"
    );
    assert!(text.contains("<details><summary>"));
    insta::assert_snapshot!("markdown", text);
}

#[test]
fn json_is_the_schema_valid_plan_document() {
    let plan = example_plan();
    let text = rendered(&plan, Format::Json);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_json(SchemaKind::Plan)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // It reads back as the same plan.
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
    assert_eq!(value["summary"]["repositories_refused"], 1);
    // One DescribeImages page per declared repository (the missing one included), one
    // BatchGetImage per repository with indexes (under 100 each), no deletes.
    assert_eq!(value["api_calls"]["describe_images"], 6);
    assert_eq!(value["api_calls"]["batch_get_image"], 2);
    assert_eq!(value["api_calls"]["batch_delete_image"], 0);
    insta::assert_snapshot!("json", text);
}

#[test]
fn markdown_stays_bounded_for_huge_plans() {
    let mut plan = example_plan();
    let repo = plan
        .repositories
        .iter_mut()
        .find(|r| r.actions.len() > 50)
        .unwrap();
    let one = repo.actions[0].clone();
    repo.actions = vec![one; 5_000];
    let text = rendered(&plan, Format::Markdown);
    assert!(text.contains("… and 4800 more"));
    assert!(text.len() < 60_000, "{} bytes", text.len());
}
