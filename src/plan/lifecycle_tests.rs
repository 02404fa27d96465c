//! The evaluator against the examples of ECR's user guide ("Examples of lifecycle
//! policies in Amazon ECR"), each with the outcome the guide gives, and one test per
//! rule type.

use super::*;
use crate::model::{Digest, Tag};

fn now() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

/// An image named `name` (its digest is derived from it), with `tags`, pushed
/// `age` ago.
fn image(name: &str, tags: &[&str], age: Duration) -> ImageDetail {
    let digest = Digest::parse(&crate::hash::sha256(name.as_bytes())).unwrap();
    let tags = tags.iter().map(|t| Tag::parse(*t).unwrap()).collect();
    ImageDetail::new(digest, tags, now() - age)
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// The names of the images `policy` marks, in image order.
fn expired(policy: &str, images: &[(&str, ImageDetail)]) -> Vec<String> {
    let policy = parse(policy).unwrap();
    let details: Vec<ImageDetail> = images.iter().map(|(_, i)| i.clone()).collect();
    evaluate(&policy, &details, now())
        .into_iter()
        .map(|m| images[m.image].0.to_owned())
        .collect()
}

fn rule(priority: u32, selection: &str, action: &str) -> String {
    format!(
        r#"{{"rulePriority": {priority}, "description": "Rule {priority}", "selection": {{{selection}}}, "action": {{"type": "{action}"}}}}"#
    )
}

fn policy(rules: &[String]) -> String {
    format!(r#"{{"rules": [{}]}}"#, rules.join(","))
}

fn named(images: Vec<(&'static str, &[&str], Duration)>) -> Vec<(&'static str, ImageDetail)> {
    images
        .into_iter()
        .map(|(n, tags, age)| (n, image(n, tags, age)))
        .collect()
}

#[test]
fn guide_filtering_on_multiple_rules_example_a() {
    let images = named(vec![
        ("A", &["beta-1", "prod-1"], days(10)),
        ("B", &["beta-2", "prod-2"], days(9)),
        ("C", &["beta-3"], days(8)),
    ]);
    let p = policy(&[
        rule(
            1,
            r#""tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "imageCountMoreThan", "countNumber": 1"#,
            "expire",
        ),
        rule(
            2,
            r#""tagStatus": "tagged", "tagPatternList": ["beta*"], "countType": "imageCountMoreThan", "countNumber": 1"#,
            "expire",
        ),
    ]);
    assert_eq!(expired(&p, &images), ["A"]);
}

#[test]
fn guide_filtering_on_multiple_rules_example_b() {
    let images = named(vec![
        ("A", &["beta-1", "prod-1"], days(10)),
        ("B", &["beta-2", "prod-2"], days(9)),
        ("C", &["beta-3"], days(8)),
    ]);
    let p = policy(&[
        rule(
            1,
            r#""tagStatus": "tagged", "tagPatternList": ["beta*"], "countType": "imageCountMoreThan", "countNumber": 1"#,
            "expire",
        ),
        rule(
            2,
            r#""tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "imageCountMoreThan", "countNumber": 1"#,
            "expire",
        ),
    ]);
    assert_eq!(expired(&p, &images), ["A", "B"]);
}

#[test]
fn guide_multiple_tags_in_a_single_rule_example_a() {
    let images = named(vec![
        ("A", &["alpha-1"], days(12)),
        ("B", &["beta-1"], days(11)),
        ("C", &["alpha-2", "beta-2"], days(10)),
        ("D", &["alpha-3"], days(4)),
        ("E", &["beta-3"], days(3)),
        ("F", &["alpha-4", "beta-4"], days(2)),
    ]);
    let p = policy(&[rule(
        1,
        r#""tagStatus": "tagged", "tagPatternList": ["alpha*", "beta*"], "countType": "sinceImagePushed", "countNumber": 5, "countUnit": "days""#,
        "expire",
    )]);
    assert_eq!(expired(&p, &images), ["C"]);
}

#[test]
fn guide_multiple_tags_in_a_single_rule_example_b() {
    let images = named(vec![
        ("A", &["alpha-1", "beta-1", "gamma-1"], days(10)),
        ("B", &["alpha-2", "beta-2"], days(9)),
        ("C", &["alpha-3", "beta-3", "gamma-2"], days(8)),
    ]);
    let p = policy(&[rule(
        1,
        r#""tagStatus": "tagged", "tagPatternList": ["alpha*", "beta*"], "countType": "imageCountMoreThan", "countNumber": 1"#,
        "expire",
    )]);
    assert_eq!(expired(&p, &images), ["A", "B"]);
}

#[test]
fn guide_filtering_on_all_images_example_a() {
    let images = named(vec![
        ("A", &["alpha-1"], days(4)),
        ("B", &["beta-1"], days(3)),
        ("C", &[], days(2)),
        ("D", &["alpha-2"], days(1)),
    ]);
    let p = policy(&[rule(
        1,
        r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#,
        "expire",
    )]);
    assert_eq!(expired(&p, &images), ["A", "B", "C"]);
}

#[test]
fn guide_filtering_on_all_images_example_b() {
    // D and E are both "1 day ago"; the guide keeps E as the newest, so E is pushed
    // last here.
    let images = named(vec![
        ("A", &["alpha-1", "beta-1"], days(4)),
        ("B", &[], days(3)),
        ("C", &["alpha-2"], days(2)),
        ("D", &["git hash"], days(1)),
        ("E", &[], days(1) - Duration::minutes(5)),
    ]);
    let p = policy(&[
        rule(
            1,
            r#""tagStatus": "tagged", "tagPatternList": ["alpha*"], "countType": "imageCountMoreThan", "countNumber": 1"#,
            "expire",
        ),
        rule(
            2,
            r#""tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1"#,
            "expire",
        ),
        rule(
            3,
            r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#,
            "expire",
        ),
    ]);
    assert_eq!(expired(&p, &images), ["A", "B", "D"]);
}

#[test]
fn guide_filtering_on_image_age_and_count() {
    let images = named(vec![
        ("old-prod", &["prod-1"], days(20)),
        ("new-prod", &["prod-2"], days(3)),
        ("old-dev", &["dev-1"], days(20)),
    ]);
    let age = policy(&[rule(
        1,
        r#""tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14"#,
        "expire",
    )]);
    assert_eq!(expired(&age, &images), ["old-prod"]);

    let untagged = named(vec![
        ("u1", &[], days(3)),
        ("u2", &[], days(2)),
        ("u3", &[], days(1)),
        ("t", &["v1"], days(9)),
    ]);
    let one = policy(&[rule(
        1,
        r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
        "expire",
    )]);
    assert_eq!(expired(&one, &untagged), ["u1", "u2"]);
}

#[test]
fn since_image_pulled_uses_the_push_time_of_an_image_never_pulled_and_only_archives() {
    let mut pulled = image("pulled", &["a"], days(200));
    pulled.last_recorded_pull_time = Some(now() - days(10));
    let mut stale = image("stale", &["b"], days(200));
    stale.last_recorded_pull_time = Some(now() - days(100));
    let never = image("never", &["c"], days(95));
    let young = image("young", &["d"], days(30));
    let images = vec![
        ("pulled", pulled),
        ("stale", stale),
        ("never", never),
        ("young", young),
    ];
    let p = policy(&[rule(
        1,
        r#""tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 90"#,
        "transition",
    )]);
    assert_eq!(expired(&p, &images), ["stale", "never"]);
    let parsed = parse(&p).unwrap();
    assert_eq!(parsed.rules[0].action, RuleAction::Transition);
    assert_eq!(parsed.rules[0].action.verb(), "archive");
}

#[test]
fn since_image_transitioned_looks_at_archived_images_only() {
    let mut long = image("long", &["a"], days(900));
    long.status = Some(ImageStatus::Archived);
    long.last_archived_at = Some(now() - days(400));
    let mut recent = image("recent", &["b"], days(900));
    recent.status = Some(ImageStatus::Archived);
    recent.last_archived_at = Some(now() - days(100));
    let active = image("active", &["c"], days(900));
    let images = vec![("long", long), ("recent", recent), ("active", active)];
    let p = policy(&[rule(
        1,
        r#""tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 365"#,
        "expire",
    )]);
    assert_eq!(expired(&p, &images), ["long"]);
    // A standard-class rule does not see archived images.
    let standard = policy(&[rule(
        1,
        r#""tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1"#,
        "expire",
    )]);
    assert_eq!(expired(&standard, &images), ["active"]);
}

#[test]
fn tag_prefixes_must_all_start_a_tag_and_rules_run_by_priority_not_by_position() {
    let images = named(vec![
        ("both", &["release-1", "stable"], days(30)),
        ("one", &["release-2"], days(30)),
    ]);
    let prefixes = policy(&[rule(
        1,
        r#""tagStatus": "tagged", "tagPrefixList": ["release", "stab"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7"#,
        "expire",
    )]);
    assert_eq!(expired(&prefixes, &images), ["both"]);

    // Written in the other order: priority 1 still runs first and sees `one`, so
    // priority 5 cannot expire it.
    let reordered = policy(&[
        rule(
            5,
            r#""tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7"#,
            "expire",
        ),
        rule(
            1,
            r#""tagStatus": "tagged", "tagPatternList": ["release-2"], "countType": "imageCountMoreThan", "countNumber": 5"#,
            "expire",
        ),
    ]);
    assert_eq!(expired(&reordered, &images), ["both"]);
}

#[test]
fn wildcards_match_runs_of_characters_anywhere() {
    for (pattern, tag, matches) in [
        ("prod*", "prod-1", true),
        ("prod*", "prod", true),
        ("prod*", "preprod", false),
        ("*prod", "preprod", true),
        ("*-rc*", "v1.2-rc3", true),
        ("v*.*.*", "v1.2.3", true),
        ("v*.*.*", "v1.2", false),
        ("a*a", "a", false),
        ("a*a", "aa", true),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("*", "", true),
    ] {
        assert_eq!(wildcard(pattern, tag), matches, "{pattern} ~ {tag}");
    }
}

#[test]
fn what_ecr_would_refuse_is_an_error_naming_the_rule() {
    for (text, says) in [
        (
            policy(&[rule(
                1,
                r#""tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
                "expire",
            )]),
            "rule 1: tagStatus `tagged` needs",
        ),
        (
            policy(&[rule(
                2,
                r#""tagStatus": "any", "countType": "sinceForever", "countNumber": 1"#,
                "expire",
            )]),
            "rule 2: unknown countType `sinceForever`",
        ),
        (
            policy(&[rule(
                3,
                r#""tagStatus": "tagged", "tagPatternList": ["*a*b*c*d*e"], "countType": "imageCountMoreThan", "countNumber": 1"#,
                "expire",
            )]),
            "more than 4 wildcards",
        ),
        (
            policy(&[
                rule(
                    1,
                    r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#,
                    "expire",
                ),
                rule(
                    1,
                    r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
                    "expire",
                ),
            ]),
            "two rules have rulePriority 1",
        ),
        ("{not json".to_owned(), "key must be a string"),
    ] {
        let err = parse(&text).unwrap_err();
        assert!(err.contains(says), "{says:?} in {err}");
    }
}
