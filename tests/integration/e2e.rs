//! End to end: the real binary against moto, an independent ECR implementation,
//! started by the harness on a free loopback port (one server per test).
//!
//! Where moto differs from ECR (see the project's ECR notes: no index references,
//! digests as given, no pagination, no 100-id limit) these tests do not encode moto's
//! behaviour as truth; the in-memory model's tests cover documented ECR behaviour.

use std::net::TcpListener;
use std::path::Path;

use crate::common::{Files, binary};
use testkit::moto::{Moto, text};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// A small repository: a release with an extra tag, old builds, an untagged leftover.
fn seed_basic(m: &Moto) -> (String, String, String, String) {
    m.create_repository("team/app");
    let release = m.push_image("team/app", "release", &["v1.0.0", "rc-7"]);
    let old = m.push_image("team/app", "old", &["build-1"]);
    let older = m.push_image("team/app", "older", &["build-0", "build-0-debug"]);
    let leftover = m.push_image("team/app", "leftover", &[]);
    (release, old, older, leftover)
}

const BASIC: &str =
    "version: 1\nrepositories:\n  team/app:\n    tags:\n      - v1.0.0\n    untagged: delete\n";

#[test]
fn untag_delete_and_prune_then_nothing_left_to_do() {
    let m = Moto::start(binary());
    let (release, old, older, leftover) = seed_basic(&m);
    let f = Files::new();
    let cfg = f.write("app.yaml", BASIC);

    let out = m.run(&["plan", s(&cfg), "--format", "json", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let plan = json(&out);
    let actions = plan["repositories"][0]["actions"].as_array().unwrap();
    let kind_of = |d: &str| {
        actions
            .iter()
            .find(|a| a["digest"] == d)
            .map(|a| a["kind"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        kind_of(&release).as_deref(),
        Some("untag"),
        "rc-7 goes, v1.0.0 stays"
    );
    assert_eq!(kind_of(&old).as_deref(), Some("delete"));
    assert_eq!(kind_of(&older).as_deref(), Some("delete"));
    assert_eq!(
        kind_of(&leftover).as_deref(),
        Some("delete"),
        "untagged pruning"
    );

    let out = m.run_in(
        &["apply", s(&cfg), "--auto-approve", "--format", "json"],
        Some(f.dir()),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["report"]["images_deleted"], 3);
    assert_eq!(report["report"]["untagged"], 1);

    let images = m.images("team/app");
    assert_eq!(images.len(), 1, "{images:?}\n{}", text(&out.stdout));
    assert_eq!(images[&release], vec!["v1.0.0".to_owned()]);

    let out = m.run(&["plan", s(&cfg), "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "apply then plan: no changes\n{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("No changes."));

    // The journal lists every removal with its manifest.
    let journal_dir = f.dir().join(".ecr-reconcile");
    let journal = std::fs::read_dir(&journal_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        5,
        "rc-7, build-1, build-0, build-0-debug, the leftover"
    );
    assert!(lines.iter().all(|l| {
        l["manifest"]
            .as_str()
            .is_some_and(|m| m.contains("schemaVersion"))
    }));
}

#[test]
fn index_children_follow_their_index_and_cosign_tags_their_subject() {
    let m = Moto::start(binary());
    m.create_repository("team/multi");
    let a1 = m.push_image("team/multi", "v1-amd64", &[]);
    let b1 = m.push_image("team/multi", "v1-arm64", &[]);
    let keep = m.push_index("team/multi", &[&a1, &b1], &["v1"]);
    let a0 = m.push_image("team/multi", "v0-amd64", &[]);
    let b0 = m.push_image("team/multi", "v0-arm64", &[]);
    let gone = m.push_index("team/multi", &[&a0, &b0], &["v0"]);
    let hex = |d: &str| d.trim_start_matches("sha256:").to_owned();
    let sig_keep = m.push_image(
        "team/multi",
        "sig-v1",
        &[&format!("sha256-{}.sig", hex(&keep))],
    );
    let sig_gone = m.push_image(
        "team/multi",
        "sig-v0",
        &[&format!("sha256-{}.sig", hex(&gone))],
    );
    let f = Files::new();
    let cfg = f.write(
        "m.yaml",
        "version: 1\nrepositories:\n  team/multi:\n    tags: [v1]\n    untagged: delete\n",
    );

    let out = m.run(&["plan", s(&cfg), "--format", "json"]);
    let plan = json(&out);
    let actions = plan["repositories"][0]["actions"].as_array().unwrap();
    let wave = |d: &str| {
        actions
            .iter()
            .find(|a| a["digest"] == d)
            .map(|a| a["wave"].as_u64().unwrap())
    };
    assert_eq!(wave(&keep), None);
    assert_eq!(wave(&a1), None, "children of the kept index stay");
    assert_eq!(wave(&b1), None);
    assert_eq!(wave(&sig_keep), None, "the signature of a kept image stays");
    assert!(
        wave(&gone).unwrap() < wave(&a0).unwrap(),
        "the index goes before its children"
    );
    assert!(wave(&sig_gone).is_some());

    let out = m.run_in(&["apply", s(&cfg), "--auto-approve"], Some(f.dir()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let left: Vec<String> = m.images("team/multi").into_keys().collect();
    let mut want = vec![keep, a1, b1, sig_keep];
    want.sort();
    assert_eq!(left, want);
}

#[test]
fn warnings_and_exit_codes() {
    let m = Moto::start(binary());
    seed_basic(&m);
    let f = Files::new();
    let typo = f.write("typo.yaml", "version: 1\nrepositories:\n  team/app:\n    tags:\n      - v1.0.0\n      - build-l\n  team/absent:\n    tags: [v1]\n");
    let out = m.run(&["plan", s(&typo), "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("warning[plan::tag-not-found]"), "{stdout}");
    assert!(stdout.contains("did you mean `build-1`?"), "{stdout}");
    assert!(stdout.contains(&format!("{}:6:9", s(&typo))), "{stdout}");
    assert!(
        stdout.contains("warning[plan::repository-not-found]"),
        "a missing repository is a warning: {stdout}"
    );

    let all = f.write(
        "all.yaml",
        "version: 1\nrepositories:\n  team/app:\n    tags: [\"*\"]\n",
    );
    let out = m.run(&["plan", s(&all), "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let bad = f.write(
        "bad.yaml",
        "version: 1\nrepositories:\n  team/app:\n    tag: [v1]\n",
    );
    let out = m.run(&["plan", s(&bad), "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_saved_plan_applies_and_a_stale_one_is_refused() {
    let m = Moto::start(binary());
    let (release, old, _, _) = seed_basic(&m);
    let f = Files::new();
    let cfg = f.write("app.yaml", BASIC);
    let saved = f.path("plan.json");

    // Applied as saved.
    let out = m.run(&["plan", s(&cfg), "--out", s(&saved)]);
    assert_eq!(out.status.code(), Some(0));
    let out = m.run_in(
        &["apply", "--plan", s(&saved), s(&cfg), "--auto-approve"],
        Some(f.dir()),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(m.images("team/app").len(), 1);
    let _ = (release, old);

    // Stale: a tag added to an image planned for deletion.
    let m = Moto::start(binary());
    let (_, old, _, _) = seed_basic(&m);
    let out = m.run(&["plan", s(&cfg), "--out", s(&saved)]);
    assert_eq!(out.status.code(), Some(0));
    m.push_image("team/app", "old", &["hotfix"]);
    let before = m.images("team/app");
    let out = m.run_in(
        &["apply", "--plan", s(&saved), s(&cfg), "--auto-approve"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("stale"), "{err}");
    assert!(
        err.contains("+hotfix") || err.contains("+ hotfix"),
        "the refusal shows the diff: {err}"
    );
    assert!(err.contains(&old[..19]), "{err}");
    assert_eq!(m.images("team/app"), before, "nothing deleted");

    // Stale: a tag moved onto another image.
    let m = Moto::start(binary());
    seed_basic(&m);
    let out = m.run(&["plan", s(&cfg), "--out", s(&saved)]);
    assert_eq!(out.status.code(), Some(0));
    m.push_image("team/app", "new-build", &["build-1"]);
    let before = m.images("team/app");
    let out = m.run_in(
        &["apply", "--plan", s(&saved), s(&cfg), "--auto-approve"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(m.images("team/app"), before, "nothing deleted");

    // Another desired state than the plan's.
    let other = f.write("app.yaml", &BASIC.replace("v1.0.0", "v1.0.1"));
    let out = m.run_in(
        &["apply", "--plan", s(&saved), s(&other), "--auto-approve"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("desired-state"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn guards_refuse_before_deleting() {
    let m = Moto::start(binary());
    seed_basic(&m);
    let f = Files::new();
    let nothing = f.write(
        "n.yaml",
        "version: 1\nrepositories:\n  team/app:\n    tags: [nope]\n    untagged: delete\n",
    );
    let before = m.images("team/app");
    let out = m.run_in(&["apply", s(&nothing), "--auto-approve"], Some(f.dir()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "a refused repository is not applied: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("REFUSED"));
    assert_eq!(
        m.images("team/app"),
        before,
        "allow_empty guard: nothing deleted"
    );

    let cfg = f.write("app.yaml", BASIC);
    let out = m.run_in(
        &["apply", s(&cfg), "--auto-approve", "--max-delete", "2"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--max-delete"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        m.images("team/app"),
        before,
        "--max-delete: nothing deleted"
    );

    // Without a terminal and without --auto-approve, apply refuses.
    let out = m.run_in(&["apply", s(&cfg)], Some(f.dir()));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--auto-approve"));
    assert_eq!(m.images("team/app"), before);
}

#[test]
fn batches_of_at_most_100_and_the_fewest_calls() {
    let m = Moto::start(binary());
    m.create_repository("team/big");
    m.push_image("team/big", "keep", &["keep"]);
    for i in 0..250 {
        m.push_image("team/big", &format!("b{i}"), &[&format!("build-{i}")]);
    }
    let f = Files::new();
    let cfg = f.write(
        "big.yaml",
        "version: 1\nrepositories:\n  team/big:\n    tags: [keep]\n",
    );
    let out = m.run_in(
        &["apply", s(&cfg), "--auto-approve", "--format", "json"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = json(&out);
    let calls = &r["api_calls"];
    // Plan: 1 DescribeImages page, no index. Apply (no second listing): per
    // request of 100, side by side, one DescribeImages by id (the confirmation
    // just before) and one BatchGetImage by digest (manifests for the journal), then
    // one BatchDeleteImage.
    assert_eq!(calls["describe_images"], 1 + 3, "{r}");
    // The account is the one that answered the first listing: no DescribeRegistry
    // for it. The registry's replication and pull-through cache rules: two calls.
    assert_eq!(calls["other"], 0, "{r}");
    assert_eq!(calls["registry_settings"], 2, "{r}");
    assert_eq!(calls["get_lifecycle_policy"], 1, "{r}");
    assert_eq!(calls["batch_get_image"], 3, "{r}");
    assert_eq!(calls["batch_delete_image"], 3, "{r}");
    let sizes: Vec<u64> = r["report"]["delete_batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let mut sizes = sizes;
    sizes.sort_unstable();
    assert_eq!(sizes, [50, 100, 100]);
    assert_eq!(r["report"]["images_deleted"], 250);
    assert_eq!(m.images("team/big").len(), 1);
}

#[test]
fn bad_config_makes_no_api_call() {
    // An endpoint that only counts connections: a bad config must not open one.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let f = Files::new();
    let bad = f.write(
        "bad.yaml",
        "version: 1\nrepositories:\n  team/app:\n    tags: []\n",
    );
    for args in [
        vec!["plan", s(&bad)],
        vec!["apply", s(&bad), "--auto-approve"],
    ] {
        let out = crate::common::hermetic()
            .args(&args)
            .args(["--endpoint-url", &url, "--region", "eu-west-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            listener.accept().is_err(),
            "{args:?} connected to the registry"
        );
    }
}

#[test]
fn snapshot_of_the_live_registry_plans_like_the_registry() {
    let m = Moto::start(binary());
    seed_basic(&m);
    let f = Files::new();
    let cfg = f.write("app.yaml", BASIC);
    let out = m.run(&["snapshot", s(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let snap = f.write("state.json", &text(&out.stdout));
    let live = json(&m.run(&["plan", s(&cfg), "--format", "json"]));
    let offline = m.run(&[
        "plan",
        s(&cfg),
        "--format",
        "json",
        "--snapshot",
        s(&snap),
        "--now",
        live["created_at"].as_str().unwrap(),
    ]);
    let offline = json(&offline);
    assert_eq!(
        live["repositories"][0]["actions"],
        offline["repositories"][0]["actions"]
    );
}

#[test]
fn several_regions_in_one_run_and_a_plan_for_another_region_is_refused() {
    let m = Moto::start(binary());
    seed_basic(&m);
    // The same repository name in another region, through an SDK client for it.
    let west2 = m.rt.block_on(async {
        let conf = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new("us-east-1"))
            .endpoint_url(&m.url)
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .build();
        aws_sdk_ecr::Client::from_conf(conf)
    });
    m.rt.block_on(west2.create_repository().repository_name("team/app").send())
        .unwrap();
    let f = Files::new();
    let eu = f.write("eu.yaml", BASIC);
    let us = f.write(
        "us.yaml",
        "version: 1\nregistry:\n  region: us-east-1\nrepositories:\n  team/app:\n    tags: [v1.0.0]\n",
    );
    let out = m.run(&["plan", s(&eu), s(&us), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = json(&out);
    let regions: Vec<&str> = plan["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repository"]["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);
    assert_eq!(plan["repositories"][0]["status"], "changes");
    assert_eq!(
        plan["repositories"][1]["status"], "unchanged",
        "the us-east-1 repository is empty"
    );

    // A plan made with --region eu-west-1 is refused when the files resolve elsewhere.
    let saved = f.path("plan.json");
    assert_eq!(
        m.run(&["plan", s(&eu), "--out", s(&saved)]).status.code(),
        Some(0)
    );
    let before = m.images("team/app");
    let mut cmd = crate::common::hermetic();
    let out = cmd
        .current_dir(f.dir())
        .args([
            "apply",
            "--plan",
            s(&saved),
            s(&eu),
            "--auto-approve",
            "--endpoint-url",
            &m.url,
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the plan was made for"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(m.images("team/app"), before, "nothing deleted");
}

/// Manifests are read from ECR once: a second plan reads none (they come from the
/// cache, in the run's home folder by default), apply reads only those the plans did
/// not, and `--no-cache` reads them every time.
#[test]
fn each_manifest_is_read_from_ecr_once() {
    let m = Moto::start(binary());
    m.create_repository("team/multi");
    let a = m.push_image("team/multi", "v1-amd64", &[]);
    let b = m.push_image("team/multi", "v1-arm64", &[]);
    let list = m.push_index("team/multi", &[&a, &b], &["old-list"]);
    m.push_image("team/multi", "release", &["v1"]);
    let f = Files::new();
    let cfg = f.write(
        "m.yaml",
        "version: 1\nrepositories:\n  team/multi:\n    tags: [v1]\n    untagged: delete\n",
    );
    let reads = |args: &[&str]| {
        let out = m.run_in(args, Some(f.dir()));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        json(&out)["api_calls"]["batch_get_image"].as_u64().unwrap()
    };
    let plan = ["plan", s(&cfg), "--format", "json"];
    let no_cache = ["plan", s(&cfg), "--format", "json", "--no-cache"];
    // One BatchGetImage for the index's manifest, one for the other images' (for
    // the bytes the plan frees).
    assert_eq!(
        reads(&no_cache),
        2,
        "the index's manifest, then the images'"
    );
    assert_eq!(reads(&no_cache), 2, "again, without the cache");
    assert_eq!(reads(&plan), 2, "read once, and cached");
    let entry = m
        .binary()
        .home()
        .join(".cache/ecr-reconcile/manifests/sha256")
        .join(list.trim_start_matches("sha256:"));
    assert!(
        entry.is_file(),
        "the default cache is in the user's cache folder"
    );
    assert_eq!(reads(&plan), 0, "a second plan reads no manifest");

    // Apply: its plan reads nothing, the journal needs the index and its two
    // children (all cached by the plans); before the children go, whether their
    // index is gone is asked of ECR, never of the cache (one BatchGetImage).
    let out = m.run_in(
        &["apply", s(&cfg), "--auto-approve", "--format", "json"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["api_calls"]["batch_get_image"], 1);
    assert_eq!(json(&out)["report"]["images_deleted"], 3);

    // --cache-dir puts the cache elsewhere.
    let dir = f.path("cache");
    m.push_index(
        "team/multi",
        &[&m.push_image("team/multi", "c", &[])],
        &["old-2"],
    );
    let elsewhere = ["plan", s(&cfg), "--format", "json", "--cache-dir", s(&dir)];
    assert_eq!(reads(&elsewhere), 2);
    assert_eq!(reads(&elsewhere), 0);
    // The index, its child and the release.
    assert_eq!(
        std::fs::read_dir(dir.join("manifests/sha256"))
            .unwrap()
            .count(),
        3
    );
}

#[test]
fn explain_reads_the_live_registry_as_plan_does() {
    let m = Moto::start(binary());
    let (release, _, older, leftover) = seed_basic(&m);
    let f = Files::new();
    let cfg = f.write("app.yaml", BASIC);
    let explain = |image: &str| json(&m.run(&["explain", image, s(&cfg), "--format", "json"]));
    let e = explain("team/app:rc-7");
    assert_eq!(e["digest"], release.as_str());
    assert_eq!(e["verdict"]["outcome"], "untagged");
    assert_eq!(e["verdict"]["tags_removed"], serde_json::json!(["rc-7"]));
    assert_eq!(e["steps"][0]["effect"], "keeps");
    let e = explain("team/app:build-0-debug");
    assert_eq!(e["digest"], older.as_str());
    assert_eq!(e["verdict"]["outcome"], "deleted");
    let e = explain(&format!("team/app@{leftover}"));
    assert_eq!(e["verdict"]["outcome"], "deleted");
    assert_eq!(
        e["steps"].as_array().unwrap().last().unwrap()["source"],
        "untagged"
    );
    // Nothing was removed: a plan still has the same four actions.
    let out = m.run(&["plan", s(&cfg), "--format", "json"]);
    assert_eq!(
        json(&out)["repositories"][0]["actions"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}
