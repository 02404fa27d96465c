use super::*;
use crate::config::load_sources;
use crate::model::{AccountId, Region, RegistryLocation, RepositoryName};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn digest(n: u8) -> Digest {
    Digest::parse(format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
}

fn setup(untagged: &str) -> (DesiredRepository, ObservedRepository) {
    let yaml = format!(
        "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nrepositories:\n  team/app:\n    tags:\n      - v1\n      - pattern: \"pr-*\"\n        keep_latest: 2\n        max_age: 10d\n    untagged: {untagged}\n"
    );
    let desired = load_sources(vec![("t.yaml".into(), yaml.into_bytes())])
        .unwrap()
        .repositories
        .remove(0);
    let image = |n: u8, tags: &[&str], pushed: &str| {
        ImageDetail::new(
            digest(n),
            tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
            at(pushed),
        )
    };
    let mut children = std::collections::HashMap::new();
    children.insert(digest(1), vec![digest(5)]);
    let observed = ObservedRepository {
        children,
        ..ObservedRepository::listed(
            RepositoryRef {
                registry: RegistryLocation::private(
                    AccountId::parse("123456789012").unwrap(),
                    Region::parse("eu-west-1").unwrap(),
                ),
                name: RepositoryName::parse("team/app").unwrap(),
            },
            vec![
                image(1, &["v1"], "2026-11-01T00:00:00Z"),
                image(2, &["pr-1"], "2026-11-15T00:00:00Z"),
                image(3, &["pr-2", "extra"], "2026-11-16T00:00:00Z"),
                image(4, &["pr-3"], "2026-11-17T00:00:00Z"),
                image(5, &[], "2026-11-01T00:00:00Z"),
                image(6, &[], "2026-11-02T00:00:00Z"),
            ],
        )
    };
    (desired, observed)
}

fn explain(untagged: &str, n: u8) -> Explanation {
    let (desired, observed) = setup(untagged);
    explain_image(
        &desired,
        &observed,
        at("2026-11-20T00:00:00Z"),
        PlanOptions::default(),
        &[],
        &digest(n),
    )
    .unwrap()
}

#[test]
fn a_build_beyond_keep_latest_is_deleted_with_its_rank() {
    let e = explain("delete", 2);
    assert_eq!(e.verdict.outcome, Outcome::Deleted);
    let rule = &e.steps[1];
    assert_eq!(rule.source, "allow-list pattern `pr-*`");
    assert_eq!(rule.effect, Effect::DoesNotKeep);
    assert_eq!(
        rule.detail,
        "matches pr-1; keep_latest 2: newest-push rank 3 of 3 matching images, beyond the limit; max_age 10d: pushed 5d ago, within"
    );
    assert_eq!(rule.location.as_ref().unwrap().line, 9);
    assert_eq!(e.steps[0].effect, Effect::NoMatch);
    assert!(
        e.steps[0]
            .detail
            .contains("matches none of its tags (pr-1)")
    );
}

#[test]
fn a_kept_build_loses_the_tag_no_entry_allows() {
    let e = explain("delete", 3);
    assert_eq!(e.verdict.outcome, Outcome::Untagged);
    assert_eq!(e.verdict.tags_removed, vec![Tag::parse("extra").unwrap()]);
    assert_eq!(e.steps[1].effect, Effect::Keeps);
    assert!(
        e.steps[1]
            .detail
            .contains("rank 2 of 3 matching images, within"),
        "{:?}",
        e.steps[1]
    );
}

#[test]
fn an_untagged_child_of_a_kept_index_stays_and_says_why() {
    let e = explain("delete", 5);
    assert_eq!(e.verdict.outcome, Outcome::Kept);
    let sources: Vec<(&str, Effect)> = e
        .steps
        .iter()
        .map(|s| (s.source.as_str(), s.effect))
        .collect();
    assert_eq!(
        sources,
        [
            ("allow-list tag `v1`", Effect::NoMatch),
            ("allow-list pattern `pr-*`", Effect::NoMatch),
            ("index", Effect::Keeps),
            ("untagged", Effect::DoesNotKeep),
        ]
    );
    // An untagged image nothing needs: deleted under `untagged: delete`, kept under
    // the default.
    assert_eq!(explain("delete", 6).verdict.outcome, Outcome::Deleted);
    let kept = explain("keep", 6);
    assert_eq!(kept.verdict.outcome, Outcome::Kept);
    assert_eq!(kept.steps.last().unwrap().effect, Effect::Keeps);
}

#[test]
fn the_trace_agrees_with_the_plan_for_every_image() {
    for untagged in ["keep", "delete"] {
        for n in 1..=6 {
            let e = explain(untagged, n);
            let keeps = e.steps.iter().any(|s| s.effect == Effect::Keeps);
            assert_eq!(
                keeps,
                e.verdict.outcome != Outcome::Deleted,
                "{untagged} image {n}: {e:#?}"
            );
        }
    }
}

#[test]
fn an_image_in_use_names_where_and_is_kept_with_its_tag() {
    use crate::in_use::{ImageRef, ImageUse, SourceKind, UseSite};
    let (desired, observed) = setup("delete");
    let uses = [ImageUse {
        image: ImageRef {
            repository: observed.reference.clone(),
            tag: Some(Tag::parse("pr-1").unwrap()),
            digest: None,
            implicit_latest: false,
        },
        site: UseSite {
            account: None,
            source: SourceKind::File,
            file: Some("deploy/app.yaml".into()),
            line: Some(12),
            pod: None,
            container: None,
            region: None,
            cluster: None,
            resource: None,
            reference: "team/app:pr-1".into(),
        },
    }];
    let e = explain_image(
        &desired,
        &observed,
        at("2026-11-20T00:00:00Z"),
        PlanOptions::default(),
        &uses,
        &digest(2),
    )
    .unwrap();
    assert_eq!(e.verdict.outcome, Outcome::Kept);
    // The rule alone would not keep it; the use does.
    assert_eq!(e.steps[1].effect, Effect::DoesNotKeep);
    let used = e.steps.iter().find(|s| s.source == "in use").unwrap();
    assert_eq!(used.effect, Effect::Keeps);
    assert_eq!(used.detail, "named by deploy/app.yaml:12");
    assert_eq!(used.tags, vec![Tag::parse("pr-1").unwrap()]);
}

#[test]
fn a_lifecycle_rule_that_would_expire_the_image_is_a_note_of_its_explanation() {
    let (desired, mut observed) = setup("delete");
    observed.lifecycle = crate::registry::LifecycleState::Text(
        r#"{"rules": [{"rulePriority": 1, "description": "old releases", "selection": {"tagStatus": "tagged", "tagPatternList": ["v*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}, "action": {"type": "expire"}}]}"#.into(),
    );
    let e = explain_image(
        &desired,
        &observed,
        at("2026-11-20T00:00:00Z"),
        PlanOptions::default(),
        &[],
        &digest(1),
    )
    .unwrap();
    assert_eq!(e.verdict.outcome, Outcome::Kept);
    let note = e
        .steps
        .iter()
        .find(|s| s.source == "warning plan::lifecycle-conflict")
        .unwrap_or_else(|| panic!("{:#?}", e.steps));
    assert_eq!(note.effect, Effect::Note);
    assert!(
        note.detail
            .contains("ECR lifecycle rule 1 (\"old releases\") would expire"),
        "{}",
        note.detail
    );
}
