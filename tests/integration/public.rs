//! ECR Public end to end: the real binary against the test kit's loopback ECR Public
//! (its JSON 1.1 API and its registry's OCI distribution API on one port), alone, in
//! one run with moto's private ECR, and behind the fault proxy.
//!
//! The loopback server follows the API reference where moto has nothing: pages of at
//! most 1000, 1 to 100 image ids, children of an index refusing deletion while the
//! index exists, manifests only over the distribution API with a pull token.

use std::path::Path;
use std::process::Output;

use crate::common::{Files, binary};
use testkit::ClosedPort;
use testkit::ecr_public::EcrPublic;
use testkit::moto::{Moto, text};
use testkit::proxy::{Faults, Proxy};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn said(out: &Output) -> String {
    format!("{}\n{}", text(&out.stdout), text(&out.stderr))
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", said(out)))
}

/// Runs the binary with ECR Public's API and registry at `public`, and private ECR at
/// `private` (a closed port when the test has no private repository).
fn run(private: &str, public: &str, args: &[&str], dir: Option<&Path>) -> Output {
    let mut all = args.to_vec();
    all.extend([
        "--public-endpoint-url",
        public,
        "--public-registry-url",
        public,
    ]);
    binary()
        .command(private, &all, dir)
        .output()
        .expect("the binary runs")
}

/// A public repository: a release, old builds (one signed), an index whose children
/// are untagged, an untagged leftover.
struct Seeded {
    release: String,
    old: String,
    signature: String,
    index: String,
    children: [String; 2],
    leftover: String,
}

fn seed(p: &EcrPublic) -> Seeded {
    p.create_repository("tools/cli");
    let release = p.push_image("tools/cli", "release", &["v1.0.0", "rc-7"]);
    let old = p.push_image("tools/cli", "old", &["build-1"]);
    let signature = p.push_signature("tools/cli", &old);
    let amd = p.push_image("tools/cli", "amd64", &[]);
    let arm = p.push_image("tools/cli", "arm64", &[]);
    let index = p.push_index("tools/cli", &[&amd, &arm], &["multi-1"]);
    let leftover = p.push_image("tools/cli", "leftover", &[]);
    Seeded {
        release,
        old,
        signature,
        index,
        children: [amd, arm],
        leftover,
    }
}

fn public_file(alias: &str) -> String {
    format!(
        "version: 1\nregistry:\n  public: {alias}\nrepositories:\n  tools/cli:\n    tags:\n      - v1.0.0\n    untagged: delete\n"
    )
}

