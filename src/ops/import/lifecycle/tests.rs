//! Tests of the lifecycle policy import: how each kind of rule is written, and the
//! round trip on the in-memory model (the written file validates, and its plan on the
//! same state keeps every image the policy keeps).

use std::collections::BTreeSet;

use chrono::TimeZone;

use super::*;
use crate::model::RepositoryRef;
use crate::ops::import::{ImportRequest, ImportStyle};
use crate::ops::plan::{self as plan_op, PlanRequest};
use crate::ops::{Source, SourceSpec};
use crate::registry::memory::{InMemoryRegistry, StoredImage};
use crate::registry::snapshot::Snapshot;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

fn policy(rules: &[&str]) -> String {
    format!(r#"{{"rules":[{}]}}"#, rules.join(","))
}

fn rule(priority: u32, selection: &str, action: &str) -> String {
    format!(
        r#"{{"rulePriority":{priority},"description":"r{priority}","selection":{selection},"action":{{"type":"{action}"}}}}"#
    )
}

fn written(selection: &str, action: &str) -> Imported {
    let text = policy(&[&rule(1, selection, action)]);
    import(&LifecycleState::Text(text), &[]).unwrap()
}

#[test]
fn each_kind_of_rule_is_written_or_said_why_not() {
    // Expressible: one glob with a count or an age.
    let i = written(
        r#"{"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"imageCountMoreThan","countNumber":3}"#,
        "expire",
    );
    assert_eq!(
        i.entries[0].item,
        [r#"pattern: "release-*""#, "keep_latest: 3"]
    );
    assert!(
        i.entries[0]
            .comment
            .as_ref()
            .unwrap()
            .contains(r#"rule 1 ("r1")"#)
    );
    assert_eq!(i.globs, ["release-*"]);
    let i = written(
        r#"{"tagStatus":"tagged","tagPatternList":["pr-*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14}"#,
        "expire",
    );
    assert_eq!(i.entries[0].item, [r#"pattern: "pr-*""#, "max_age: 14d"]);
    // Every image of a glob expires: no entry, and its tags are not allowed.
    let i = written(
        r#"{"tagStatus":"tagged","tagPatternList":["tmp-*"],"countType":"imageCountMoreThan","countNumber":0}"#,
        "expire",
    );
    assert!(i.entries.is_empty() && i.globs == ["tmp-*"], "{i:?}");
    assert!(i.notes[0].contains("no entry allowing"), "{:?}", i.notes);
    // Every untagged image expires: untagged: delete.
    let i = written(
        r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":0}"#,
        "expire",
    );
    assert!(i.untagged_delete);
    // Not expressible, each with its reason, and nothing allowed or removed for it.
    for (selection, action, why) in [
        (
            r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14}"#,
            "expire",
            "all or none",
        ),
        (
            r#"{"tagStatus":"tagged","tagPatternList":["v*"],"countType":"sinceImagePulled","countUnit":"days","countNumber":30}"#,
            "transition",
            "archives",
        ),
        (
            r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":100}"#,
            "expire",
            "tagStatus any",
        ),
        (
            r#"{"tagStatus":"tagged","tagPatternList":["v*","*-prod"],"countType":"imageCountMoreThan","countNumber":5}"#,
            "expire",
            "several tag filters",
        ),
        (
            r#"{"tagStatus":"tagged","tagPatternList":["v*"],"storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90}"#,
            "expire",
            "archived images",
        ),
    ] {
        let i = written(selection, action);
        assert!(
            i.entries.is_empty() && i.globs.is_empty() && !i.untagged_delete,
            "{selection}: {i:?}"
        );
        assert!(
            i.notes[0].contains("not written") && i.notes[0].contains(why),
            "{selection}: {:?}",
            i.notes
        );
        assert!(i.notes[0].contains(r#"rule 1 ("r1")"#), "{:?}", i.notes);
    }
    // No policy: nothing to write; an unreadable one: said, and every tag allowed.
    assert!(import(&LifecycleState::None, &[]).is_none());
    let i = import(&LifecycleState::Text("{".into()), &[]).unwrap();
    assert!(i.entries.is_empty() && i.notes[0].contains("cannot be read"));
}

fn image(seed: u32, tags: &[&str], days_ago: i64) -> StoredImage {
    let detail = ImageDetail::new(
        Digest::parse(format!("sha256:{seed:064x}")).unwrap(),
        tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
        now() - chrono::Duration::days(days_ago),
    );
    StoredImage::new(detail, Vec::new())
}

/// A policy whose rules interact: an archive rule sees the `v*` images first, so the
/// later count rule on `v1.*` never expires one of them in ECR.
fn policy_and_images() -> (String, Vec<StoredImage>) {
    let text = policy(&[
        &rule(
            1,
            r#"{"tagStatus":"tagged","tagPatternList":["v*"],"countType":"sinceImagePulled","countUnit":"days","countNumber":30}"#,
            "transition",
        ),
        &rule(
            2,
            r#"{"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"imageCountMoreThan","countNumber":2}"#,
            "expire",
        ),
        &rule(
            3,
            r#"{"tagStatus":"tagged","tagPatternList":["pr-*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":7}"#,
            "expire",
        ),
        &rule(
            4,
            r#"{"tagStatus":"tagged","tagPatternList":["v1.*"],"countType":"imageCountMoreThan","countNumber":1}"#,
            "expire",
        ),
        &rule(
            5,
            r#"{"tagStatus":"tagged","tagPatternList":["nightly-*"],"countType":"imageCountMoreThan","countNumber":0}"#,
            "expire",
        ),
        &rule(
            6,
            r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14}"#,
            "expire",
        ),
        &rule(
            7,
            r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":100}"#,
            "expire",
        ),
    ]);
    let images = vec![
        image(1, &["release-1"], 30),
        image(2, &["release-2"], 20),
        image(3, &["release-3"], 10),
        image(4, &["pr-1"], 10),
        image(5, &["pr-2"], 1),
        image(6, &["nightly-1"], 1),
        image(7, &["latest"], 40),
        image(8, &["v1.0"], 50),
        image(9, &["v1.1"], 40),
        image(10, &[], 20),
        image(11, &[], 1),
    ];
    (text, images)
}

#[test]
fn the_written_file_keeps_every_image_the_policy_keeps() {
    let (text, images) = policy_and_images();
    let repo = RepositoryRef::for_tests();
    let registry = InMemoryRegistry::new();
    registry.load_images(&repo, images.clone());
    registry.set_lifecycle_policy(&repo, Some(text.clone()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.json");
    let snapshot = Snapshot::from_registry(&registry, Some(now()));
    std::fs::write(&path, serde_json::to_vec(&snapshot).unwrap()).unwrap();
    let source = Source::open(&SourceSpec {
        snapshot: Some(path),
        parallelism: 2,
        ..SourceSpec::default()
    })
    .unwrap();
    let request = ImportRequest {
        patterns: Vec::new(),
        style: ImportStyle::Exact,
        account: None,
        public: None,
        keep_versions: 10,
        keep_builds: 10,
        build_max_age: "30d".into(),
        schema: "./ecr-reconcile.schema.json".into(),
        now: Some(now()),
    };
    let outcome = crate::ops::import::import(&source, &request).unwrap();
    let yaml = &outcome.yaml;
    for written in [
        "pattern: \"release-*\"\n        keep_latest: 2",
        "pattern: \"pr-*\"\n        max_age: 7d",
        "pattern: \"v1.*\"\n        keep_latest: 1",
        "- \"latest\"",
        // Seen first by the archive rule in ECR: kept there, so allowed as it is.
        "- \"v1.0\"",
        "untagged: keep",
    ] {
        assert!(yaml.contains(written), "{written:?} not in\n{yaml}");
    }
    assert!(!yaml.contains("nightly-1"), "{yaml}");
    for rule in ["rule 1", "rule 5", "rule 6", "rule 7"] {
        assert!(
            yaml.lines()
                .any(|l| l.trim_start().starts_with('#') && l.contains(rule)),
            "{rule} is not said:\n{yaml}"
        );
    }
    assert!(yaml.contains("seen first by rule 1"), "{yaml}");

    // The plan of the written file, on the same state, keeps what the policy keeps.
    let desired = crate::config::load_sources(vec![("import.yaml".into(), yaml.clone().into())])
        .unwrap_or_else(|e| panic!("{:?}\n{yaml}", e.diagnostics));
    let plan = plan_op::plan(
        &source,
        &desired,
        &PlanRequest {
            now: Some(now()),
            ..PlanRequest::default()
        },
    )
    .unwrap()
    .plan;
    let deleted: BTreeSet<&Digest> = plan.repositories[0]
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Delete)
        .map(|a| &a.digest)
        .collect();
    let details: Vec<ImageDetail> = images.iter().map(|i| i.detail.clone()).collect();
    let policy = lifecycle::parse(&text).unwrap();
    let expired: BTreeSet<&Digest> = lifecycle::evaluate(&policy, &details, now())
        .iter()
        .filter(|m| policy.rules[m.rule].action == RuleAction::Expire)
        .map(|m| &details[m.image].digest)
        .collect();
    for d in &details {
        if !expired.contains(&d.digest) {
            assert!(
                !deleted.contains(&d.digest),
                "{:?} is kept by the policy\n{yaml}",
                d.tags
            );
        }
    }
    // And it removes what the policy expires and the allow-list can say: the oldest
    // release, the old pull request and the nightly build.
    let seeds = |n: &[u32]| -> BTreeSet<Digest> {
        n.iter()
            .map(|s| Digest::parse(format!("sha256:{s:064x}")).unwrap())
            .collect()
    };
    assert_eq!(
        deleted.into_iter().cloned().collect::<BTreeSet<_>>(),
        seeds(&[1, 4, 6])
    );
}
