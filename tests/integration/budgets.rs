//! The run's budget of calls per account against the test kit's proxy, which
//! enforces a token bucket per account (told by the access key of each request's
//! signature, one role session per account) and answers throttling beyond it: with
//! a budget no faster than the proxy's quota, the proxy refuses next to nothing; with
//! a budget far above it, it refuses, counts what it refused, and the SDK's retries
//! still bring the run to its end.

use std::path::{Path, PathBuf};

use crate::common::binary;
use testkit::moto::{Moto, REGION, image_manifest, sha256, text};
use testkit::proxy::{Faults, Outcome, Proxy, Quota};

const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];
const REPOS: usize = 6;

/// In each account, `REPOS` repositories of one image each; desired state with each
/// account's role.
fn seed(m: &Moto, dir: &Path) -> PathBuf {
    let manifest = image_manifest("apps/x", "v1");
    let digest = sha256(&manifest);
    m.boto3(&format!(
        r#"
for account in {accounts:?}:
    c = client('sts').assume_role(RoleArn=f'arn:aws:iam::{{account}}:role/seed', RoleSessionName='seed')['Credentials']
    ecr = boto3.client('ecr', endpoint_url={url:?}, region_name={REGION:?}, aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'])
    for i in range({REPOS}):
        ecr.create_repository(repositoryName=f'apps/r{{i}}')
        ecr.put_image(repositoryName=f'apps/r{{i}}', imageManifest={manifest:?}, imageManifestMediaType='application/vnd.oci.image.manifest.v1+json', imageTag='v1', imageDigest={digest:?})
"#,
        accounts = ACCOUNTS,
        url = m.url,
    ));
    let d = dir.join("desired");
    std::fs::create_dir_all(&d).unwrap();
    for account in ACCOUNTS {
        let repos: String = (0..REPOS)
            .map(|i| format!("  apps/r{i}:\n    tags: [v1]\n"))
            .collect();
        std::fs::write(
            d.join(format!("{account}.yaml")),
            format!(
                "version: 1\nregistry:\n  account: \"{account}\"\n  region: {REGION}\n  role: arn:aws:iam::{account}:role/ecr-reconcile\nrepositories:\n{repos}"
            ),
        )
        .unwrap();
    }
    d
}

/// DescribeImages: a burst of 2, 2 a second per account; everything else unbounded.
fn quota() -> Faults {
    Faults {
        quota: Some(Quota {
            default: (1e6, 1e6),
            operations: vec![("DescribeImages", 2.0, 2.0)],
        }),
        ..Faults::default()
    }
}

fn plan(proxy: &Proxy, desired: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["plan", desired.to_str().unwrap(), "--no-cache"];
    args.extend_from_slice(extra);
    binary().command(&proxy.url, &args, None).output().unwrap()
}

#[test]
fn the_proxy_refuses_beyond_an_accounts_bucket_and_the_budget_keeps_below_it() {
    let m = Moto::start(binary());
    let dir = tempfile::tempdir().unwrap();
    let desired = seed(&m, dir.path());
    let proxy = Proxy::start(&m.url, quota());

    // The default budget of DescribeImages (adaptive, starting with a burst of 180)
    // is far above the proxy's quota: six repositories of an account read at once
    // overrun it.
    let out = plan(&proxy, &desired, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let refused = proxy.over_quota();
    assert!(
        refused.values().sum::<usize>() > 0,
        "the proxy refused nothing: {:?}",
        proxy.calls()
    );
    // Every refusal is one account's: the two accounts sign with keys of their own.
    let keys: std::collections::BTreeSet<String> = proxy
        .calls()
        .iter()
        .filter(|c| c.operation == "DescribeImages")
        .filter_map(|c| c.access_key.clone())
        .collect();
    assert_eq!(keys.len(), ACCOUNTS.len(), "{keys:?}");
    assert!(
        proxy
            .calls()
            .iter()
            .all(|c| c.outcome != Outcome::Throttled)
    );

    // A budget of one a second per account, half the proxy's rate: whatever the
    // machine's delays, the account's requests arrive slower than its bucket
    // refills.
    proxy.set_faults(quota());
    proxy.clear();
    let out = plan(&proxy, &desired, &["--api-rate", "DescribeImages=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let described = proxy.count("DescribeImages");
    assert_eq!(described, ACCOUNTS.len() * REPOS, "{:?}", proxy.calls());
    assert!(proxy.over_quota().is_empty(), "{:?}", proxy.over_quota());
}
