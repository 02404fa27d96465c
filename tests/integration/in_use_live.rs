//! Images in use by ECS and Lambda, end to end: the binary against moto, which serves
//! ECR, ECS, Lambda, EC2 and IAM on one port. Services, running tasks, the newest
//! task-definition revisions, container-image functions with versions and aliases are
//! created with boto3; the plan keeps what they run and says why, `apply` removes the
//! rest, a deployment between plan and apply keeps its image, and a source that
//! cannot be read stops the run before any removal.
//!
//! Where moto differs from AWS (the README's development section lists it) the
//! fixtures avoid the difference rather than encode it: tasks run without an awsvpc
//! network configuration, and no function's code is updated after a version is
//! published (moto's versions share the function's code).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::binary;
use testkit::ClosedPort;
use testkit::moto::{Moto, text};

const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api";

/// The digests of `payments/api`'s images, by the tag each was pushed with.
struct Images {
    v1: String,
    v2: String,
    v3: String,
    v4: String,
    v5: String,
    old1: String,
    old2: String,
}

/// `payments/api` in ECR; in ECS, the family `api` (api:1 runs old2, api:2 v2, api:3
/// v1, the service `api` runs api:3), the family `worker` (worker:1 runs v3 in a
/// task; worker:2 and worker:3 are Docker Hub images); in Lambda, `resize` (v4,
/// version 1 behind the alias `live`) and `thumbs` (v5, `$LATEST` only). Nothing
/// names old1.
fn seed(m: &Moto) -> Images {
    m.create_repository("payments/api");
    let push = |tag: &str, extra: &[&str]| {
        let mut tags = vec![tag];
        tags.extend_from_slice(extra);
        m.push_image("payments/api", tag, &tags)
    };
    let images = Images {
        v1: push("v1", &["latest"]),
        v2: push("v2", &[]),
        v3: push("v3", &[]),
        v4: push("v4", &[]),
        v5: push("v5", &[]),
        old1: push("old1", &[]),
        old2: push("old2", &[]),
    };
    m.boto3(&format!(
        r#"
R = {REPO:?}
ecs = client('ecs')
ecs.create_cluster(clusterName='prod')
def td(family, image):
    return ecs.register_task_definition(family=family, containerDefinitions=[
        {{'name': 'app', 'image': image, 'essential': True, 'memory': 512}}])['taskDefinition']['taskDefinitionArn']
td('api', R + ':old2'); td('api', R + ':v2'); api3 = td('api', R + ':v1')
ecs.create_service(cluster='prod', serviceName='api', taskDefinition=api3, desiredCount=1)
worker1 = td('worker', R + ':v3')
ecs.run_task(cluster='prod', taskDefinition=worker1, launchType='FARGATE')
td('worker', 'busybox:1'); td('worker', 'docker.io/library/busybox:2')
role = client('iam').create_role(RoleName='lambda', AssumeRolePolicyDocument='{{}}')['Role']['Arn']
lam = client('lambda')
lam.create_function(FunctionName='resize', Role=role, PackageType='Image', Code={{'ImageUri': R + ':v4'}})
version = lam.publish_version(FunctionName='resize')['Version']
lam.create_alias(FunctionName='resize', Name='live', FunctionVersion=version)
lam.create_function(FunctionName='thumbs', Role=role, PackageType='Image', Code={{'ImageUri': R + ':v5'}})
"#
    ));
    images
}

/// A desired-state folder: `payments/api` allows only `latest`; ECS keeps the 2
/// newest revisions of each family; Lambda reads every function.
fn desired(dir: &Path, in_use: &str) -> PathBuf {
    crate::common::payments_desired(dir, in_use)
}

