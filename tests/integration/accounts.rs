//! One run across accounts, each reached through its role (`registry.role`), end to
//! end against moto, whose STS assumes roles into other accounts (its multi-account
//! mode: the credentials it gives act in the account of the role's ARN). Three
//! accounts: the run's own (moto's default, 123456789012), a central account that
//! holds `apps/web`, and a workload account whose ECS service runs an image of it.
//!
//! A role that cannot be assumed is one whose name starts with `untrusted` (the test
//! kit's moto plugin answers AccessDenied for it, as STS does for a role whose trust
//! policy does not name the caller). moto gives any `DurationSeconds` it is asked
//! for, so the renewal of a session close to expiry is shown with one-second
//! sessions through the library's session type.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::binary;
use testkit::moto::{Moto, REGION, image_manifest, sha256, text};

const CENTRAL: &str = "111111111111";
const WORKLOAD: &str = "222222222222";

fn role(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// A boto3 client of `name` with the credentials of a role of `account`.
fn as_account(m: &Moto) -> String {
    format!(
        r#"
def as_account(account, name):
    c = client('sts').assume_role(RoleArn=f'arn:aws:iam::{{account}}:role/seed', RoleSessionName='seed')['Credentials']
    return boto3.client(name, endpoint_url={url:?}, region_name={REGION:?}, aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'])
"#,
        url = m.url
    )
}

/// The digests of `apps/web`, by tag.
struct Web {
    v1: String,
    v2: String,
    v3: String,
}

/// In the central account, `apps/web` with v1, v2 and v3 (tagged `latest` too); in the
/// workload account, `tools/job` with one image, and the ECS service `web` of the
/// cluster `prod`, which runs `apps/web:v1` of the central account.
fn seed(m: &Moto) -> Web {
    let manifests: Vec<(String, String)> = ["v1", "v2", "v3"]
        .iter()
        .map(|t| ((*t).to_owned(), image_manifest("apps/web", t)))
        .collect();
    let web = Web {
        v1: sha256(&manifests[0].1),
        v2: sha256(&manifests[1].1),
        v3: sha256(&manifests[2].1),
    };
    let job = image_manifest("tools/job", "j1");
    let image = format!("{CENTRAL}.dkr.ecr.{REGION}.amazonaws.com/apps/web:v1");
    m.boto3(&format!(
        r#"{prelude}
import hashlib
def put(ecr, repo, manifest, tags):
    d = 'sha256:' + hashlib.sha256(manifest.encode()).hexdigest()
    for t in tags:
        ecr.put_image(repositoryName=repo, imageManifest=manifest, imageManifestMediaType='application/vnd.oci.image.manifest.v1+json', imageTag=t, imageDigest=d)
central = as_account({CENTRAL:?}, 'ecr')
central.create_repository(repositoryName='apps/web')
for tag, manifest in json.loads({manifests:?}):
    put(central, 'apps/web', manifest, [tag] + (['latest'] if tag == 'v3' else []))
workload = as_account({WORKLOAD:?}, 'ecr')
workload.create_repository(repositoryName='tools/job')
put(workload, 'tools/job', {job:?}, ['latest'])
ecs = as_account({WORKLOAD:?}, 'ecs')
ecs.create_cluster(clusterName='prod')
td = ecs.register_task_definition(family='web', containerDefinitions=[
    {{'name': 'app', 'image': {image:?}, 'essential': True, 'memory': 512}}])['taskDefinition']['taskDefinitionArn']
ecs.create_service(cluster='prod', serviceName='web', taskDefinition=td, desiredCount=1)
"#,
        prelude = as_account(m),
        manifests = serde_json::to_string(&manifests).unwrap(),
    ));
    web
}

/// The digests of `apps/web` in the central account, as moto holds them.
fn central_digests(m: &Moto) -> BTreeSet<String> {
    let out = m.boto3(&format!(
        "{}\nimages = as_account({CENTRAL:?}, 'ecr').describe_images(repositoryName='apps/web')['imageDetails']\nprint(json.dumps([i['imageDigest'] for i in images]))",
        as_account(m)
    ));
    serde_json::from_str::<Vec<String>>(out.trim())
        .unwrap()
        .into_iter()
        .collect()
}

/// The desired state: `apps/web` of the central account and `tools/job` of the
/// workload account, each through its role (`workload_role`, a role of the workload
/// account), allowing `latest`; ECS read in each account.
fn desired(dir: &Path, workload_role: &str) -> PathBuf {
    let d = dir.join("desired");
    std::fs::create_dir_all(&d).unwrap();
    let file = |account: &str, role: &str, repo: &str, in_use: &str| {
        format!(
            "version: 1\nregistry:\n  account: \"{account}\"\n  region: {REGION}\n  role: {role}\nrepositories:\n  {repo}:\n    tags: [latest]\n{in_use}"
        )
    };
    std::fs::write(
        d.join("central.yaml"),
        file(
            CENTRAL,
            &role(CENTRAL, "ecr-reconcile"),
            "apps/web",
            "in_use:\n  ecs:\n    task_definition_revisions: 1\n",
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("workload.yaml"),
        file(WORKLOAD, workload_role, "tools/job", ""),
    )
    .unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// The plan of `name`.
fn repository<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"]["name"] == name)
        .unwrap_or_else(|| panic!("no plan of {name}: {plan:#}"))
}

#[test]
fn a_central_image_that_a_workload_account_runs_is_kept_and_the_plan_names_the_account() {
    let m = Moto::start(binary());
    let web = seed(&m);
    let dir = tempfile::tempdir().unwrap();
    let d = desired(dir.path(), &role(WORKLOAD, "ecr-reconcile"));
    let out = m.run(&["plan", s(&d), "--format", "json", "-v"]);
    let plan = json(&out);
    let central = repository(&plan, "apps/web");
    assert_eq!(central["repository"]["account"], CENTRAL, "{central:#}");
    let acted: BTreeSet<(String, String)> = central["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let kind = a["kind"].as_str().unwrap().to_owned();
            (kind, a["digest"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        acted,
        BTreeSet::from([
            ("delete".to_owned(), web.v2.clone()),
            ("untag".to_owned(), web.v3.clone())
        ]),
        "v1 runs in the workload account (kept whole), v3 keeps `latest`: {central:#}"
    );
    let kept = central["in_use"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["digest"] == web.v1)
        .unwrap_or_else(|| panic!("v1 is not kept as in use: {central:#}"));
    for u in kept["uses"].as_array().unwrap() {
        assert_eq!(
            (&u["account"], &u["region"]),
            (&serde_json::json!(WORKLOAD), &serde_json::json!(REGION)),
            "{u}"
        );
    }
    // One session per account: two roles, two AssumeRole calls in all.
    assert_eq!(
        plan["api_calls"]["assume_role"], 2,
        "{:#}",
        plan["api_calls"]
    );
    let log = text(&out.stderr);
    assert!(
        log.contains(&format!("in ECS {REGION} of account {WORKLOAD}")),
        "{log}"
    );
    assert!(
        text(&m.run(&["plan", s(&d)]).stdout).contains(&format!("(account {WORKLOAD}, {REGION})")),
        "the human plan names the account that runs the image"
    );

    // Apply reads ECS again through the same session before removing: v1 stays.
    let out = m.run_in(&["apply", s(&d), "--auto-approve"], Some(dir.path()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(central_digests(&m), BTreeSet::from([web.v1, web.v3]));
}

#[test]
fn a_role_that_cannot_be_assumed_stops_the_run_before_any_removal() {
    let m = Moto::start(binary());
    let web = seed(&m);
    let dir = tempfile::tempdir().unwrap();
    let untrusted = role(WORKLOAD, "untrusted-ecr-reconcile");
    let d = desired(dir.path(), &untrusted);
    for args in [vec!["plan", s(&d)], vec!["apply", s(&d), "--auto-approve"]] {
        let out = m.run_in(&args, Some(dir.path()));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.contains(&format!(
                "cannot assume role {untrusted} for account {WORKLOAD}"
            )) && first.contains("AccessDenied"),
            "{args:?}: the first line names the account, the role and STS's answer: {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?}: no plan: {}",
            text(&out.stdout)
        );
    }
    assert_eq!(
        central_digests(&m),
        BTreeSet::from([web.v1, web.v2, web.v3]),
        "nothing removed"
    );
}

#[test]
fn a_session_close_to_expiry_is_renewed_and_its_calls_still_reach_the_account() {
    use ecr_reconcile::aws::session::RoleSession;
    use ecr_reconcile::model::{AccountId, AccountRole, RoleArn};
    let m = Moto::start(binary());
    seed(&m);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&m.url)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await;
        let arn = role(CENTRAL, "ecr-reconcile");
        // Sessions of one second: always within the renewal margin, so each use of
        // the session assumes the role again, as a long run does near each expiry.
        let provider = aws_config::sts::AssumeRoleProvider::builder(&arn)
            .configure(&base)
            .session_length(std::time::Duration::from_secs(1))
            .build()
            .await;
        let session = RoleSession::over(provider);
        let role = AccountRole {
            account: AccountId::parse(CENTRAL.to_owned()).unwrap(),
            role: RoleArn::parse(arn.clone()).unwrap(),
            external_id: None,
        };
        session.check(&role).await.unwrap();
        let ecr = aws_sdk_ecr::Client::new(&session.config(&base));
        let first = session.credentials().await.unwrap();
        for _ in 0..2 {
            let out = ecr.describe_repositories().send().await.unwrap();
            let names: Vec<&str> = out
                .repositories()
                .iter()
                .filter_map(|r| r.repository_name())
                .collect();
            assert_eq!(names, ["apps/web"], "the calls act in the central account");
        }
        let last = session.credentials().await.unwrap();
        assert_ne!(first.access_key_id(), last.access_key_id(), "renewed");
        assert!(
            session.assumed() >= 3,
            "assumed {} times",
            session.assumed()
        );
    });
}

#[test]
fn an_account_of_in_use_accounts_is_read_through_its_role_without_repositories_of_its_own() {
    const OTHER: &str = "333333333333";
    let m = Moto::start(binary());
    let web = seed(&m);
    // A third account, with no repository in the run, runs apps/web:v2.
    let image = format!("{CENTRAL}.dkr.ecr.{REGION}.amazonaws.com/apps/web:v2");
    m.boto3(&format!(
        r#"{prelude}
ecs = as_account({OTHER:?}, 'ecs')
ecs.create_cluster(clusterName='batch')
td = ecs.register_task_definition(family='report', containerDefinitions=[
    {{'name': 'app', 'image': {image:?}, 'essential': True, 'memory': 512}}])['taskDefinition']['taskDefinitionArn']
ecs.create_service(cluster='batch', serviceName='report', taskDefinition=td, desiredCount=1)
"#,
        prelude = as_account(&m),
    ));
    let dir = tempfile::tempdir().unwrap();
    let d = desired(dir.path(), &role(WORKLOAD, "ecr-reconcile"));
    let kept_of = |plan: &serde_json::Value| -> BTreeSet<String> {
        repository(plan, "apps/web")["in_use"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    // Without it, the third account is not read: v2 goes.
    let plan = json(&m.run(&["plan", s(&d), "--format", "json"]));
    assert_eq!(kept_of(&plan), BTreeSet::from([web.v1.clone()]));

    let central = d.join("central.yaml");
    let text_of = std::fs::read_to_string(&central).unwrap();
    std::fs::write(
        &central,
        format!(
            "{text_of}  accounts:\n    - account: \"{OTHER}\"\n      role: {}\n      regions: [{REGION}]\n",
            role(OTHER, "ecr-reconcile-reader")
        ),
    )
    .unwrap();
    let plan = json(&m.run(&["plan", s(&d), "--format", "json"]));
    assert_eq!(
        kept_of(&plan),
        BTreeSet::from([web.v1.clone(), web.v2.clone()]),
        "{:#}",
        repository(&plan, "apps/web")
    );
    let v2 = repository(&plan, "apps/web")["in_use"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["digest"] == web.v2)
        .unwrap()
        .clone();
    assert!(
        v2["uses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["account"] == OTHER),
        "{v2:#}"
    );
    assert_eq!(
        plan["api_calls"]["assume_role"], 3,
        "{:#}",
        plan["api_calls"]
    );

    // Its role is assumed before anything is read: one it cannot assume stops the run.
    let untrusted = role(OTHER, "untrusted-reader");
    std::fs::write(
        &central,
        format!("{text_of}  accounts:\n    - account: \"{OTHER}\"\n      role: {untrusted}\n"),
    )
    .unwrap();
    let out = m.run_in(&["apply", s(&d), "--auto-approve"], Some(dir.path()));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot assume role {untrusted} for account {OTHER}"
        )),
        "{err}"
    );
    assert_eq!(
        central_digests(&m),
        BTreeSet::from([web.v1, web.v2, web.v3]),
        "nothing removed"
    );
}
