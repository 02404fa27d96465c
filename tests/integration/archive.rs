//! The archive storage class against moto, whose ECR model lacks it: the test kit's
//! moto plugin adds UpdateImageStorageClass and the `imageStatus` filter of
//! DescribeImages and ListImages (its own tests first), then `removal: archive` end to
//! end: the plan shows `> archive`, apply archives exactly those images, restore
//! reactivates them, and `delete_archived_after` deletes what has been archived long
//! enough.

use std::path::Path;
use std::process::Output;

use crate::common::{Files, binary};
use testkit::moto::{Moto, text};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn said(out: &Output) -> String {
    format!("{}\n{}", text(&out.stdout), text(&out.stderr))
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", said(out)))
}

/// Digest -> status of every image of `repo` (DescribeImages with `imageStatus: ANY`).
fn statuses(m: &Moto, repo: &str) -> std::collections::BTreeMap<String, String> {
    let out = m.boto3(&format!(
        "r = client('ecr').describe_images(repositoryName={repo:?}, filter={{'imageStatus': 'ANY'}})\n\
         print(json.dumps({{d['imageDigest']: d['imageStatus'] for d in r['imageDetails']}}))"
    ));
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn the_plugin_archives_and_reactivates_one_image_a_call_and_filters_by_status() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    let a = m.push_image("team/app", "a", &["v1"]);
    let b = m.push_image("team/app", "b", &["v2"]);
    let out = m.boto3(&format!(
        "ecr = client('ecr')\n\
         def digests(call, status=None):\n    f = {{'imageStatus': status}} if status else {{}}\n    r = call(repositoryName='team/app', filter=f)\n    return sorted(i['imageDigest'] for i in r.get('imageDetails', r.get('imageIds', [])))\n\
         r = ecr.update_image_storage_class(repositoryName='team/app', imageId={{'imageDigest': {a:?}}}, targetStorageClass='ARCHIVE')\n\
         print(r['imageStatus'])\n\
         for call in (ecr.describe_images, ecr.list_images):\n    print(digests(call), digests(call, 'ARCHIVED'), len(digests(call, 'ANY')), digests(call, 'ACTIVATING'))\n\
         d = ecr.describe_images(repositoryName='team/app', imageIds=[{{'imageDigest': {a:?}}}], filter={{'imageStatus': 'ANY'}})['imageDetails'][0]\n\
         print(d['imageStatus'], 'lastArchivedAt' in d)\n\
         print(ecr.update_image_storage_class(repositoryName='team/app', imageId={{'imageDigest': {a:?}}}, targetStorageClass='ARCHIVE')['imageStatus'])\n\
         print(ecr.update_image_storage_class(repositoryName='team/app', imageId={{'imageDigest': {a:?}}}, targetStorageClass='STANDARD')['imageStatus'])\n\
         print(digests(ecr.describe_images, 'ACTIVATING'))\n\
         for target, digest in (('ARCHIVE', {a:?}), ('ARCHIVE', 'sha256:' + '9' * 64), ('COLD', {b:?})):\n    try:\n        ecr.update_image_storage_class(repositoryName='team/app', imageId={{'imageDigest': digest}}, targetStorageClass=target)\n        print('no error')\n    except Exception as e:\n        print(e.response['Error']['Code'])\n"
    ));
    let lines: Vec<&str> = out.lines().collect();
    let one = |d: &str| format!("['{d}']");
    assert_eq!(lines[0], "ARCHIVED", "{out}");
    for line in &lines[1..3] {
        assert_eq!(
            *line,
            format!("{} {} 2 []", one(&b), one(&a)),
            "ACTIVE by default, ARCHIVED, ANY: {out}"
        );
    }
    assert_eq!(lines[3], "ARCHIVED True", "{out}");
    assert_eq!(
        lines[4], "ARCHIVED",
        "archiving again changes nothing: {out}"
    );
    assert_eq!(lines[5], "ACTIVATING", "{out}");
    assert_eq!(lines[6], one(&a), "{out}");
    assert_eq!(
        &lines[7..10],
        [
            "ImageStorageClassUpdateNotSupportedException",
            "ImageNotFoundException",
            "InvalidParameterException"
        ],
        "{out}"
    );
}

