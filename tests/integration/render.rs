//! Snapshot tests of the three renderings of the example plan, and checks that the
//! JSON rendering is the documented, schema-valid plan document.
//!
//! Paths are relative to the crate root, where cargo runs integration tests (the
//! process's directory is left alone: other tests run in the same process), so the
//! rendered plans and their snapshots do not depend on where the checkout lives.

use std::path::Path;

use ecr_reconcile::config;
use ecr_reconcile::model::Region;
use ecr_reconcile::ops::plan::PlanOutcome;
use ecr_reconcile::ops::run::{RunSettings, make_plan};
use ecr_reconcile::registry::snapshot;
use ecr_reconcile::render::{Format, render};
use ecr_reconcile::schema::{SchemaKind, json as schema_json};

fn example_plan() -> PlanOutcome {
    let desired = config::load(&["examples/desired".into()]).unwrap();
    let snap = snapshot::read(Path::new("examples/snapshot.json")).unwrap();
    plan_of(
        snap,
        &desired,
        Some(Region::parse("eu-west-1").unwrap()),
        "snapshot:examples/snapshot.json",
    )
}

/// The plan of `desired` against `snap`, at the snapshot's instant, with its calls.
fn plan_of(
    snap: snapshot::Snapshot,
    desired: &config::DesiredState,
    default_region: Option<Region>,
    label: &str,
) -> PlanOutcome {
    let settings = RunSettings {
        source_label: label.into(),
        ..RunSettings::offline(default_region, snap.generated_at.unwrap(), 4)
    };
    let registry = snap.into_registry();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let plan = rt
        .block_on(make_plan(&registry, desired, &settings))
        .unwrap();
    PlanOutcome::new(plan, registry.calls(), Default::default())
}

fn rendered(plan: &PlanOutcome, format: Format) -> String {
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
    let back: PlanOutcome = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
    assert_eq!(value["summary"]["repositories_refused"], 1);
    // One DescribeImages page per declared repository (the missing one included), one
    // BatchGetImage per repository with indexes (under 100 each) and one per 100 other
    // images (for the bytes freed: 131 in payments/api, under 100 in the four others),
    // no deletes.
    assert_eq!(value["api_calls"]["describe_images"], 6);
    assert_eq!(value["api_calls"]["batch_get_image"], 2 + 6);
    assert_eq!(value["api_calls"]["batch_delete_image"], 0);
    insta::assert_snapshot!("json", text);
}

#[test]
fn markdown_stays_bounded_for_huge_plans() {
    let mut plan = example_plan();
    let repo = plan
        .plan
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

/// A plan of one repository holding an archived image (archived 10 days before the
/// snapshot, last pulled before that), an archived index whose manifest cannot be
/// read, and an active image that stays.
fn archive_plan() -> PlanOutcome {
    let digest = |n: u32| format!("sha256:{}", format!("{n:x}").repeat(64));
    let snapshot_text = format!(
        r#"{{"version":1,"generated_at":"2026-11-20T12:00:00Z","registries":[{{"account":"123456789012","region":"eu-west-1","repositories":[{{"name":"team/app","images":[
            {{"digest":"{}","tags":["old"],"pushed_at":"2026-01-01T00:00:00Z","size_bytes":2048,"status":"archived","last_archived_at":"2026-11-10T08:00:00Z","last_recorded_pull_time":"2026-03-02T09:30:00Z"}},
            {{"digest":"{}","tags":["old-list"],"pushed_at":"2026-01-01T00:00:00Z","manifest_media_type":"application/vnd.oci.image.index.v1+json","status":"archived","last_archived_at":"2026-01-10T08:00:00Z"}},
            {{"digest":"{}","tags":["v1"],"pushed_at":"2026-11-01T00:00:00Z","status":"active","last_recorded_pull_time":"2026-11-19T07:00:00Z"}}
        ]}}]}}]}}"#,
        digest(1),
        digest(2),
        digest(3)
    );
    let snap = snapshot::parse("archive.json", snapshot_text.as_bytes()).unwrap();
    let desired = config::load_sources(vec![(
        "team.yaml".into(),
        b"version: 1\nrepositories:\n  team/app:\n    tags: [v1]\n".to_vec(),
    )])
    .unwrap();
    let settings = RunSettings {
        source_label: "snapshot:archive.json".into(),
        ..RunSettings::offline(
            Some(Region::parse("eu-west-1").unwrap()),
            snap.generated_at.unwrap(),
            1,
        )
    };
    let registry = snap.into_registry();
    let plan = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(make_plan(&registry, &desired, &settings))
        .unwrap();
    // The calls are not counted here: the document carries them as zeros.
    PlanOutcome::new(plan, Default::default(), Default::default())
}

