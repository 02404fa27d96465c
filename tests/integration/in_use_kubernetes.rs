//! Images in use on Kubernetes clusters read live, end to end: the binary against moto
//! (ECR) and the test kit's loopback Kubernetes API server, reached through a
//! generated kubeconfig by the real kube client. A CronJob's image, a Deployment at
//! zero replicas and a Deployment's ReplicaSets (all, or the newest N) stay; a rollout
//! between plan and apply keeps its image; a paged list is read whole; a refused,
//! unreachable or unauthenticated cluster, a missing context and a failing exec
//! plugin stop the run before any removal.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::binary;
use testkit::ClosedPort;
use testkit::kubernetes::{self, KubeApi};
use testkit::moto::{Moto, text};

const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api";

/// `payments/api` in ECR with `latest` (v1) and one image per tag of `tags`; returns
/// the digests by tag.
fn seed_ecr(m: &Moto, tags: &[&str]) -> std::collections::BTreeMap<String, String> {
    m.create_repository("payments/api");
    let mut out = std::collections::BTreeMap::new();
    out.insert(
        "v1".to_owned(),
        m.push_image("payments/api", "v1", &["v1", "latest"]),
    );
    for t in tags {
        out.insert((*t).to_owned(), m.push_image("payments/api", t, &[t]));
    }
    out
}

fn image(tag: &str) -> String {
    format!("{REPO}:{tag}")
}

/// A cluster: a suspended CronJob (cron), a Deployment at zero replicas (idle), and
/// Deployment `api` with three ReplicaSets (revisions 9, 10 and 12: r9, r10, r12).
fn seed_cluster(k: &KubeApi) {
    k.put(
        "cronjobs",
        kubernetes::cronjob("batch", "nightly", &image("cron"), true),
    );
    k.put(
        "deployments",
        kubernetes::deployment("payments", "idle", 0, &image("idle")),
    );
    k.put(
        "deployments",
        kubernetes::deployment("payments", "api", 3, &image("r12")),
    );
    for (name, revision, tag, replicas) in [
        ("api-5c6d", 9, "r9", 0),
        ("api-6b7c", 10, "r10", 0),
        ("api-7d9f", 12, "r12", 3),
    ] {
        k.put(
            "replicasets",
            kubernetes::replicaset("payments", name, "api", revision, replicas, &image(tag)),
        );
    }
}

/// A desired-state folder: `payments/api` allows only `latest`; `in_use` as given.
fn desired(dir: &Path, in_use: &str) -> PathBuf {
    crate::common::payments_desired(dir, &format!("  kubernetes:\n{in_use}"))
}

