//! Tests of the run: resolving repositories, windows of a run on the network.

use super::*;
use crate::config::load_sources;

fn desired(registry: &str) -> DesiredRepository {
    let yaml =
        format!("version: 1\nregistry:\n{registry}repositories:\n  tools/cli:\n    tags: [v1]\n");
    load_sources(vec![("t.yaml".into(), yaml.into_bytes())])
        .unwrap_or_else(|e| panic!("{:?}", e.diagnostics))
        .repositories
        .remove(0)
}

fn known() -> Vec<PublicRegistryInfo> {
    vec![PublicRegistryInfo {
        account: AccountId::parse("123456789012").unwrap(),
        aliases: vec![
            PublicAlias::parse("my-org").unwrap(),
            PublicAlias::parse("my-other").unwrap(),
        ],
    }]
}

#[test]
fn a_public_alias_resolves_to_the_account_that_owns_it_and_nothing_else() {
    let alias = |a: &str| PublicAlias::parse(a).unwrap();
    let r = desired("  public: my-other\n");
    assert_eq!(r.public, Some(alias("my-other")));
    assert_eq!(r.region, None);
    assert_eq!(
        public_account(&known(), &alias("my-other"), &r)
            .unwrap()
            .as_str(),
        "123456789012"
    );
    let e = public_account(&known(), &alias("theirs"), &desired("  public: theirs\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`theirs`") && e.contains("`my-org` (123456789012)"),
        "{e}"
    );
    let e = public_account(&[], &alias("my-org"), &desired("  public: my-org\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("they have none"), "{e}");
    let r = desired("  public: my-org\n  account: \"210987654321\"\n");
    let e = public_account(&known(), &alias("my-org"), &r)
        .unwrap_err()
        .to_string();
    assert!(e.contains("belongs to account 123456789012"), "{e}");
}

#[test]
fn a_run_on_the_network_reads_windows_of_repositories_and_plans_as_a_run_offline() {
    use testkit::generator::{OrgShape, org_snapshot};
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, desired_dir) = (dir.path().join("s.json"), dir.path().join("desired"));
    // 3 x 3,000 repositories of 2 images: a first window of 8,192, then the rest.
    let shape = OrgShape {
        accounts: 3,
        repositories: 3_000,
        images: 2,
    };
    org_snapshot(shape, &snapshot, &desired_dir).unwrap();
    let desired = crate::config::load(&[desired_dir]).unwrap();
    let registry = || {
        crate::registry::snapshot::read(&snapshot)
            .unwrap()
            .into_registry()
    };
    let now = "2026-11-21T00:00:00Z".parse().unwrap();
    let settings = RunSettings::offline(None, now, 4);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let offline = rt
        .block_on(make_plan(&registry(), &desired, &settings))
        .unwrap();
    let network = registry().as_if_on_the_network();
    let mut given = 0;
    let mut order = Vec::new();
    let streamed = rt
        .block_on(plan_streaming(
            &network,
            &desired,
            &settings,
            &InUseSet::default(),
            &mut |r| {
                given += 1;
                order.push(r);
            },
        ))
        .unwrap();
    assert_eq!(given, 9_000);
    assert_eq!(
        order, offline.repositories,
        "every repository, in declaration order"
    );
    assert_eq!(streamed.summary, offline.summary);
    assert_eq!(streamed.warnings, offline.warnings);
}

#[test]
fn one_run_resolves_public_and_private_repositories_side_by_side() {
    let reg = crate::registry::memory::InMemoryRegistry::new();
    let public = RegistryLocation::public(
        AccountId::parse("123456789012").unwrap(),
        PublicAlias::parse("my-org").unwrap(),
    );
    reg.add_registry(public.clone());
    let state = load_sources(vec![
        (
            "public.yaml".into(),
            b"version: 1\nregistry:\n  public: my-org\nrepositories:\n  tools/cli:\n    tags: [v1]\n"
                .to_vec(),
        ),
        (
            "private.yaml".into(),
            b"version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nrepositories:\n  tools/cli:\n    tags: [v1]\n"
                .to_vec(),
        ),
    ])
    .unwrap();
    let refs = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(resolve(&reg, &state, None))
        .unwrap();
    assert_eq!(refs[0].registry, public);
    assert_eq!(refs[0].to_string(), "public.ecr.aws/my-org/tools/cli");
    assert_eq!(refs[1].to_string(), "tools/cli (123456789012/eu-west-1)");
    assert_eq!(reg.calls().ecr_public.other, 1, "DescribeRegistries once");
}