const LIVE: &str = "  ecs:\n    task_definition_revisions: 2\n  lambda:\n    functions: all\n";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// The digests the plan deletes in `payments/api`.
fn deleted(plan: &serde_json::Value) -> BTreeSet<String> {
    plan["repositories"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// The reasons the plan gives for keeping `digest`, as shown.
fn reasons(plan: &serde_json::Value, digest: &str) -> Vec<String> {
    let kept = plan["repositories"][0]["in_use"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["digest"] == digest)
        .unwrap_or_else(|| panic!("{digest} is not kept as in use: {plan:#}"));
    kept["uses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{} {}{}",
                u["source"].as_str().unwrap(),
                u["resource"].as_str().unwrap(),
                u["container"]
                    .as_str()
                    .map(|c| format!(" container {c}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

fn set(items: &[&String]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).clone()).collect()
}

#[test]
fn ecs_and_lambda_keep_what_they_run_and_the_plan_says_why() {
    let m = Moto::start(binary());
    let images = seed(&m);
    let dir = tempfile::tempdir().unwrap();
    let d = desired(dir.path(), LIVE);
    let out = m.run(&["plan", s(&d), "--format", "json", "-v"]);
    let plan = json(&out);
    assert_eq!(
        deleted(&plan),
        set(&[&images.old1, &images.old2]),
        "only what nothing runs is deleted: {plan:#}"
    );
    // Why each image stays.
    let tasks = reasons(&plan, &images.v3);
    assert!(
        tasks.len() == 1
            && tasks[0].starts_with("ecs cluster prod, task ")
            && tasks[0].ends_with(" (worker:1) container app"),
        "{tasks:?}"
    );
    assert_eq!(
        reasons(&plan, &images.v1),
        [
            "ecs cluster prod, service api (api:3) container app",
            "ecs task definition api:3 (one of the 2 newest of api) container app",
        ]
    );
    assert_eq!(
        reasons(&plan, &images.v2),
        ["ecs task definition api:2 (one of the 2 newest of api) container app"]
    );
    assert_eq!(
        reasons(&plan, &images.v4),
        [
            "lambda function resize, version $LATEST",
            "lambda function resize, version 1 (alias live)",
        ]
    );
    assert_eq!(
        reasons(&plan, &images.v5),
        ["lambda function thumbs, version $LATEST"]
    );
    for u in plan["repositories"][0]["in_use"][0]["uses"]
        .as_array()
        .unwrap()
    {
        assert_eq!(u["region"], "eu-west-1", "{u}");
    }
    // The calls each source cost, in the JSON plan and at -v.
    let calls: std::collections::BTreeMap<String, u64> = plan["in_use_calls"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let expected: std::collections::BTreeMap<String, u64> = [
        ("ecs:DescribeServices", 1),
        ("ecs:DescribeTaskDefinition", 4),
        ("ecs:DescribeTasks", 1),
        ("ecs:ListClusters", 1),
        ("ecs:ListServices", 1),
        ("ecs:ListTaskDefinitionFamilies", 1),
        ("ecs:ListTaskDefinitions", 2),
        ("ecs:ListTasks", 1),
        ("lambda:GetFunction", 3),
        ("lambda:ListAliases", 2),
        ("lambda:ListFunctions", 1),
        ("lambda:ListVersionsByFunction", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(calls, expected);
    let err = text(&out.stderr);
    assert!(
        err.contains("in use: 4 image references in ECS eu-west-1: clusters 1, services 1, running tasks 1, task definitions read 4, families 2; 12 calls:"),
        "{err}"
    );
    assert!(
        err.contains("in use: 6 image references in Lambda eu-west-1: container-image functions 2, versions 3; 8 calls: lambda:ListFunctions 1, lambda:ListVersionsByFunction 2, lambda:ListAliases 2, lambda:GetFunction 3"),
        "{err}"
    );

    // The human plan names the sources too.
    let out = m.run(&["plan", s(&d)]);
    let human = text(&out.stdout);
    assert!(
        human.contains("ECS cluster prod, service api (api:3) container app (eu-west-1)"),
        "{human}"
    );
    assert!(
        human.contains("Lambda function resize, version 1 (alias live) (eu-west-1)"),
        "{human}"
    );

    // apply removes the rest and nothing in use.
    let out = m.run(&[
        "apply",
        s(&d),
        "--auto-approve",
        "--journal",
        s(&dir.path().join("journal.jsonl")),
        "--format",
        "json",
    ]);
    let report = json(&out);
    // The sources were read twice: for the plan, and again just before removing.
    assert_eq!(report["in_use_calls"]["ecs:ListClusters"], 2, "{report:#}");
    assert_eq!(
        report["in_use_calls"]["lambda:GetFunction"], 6,
        "{report:#}"
    );
    let left: BTreeSet<String> = m.images("payments/api").into_keys().collect();
    assert_eq!(
        left,
        set(&[&images.v1, &images.v2, &images.v3, &images.v4, &images.v5])
    );
}

#[test]
fn a_deployment_between_plan_and_apply_keeps_its_image() {
    let m = Moto::start(binary());
    let images = seed(&m);
    let dir = tempfile::tempdir().unwrap();
    let d = desired(dir.path(), LIVE);
    let saved = dir.path().join("plan.json");
    let plan = json(&m.run(&["plan", s(&d), "--out", s(&saved), "--format", "json"]));
    assert_eq!(deleted(&plan), set(&[&images.old1, &images.old2]));
    // While the plan is reviewed, the service is rolled back to an old image.
    m.boto3(&format!(
        r#"
ecs = client('ecs')
arn = ecs.register_task_definition(family='api', containerDefinitions=[
    {{'name': 'app', 'image': {REPO:?} + ':old1', 'essential': True, 'memory': 512}}])['taskDefinition']['taskDefinitionArn']
ecs.update_service(cluster='prod', service='api', taskDefinition=arn)
"#
    ));
    let journal = dir.path().join("journal.jsonl");
    let before = m.images("payments/api");
    let out = m.run(&[
        "apply",
        s(&d),
        "--plan",
        s(&saved),
        "--auto-approve",
        "--journal",
        s(&journal),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&images.old1[..19]), "{err}");
    assert_eq!(m.images("payments/api"), before, "nothing removed");
    // A fresh apply reads ECS again: old1 runs, and api:2 is no longer one of the 2
    // newest revisions.
    let out = m.run(&["apply", s(&d), "--auto-approve", "--journal", s(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let left: BTreeSet<String> = m.images("payments/api").into_keys().collect();
    assert_eq!(
        left,
        set(&[&images.v1, &images.v3, &images.v4, &images.v5, &images.old1])
    );
}

#[test]
fn an_unreadable_source_stops_the_run_before_any_removal() {
    let m = Moto::start(binary());
    seed(&m);
    let dir = tempfile::tempdir().unwrap();
    let before = m.images("payments/api");
    let closed = ClosedPort::new();
    // (in_use, the message, an environment variable that makes the source unreachable)
    type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
    let cases: [Case; 3] = [
        (
            "  lambda:\n    functions: all\n",
            "cannot read `in_use.lambda` in eu-west-1: Lambda lambda:ListFunctions: could not connect to Lambda (",
            Some(("AWS_ENDPOINT_URL_LAMBDA", closed.url.as_str())),
        ),
        (
            "  ecs:\n    clusters: [staging]\n",
            "cannot read `in_use.ecs` in eu-west-1: ECS ecs:ListServices failed: ClusterNotFoundException",
            None,
        ),
        (
            "  lambda:\n    functions: [missing-function]\n",
            "cannot read `in_use.lambda` in eu-west-1: Lambda lambda:GetFunction failed: ResourceNotFoundException",
            None,
        ),
    ];
    for (in_use, expected, env) in cases {
        let d = desired(dir.path(), in_use);
        for command in ["plan", "apply"] {
            let args: Vec<&str> = if command == "plan" {
                vec!["plan", s(&d)]
            } else {
                vec!["apply", s(&d), "--auto-approve"]
            };
            let mut cmd = m.binary().command(&m.url, &args, None);
            if let Some((k, v)) = env {
                cmd.env(k, v).args(["--max-attempts", "1"]);
            }
            let out = cmd.output().unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{command} {in_use}: {err}");
            assert!(err.contains(expected), "{command} {in_use}: {err}");
            assert!(
                err.contains("payments.yaml:"),
                "where it is declared: {err}"
            );
            assert_eq!(m.images("payments/api"), before, "nothing removed");
        }
    }
}