/// A cluster entry for context `prod-eu` of the kubeconfig at `kubeconfig`.
fn cluster(kubeconfig: &Path, extra: &str) -> String {
    format!(
        "    - context: prod-eu\n      kubeconfig: {}\n{extra}",
        kubeconfig.display()
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// The tags of the images the plan deletes in `payments/api`.
fn deleted(
    plan: &serde_json::Value,
    digests: &std::collections::BTreeMap<String, String>,
) -> BTreeSet<String> {
    plan["repositories"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "delete")
        .map(|a| {
            let d = a["digest"].as_str().unwrap();
            digests
                .iter()
                .find(|(_, v)| *v == d)
                .map_or_else(|| d.to_owned(), |(t, _)| t.clone())
        })
        .collect()
}

fn set(tags: &[&str]) -> BTreeSet<String> {
    tags.iter().map(|t| (*t).to_owned()).collect()
}

#[test]
fn templates_and_every_replicaset_of_a_deployment_stay_or_the_newest_n() {
    let m = Moto::start(binary());
    let digests = seed_ecr(&m, &["cron", "idle", "r9", "r10", "r12", "old1"]);
    let k = KubeApi::start();
    seed_cluster(&k);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.write_kubeconfig(dir.path(), "prod-eu");
    let d = desired(dir.path(), &cluster(&kubeconfig, ""));
    let plan = json(&m.run(&["plan", s(&d), "--format", "json"]));
    assert_eq!(deleted(&plan, &digests), set(&["old1"]));
    let kept = plan["repositories"][0]["in_use"].as_array().unwrap();
    let r12 = kept.iter().find(|i| i["digest"] == digests["r12"]).unwrap();
    let resources: BTreeSet<String> = r12["uses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert_eq!(u["cluster"], "prod-eu");
            u["resource"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        resources,
        set(&[
            "deployment payments/api",
            "deployment payments/api, ReplicaSet api-7d9f (revision 12)"
        ])
    );
    // One list call per kind: all fit in a page.
    let calls = &plan["in_use_calls"];
    assert_eq!(calls["kubernetes:prod-eu:replicasets"], 1, "{calls:#}");
    assert_eq!(calls.as_object().unwrap().len(), 8, "{calls:#}");
    // The human plan says why, as the issue words it.
    let out = m.run(&["plan", s(&d)]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Kubernetes prod-eu deployment payments/api, ReplicaSet api-5c6d (revision 9) container main"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Kubernetes prod-eu cronjob batch/nightly"),
        "{stdout}"
    );

    // The newest two ReplicaSets of `api`: revision 9 goes.
    let d = desired(
        dir.path(),
        &cluster(&kubeconfig, "      replicasets_per_deployment: 2\n"),
    );
    let plan = json(&m.run(&["plan", s(&d), "--format", "json"]));
    assert_eq!(deleted(&plan, &digests), set(&["old1", "r9"]));
    let journal = dir.path().join("journal.jsonl");
    let out = m.run(&["apply", s(&d), "--auto-approve", "--journal", s(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let left: BTreeSet<String> = m.images("payments/api").into_keys().collect();
    let want: BTreeSet<String> = ["v1", "cron", "idle", "r10", "r12"]
        .iter()
        .map(|t| digests[*t].clone())
        .collect();
    assert_eq!(left, want);
}

#[test]
fn a_rollout_between_plan_and_apply_keeps_its_image() {
    let m = Moto::start(binary());
    let digests = seed_ecr(&m, &["r12", "old1", "old2"]);
    let k = KubeApi::start();
    k.put(
        "deployments",
        kubernetes::deployment("payments", "api", 1, &image("r12")),
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.write_kubeconfig(dir.path(), "prod-eu");
    let d = desired(dir.path(), &cluster(&kubeconfig, ""));
    // The apply's plan lists the 8 kinds; then `api` rolls back to old1 before the
    // apply reads the cluster again, just before removing.
    k.after_lists(8, |c| c.rollout("payments", "api", &image("old1")));
    let journal = dir.path().join("journal.jsonl");
    let out = m.run(&[
        "apply",
        s(&d),
        "--auto-approve",
        "--journal",
        s(&journal),
        "--format",
        "json",
    ]);
    let report = json(&out);
    let left: BTreeSet<String> = m.images("payments/api").into_keys().collect();
    assert!(left.contains(&digests["old1"]), "old1 runs now: {report:#}");
    assert!(!left.contains(&digests["old2"]), "old2 runs nowhere");
    let skipped = report["report"]["skipped"].to_string();
    assert!(skipped.contains("in use now"), "{report:#}");
    assert_eq!(
        report["in_use_calls"]["kubernetes:prod-eu:deployments"], 2,
        "read twice: {report:#}"
    );
}

#[test]
fn a_paged_list_of_1200_pods_is_read_whole() {
    let m = Moto::start(binary());
    let digests = seed_ecr(&m, &["old1", "old2"]);
    let k = KubeApi::start();
    for i in 0..1200 {
        // Only the last pod runs old1 (by digest, as its status resolved it).
        let (tag, digest) = if i == 1199 {
            ("old1", Some(digests["old1"].as_str()))
        } else {
            ("v1", None)
        };
        k.put(
            "pods",
            kubernetes::pod("payments", &format!("web-{i:04}"), &image(tag), digest),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.write_kubeconfig(dir.path(), "prod-eu");
    let d = desired(
        dir.path(),
        &cluster(&kubeconfig, "      namespaces: [payments]\n"),
    );
    let plan = json(&m.run(&["plan", s(&d), "--format", "json"]));
    assert_eq!(deleted(&plan, &digests), set(&["old2"]));
    assert_eq!(
        plan["in_use_calls"]["kubernetes:prod-eu:pods"], 3,
        "pages of 500"
    );
    assert_eq!(k.calls()["/api/v1/namespaces/payments/pods"], 3);
    // An expired continue token restarts the list; the plan is the same.
    k.expire_continues(1);
    let plan = json(&m.run(&["plan", s(&d), "--format", "json"]));
    assert_eq!(deleted(&plan, &digests), set(&["old2"]));
    assert_eq!(plan["in_use_calls"]["kubernetes:prod-eu:pods"], 5);
}

#[test]
fn an_exec_credential_plugin_gives_the_token_and_the_default_kubeconfig_is_found() {
    let m = Moto::start(binary());
    let digests = seed_ecr(&m, &["cron", "old1"]);
    let k = KubeApi::start();
    k.put(
        "cronjobs",
        kubernetes::cronjob("batch", "nightly", &image("cron"), false),
    );
    k.accept_token("from-the-plugin");
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("get-token");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-the-plugin\"}}'\n",
    )
    .unwrap();
    make_executable(&plugin);
    let exec = format!(
        "exec:\n  apiVersion: client.authentication.k8s.io/v1beta1\n  command: {}\n  interactiveMode: Never\n",
        plugin.display()
    );
    // No `kubeconfig:`: the one kubectl would use, ~/.kube/config.
    let kube_dir = m.binary().home().join(".kube");
    std::fs::create_dir_all(&kube_dir).unwrap();
    std::fs::write(kube_dir.join("config"), k.kubeconfig_with("prod-eu", &exec)).unwrap();
    let d = desired(dir.path(), "    - context: prod-eu\n");
    let plan = json(&m.run(&["plan", s(&d), "--format", "json"]));
    assert_eq!(deleted(&plan, &digests), set(&["old1"]));
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_cluster_that_cannot_be_read_stops_the_run_before_any_removal() {
    let m = Moto::start(binary());
    seed_ecr(&m, &["old1"]);
    let before = m.images("payments/api");
    let k = KubeApi::start();
    k.put(
        "pods",
        kubernetes::pod("payments", "web", &image("old1"), None),
    );
    k.put(
        "pods",
        kubernetes::pod("secret", "db", &image("old1"), None),
    );
    k.forbid("secret");
    let dir = tempfile::tempdir().unwrap();
    let good = k.write_kubeconfig(dir.path(), "prod-eu");
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let closed = ClosedPort::new();
    let unreachable = write(
        "unreachable",
        k.kubeconfig("prod-eu").replace(k.url(), &closed.url),
    );
    let wrong_token = write(
        "wrong-token",
        k.kubeconfig_with("prod-eu", "token: expired"),
    );
    let plugin = write(
        "failing-plugin",
        "#!/bin/sh\necho 'Error loading SSO Token: Token for prod does not exist' >&2\nexit 255\n"
            .into(),
    );
    make_executable(&plugin);
    let failing = write(
        "failing",
        k.kubeconfig_with(
            "prod-eu",
            &format!(
                "exec:\n  apiVersion: client.authentication.k8s.io/v1beta1\n  command: {}\n  interactiveMode: Never\n",
                plugin.display()
            ),
        ),
    );
    let cases: Vec<(String, &str)> = vec![
        (
            cluster(&good, "      namespaces: [payments, secret]\n"),
            "cannot read the Kubernetes cluster of context `prod-eu`: list pods in namespace secret: 403 Forbidden: the user may not list pods in namespace secret",
        ),
        (
            cluster(&good, ""),
            "list pods in all namespaces: 403 Forbidden",
        ),
        (
            "    - context: prod-us\n".to_owned()
                + &format!("      kubeconfig: {}\n", good.display()),
            "the context `prod-us` is not in",
        ),
        (
            cluster(&unreachable, ""),
            "could not reach the API server http://127.0.0.1:",
        ),
        (cluster(&wrong_token, ""), "401 Unauthorized"),
        (
            cluster(&failing, ""),
            "the credentials of the context could not be had: the exec plugin of the kubeconfig's user failed (exit status: 255): Error loading SSO Token: Token for prod does not exist",
        ),
    ];
    for (in_use, expected) in cases {
        let d = desired(dir.path(), &in_use);
        let journal = dir.path().join("journal.jsonl");
        let out = m.run(&["apply", s(&d), "--auto-approve", "--journal", s(&journal)]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{in_use}: {err}");
        assert!(err.contains(expected), "{in_use}: {err}");
        assert!(err.contains("error[in_use::"), "{err}");
        let first = err.lines().find(|l| l.contains("error[in_use::")).unwrap();
        assert!(first.contains(expected), "one line: {err}");
        assert!(first.contains("payments.yaml:"), "{err}");
        assert_eq!(
            m.images("payments/api"),
            before,
            "{in_use}: nothing removed"
        );
        assert!(!journal.exists());
    }
    // A list whose continue tokens keep expiring never completes.
    let many = KubeApi::start();
    for i in 0..600 {
        many.put(
            "pods",
            kubernetes::pod("payments", &format!("p{i}"), &image("v1"), None),
        );
    }
    many.expire_continues(u64::MAX);
    let kubeconfig = dir.path().join("many");
    std::fs::write(&kubeconfig, many.kubeconfig("prod-eu")).unwrap();
    let d = desired(dir.path(), &cluster(&kubeconfig, ""));
    let out = m.run(&["plan", s(&d)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the list did not complete: its continue token expired 5 times"),
        "{err}"
    );
}
