//! `import`: desired state from an existing registry. Exact imports plan nothing;
//! inferred ones validate, and what they say they remove is what `plan` shows.

use std::path::Path;
use std::process::Output;

use testkit::moto::{Moto, text};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/snapshot.json");

fn offline(args: &[&str]) -> Output {
    crate::common::hermetic().args(args).output().unwrap()
}

/// Per repository name: (tags removed, images deleted, untags), from `import`'s stderr.
fn import_summaries(stderr: &str) -> Vec<(String, usize, usize, usize)> {
    stderr
        .lines()
        .filter(|l| l.contains(" images, ") || l.contains(" image, "))
        .map(|l| {
            let name = l.split(' ').next().unwrap().to_owned();
            let verdict = l.split("the plan removes ").nth(1).unwrap_or_default();
            let numbers = |key: &str| -> usize {
                verdict
                    .split(key)
                    .next()
                    .and_then(|before| before.rsplit(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            };
            if l.contains("nothing to remove") {
                return (name, 0, 0, 0);
            }
            (name, numbers(" tag"), numbers(" image"), numbers(" untag"))
        })
        .collect()
}

/// The same, from a JSON plan.
fn plan_summaries(plan: &serde_json::Value) -> Vec<(String, usize, usize, usize)> {
    plan["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let actions = r["actions"].as_array().unwrap();
            let deletes = actions.iter().filter(|a| a["kind"] == "delete").count();
            let untags = actions.iter().filter(|a| a["kind"] == "untag").count();
            let tags: usize = actions
                .iter()
                .map(|a| a["tags"].as_array().unwrap().len())
                .sum();
            (
                r["repository"]["name"].as_str().unwrap().to_owned(),
                tags,
                deletes,
                untags,
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn an_exact_import_of_the_example_plans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = offline(&["import", "--snapshot", SNAPSHOT, "--style", "exact"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let yaml = write(dir.path(), "imported.yaml", &out.stdout);
    assert!(text(&out.stdout).starts_with("# yaml-language-server: $schema="));
    assert!(
        text(&out.stderr).contains("Imported 6 repositories."),
        "{}",
        text(&out.stderr)
    );
    let plan = offline(&["plan", "--snapshot", SNAPSHOT, &yaml, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stdout));
}

#[test]
fn an_inferred_import_says_what_plan_then_removes() {
    let dir = tempfile::tempdir().unwrap();
    let out = offline(&[
        "import",
        "--snapshot",
        SNAPSHOT,
        "--style",
        "infer",
        "payments/*",
        "platform/*",
        "--keep-builds",
        "5",
    ]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let yaml_text = text(&out.stdout);
    assert!(yaml_text.contains("(pull-request builds)"), "{yaml_text}");
    assert!(
        yaml_text.contains("keep_latest: 5\n        max_age: 30d"),
        "{yaml_text}"
    );
    assert!(
        !yaml_text.contains("sandbox/"),
        "only the globs' repositories"
    );
    let yaml = write(dir.path(), "imported.yaml", &out.stdout);
    let valid = offline(&["validate", &yaml]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stderr));
    let plan = offline(&["plan", "--snapshot", SNAPSHOT, &yaml, "--format", "json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let from_import = import_summaries(&said);
    assert_eq!(from_import.len(), 3, "{said}");
    assert_eq!(from_import, plan_summaries(&plan), "{said}");
    assert!(from_import.iter().any(|(_, tags, ..)| *tags > 0), "{said}");
}

#[test]
fn import_refuses_what_it_cannot_do() {
    let out = offline(&["import", "--snapshot", SNAPSHOT, "nothing/*"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "no repository of 123456789012/eu-west-1 matches nothing/* (6 repositories there)"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = offline(&["import", "--snapshot", SNAPSHOT, "--build-max-age", "7days"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = offline(&["import", "--snapshot", SNAPSHOT, "--account", "12"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn imports_of_a_live_registry_plan_as_they_say() {
    let m = Moto::start(crate::common::binary());
    m.create_repository("team/app");
    m.create_repository("team/web");
    m.create_repository("other/thing");
    let mut images = Vec::new();
    for i in 0..6 {
        images.push((format!("v{i}"), vec![format!("v1.{i}.0")]));
        images.push((format!("pr{i}"), vec![format!("pr-{}", 100 + i)]));
    }
    images.push((
        "latest".into(),
        vec!["latest".into(), "main-0a1b2c3".into()],
    ));
    images.push(("loose".into(), vec![]));
    m.push_many("team/app", &images);
    m.push_image("team/web", "only", &["stable"]);
    m.push_image("other/thing", "x", &["x-1"]);
    let dir = tempfile::tempdir().unwrap();

    let out = m.run(&[
        "import",
        "team/*",
        "--out",
        dir.path().join("exact.yaml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let exact = dir.path().join("exact.yaml");
    let yaml = std::fs::read_to_string(&exact).unwrap();
    assert!(
        yaml.contains("  team/app:") && yaml.contains("  team/web:"),
        "{yaml}"
    );
    assert!(!yaml.contains("other/thing"));
    let plan = m.run(&["plan", exact.to_str().unwrap(), "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}{}",
        text(&plan.stdout),
        text(&plan.stderr)
    );

    let out = m.run(&[
        "import",
        "team/app",
        "--style",
        "infer",
        "--keep-versions",
        "3",
        "--keep-builds",
        "2",
    ]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let inferred = write(dir.path(), "infer.yaml", &out.stdout);
    let plan = m.run(&["plan", &inferred, "--format", "json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let from_import = import_summaries(&said);
    assert_eq!(from_import, plan_summaries(&plan), "{said}");
    // Three versions and two pull requests go (their images with them), and the
    // untagged image; `latest` and its image stay.
    assert_eq!(from_import[0].1, 3 + 4, "{said}");
    assert_eq!(from_import[0].2, 3 + 4 + 1, "{said}");
}
