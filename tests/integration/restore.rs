//! `restore`, end to end against moto: apply, restore, and the registry is as it was
//! before the apply for every restorable item; what cannot be restored is reported
//! with why and what to do, and nothing is moved or overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{binary, command};
use testkit::moto::{self, Moto, text};
use testkit::proxy::{Faults, Phase, Proxy, Verdict};

const CONFIG: &str = "version: 1\nrepositories:\n  team/app:\n    tags:\n      - v1.0.0\n    untagged: delete\n  team/web:\n    tags:\n      - \"v*\"\n";

type State = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn state(m: &Moto) -> State {
    ["team/app", "team/web"]
        .iter()
        .map(|r| (r.to_string(), m.images(r)))
        .collect()
}

/// Every kind of removal: an untag, deletes by tag (one and two tags), an untagged
/// leftover, a multi-arch index with its children, and a second repository.
fn seed(m: &Moto) -> State {
    m.create_repository("team/app");
    m.create_repository("team/web");
    m.push_image("team/app", "release", &["v1.0.0", "rc-7"]);
    m.push_image("team/app", "old", &["build-1"]);
    m.push_image("team/app", "older", &["build-0", "build-0-debug"]);
    m.push_image("team/app", "leftover", &[]);
    let amd = m.push_image("team/app", "pr9-amd64", &[]);
    let arm = m.push_image("team/app", "pr9-arm64", &[]);
    m.push_index("team/app", &[&amd, &arm], &["pr-9"]);
    m.push_image("team/web", "v2", &["v2"]);
    m.push_image("team/web", "build", &["build-9", "build-9-b"]);
    state(m)
}

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cfg.yaml"), CONFIG).unwrap();
        Self { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(endpoint: &str, args: &[&str]) -> Output {
    command(endpoint, args, None).output().unwrap()
}

fn said(out: &Output) -> String {
    format!("{}\n{}", text(&out.stdout), text(&out.stderr))
}

/// Applies the config; returns the journal.
fn apply(m: &Moto, r: &Run) -> PathBuf {
    let journal = r.path("journal.jsonl");
    let out = run(
        &m.url,
        &[
            "apply",
            s(&r.path("cfg.yaml")),
            "--auto-approve",
            "--journal",
            s(&journal),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    journal
}

#[test]
fn apply_then_restore_gives_back_the_registry_as_it_was() {
    let m = Moto::start(binary());
    let before = seed(&m);
    let r = Run::new();
    let journal = apply(&m, &r);
    let applied = state(&m);
    assert_ne!(applied, before);
    // Every journal line is valid against the committed schema.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/journal.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for line in std::fs::read_to_string(&journal).unwrap().lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(validator.is_valid(&entry), "{line}");
    }
    assert_eq!(applied["team/app"].len(), 1, "{applied:?}");

    // Without a terminal and without --auto-approve: refused, nothing pushed.
    let out = run(&m.url, &["restore", s(&journal)]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("needs confirmation"), "{}", said(&out));
    assert_eq!(state(&m), applied);

    // One repository only.
    let out = run(
        &m.url,
        &[
            "restore",
            s(&journal),
            "--repository",
            "team/web",
            "--auto-approve",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let now = state(&m);
    assert_eq!(now["team/web"], before["team/web"]);
    assert_eq!(now["team/app"], applied["team/app"], "team/app untouched");

    // Everything: the plan shows what comes back, then the registry is as before.
    let out = run(
        &m.url,
        &["restore", s(&journal), "--auto-approve", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let plan_text = text(&out.stderr);
    assert!(
        plan_text.contains("pushed again from the saved manifest"),
        "{plan_text}"
    );
    assert!(plan_text.contains("(the image exists)"), "{plan_text}");
    assert!(
        plan_text.contains("back already"),
        "team/web is back: {plan_text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["problems"], serde_json::json!([]));
    // rc-7 on the release; old, older (2 tags), leftover, index (+2 children).
    assert_eq!(report["report"]["images_recreated"], 6, "{report}");
    assert_eq!(report["report"]["tags_restored"], 5, "{report}");
    assert_eq!(
        state(&m),
        before,
        "the registry is as it was before the apply"
    );

    // Again: nothing to do.
    let out = run(&m.url, &["restore", s(&journal), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(text(&out.stdout).contains("0 tags to put back, 0 images to push again"));
    assert_eq!(state(&m), before);
}

#[test]
fn what_cannot_be_restored_is_reported_and_nothing_is_moved() {
    let m = Moto::start(binary());
    let before = seed(&m);
    let r = Run::new();
    let journal = apply(&m, &r);
    // Since the apply: somebody pushed a new image under a removed tag.
    let newer = m.push_image("team/app", "newer", &["build-1"]);
    let p = Proxy::start(&m.url, Faults::default());
    // ECR has dropped the layers of the deleted untagged leftover.
    let leftover = moto::sha256(&moto::image_manifest("team/app", "leftover"));
    {
        let leftover = leftover.clone();
        p.set_hook(move |seen, phase| {
            if phase == Phase::Before
                && seen.operation == "PutImage"
                && seen.body["imageDigest"] == leftover.as_str()
            {
                return Verdict::Answer {
                    status: 400,
                    kind: "LayersNotFoundException",
                    message: "The image layers are not found in the repository",
                };
            }
            Verdict::Pass
        });
    }
    let out = run(&p.url, &["restore", s(&journal), "--auto-approve"]);
    let out_text = said(&out);
    assert_eq!(out.status.code(), Some(1), "{out_text}");
    assert!(
        out_text.contains("tag build-1") && out_text.contains("now names image"),
        "{out_text}"
    );
    assert!(out_text.contains("LayersNotFoundException"), "{out_text}");
    assert!(
        out_text.contains("push the image again from its source"),
        "{out_text}"
    );
    // The newer image keeps its tag; every other item is back.
    let tags = m.tags("team/app");
    assert_eq!(tags["build-1"], newer, "a tag is never moved back");
    let now = state(&m);
    for (repo, images) in &before {
        for (digest, t) in images {
            // The leftover's layers are gone; the image whose only tag now names
            // another image is not pushed again without it.
            if *digest == leftover || t == &["build-1".to_owned()] {
                assert!(!now[repo].contains_key(digest), "{digest}: {now:?}");
                continue;
            }
            let back = &now[repo][digest];
            for tag in t.iter().filter(|t| *t != "build-1") {
                assert!(back.contains(tag), "{repo} {digest} {tag}: {now:?}");
            }
        }
    }
}

#[test]
fn a_damaged_or_unknown_journal_is_refused_before_any_request() {
    let m = Moto::start(binary());
    seed(&m);
    let r = Run::new();
    let journal = apply(&m, &r);
    let p = Proxy::start(&m.url, Faults::default());
    let good = std::fs::read_to_string(&journal).unwrap();
    let cases = [
        (
            "a bad line",
            good.replacen("\"kind\"", "\"kimd\"", 1),
            "journal.jsonl:1:",
        ),
        ("not JSON", "hello\nworld\n".to_owned(), "journal.jsonl:1:"),
    ];
    for (name, content, says) in cases {
        std::fs::write(&journal, content).unwrap();
        p.clear();
        let out = run(&p.url, &["restore", s(&journal), "--auto-approve"]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", said(&out));
        assert!(said(&out).contains(says), "{name}: {}", said(&out));
        assert!(p.calls().is_empty(), "{name}: {:?}", p.calls());
    }
    // A last line cut short by a crash is left out with a warning.
    let cut = &good[..good.len() - 20];
    std::fs::write(&journal, cut).unwrap();
    let out = run(&p.url, &["restore", s(&journal), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("cut short"), "{}", said(&out));
    // A repository the journal does not name.
    std::fs::write(&journal, &good).unwrap();
    let out = run(
        &p.url,
        &[
            "restore",
            s(&journal),
            "--repository",
            "team/other",
            "--auto-approve",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(said(&out).contains("records no removal in that repository"));
}

/// ECR's API takes tags of up to 300 characters, beyond the 128 of `docker push`:
/// such a tag is planned, removed, journaled and put back as the registry gave it.
#[test]
fn a_300_character_registry_tag_is_removed_and_restored() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    let long = format!("build-{}", "x".repeat(294));
    assert_eq!(long.len(), 300);
    m.push_image("team/app", "release", &["v1.0.0"]);
    let old = m.push_image("team/app", "old", &[&long]);
    let before = m.images("team/app");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        "version: 1\nrepositories:\n  team/app:\n    tags: [v1.0.0]\n",
    )
    .unwrap();
    let journal = dir.path().join("journal.jsonl");
    let out = run(
        &m.url,
        &["apply", s(&cfg), "--auto-approve", "--journal", s(&journal)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(!m.images("team/app").contains_key(&old), "{}", said(&out));
    let out = run(&m.url, &["restore", s(&journal), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert_eq!(m.images("team/app"), before);
    assert_eq!(m.images("team/app")[&old], [long]);
}

#[test]
fn after_a_restore_keep_latest_keeps_what_the_first_plan_kept() {
    // moto, like ECR, gives an image PutImage re-creates a new push time (whole
    // seconds): without the restore record, the restored pr-1 would rank newest and
    // the next plan would remove pr-2 instead.
    let m = Moto::start(binary());
    m.create_repository("team/app");
    for n in 1..=3 {
        let tag = format!("pr-{n}");
        m.push_image("team/app", &tag, &[&tag]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        "version: 1\nrepositories:\n  team/app:\n    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 2\n",
    )
    .unwrap();
    let in_dir = |args: &[&str]| command(&m.url, args, Some(dir.path())).output().unwrap();
    let removed = || {
        let out = in_dir(&["plan", s(&cfg), "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", said(&out));
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["repositories"][0]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["tags"].to_string())
            .collect::<Vec<_>>()
    };
    let first = removed();
    assert_eq!(first, [r#"["pr-1"]"#]);
    let journal = dir.path().join(".ecr-reconcile/journal.jsonl");
    let out = in_dir(&["apply", s(&cfg), "--auto-approve", "--journal", s(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = in_dir(&["restore", s(&journal), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("Restore record: "), "{}", said(&out));
    assert_eq!(m.images("team/app").len(), 3);
    assert_eq!(removed(), first, "the same removal as before the apply");
    // The record is what makes it so.
    for entry in std::fs::read_dir(dir.path().join(".ecr-reconcile")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_str().unwrap().contains("restored-") {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert_eq!(removed(), [r#"["pr-2"]"#]);
}

/// Tag immutability (IMMUTABLE_WITH_EXCLUSION, `dev-*` mutable): the apply untags and
/// deletes as in a mutable repository; the restore puts back what it can and names
/// each tag it cannot, with ECR's reason for an immutable one; the snapshot carries
/// the setting.
#[test]
fn an_immutable_repository_is_applied_and_restored_as_far_as_ecr_allows() {
    let m = Moto::start(binary());
    m.create_repository_with_mutability("team/app", "IMMUTABLE_WITH_EXCLUSION", &["dev-*"]);
    let release = m.push_image("team/app", "release", &["v1.0.0", "rc-7"]);
    m.push_image("team/app", "old", &["build-1"]);
    m.push_image("team/app", "dev", &["dev-1"]);
    m.push_image("team/app", "leftover", &[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        "version: 1\nrepositories:\n  team/app:\n    tags:\n      - v1.0.0\n    untagged: delete\n",
    )
    .unwrap();
    let journal = dir.path().join("journal.jsonl");
    let out = run(
        &m.url,
        &["apply", s(&cfg), "--auto-approve", "--journal", s(&journal)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let tags = m.tags("team/app");
    assert_eq!(tags.len(), 1, "only v1.0.0 stays: {tags:?}");
    assert_eq!(tags["v1.0.0"], release);

    // Since the apply: the removed build-1 (immutable) and dev-1 (mutable) were
    // pushed again, onto new images.
    let newer = m.push_image("team/app", "newer", &["build-1"]);
    let dev2 = m.push_image("team/app", "dev2", &["dev-1"]);
    let out = run(
        &m.url,
        &["restore", s(&journal), "--auto-approve", "--format", "json"],
    );
    let out_text = said(&out);
    assert_eq!(out.status.code(), Some(1), "{out_text}");
    let plan_text = text(&out.stderr);
    assert!(
        plan_text.contains("tag mutability IMMUTABLE_WITH_EXCLUSION (exclusions: dev-*)"),
        "{plan_text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["plan"]["repositories"][0]["tag_mutability"],
        serde_json::json!({"setting": "immutable_with_exclusion", "exclusion_filters": ["dev-*"]}),
        "{report}"
    );
    assert_eq!(report["api_calls"]["tag_mutability"], 1, "{report}");
    let problems = report["report"]["problems"].as_array().unwrap();
    let problem = |tag: &str| {
        problems
            .iter()
            .find(|p| p["tag"] == tag)
            .unwrap_or_else(|| panic!("no problem for {tag}: {report}"))
    };
    let build = problem("build-1")["reason"].as_str().unwrap();
    assert!(
        build.contains("immutable") && build.contains("ImageTagAlreadyExistsException"),
        "{build}"
    );
    let dev = problem("dev-1")["reason"].as_str().unwrap();
    assert!(
        dev.contains("now names image") && !dev.contains("immutable"),
        "{dev}"
    );
    assert_eq!(problems.len(), 2, "{report}");
    // What could come back did: rc-7 on the release, the untagged leftover.
    assert_eq!(report["report"]["tags_restored"], 1, "{report}");
    assert_eq!(report["report"]["images_recreated"], 1, "{report}");
    let tags = m.tags("team/app");
    assert_eq!(tags["rc-7"], release);
    assert_eq!(tags["build-1"], newer, "never moved back");
    assert_eq!(tags["dev-1"], dev2, "never moved back");
    let leftover = moto::sha256(&moto::image_manifest("team/app", "leftover"));
    assert!(m.images("team/app").contains_key(&leftover));

    // The snapshot carries the setting.
    let out = run(&m.url, &["snapshot", s(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let snapshot: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        snapshot["registries"][0]["repositories"][0]["tag_mutability"]["setting"],
        "immutable_with_exclusion",
        "{snapshot}"
    );
}
