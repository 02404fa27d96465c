//! Replication and pull-through caches against moto (replication is moto's own; the
//! pull-through cache rules come from the test kit's moto plugin): the plan says where
//! a repository's replicas are and that its removals do not reach them, warns
//! plan::pull-through-cache for a pull-through cache repository, and a snapshot carries
//! both so an offline plan says the same.

use std::path::Path;

use crate::common::{Files, binary};
use testkit::moto::{Moto, text};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out.stderr)))
}

const CONFIG: &str = "version: 1\nrepositories:\n  team/app:\n    tags: [v1]\n  hub/library/nginx:\n    tags: [stable]\n";

fn seed(m: &Moto) {
    m.create_repository("team/app");
    m.push_image("team/app", "a", &["v1"]);
    m.push_image("team/app", "b", &["old"]);
    m.create_repository("hub/library/nginx");
    m.push_image("hub/library/nginx", "n", &["stable", "mainline"]);
    m.boto3(
        "ecr = client('ecr')\n\
         ecr.put_replication_configuration(replicationConfiguration={'rules': [{\n\
             'destinations': [{'region': 'eu-central-1', 'registryId': '123456789012'},\n\
                              {'region': 'us-east-1', 'registryId': '210987654321'}],\n\
             'repositoryFilters': [{'filter': 'team/', 'filterType': 'PREFIX_MATCH'}]}]})\n\
         ecr.create_pull_through_cache_rule(ecrRepositoryPrefix='hub', upstreamRegistryUrl='registry-1.docker.io')\n",
    );
}

fn replicas(plan: &serde_json::Value, repo: usize) -> serde_json::Value {
    plan["repositories"][repo]["replicas"].clone()
}

#[test]
fn the_plan_names_the_replicas_and_the_pull_through_cache_live_and_offline() {
    let m = Moto::start(binary());
    seed(&m);
    let f = Files::new();
    let cfg = f.write("app.yaml", CONFIG);
    let out = m.run(&["plan", s(&cfg), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let live = json(&out);
    let expected = serde_json::json!([
        {"region": "eu-central-1", "account": "123456789012"},
        {"region": "us-east-1", "account": "210987654321"}
    ]);
    assert_eq!(replicas(&live, 0), expected, "team/ is replicated");
    assert!(replicas(&live, 1).is_null(), "hub/ is not: {live}");
    let ptc: Vec<&serde_json::Value> = live["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "pull-through-cache")
        .collect();
    assert_eq!(ptc.len(), 1, "{live}");
    assert!(
        ptc[0]["message"].as_str().unwrap().contains(
            "`hub/library/nginx` is a pull-through cache of registry-1.docker.io (rule `hub`)"
        ),
        "{}",
        ptc[0]
    );
    assert!(
        !live["warnings"]
            .to_string()
            .contains("registry-settings-unreadable"),
        "{live}"
    );

    let human = text(&m.run(&["plan", s(&cfg)]).stdout);
    assert!(
        human.contains("replicated to eu-central-1 (123456789012), us-east-1 (210987654321): these removals do not reach the replicas"),
        "{human}"
    );
    let markdown = text(&m.run(&["plan", s(&cfg), "--format", "markdown"]).stdout);
    assert!(markdown.contains("**Replicated elsewhere**"), "{markdown}");

    let out = m.run(&["snapshot", s(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let snap = f.write("state.json", &text(&out.stdout));
    let offline = json(&m.run(&[
        "plan",
        s(&cfg),
        "--format",
        "json",
        "--snapshot",
        s(&snap),
        "--now",
        live["created_at"].as_str().unwrap(),
    ]));
    assert_eq!(replicas(&offline, 0), expected);
    assert_eq!(offline["warnings"], live["warnings"]);
}

/// A `pulled_within` rule: its pull times are only true when the tool's own reads do
/// not count as pulls.
const PULLED: &str = "version: 1\nrepositories:\n  team/app:\n    tags:\n      - v1\n      - pattern: \"pr-*\"\n        pulled_within: 30d\n";

fn pull_time_warnings(plan: &serde_json::Value) -> Vec<String> {
    plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "pull-time-not-excluded")
        .map(|w| format!("{} | {}", w["message"], w["help"]))
        .collect()
}

#[test]
fn pulled_within_warns_until_the_tools_principal_is_excluded_from_pull_time_updates() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "a", &["v1"]);
    m.push_image("team/app", "b", &["pr-1"]);
    let f = Files::new();
    let cfg = f.write("app.yaml", PULLED);
    let plan = json(&m.run(&["plan", s(&cfg), "--format", "json"]));
    let found = pull_time_warnings(&plan);
    assert_eq!(found.len(), 1, "{plan}");
    // moto's caller identity for any key.
    let principal = "arn:aws:sts::123456789012:user/moto";
    assert!(
        found[0].contains(&format!(
            "but {principal}, which this tool runs as, is not excluded"
        )) && found[0].contains(&format!(
            "register-pull-time-update-exclusion --principal-arn {principal}"
        )),
        "{}",
        found[0]
    );
    let at = &plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "pull-time-not-excluded")
        .unwrap()["location"];
    assert_eq!(at["line"], 6, "the `pulled_within` rule: {at}");

    m.boto3(&format!(
        "client('ecr').register_pull_time_update_exclusion(principalArn={principal:?})"
    ));
    let plan = json(&m.run(&["plan", s(&cfg), "--format", "json"]));
    assert_eq!(pull_time_warnings(&plan), Vec::<String>::new(), "{plan}");

    // Without `pulled_within`, nothing is asked.
    let plain = f.write("plain.yaml", CONFIG);
    let before = json(&m.run(&["plan", s(&plain), "--format", "json"]));
    assert_eq!(before["api_calls"]["registry_settings"], 2, "{before}");
    assert_eq!(
        plan["api_calls"]["registry_settings"], 4,
        "GetCallerIdentity and the list: {plan}"
    );
}
