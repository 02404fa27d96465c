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
    let digest = Digest::parse(crate::hash::sha256(name.as_bytes())).unwrap();
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

/// The guide's repository of "Filtering on multiple rules", and its policy: keep one
/// `first*` image (priority 1), then keep one `second*` image (priority 2).
fn multiple_rules(first: &str, second: &str) -> (String, Vec<(&'static str, ImageDetail)>) {
    let images = named(vec![
        ("A", &["beta-1", "prod-1"], days(10)),
        ("B", &["beta-2", "prod-2"], days(9)),
        ("C", &["beta-3"], days(8)),
    ]);
    let keep_one = |priority: u32, prefix: &str| {
        rule(
            priority,
            &format!(
                r#""tagStatus": "tagged", "tagPatternList": ["{prefix}*"], "countType": "imageCountMoreThan", "countNumber": 1"#
            ),
            "expire",
        )
    };
    (policy(&[keep_one(1, first), keep_one(2, second)]), images)
}

#[test]
fn guide_filtering_on_multiple_rules_example_a() {
    let (p, images) = multiple_rules("prod", "beta");
    assert_eq!(expired(&p, &images), ["A"]);
}

#[test]
fn guide_filtering_on_multiple_rules_example_b() {
    let (p, images) = multiple_rules("beta", "prod");
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
        assert_eq!(
            crate::text::wildcard_match(pattern, tag),
            matches,
            "{pattern} ~ {tag}"
        );
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

/// The plan's lifecycle warnings for `body` (the YAML of `team/app`, indented four
/// spaces) over `images`, with `lifecycle` as the repository's policy.
fn planned(body: &str, images: Vec<ImageDetail>, lifecycle: LifecycleState) -> Vec<Warning> {
    use crate::model::{AccountId, Region, RepositoryName};
    let yaml = format!("version: 1\nrepositories:\n  team/app:\n{body}");
    let state = crate::config::load_sources(vec![("t.yaml".into(), yaml.into_bytes())])
        .unwrap_or_else(|e| panic!("{:?}", e.diagnostics));
    let desired = state.repositories.into_iter().next().unwrap();
    let observed = ObservedRepository {
        lifecycle,
        ..ObservedRepository::listed(
            RepositoryRef::private(
                AccountId::parse("123456789012").unwrap(),
                Region::parse("eu-west-1").unwrap(),
                RepositoryName::parse("team/app").unwrap(),
            ),
            images,
        )
    };
    let (_, warnings) =
        super::super::plan_repository(&desired, &observed, now(), Default::default(), &[]);
    warnings
        .into_iter()
        .filter(|w| {
            matches!(
                w.code,
                WarningCode::LifecycleConflict | WarningCode::LifecyclePolicyUnreadable
            )
        })
        .collect()
}

fn keep_one(pattern: &str) -> LifecycleState {
    LifecycleState::Text(policy(&[rule(
        1,
        &format!(
            r#""tagStatus": "tagged", "tagPatternList": ["{pattern}"], "countType": "imageCountMoreThan", "countNumber": 1"#
        ),
        "expire",
    )]))
}

#[test]
fn a_policy_that_would_expire_an_allowed_image_is_a_conflict_at_its_allow_line() {
    let images = vec![
        image("v1", &["v1"], days(30)),
        image("v2", &["v2"], days(20)),
        image("v3", &["v3"], days(10)),
    ];
    let w = planned("    tags: [v3, \"v*\"]\n", images, keep_one("v*"));
    assert_eq!(w.len(), 2, "{w:#?}");
    for (w, tag) in w.iter().zip(["v1", "v2"]) {
        assert_eq!(w.code, WarningCode::LifecycleConflict);
        assert!(
            w.message
                .starts_with("ECR lifecycle rule 1 (\"Rule 1\") would expire sha256:")
                && w.message
                    .contains(&format!("({tag}), which this plan keeps: allowed by `v*`")),
            "{}",
            w.message
        );
        let at = w.location.as_ref().unwrap();
        assert_eq!((at.file.as_str(), at.line), ("t.yaml", 4), "the `v*` entry");
        assert!(w.help.as_ref().unwrap().contains("delete-lifecycle-policy"));
    }
}

#[test]
fn images_the_plan_removes_and_tags_it_removes_are_no_conflict() {
    // The plan deletes v1 and v2 itself: the policy agrees.
    let images = vec![
        image("v1", &["v1"], days(30)),
        image("v2", &["v2"], days(20)),
        image("v3", &["v3"], days(10)),
    ];
    assert_eq!(planned("    tags: [v3]\n", images, keep_one("v*")), []);

    // Without the plan's untag, `pr-1` would make ECR expire the kept image.
    let images = vec![image("app", &["v1", "pr-1"], days(30))];
    let pr_rule = LifecycleState::Text(policy(&[rule(
        1,
        r#""tagStatus": "tagged", "tagPatternList": ["pr-*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7"#,
        "expire",
    )]));
    assert_eq!(
        planned("    tags: [v1]\n", images.clone(), pr_rule.clone()),
        []
    );
    let w = planned("    tags: [v1, \"pr-*\"]\n", images, pr_rule);
    assert_eq!(w.len(), 1, "kept with its pr tag: {w:#?}");
}

#[test]
fn an_untagged_image_kept_by_the_default_says_why_and_points_at_the_repository() {
    let images = vec![image("old", &[], days(30)), image("new", &[], days(1))];
    let untagged = LifecycleState::Text(policy(&[rule(
        1,
        r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
        "expire",
    )]));
    let w = planned("    tags: [x]\n", images, untagged);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].message
            .contains("(untagged), which this plan keeps: untagged images are kept")
    );
    assert_eq!(
        w[0].location.as_ref().unwrap().line,
        3,
        "the repository's key"
    );
}

#[test]
fn a_policy_that_cannot_be_read_or_understood_is_a_warning_saying_so() {
    let images = vec![image("v1", &["v1"], days(30))];
    let w = planned(
        "    tags: [v1]\n",
        images.clone(),
        LifecycleState::Unreadable("AccessDeniedException: not allowed".into()),
    );
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].code, WarningCode::LifecyclePolicyUnreadable);
    assert!(
        w[0].message.contains("AccessDeniedException"),
        "{}",
        w[0].message
    );
    let w = planned(
        "    tags: [v1]\n",
        images,
        LifecycleState::Text("{\"rules\": 3}".into()),
    );
    assert_eq!(w[0].code, WarningCode::LifecyclePolicyUnreadable);
    assert!(
        w[0].message.contains("its text cannot be read"),
        "{}",
        w[0].message
    );
}

#[test]
fn many_conflicts_of_one_rule_are_named_up_to_a_limit_then_counted() {
    let images: Vec<ImageDetail> = (0..30)
        .map(|i| image(&format!("b{i}"), &[&format!("b{i}")], days(40 - i)))
        .collect();
    let w = planned("    tags: [\"b*\"]\n", images, keep_one("b*"));
    assert_eq!(w.len(), NAMED_PER_RULE + 1);
    assert_eq!(
        w.last().unwrap().message,
        "ECR lifecycle rule 1 (\"Rule 1\") would expire 9 more images this plan keeps"
    );
}