#[test]
fn untag_delete_an_index_with_its_children_and_a_signature_then_nothing_left_to_do() {
    let p = EcrPublic::start();
    let seeded = seed(&p);
    let closed = ClosedPort::new();
    let f = Files::new();
    let cfg = f.write("public.yaml", &public_file(p.alias()));

    let out = run(
        &closed.url,
        &p.url(),
        &["plan", s(&cfg), "--format", "json", "--detailed-exitcode"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let plan = json(&out);
    let repo = &plan["repositories"][0];
    assert_eq!(repo["repository"]["public_alias"], p.alias());
    assert_eq!(repo["repository"]["account"], p.account());
    assert!(repo["repository"].get("region").is_none(), "{repo}");
    let actions = repo["actions"].as_array().unwrap();
    let kind_of = |d: &str| {
        actions
            .iter()
            .find(|a| a["digest"] == d)
            .map(|a| a["kind"].as_str().unwrap().to_owned())
    };
    assert_eq!(kind_of(&seeded.release).as_deref(), Some("untag"));
    for d in [
        &seeded.old,
        &seeded.signature,
        &seeded.index,
        &seeded.leftover,
    ] {
        assert_eq!(kind_of(d).as_deref(), Some("delete"), "{d}: {repo}");
    }
    for c in &seeded.children {
        assert_eq!(kind_of(c).as_deref(), Some("delete"), "child {c}: {repo}");
    }
    // The index was read from the registry (no BatchGetImage in ECR Public).
    assert!(
        plan["api_calls"]["ecr_public"]["manifest_gets"].as_u64() >= Some(1),
        "{}",
        plan["api_calls"]
    );
    assert_eq!(plan["api_calls"]["batch_get_image"], 0);

    // The human plan names the public registry.
    let out = run(&closed.url, &p.url(), &["plan", s(&cfg)], None);
    assert!(
        text(&out.stdout).contains(&format!("public.ecr.aws/{}", p.alias())),
        "{}",
        said(&out)
    );

    p.clear_calls();
    let out = run(
        &closed.url,
        &p.url(),
        &["apply", s(&cfg), "--auto-approve", "--format", "json"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let report = json(&out);
    assert_eq!(report["report"]["images_deleted"], 6, "{report}");
    assert!(report["api_calls"]["ecr_public"]["batch_delete_image"].as_u64() >= Some(2));
    let images = p.images("tools/cli");
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[&seeded.release], vec!["v1.0.0".to_owned()]);
    let calls = p.calls();
    assert_eq!(calls.get("BatchGetImage"), None, "{calls:?}");
    // Authenticated pulls: one GetAuthorizationToken per run, one pull token per
    // repository.
    assert_eq!(calls.get("GetAuthorizationToken"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("GetToken"), Some(&1), "{calls:?}");

    let out = run(
        &closed.url,
        &p.url(),
        &["plan", s(&cfg), "--detailed-exitcode"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
}

#[test]
fn a_saved_plan_is_applied_as_reviewed_and_restore_gives_everything_back() {
    let p = EcrPublic::start();
    let seeded = seed(&p);
    let before = p.images("tools/cli");
    let closed = ClosedPort::new();
    let f = Files::new();
    let cfg = f.write("public.yaml", &public_file(p.alias()));
    let saved = f.path("plan.json");
    let journal = f.path("journal.jsonl");

    let out = run(
        &closed.url,
        &p.url(),
        &["plan", s(&cfg), "--out", s(&saved)],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let out = run(
        &closed.url,
        &p.url(),
        &[
            "apply",
            "--plan",
            s(&saved),
            s(&cfg),
            "--auto-approve",
            "--journal",
            s(&journal),
        ],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert_eq!(p.images("tools/cli").len(), 1);
    // The journal names the public registry, and holds each manifest removed.
    let lines = std::fs::read_to_string(&journal).unwrap();
    assert!(
        lines.contains(&format!("\"public_alias\":\"{}\"", p.alias())),
        "{lines}"
    );
    assert!(!lines.contains("\"region\""), "{lines}");

    let out = run(
        &closed.url,
        &p.url(),
        &["restore", s(&journal), "--auto-approve", "--format", "json"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let report = json(&out);
    assert!(
        report["api_calls"]["ecr_public"]["put_image"].as_u64() >= Some(6),
        "{report}"
    );
    assert_eq!(p.images("tools/cli"), before, "restored as it was");
    let _ = seeded;
}

#[test]
fn one_run_plans_and_applies_private_and_public_repositories_of_the_same_name() {
    let m = Moto::start(binary());
    let p = EcrPublic::start();
    // The same name in both registries: each file changes only its own.
    m.create_repository("tools/cli");
    let private_keep = m.push_image("tools/cli", "p-release", &["v1.0.0"]);
    let private_old = m.push_image("tools/cli", "p-old", &["v0.9.0"]);
    let seeded = seed(&p);
    let f = Files::new();
    let private = f.write(
        "private.yaml",
        "version: 1\nrepositories:\n  tools/cli:\n    tags:\n      - v1.0.0\n      - build-1\n",
    );
    let public = f.write("public.yaml", &public_file(p.alias()));

    let out = run(
        &m.url,
        &p.url(),
        &["plan", s(&private), s(&public), "--format", "json"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let plan = json(&out);
    let repos = plan["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 2);
    assert_eq!(repos[0]["repository"]["region"], testkit::moto::REGION);
    assert!(repos[0]["repository"].get("public_alias").is_none());
    assert_eq!(repos[1]["repository"]["public_alias"], p.alias());
    // The private allow-list keeps `build-1`; the public one does not.
    let digests = |r: &serde_json::Value| -> Vec<String> {
        r["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(digests(&repos[0]), vec![private_old.clone()]);
    assert!(digests(&repos[1]).contains(&seeded.old));
    assert!(plan["api_calls"]["describe_images"].as_u64() >= Some(1));
    assert!(plan["api_calls"]["ecr_public"]["describe_images"].as_u64() >= Some(1));

    let out = run(
        &m.url,
        &p.url(),
        &["apply", s(&private), s(&public), "--auto-approve"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let private_images = m.images("tools/cli");
    assert_eq!(private_images.len(), 1, "{private_images:?}");
    assert!(private_images.contains_key(&private_keep));
    assert_eq!(p.images("tools/cli").len(), 1);
    assert!(p.images("tools/cli").contains_key(&seeded.release));
}

#[test]
fn an_alias_nobody_owns_stops_the_run_before_any_read_or_removal() {
    let p = EcrPublic::start();
    seed(&p);
    let before = p.images("tools/cli");
    let closed = ClosedPort::new();
    let f = Files::new();
    for cfg in [
        public_file("someone-else"),
        public_file(p.alias()).replace("registry:\n", "registry:\n  account: \"210987654321\"\n"),
    ] {
        let cfg = f.write("public.yaml", &cfg);
        p.clear_calls();
        let out = run(
            &closed.url,
            &p.url(),
            &["apply", s(&cfg), "--auto-approve"],
            Some(f.dir()),
        );
        assert_eq!(out.status.code(), Some(1), "{}", said(&out));
        assert!(text(&out.stderr).contains("alias"), "{}", said(&out));
        let calls = p.calls();
        assert_eq!(calls.get("DescribeImages"), None, "{calls:?}");
        assert_eq!(calls.get("BatchDeleteImage"), None, "{calls:?}");
        assert_eq!(p.images("tools/cli"), before);
    }
}

#[test]
fn throttling_and_server_errors_of_both_apis_are_retried_to_the_same_result() {
    let p = EcrPublic::start();
    let seeded = seed(&p);
    // The API's faults come from the proxy (HTTP 400 ThrottlingException, 500), the
    // registry's from the server (HTTP 429 TOOMANYREQUESTS, 500 UNKNOWN), as each
    // answers them.
    let proxy = Proxy::start(
        &p.url(),
        Faults {
            throttle: 0.25,
            server_error: 0.15,
            seed: 13,
            operations: vec!["DescribeRegistries", "DescribeImages", "BatchDeleteImage"],
            ..Faults::default()
        },
    );
    p.fail_next("GetManifest", "TOOMANYREQUESTS", 2);
    p.fail_next("GetManifest", "ServerException", 1);
    p.fail_next("GetToken", "TOOMANYREQUESTS", 1);
    let closed = ClosedPort::new();
    let f = Files::new();
    let cfg = f.write("public.yaml", &public_file(p.alias()));
    let out = run(
        &closed.url,
        &proxy.url,
        &[
            "apply",
            s(&cfg),
            "--auto-approve",
            "--format",
            "json",
            "--max-attempts",
            "10",
        ],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let report = json(&out);
    assert!(report["retries"]["retries"].as_u64() >= Some(4), "{report}");
    assert!(
        report["retries"]["throttled"].as_u64() >= Some(3),
        "{report}"
    );
    assert!(proxy.count("BatchDeleteImage") >= 2);
    let images = p.images("tools/cli");
    assert_eq!(images.len(), 1, "{images:?}");
    assert!(images.contains_key(&seeded.release));
}

#[test]
fn a_snapshot_of_private_and_public_repositories_plans_offline_like_the_registries() {
    let m = Moto::start(binary());
    let p = EcrPublic::start();
    m.create_repository("tools/cli");
    m.push_image("tools/cli", "p-release", &["v1.0.0"]);
    m.push_image("tools/cli", "p-old", &["v0.9.0"]);
    seed(&p);
    let f = Files::new();
    let private = f.write(
        "private.yaml",
        "version: 1\nrepositories:\n  tools/cli:\n    tags:\n      - v1.0.0\n",
    );
    let public = f.write("public.yaml", &public_file(p.alias()));
    let out = run(
        &m.url,
        &p.url(),
        &["snapshot", s(&private), s(&public)],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let snapshot: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let registries = snapshot["registries"].as_array().unwrap();
    assert_eq!(registries.len(), 2, "{snapshot}");
    assert_eq!(registries[1]["public_alias"], p.alias());
    // ECR Public reports no status and no pull time: the snapshot has none.
    let public_images = registries[1]["repositories"][0]["images"]
        .as_array()
        .unwrap();
    assert!(public_images.iter().all(|i| i.get("status").is_none()));
    // The index's manifest is kept, read from the registry.
    assert!(
        public_images
            .iter()
            .any(|i| i.get("manifest").is_some() || i.get("children").is_some())
    );
    let snap = f.write("state.json", &text(&out.stdout));

    let live = json(&run(
        &m.url,
        &p.url(),
        &["plan", s(&private), s(&public), "--format", "json"],
        None,
    ));
    let offline = json(&run(
        &m.url,
        &p.url(),
        &[
            "plan",
            s(&private),
            s(&public),
            "--format",
            "json",
            "--snapshot",
            s(&snap),
            "--now",
            live["created_at"].as_str().unwrap(),
        ],
        None,
    ));
    for i in 0..2 {
        assert_eq!(
            live["repositories"][i]["repository"],
            offline["repositories"][i]["repository"]
        );
        assert_eq!(
            live["repositories"][i]["actions"],
            offline["repositories"][i]["actions"]
        );
    }
    assert!(offline["api_calls"]["ecr_public"]["describe_images"].as_u64() >= Some(1));
}

#[test]
fn import_of_a_public_alias_writes_a_file_that_plans_nothing() {
    let p = EcrPublic::start();
    seed(&p);
    p.create_repository("tools/other");
    p.push_image("tools/other", "x", &["latest"]);
    let closed = ClosedPort::new();
    let f = Files::new();
    let out = run(
        &closed.url,
        &p.url(),
        &["import", "--public", p.alias(), "tools/*"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let yaml = text(&out.stdout);
    assert!(
        yaml.contains(&format!("  public: {}\n", p.alias())),
        "{yaml}"
    );
    assert!(!yaml.contains("region:"), "{yaml}");
    let cfg = f.write("imported.yaml", &yaml);
    let out = run(
        &closed.url,
        &p.url(),
        &["plan", s(&cfg), "--detailed-exitcode"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));

    let out = run(
        &closed.url,
        &p.url(),
        &["import", "--public", "not-ours"],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(text(&out.stderr).contains("not-ours"), "{}", said(&out));
}

#[test]
fn without_get_authorization_token_manifests_are_read_with_anonymous_pulls() {
    let p = EcrPublic::start();
    let seeded = seed(&p);
    p.fail_next("GetAuthorizationToken", "AccessDeniedException", 1);
    let closed = ClosedPort::new();
    let f = Files::new();
    let cfg = f.write("public.yaml", &public_file(p.alias()));
    let out = run(
        &closed.url,
        &p.url(),
        &["plan", s(&cfg), "--format", "json", "-v"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        text(&out.stderr).contains("anonymous pulls"),
        "{}",
        said(&out)
    );
    let plan = json(&out);
    let actions = plan["repositories"][0]["actions"].as_array().unwrap();
    for c in &seeded.children {
        assert!(
            actions.iter().any(|a| a["digest"] == c.as_str()),
            "the index was read: {plan}"
        );
    }
}

#[test]
fn a_private_run_never_calls_ecr_public_and_a_bad_registry_url_is_refused() {
    let m = Moto::start(binary());
    let p = EcrPublic::start();
    seed(&p);
    m.create_repository("tools/cli");
    m.push_image("tools/cli", "p-release", &["v1.0.0"]);
    let f = Files::new();
    let private = f.write(
        "private.yaml",
        "version: 1\nrepositories:\n  tools/cli:\n    tags:\n      - v1.0.0\n",
    );
    let out = run(
        &m.url,
        &p.url(),
        &["plan", s(&private), "--format", "json"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(p.calls().is_empty(), "{:?}", p.calls());
    assert!(json(&out)["api_calls"].get("ecr_public").is_none());

    let public = f.write("public.yaml", &public_file(p.alias()));
    let out = binary()
        .command(
            &m.url,
            &[
                "apply",
                s(&public),
                "--auto-approve",
                "--public-endpoint-url",
                &p.url(),
                "--public-registry-url",
                "ftp://example.invalid",
            ],
            Some(f.dir()),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        text(&out.stderr).contains("--public-registry-url"),
        "{}",
        said(&out)
    );
    assert!(p.calls().is_empty(), "{:?}", p.calls());
}

#[test]
fn an_ecr_public_image_in_use_stays_and_the_plan_says_why() {
    let p = EcrPublic::start();
    let seeded = seed(&p);
    let closed = ClosedPort::new();
    let f = Files::new();
    // `old` (build-1) runs somewhere, named by its public URI; a private repository of
    // the same name elsewhere would not be kept by it.
    f.write(
        "in-use.txt",
        &format!(
            "public.ecr.aws/{}/tools/cli:build-1\n123456789012.dkr.ecr.us-east-1.amazonaws.com/tools/cli@{}\n",
            p.alias(),
            seeded.leftover
        ),
    );
    let cfg = f.write(
        "public.yaml",
        &format!("{}in_use:\n  lists: [in-use.txt]\n", public_file(p.alias())),
    );
    let out = run(
        &closed.url,
        &p.url(),
        &["plan", s(&cfg), "--format", "json"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let plan = json(&out);
    let repo = &plan["repositories"][0];
    let deleted: Vec<&str> = repo["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "delete")
        .map(|a| a["digest"].as_str().unwrap())
        .collect();
    assert!(!deleted.contains(&seeded.old.as_str()), "{repo}");
    // Its signature follows it; the leftover, named only by a private URI, goes.
    assert!(!deleted.contains(&seeded.signature.as_str()), "{repo}");
    assert!(deleted.contains(&seeded.leftover.as_str()), "{repo}");
    let kept = &repo["in_use"][0];
    assert_eq!(kept["digest"], seeded.old.as_str());
    assert_eq!(kept["tags"][0], "build-1");
    assert_eq!(kept["uses"][0]["line"], 1);
    assert_eq!(kept["uses"][0]["source"], "list");
}

#[test]
fn an_untagged_referrer_of_a_kept_public_image_stays_and_one_of_a_removed_image_goes_first() {
    let p = EcrPublic::start();
    p.create_repository("tools/cli");
    let release = p.push_image("tools/cli", "release", &["v1.0.0"]);
    let old = p.push_image("tools/cli", "old", &["build-1"]);
    let kept_sbom = p.push_referrer("tools/cli", &release);
    let old_sbom = p.push_referrer("tools/cli", &old);
    let leftover = p.push_image("tools/cli", "leftover", &[]);
    let closed = ClosedPort::new();
    let f = Files::new();
    let cfg = f.write("public.yaml", &public_file(p.alias()));

    let out = run(
        &closed.url,
        &p.url(),
        &["plan", s(&cfg), "--format", "json"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let plan = json(&out);
    let actions = plan["repositories"][0]["actions"].as_array().unwrap();
    let wave_of = |d: &str| {
        actions
            .iter()
            .find(|a| a["digest"] == d)
            .map(|a| a["wave"].as_u64().unwrap())
    };
    assert_eq!(
        wave_of(&kept_sbom),
        None,
        "the referrer of a kept image stays: {actions:#?}"
    );
    let (sbom, subject) = (wave_of(&old_sbom).unwrap(), wave_of(&old).unwrap());
    assert!(
        sbom < subject,
        "the referrer goes before its subject: {sbom} {subject}"
    );
    assert!(
        wave_of(&leftover).is_some(),
        "a plain untagged image still goes"
    );
    // Every untagged image's manifest was read, once each, to learn its subject.
    assert!(
        plan["api_calls"]["ecr_public"]["manifest_gets"].as_u64() >= Some(3),
        "{}",
        plan["api_calls"]
    );

    let out = run(
        &closed.url,
        &p.url(),
        &["apply", s(&cfg), "--auto-approve"],
        Some(f.dir()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let left: Vec<String> = p.images("tools/cli").into_keys().collect();
    let mut expected = vec![release, kept_sbom];
    expected.sort();
    assert_eq!(left, expected);
}

/// apply's confirmation just before each removal reads the repository again, and ECR
/// Public's DescribeImages gives no subject: the confirmation must keep the plan's view
/// of referrers all the same. A referrer whose subject gained a tag since the plan (so
/// the subject stays) stays with it; a referrer of a removed image is removed in an
/// earlier request than its subject.
#[test]
fn at_apply_a_public_referrer_follows_its_subject_as_the_registry_is_now() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use testkit::proxy::{Phase, Verdict};

    let p = Arc::new(EcrPublic::start());
    p.create_repository("tools/cli");
    let release = p.push_image("tools/cli", "release", &["v1.0.0"]);
    let old = p.push_image("tools/cli", "old", &["build-1"]);
    let older = p.push_image("tools/cli", "older", &["build-0"]);
    let old_sbom = p.push_referrer("tools/cli", &old);
    let older_sbom = p.push_referrer("tools/cli", &older);
    let proxy = Proxy::start(&p.url(), Faults::default());
    let deletes: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    {
        let (p, deletes, old) = (p.clone(), deletes.clone(), old.clone());
        let tagged = AtomicBool::new(false);
        proxy.set_hook(move |seen, phase| {
            if phase != Phase::Before {
                return Verdict::Pass;
            }
            // Before the first confirmation, another client tags `old` (with a tag the
            // file does not allow): it now stays, and needs its referrer.
            if seen.operation == "DescribeImages"
                && seen.image_ids > 0
                && !tagged.swap(true, Ordering::SeqCst)
            {
                let manifest = p.manifest("tools/cli", &old).unwrap();
                p.put("tools/cli", &manifest, Some("hotfix"));
            }
            if seen.operation == "BatchDeleteImage" {
                let ids = seen.body["imageIds"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                deletes.lock().unwrap().push(
                    ids.iter()
                        .map(|i| {
                            i["imageDigest"]
                                .as_str()
                                .or(i["imageTag"].as_str())
                                .unwrap_or_default()
                                .to_owned()
                        })
                        .collect(),
                );
            }
            Verdict::Pass
        });
    }
    let closed = ClosedPort::new();
    let f = Files::new();
    let cfg = f.write("public.yaml", &public_file(p.alias()));
    let out = run(
        &closed.url,
        &proxy.url,
        &["apply", s(&cfg), "--auto-approve", "--format", "json"],
        Some(f.dir()),
    );
    let report = json(&out);
    let images = p.images("tools/cli");
    assert!(
        images.contains_key(&old) && images.contains_key(&old_sbom),
        "the image that gained a tag stays, and its referrer with it: {images:?}\n{report:#}"
    );
    let skipped = report["report"]["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["digest"] == old_sbom.as_str()
            && s["reason"].as_str().unwrap().contains("needs it")),
        "{report:#}"
    );
    assert!(
        !images.contains_key(&older) && !images.contains_key(&older_sbom),
        "{images:?}"
    );
    assert!(images.contains_key(&release));
    // The removed image's referrer went in an earlier request than the image.
    let deletes = deletes.lock().unwrap();
    let request_of = |d: &str| deletes.iter().position(|ids| ids.iter().any(|i| i == d));
    let (sbom, subject) = (request_of(&older_sbom), request_of("build-0"));
    assert!(
        sbom.is_some() && subject.is_some() && sbom < subject,
        "referrer in request {sbom:?}, its subject in {subject:?}: {deletes:?}"
    );
    assert!(
        request_of(&old_sbom).is_none(),
        "never asked to remove the kept referrer: {deletes:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
}