const CONFIG: &str = "version: 1\nrepositories:\n  team/app:\n    tags: [v1]\n    removal: archive\n    delete_archived_after: 365d\n";

#[test]
fn apply_archives_what_the_plan_says_and_restore_reactivates_them() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    let kept = m.push_image("team/app", "a", &["v1"]);
    let old = m.push_image("team/app", "b", &["old"]);
    let older = m.push_image("team/app", "c", &["older", "older-debug"]);
    let f = Files::new();
    let cfg = f.write("app.yaml", CONFIG);

    let human = text(&m.run(&["plan", s(&cfg)]).stdout);
    assert_eq!(
        human
            .lines()
            .filter(|l| l.starts_with("  > archive sha256:"))
            .count(),
        2,
        "{human}"
    );
    assert!(
        human.contains(
            "~ untag (the image stays)   > archive (the image and its tags stay, not pullable)"
        ),
        "the legend: {human}"
    );
    assert!(!human.contains("  - delete sha256"), "{human}");
    let plan = json(&m.run(&["plan", s(&cfg), "--format", "json"]));
    let kinds: Vec<&str> = plan["repositories"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["archive", "archive"], "{plan}");

    let journal = f.path("journal.jsonl");
    let out = m.run(&[
        "apply",
        s(&cfg),
        "--auto-approve",
        "--format",
        "json",
        "--journal",
        s(&journal),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let report = json(&out);
    assert_eq!(report["report"]["images_archived"], 2, "{report}");
    assert_eq!(
        report["api_calls"]["update_image_storage_class"], 2,
        "{report}"
    );
    let now = statuses(&m, "team/app");
    assert_eq!(now[&kept], "ACTIVE");
    assert_eq!(
        (&*now[&old], &*now[&older]),
        ("ARCHIVED", "ARCHIVED"),
        "{now:?}"
    );
    assert_eq!(
        m.images("team/app").len(),
        1,
        "only the active one is listed by default"
    );
    // Planned again: nothing to do.
    let again = m.run(&["plan", s(&cfg), "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", said(&again));

    // Restore reactivates them (ACTIVATING, then ACTIVE in ECR).
    let out = m.run(&["restore", s(&journal), "--auto-approve", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let restored = json(&out);
    assert_eq!(restored["report"]["images_reactivated"], 2, "{restored}");
    let now = statuses(&m, "team/app");
    assert_eq!(
        (&*now[&old], &*now[&older]),
        ("ACTIVATING", "ACTIVATING"),
        "{now:?}"
    );
    assert_eq!(now.len(), 3, "nothing deleted: {now:?}");
}

#[test]
fn then_delete_after_delete_archived_after_deletes_the_archived_images() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    let kept = m.push_image("team/app", "a", &["v1"]);
    let old = m.push_image("team/app", "b", &["old"]);
    let f = Files::new();
    let cfg = f.write("app.yaml", CONFIG);
    let journal = f.path("journal.jsonl");
    let out = m.run(&["apply", s(&cfg), "--auto-approve", "--journal", s(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let human = said(&out);
    assert!(
        human.contains("Storage class: 1 images archived, 0 reactivated")
            && human.contains("UpdateImageStorageClass 1, "),
        "{human}"
    );
    assert_eq!(statuses(&m, "team/app")[&old], "ARCHIVED");
    // Within the year, it stays archived.
    let soon = (chrono::Utc::now() + chrono::Duration::days(300)).to_rfc3339();
    let plan = json(&m.run(&["plan", s(&cfg), "--format", "json", "--now", &soon]));
    assert!(
        plan["repositories"][0]["actions"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{plan}"
    );
    let later = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let plan = json(&m.run(&["plan", s(&cfg), "--format", "json", "--now", &later]));
    let actions = plan["repositories"][0]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{plan}");
    assert_eq!(actions[0]["kind"], "delete", "{plan}");
    let out = m.run(&[
        "apply",
        s(&cfg),
        "--auto-approve",
        "--now",
        &later,
        "--format",
        "json",
        "--journal",
        s(&f.path("second.jsonl")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let report = json(&out);
    assert_eq!(report["report"]["images_deleted"], 1, "{report}");
    let now = statuses(&m, "team/app");
    assert_eq!(now.keys().collect::<Vec<_>>(), [&kept], "{now:?}");
}

#[test]
fn a_throttled_storm_of_archives_is_retried_and_archives_exactly_what_was_planned() {
    use testkit::proxy::{Faults, Outcome, Proxy};
    let m = Moto::start(binary());
    m.create_repository("team/app");
    let kept = m.push_image("team/app", "keep", &["v1"]);
    let old: Vec<String> = (0..20)
        .map(|i| m.push_image("team/app", &format!("old-{i}"), &[&format!("old-{i}")]))
        .collect();
    let f = Files::new();
    let cfg = f.write("app.yaml", CONFIG);
    let p = Proxy::start(
        &m.url,
        Faults {
            throttle: 0.4,
            seed: 7,
            operations: vec!["UpdateImageStorageClass"],
            ..Faults::default()
        },
    );
    let journal = f.path("journal.jsonl");
    let out = crate::common::command(
        &p.url,
        &[
            "apply",
            s(&cfg),
            "--auto-approve",
            "--format",
            "json",
            "--journal",
            s(&journal),
        ],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let calls = p.calls();
    let throttled = calls
        .iter()
        .filter(|c| c.outcome == Outcome::Throttled)
        .count();
    assert!(throttled > 0, "the storm throttled nothing: {calls:?}");
    let report = json(&out);
    assert_eq!(report["report"]["images_archived"], 20, "{report}");
    assert_eq!(report["retries"]["throttled"], throttled as u64, "{report}");
    assert_eq!(report["report"]["failures"], serde_json::json!([]));
    let now = statuses(&m, "team/app");
    assert_eq!(now[&kept], "ACTIVE", "the allowed image stays active");
    for d in &old {
        assert_eq!(now[d], "ARCHIVED", "{now:?}");
    }
}

#[test]
fn apply_wait_reads_the_reactivations_until_the_timeout_and_fails_while_some_are_activating() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "a", &["v1"]);
    let old = m.push_image("team/app", "b", &["old"]);
    let older = m.push_image("team/app", "c", &["older"]);
    let f = Files::new();
    let cfg = f.write("app.yaml", CONFIG);
    let journal = f.path("journal.jsonl");
    let out = m.run(&["apply", s(&cfg), "--auto-approve", "--journal", s(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    // Allowed again: the plan reactivates both.
    let cfg = f.write(
        "app.yaml",
        &CONFIG.replace("tags: [v1]", "tags: [v1, old, older]"),
    );
    // The test backend leaves a reactivated image ACTIVATING (ECR takes minutes):
    // the wait reads it until its timeout, and the apply fails.
    let out = m.run(&[
        "apply",
        s(&cfg),
        "--auto-approve",
        "--format",
        "json",
        "--wait",
        "--wait-timeout",
        "2s",
        "--journal",
        s(&journal),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["images_reactivated"], 2, "{report}");
    let waited = &report["report"]["reactivation_wait"];
    assert_eq!(
        (
            &waited["active"],
            &waited["activating"],
            &waited["not_reactivated"]
        ),
        (
            &serde_json::json!(0),
            &serde_json::json!(2),
            &serde_json::json!(0)
        ),
        "{report}"
    );
    let still: Vec<&str> = waited["still_activating"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        still.iter().any(|s| s.ends_with(&format!("@{old}")))
            && still.iter().any(|s| s.ends_with(&format!("@{older}"))),
        "{still:?}"
    );
    assert!(
        said(&out).contains("reactivations: 0/2 active again"),
        "progress: {}",
        said(&out)
    );
    let now = statuses(&m, "team/app");
    assert_eq!((&*now[&old], &*now[&older]), ("ACTIVATING", "ACTIVATING"));

    // ACTIVATING is under way, not to plan again: nothing left to reactivate.
    let out = m.run(&[
        "apply",
        s(&cfg),
        "--auto-approve",
        "--wait",
        "--journal",
        s(&journal),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("Nothing to apply"), "{}", said(&out));

    // Offline nothing completes a reactivation: --wait is refused with a snapshot.
    let snap = f.write("s.json", r#"{"version": 1, "registries": []}"#);
    let out = crate::common::hermetic()
        .args(["apply", s(&cfg), "--snapshot", s(&snap), "--wait"])
        .current_dir(f.path(""))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("--snapshot"), "{}", said(&out));
}
