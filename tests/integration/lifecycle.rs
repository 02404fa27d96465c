//! ECR lifecycle policies against moto (which stores them: PutLifecyclePolicy and
//! GetLifecyclePolicy): a policy that would expire what the plan keeps is a warning at
//! the YAML line that keeps it, an error with --fail-on-lifecycle-conflict (nothing
//! removed), and the snapshot carries the policy so an offline plan warns the same.

use std::path::Path;

use crate::common::{Files, binary};
use testkit::moto::{Moto, text};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out.stderr)))
}

/// Keep one `v*` image: ECR would expire every older release.
const KEEP_ONE_RELEASE: &str = r#"{"rules": [{"rulePriority": 1, "description": "one release", "selection": {"tagStatus": "tagged", "tagPatternList": ["v*"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}"#;

/// Releases v1 to v3 (kept by the file's `v*`) and an old build the file removes.
fn seed(m: &Moto) {
    m.create_repository("team/app");
    for (seed, tag) in [("a", "v1"), ("b", "v2"), ("c", "v3"), ("d", "build-1")] {
        m.push_image("team/app", seed, &[tag]);
    }
    m.boto3(&format!(
        "client('ecr').put_lifecycle_policy(repositoryName='team/app', lifecyclePolicyText={KEEP_ONE_RELEASE:?})"
    ));
}

const CONFIG: &str = "version: 1\nrepositories:\n  team/app:\n    tags:\n      - \"v*\"\n";

fn conflicts(plan: &serde_json::Value) -> Vec<&serde_json::Value> {
    plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "lifecycle-conflict")
        .collect()
}

#[test]
fn a_policy_that_would_expire_kept_images_is_a_warning_at_the_line_that_keeps_them() {
    let m = Moto::start(binary());
    seed(&m);
    let f = Files::new();
    let cfg = f.write("app.yaml", CONFIG);
    let out = m.run(&["plan", s(&cfg), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = json(&out);
    let found = conflicts(&plan);
    assert_eq!(found.len(), 2, "two of the three releases: {found:#?}");
    for w in &found {
        let message = w["message"].as_str().unwrap();
        assert!(
            message.starts_with("ECR lifecycle rule 1 (\"one release\") would expire sha256:")
                && message.ends_with("which this plan keeps: allowed by `v*`"),
            "{message}"
        );
        assert_eq!(w["location"]["line"], 5, "the `v*` entry: {w}");
    }
    assert_eq!(plan["api_calls"]["get_lifecycle_policy"], 1);

    // Human output names the code.
    let out = m.run(&["plan", s(&cfg)]);
    assert!(
        text(&out.stderr).contains("warning[plan::lifecycle-conflict]")
            || text(&out.stdout).contains("warning[plan::lifecycle-conflict]"),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn fail_on_lifecycle_conflict_stops_plan_and_apply_before_any_removal() {
    let m = Moto::start(binary());
    seed(&m);
    let f = Files::new();
    let cfg = f.write("app.yaml", CONFIG);
    let out = m.run(&["plan", s(&cfg), "--fail-on-lifecycle-conflict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("2 lifecycle conflicts in team/app") && err.contains("nothing was removed"),
        "{err}"
    );
    assert!(
        text(&out.stdout).contains("build-1"),
        "the plan is printed first"
    );

    let before = m.images("team/app");
    let out = m.run_in(
        &[
            "apply",
            s(&cfg),
            "--auto-approve",
            "--fail-on-lifecycle-conflict",
        ],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(m.images("team/app"), before, "nothing removed");

    // Without the flag, apply goes on: the build the file does not allow goes.
    let out = m.run_in(&["apply", s(&cfg), "--auto-approve"], Some(f.dir()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(m.images("team/app").len(), 3);
}

#[test]
fn no_policy_no_warning_and_a_snapshot_carries_the_policy_for_offline_plans() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "a", &["v1"]);
    m.push_image("team/app", "b", &["v2"]);
    let f = Files::new();
    let cfg = f.write("app.yaml", CONFIG);
    let plan = json(&m.run(&["plan", s(&cfg), "--format", "json"]));
    assert!(conflicts(&plan).is_empty(), "{plan}");
    assert_eq!(
        plan["api_calls"]["get_lifecycle_policy"], 1,
        "asked, and none is the normal case"
    );

    m.boto3(&format!(
        "client('ecr').put_lifecycle_policy(repositoryName='team/app', lifecyclePolicyText={KEEP_ONE_RELEASE:?})"
    ));
    let out = m.run(&["snapshot", s(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let snapshot: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stored = &snapshot["registries"][0]["repositories"][0]["lifecycle_policy"];
    let stored: serde_json::Value = serde_json::from_str(stored.as_str().unwrap()).unwrap();
    assert_eq!(stored["rules"][0]["description"], "one release");
    let snap = f.write("state.json", &text(&out.stdout));
    let offline = json(&m.run(&["plan", s(&cfg), "--format", "json", "--snapshot", s(&snap)]));
    assert_eq!(conflicts(&offline).len(), 1, "{offline}");
}

/// `import` writes the policy's rules: the one the allow-list can express as an entry,
/// the others as comments saying why. The written file validates, and its plan on the
/// same registry removes what the policy expires and keeps the rest: no conflict.
#[test]
fn import_writes_the_rules_it_can_express_and_says_why_not_for_the_others() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    // Whole seconds apart: moto records push times to the second. (moto's policy
    // validator takes no `transition` action: the archive rules are unit tests.)
    for (seed, tag) in [("a", "v1"), ("b", "v2"), ("c", "v3"), ("d", "build-1")] {
        m.push_image("team/app", seed, &[tag]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let policy = r#"{"rules": [
        {"rulePriority": 1, "description": "one release", "selection": {"tagStatus": "tagged", "tagPatternList": ["v*"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}},
        {"rulePriority": 2, "description": "old untagged", "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}},
        {"rulePriority": 3, "description": "first builds", "selection": {"tagStatus": "tagged", "tagPatternList": ["build-*", "*-1"], "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}}
    ]}"#;
    m.boto3(&format!(
        "client('ecr').put_lifecycle_policy(repositoryName='team/app', lifecyclePolicyText={policy:?})"
    ));
    let f = Files::new();
    let out_file = f.dir().join("imported.yaml");
    let out = m.run(&["import", "team/app", "--out", s(&out_file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let yaml = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        yaml.contains("      - pattern: \"v*\"\n        keep_latest: 1\n"),
        "{yaml}"
    );
    assert!(yaml.contains("      - \"build-1\"\n"), "{yaml}");
    for (rule, why) in [
        ("rule 2 (\"old untagged\")", "all or none"),
        ("rule 3 (\"first builds\")", "several tag filters"),
    ] {
        assert!(
            yaml.lines()
                .any(|l| l.trim_start().starts_with('#') && l.contains(rule) && l.contains(why)),
            "{rule}: {yaml}"
        );
    }
    assert!(yaml.contains("    untagged: keep\n"), "{yaml}");

    let out = m.run(&["plan", s(&out_file), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = json(&out);
    let deleted: Vec<String> = plan["repositories"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tags"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deleted, ["v1", "v2"], "what the policy expires: {plan:#}");
    assert!(conflicts(&plan).is_empty(), "{:#?}", conflicts(&plan));
    assert_eq!(plan["api_calls"]["get_lifecycle_policy"], 1);
}
