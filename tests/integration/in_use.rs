//! Images in use, end to end: the fixtures of each source (kubectl JSON, files with
//! references that must and must not match, list files), and the binary planning
//! and applying the bundled example with them: an image in use survives, with the
//! tag it is referenced by. A source that cannot be read stops the run before any
//! removal.

use std::path::{Path, PathBuf};
use std::process::Output;

use ecr_reconcile::config;
use ecr_reconcile::model::{AccountId, Region, RegistryLocation, RepositoryName, RepositoryRef};

const SNAPSHOT: &str = "examples/snapshot.json";
const EXAMPLES: &str = "examples/desired";
const IN_USE: &str = "tests/fixtures/in-use/desired";
/// The images of `payments/api` that the fixtures name.
const V1_1_0: &str = "sha256:69bc7e2a1478a6c349d7a4a9284b2ae7364d4b02c638a3c950e75e7243c3f99b";
const V1_2_0: &str = "sha256:f63c5436116afac663fb3c9ae1d16aa4f7d5a9faa40d0cbc3f2476930573262e";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    let mut cmd = crate::common::hermetic();
    cmd.current_dir(root()).args(args);
    cmd.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn payments(name: &str) -> RepositoryRef {
    RepositoryRef {
        registry: RegistryLocation::private(
            AccountId::parse("123456789012").unwrap(),
            Region::parse("eu-west-1").unwrap(),
        ),
        name: RepositoryName::parse(name).unwrap(),
    }
}

#[test]
fn each_source_finds_what_runs_and_nothing_else() {
    let state = config::load(&[root().join(IN_USE)]).unwrap();
    let read = ecr_reconcile::ops::in_use::read(&state.in_use, None, None, &[]);
    let set = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(read)
        .unwrap();
    let fixtures = root().join("tests/fixtures/in-use");
    let shown = |site: &ecr_reconcile::in_use::UseSite| {
        let file = site
            .file
            .as_ref()
            .map(|f| f.replace(&fixtures.display().to_string(), ""));
        let mut s = site.clone();
        s.file = file;
        let image = site.reference.rsplit('/').next().unwrap().to_owned();
        format!("{image} <- {s}")
    };
    let mut api: Vec<String> = set
        .for_repository(&payments("payments/api"))
        .iter()
        .map(|u| shown(&u.site))
        .collect();
    api.sort();
    assert_eq!(
        api,
        [
            "api:v1.0.0 <- /deploy/app.yaml:11",
            "api:v1.1.0 <- pod payments/api-7d9f-x2x container api (/pods.json)",
            "api:v1.2.0 <- /images.json:2",
            "api:v1.2.0 <- /images.txt:2",
            "api:v1.3.8 <- /deploy/main.tf:3",
            "api:v1.4.1 <- /deploy/taskdef.json:4",
            &format!("api@{V1_1_0} <- pod payments/api-7d9f-x2x container api (/pods.json)"),
            &format!(
                "api@{V1_2_0} <- pod payments/api-7d9f-x2x container migrate (init) (/pods.json)"
            ),
        ]
    );
    let mut worker: Vec<String> = set
        .for_repository(&payments("payments/worker"))
        .iter()
        .map(|u| shown(&u.site))
        .collect();
    worker.sort();
    assert_eq!(
        worker,
        [
            "worker:v2.0.1 <- /deploy/values.yaml:8",
            "worker@sha256:0000000000000000000000000000000000000000000000000000000000000001 <- /deploy/compose.yml:5",
        ]
    );
    // References in another region or account are of other repositories, never of
    // these; other registries (but ECR Public's), templated and invalid tags are
    // nothing at all.
    let mut other = payments("payments/api");
    other.registry = RegistryLocation::private(
        other.registry.account().clone(),
        Region::parse("us-east-1").unwrap(),
    );
    assert_eq!(set.for_repository(&other).len(), 1);
    other = payments("payments/api");
    other.registry = RegistryLocation::private(
        AccountId::parse("210987654321").unwrap(),
        other.registry.region().unwrap().clone(),
    );
    assert_eq!(set.for_repository(&other).len(), 1);
    // `public.ecr.aws/payments/api:v1.3.0` is of the ECR Public repository
    // `payments/api` of the alias `payments` (whatever its account), never of the
    // private one; `public.ecr.aws/example/tool:v1` is of another public repository.
    let public = |alias: &str, name: &str| RepositoryRef {
        registry: RegistryLocation::public(
            AccountId::parse("999999999999").unwrap(),
            ecr_reconcile::model::PublicAlias::parse(alias).unwrap(),
        ),
        name: RepositoryName::parse(name).unwrap(),
    };
    let sites = |r: &RepositoryRef| -> Vec<String> {
        set.for_repository(r)
            .iter()
            .map(|u| shown(&u.site))
            .collect()
    };
    assert_eq!(
        sites(&public("payments", "payments/api")),
        Vec::<String>::new()
    );
    assert_eq!(
        sites(&public("payments", "api")),
        ["api:v1.3.0 <- /deploy/app.yaml:17"]
    );
    assert_eq!(
        sites(&public("example", "tool")),
        ["tool:v1 <- /images.json:3"]
    );
    assert_eq!(set.len(), 14, "no use elsewhere");
}