#[test]
fn archived_images_and_last_pulls_show_in_every_rendering() {
    let plan = archive_plan();
    let old = "archived 2026-11-10, last pulled 2026-03-02 09:30";
    let billed = "deleting it now is billed for the 80 days left of the archive's 90-day minimum";
    let unreadable = "the manifest of index sha256:222222222222 (archived) cannot be read";
    let human = anstream::adapter::strip_str(&rendered(&plan, Format::Human)).to_string();
    let markdown = rendered(&plan, Format::Markdown);
    for (format, text) in [("human", &human), ("markdown", &markdown)] {
        assert!(text.contains(old), "{format}:\n{text}");
        assert!(text.contains("archived 2026-01-10"), "{format}:\n{text}");
        assert!(text.contains(billed), "{format}:\n{text}");
        assert!(text.contains(unreadable), "{format}:\n{text}");
        assert!(
            text.contains("plan::archive-minimum-charge"),
            "{format}:\n{text}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&rendered(&plan, Format::Json)).unwrap();
    let actions = &json["repositories"][0]["actions"];
    let old_action = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tags"][0] == "old")
        .unwrap();
    assert_eq!(old_action["status"], "archived");
    assert_eq!(old_action["last_archived_at"], "2026-11-10T08:00:00Z");
    assert_eq!(
        old_action["last_recorded_pull_time"],
        "2026-03-02T09:30:00Z"
    );
    let codes: Vec<&str> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"archive-minimum-charge"), "{codes:?}");
    assert!(codes.contains(&"index-unreadable"), "{codes:?}");
    // The deleted archived index goes first, before what it may reference.
    let wave = |tag: &str| {
        actions
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["tags"][0] == tag)
            .unwrap()["wave"]
            .as_u64()
            .unwrap()
    };
    assert!(wave("old-list") < wave("old"), "{actions:#}");
    let schema: serde_json::Value = serde_json::from_str(&schema_json(SchemaKind::Plan)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&json));
}

/// A plan of one run over a private repository and an ECR Public repository of the
/// same name, from a snapshot holding both registries.
fn mixed_plan() -> PlanOutcome {
    let digest = |n: u32| format!("sha256:{}", format!("{n:x}").repeat(64));
    let images = |a: u32, b: u32| {
        format!(
            r#"[{{"digest":"{}","tags":["v1"],"pushed_at":"2026-01-01T00:00:00Z","size_bytes":2048}},
                {{"digest":"{}","tags":["old"],"pushed_at":"2026-01-02T00:00:00Z","size_bytes":1024}}]"#,
            digest(a),
            digest(b)
        )
    };
    let snapshot_text = format!(
        r#"{{"version":1,"generated_at":"2026-11-20T12:00:00Z","registries":[
            {{"account":"123456789012","region":"eu-west-1","repositories":[{{"name":"tools/cli","images":{}}}]}},
            {{"account":"123456789012","public_alias":"my-org","repositories":[{{"name":"tools/cli","images":{}}}]}}]}}"#,
        images(1, 2),
        images(3, 4)
    );
    let snap = snapshot::parse("mixed.json", snapshot_text.as_bytes()).unwrap();
    let desired = config::load_sources(vec![
        (
            "private.yaml".into(),
            b"version: 1\nregistry:\n  region: eu-west-1\nrepositories:\n  tools/cli:\n    tags: [v1]\n"
                .to_vec(),
        ),
        (
            "public.yaml".into(),
            b"version: 1\nregistry:\n  public: my-org\nrepositories:\n  tools/cli:\n    tags: [v1]\n"
                .to_vec(),
        ),
    ])
    .unwrap();
    plan_of(snap, &desired, None, "snapshot:mixed.json")
}

#[test]
fn a_mixed_plan_names_each_registry_and_is_a_schema_valid_document() {
    let plan = mixed_plan();
    let plain = anstream::adapter::strip_str(&rendered(&plan, Format::Human)).to_string();
    assert!(plain.contains("# tools/cli (123456789012/eu-west-1, declared at private.yaml:5:3)"));
    assert!(plain.contains("# tools/cli (public.ecr.aws/my-org, declared at public.yaml:5:3)"));
    insta::assert_snapshot!("mixed_human", plain);
    insta::assert_snapshot!("mixed_markdown", rendered(&plan, Format::Markdown));

    let text = rendered(&plan, Format::Json);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_json(SchemaKind::Plan)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let back: PlanOutcome = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
    assert_eq!(
        value["repositories"][1]["repository"],
        serde_json::json!({"account": "123456789012", "public_alias": "my-org", "name": "tools/cli"})
    );
    assert_eq!(value["api_calls"]["describe_images"], 1);
    assert_eq!(value["api_calls"]["ecr_public"]["describe_images"], 1);
    // Both registries' repository in a schema-invalid form is refused by the schema.
    let mut both = value.clone();
    both["repositories"][1]["repository"]["region"] = "eu-west-1".into();
    assert!(!validator.is_valid(&both));
}