fn plan_json(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn repo<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"]["name"] == name)
        .unwrap()
}

/// Every (kind, digest, tag) the plan removes in `name`.
fn removals(plan: &serde_json::Value, name: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for a in repo(plan, name)["actions"].as_array().unwrap() {
        for t in a["tags"].as_array().unwrap() {
            out.push((
                a["kind"].as_str().unwrap().to_owned(),
                a["digest"].as_str().unwrap().to_owned(),
                t.as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

#[test]
fn the_plan_keeps_images_in_use_and_says_why() {
    let before = plan_json(&["plan", "--snapshot", SNAPSHOT, EXAMPLES, "--format", "json"]);
    let after = plan_json(&[
        "plan",
        "--snapshot",
        SNAPSHOT,
        EXAMPLES,
        IN_USE,
        "--format",
        "json",
    ]);
    let removed_before = removals(&before, "payments/api");
    let removed_after = removals(&after, "payments/api");
    let removes = |r: &[(String, String, String)], tag: &str| r.iter().any(|(_, _, t)| t == tag);
    // Without the sources these go; with them they stay.
    for tag in ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.8", "v1.4.1"] {
        assert!(
            removes(&removed_before, tag),
            "{tag} is removed without in_use"
        );
        assert!(
            !removes(&removed_after, tag),
            "{tag} is in use: {removed_after:?}"
        );
    }
    // The signature of an image in use follows it.
    let sig = format!("sha256-{}.sig", &V1_1_0[7..]);
    assert!(removes(&removed_before, &sig) && !removes(&removed_after, &sig));
    // What must not match keeps nothing: v1.3.0 is untagged as before.
    assert!(removes(&removed_after, "v1.3.0"));

    let in_use = repo(&after, "payments/api")["in_use"].as_array().unwrap();
    let v110 = in_use.iter().find(|u| u["digest"] == V1_1_0).unwrap();
    assert_eq!(v110["tags"], serde_json::json!(["v1.1.0"]));
    let uses = v110["uses"].as_array().unwrap();
    assert!(uses.iter().all(|u| u["source"] == "kubernetes"
        && u["pod"] == "payments/api-7d9f-x2x"
        && u["container"] == "api"));
    let codes: Vec<&str> = after["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"in-use-not-allowed"), "{codes:?}");
    assert!(
        codes.contains(&"in-use-not-found"),
        "the worker digest is not in the snapshot: {codes:?}"
    );
    let warning = after["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| {
            w["code"] == "in-use-not-allowed" && w["message"].as_str().unwrap().contains("v1.3.8")
        })
        .unwrap();
    assert_eq!(
        warning["location"]["file"],
        "examples/desired/payments.yaml"
    );
    assert_eq!(warning["location"]["line"], 8);

    for (format, heading) in [
        ("human", "Kept because in use"),
        ("markdown", "#### Kept because in use"),
    ] {
        let out = run(&[
            "plan",
            "--snapshot",
            SNAPSHOT,
            EXAMPLES,
            IN_USE,
            "--format",
            format,
        ]);
        let stdout = text(&out.stdout);
        assert!(stdout.contains(heading), "{format}: {stdout}");
        assert!(stdout.contains("v1.3.8  (in use: "), "{format}: {stdout}");
        assert!(stdout.contains("deploy/main.tf:3"), "{format}: {stdout}");
    }
}

fn snapshot_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("state.json");
    std::fs::copy(root().join(SNAPSHOT), &copy).unwrap();
    copy
}

#[test]
fn apply_leaves_images_in_use_with_their_tags() {
    let dir = tempfile::tempdir().unwrap();
    let state = snapshot_copy(dir.path());
    let journal = dir.path().join("journal.jsonl");
    let state_arg = state.to_str().unwrap();
    let out = run(&[
        "apply",
        "--snapshot",
        state_arg,
        EXAMPLES,
        IN_USE,
        "--auto-approve",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let images: Vec<&serde_json::Value> = snapshot["registries"][0]["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "payments/api")
        .unwrap()["images"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let tags_of = |digest: &str| -> Vec<String> {
        images
            .iter()
            .find(|i| i["digest"] == digest)
            .map(|i| {
                i["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_else(|| panic!("image {digest} was deleted"))
    };
    assert_eq!(tags_of(V1_1_0), ["v1.1.0"]);
    assert!(tags_of(V1_2_0).contains(&"v1.2.0".to_owned()));
    let all_tags: Vec<String> = images
        .iter()
        .flat_map(|i| i["tags"].as_array().into_iter().flatten())
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    for tag in ["v1.0.0", "v1.3.8", "v1.4.1"] {
        assert!(all_tags.contains(&tag.to_owned()), "{tag} was removed");
    }
    assert!(
        !all_tags.contains(&"v1.3.0".to_owned()),
        "v1.3.0 is in use nowhere"
    );
}

/// A desired-state folder with one file: `payments/api` and the `in_use` given.
fn desired_with(dir: &Path, in_use: &str) -> PathBuf {
    let folder = dir.join("desired");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("payments.yaml"),
        format!(
            "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nin_use:\n{in_use}repositories:\n  payments/api:\n    tags: [latest]\n    untagged: delete\n"
        ),
    )
    .unwrap();
    folder
}

#[test]
fn a_source_that_cannot_be_read_stops_the_run_before_any_removal() {
    let pods = root().join("tests/fixtures/in-use/pods.json");
    for (in_use, expect) in [
        (
            "  kubernetes: [missing.json]\n",
            "cannot read the in-use source",
        ),
        ("  lists: [bad.json]\n", "cannot be read: not a JSON array"),
        ("  files: [\"charts/*.yaml\"]\n", "matches no file"),
        (
            "  ecs: {}\n",
            "`in_use.ecs` reads the AWS account, and this run reads a snapshot file",
        ),
        (
            "  lambda: {functions: [report]}\n",
            "`in_use.lambda` reads the AWS account, and this run reads a snapshot file",
        ),
        (
            "  kubernetes:\n    - context: prod-eu\n      namespaces: [payments]\n",
            "`in_use.kubernetes` reads the cluster of context `prod-eu` live, and this run reads a snapshot file",
        ),
        (
            &format!(
                "  kubernetes: [{}]\n  lists: [missing.txt]\n",
                pods.display()
            ),
            "missing.txt",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let state = snapshot_copy(dir.path());
        let before = std::fs::read(&state).unwrap();
        let folder = desired_with(dir.path(), in_use);
        std::fs::write(folder.join("bad.json"), "[\"x\",").unwrap();
        std::fs::create_dir_all(folder.join("charts")).unwrap();
        let out = run(&[
            "apply",
            "--snapshot",
            state.to_str().unwrap(),
            folder.to_str().unwrap(),
            "--auto-approve",
            "--journal",
            dir.path().join("journal.jsonl").to_str().unwrap(),
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{in_use}: {stderr}");
        assert!(stderr.contains(expect), "{in_use}: {stderr}");
        assert!(
            stderr.contains("payments.yaml:"),
            "points at the declaration: {stderr}"
        );
        // Named by its code, as the problems of desired-state files are.
        assert!(
            stderr.lines().any(|l| l.starts_with("error[in_use::")),
            "{in_use}: {stderr}"
        );
        assert_eq!(
            std::fs::read(&state).unwrap(),
            before,
            "{in_use}: nothing removed"
        );
        assert!(!dir.path().join("journal.jsonl").exists(), "{in_use}");
    }
}

#[test]
fn a_deployment_between_plan_and_apply_keeps_its_image() {
    let dir = tempfile::tempdir().unwrap();
    let state = snapshot_copy(dir.path());
    let desired = desired_with(dir.path(), "  lists: [in-use.txt]\n");
    let list = desired.join("in-use.txt");
    std::fs::write(&list, "# nothing deployed yet\n").unwrap();
    let saved = dir.path().join("plan.json");
    let (state_arg, desired_arg) = (state.to_str().unwrap(), desired.to_str().unwrap());
    let out = run(&[
        "plan",
        "--snapshot",
        state_arg,
        desired_arg,
        "--out",
        saved.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        removals(&plan, "payments/api")
            .iter()
            .any(|(_, digest, _)| digest == V1_1_0),
        "v1.1.0 is planned for deletion"
    );
    // A deployment of v1.1.0 starts before the reviewed plan is applied.
    std::fs::write(
        &list,
        format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api@{V1_1_0}\n"),
    )
    .unwrap();
    let before = std::fs::read(&state).unwrap();
    let journal = dir.path().join("journal.jsonl");
    let out = run(&[
        "apply",
        "--snapshot",
        state_arg,
        desired_arg,
        "--plan",
        saved.to_str().unwrap(),
        "--auto-approve",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("removes what the desired state does not ask for"),
        "{err}"
    );
    assert!(err.contains(&V1_1_0[..19]), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), before, "nothing removed");
    // A fresh apply reads the sources again and keeps the image.
    let out = run(&[
        "apply",
        "--snapshot",
        state_arg,
        desired_arg,
        "--auto-approve",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let snapshot = String::from_utf8(std::fs::read(&state).unwrap()).unwrap();
    assert!(snapshot.contains(V1_1_0), "the deployed image survives");
}

const WORKLOADS: &str = "tests/fixtures/in-use/workloads/desired";

/// The `resource` of every use of the image of `tag` in `payments/api`.
fn resources_of(plan: &serde_json::Value, tag: &str) -> Vec<String> {
    let in_use = repo(plan, "payments/api")["in_use"].as_array().unwrap();
    let Some(image) = in_use
        .iter()
        .find(|u| u["tags"].as_array().unwrap().iter().any(|t| t == tag))
    else {
        return Vec::new();
    };
    image["uses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["resource"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn kubernetes_templates_and_rollback_history_in_a_file_keep_their_images() {
    let before = plan_json(&["plan", "--snapshot", SNAPSHOT, EXAMPLES, "--format", "json"]);
    let after = plan_json(&[
        "plan",
        "--snapshot",
        SNAPSHOT,
        EXAMPLES,
        WORKLOADS,
        "--format",
        "json",
    ]);
    let removed_before = removals(&before, "payments/api");
    let removed_after = removals(&after, "payments/api");
    let removes = |r: &[(String, String, String)], tag: &str| r.iter().any(|(_, _, t)| t == tag);
    for tag in ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.8", "v1.4.1"] {
        assert!(removes(&removed_before, tag), "{tag} goes without in_use");
        assert!(
            !removes(&removed_after, tag),
            "{tag} is in use: {removed_after:?}"
        );
    }
    // A suspended CronJob, a Deployment at zero replicas, and every ReplicaSet of a
    // Deployment (its rollback targets), each named in the plan.
    assert_eq!(resources_of(&after, "v1.0.0"), ["cronjob payments/nightly"]);
    assert_eq!(resources_of(&after, "v1.1.0"), ["deployment payments/idle"]);
    assert_eq!(
        resources_of(&after, "v1.2.0"),
        ["deployment payments/api, ReplicaSet api-5c6d (revision 3)"]
    );
    let out = run(&["plan", "--snapshot", SNAPSHOT, EXAMPLES, WORKLOADS, "-v"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "Kubernetes deployment payments/api, ReplicaSet api-7d9f (revision 12) container api"
        ),
        "{stdout}"
    );
    // The Service has no pod template: skipped and counted at -v, not an error.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("(skipped, no pod template: Service 1)"),
        "{stderr}"
    );
}

#[test]
fn the_newest_replicasets_of_a_file_with_replicasets_per_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let workloads = root().join("tests/fixtures/in-use/workloads/workloads.json");
    let folder = dir.path().join("desired");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("in-use.yaml"),
        format!(
            "version: 1\nin_use:\n  kubernetes:\n    - file: {}\n      replicasets_per_deployment: 2\nrepositories: {{}}\n",
            workloads.display()
        ),
    )
    .unwrap();
    let plan = plan_json(&[
        "plan",
        "--snapshot",
        SNAPSHOT,
        EXAMPLES,
        folder.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let removed = removals(&plan, "payments/api");
    let removes = |tag: &str| removed.iter().any(|(_, _, t)| t == tag);
    // Revisions 12 and 4 are the newest two of Deployment api; revision 3 goes.
    assert!(!removes("v1.4.1") && !removes("v1.3.8"), "{removed:?}");
    assert!(removes("v1.2.0"), "{removed:?}");
    assert!(resources_of(&plan, "v1.2.0").is_empty());
    // The CronJob and the Deployment at zero replicas are not history: they stay.
    assert!(!removes("v1.0.0") && !removes("v1.1.0"), "{removed:?}");
}
