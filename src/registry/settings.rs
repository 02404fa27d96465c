//! What a registry and a repository hold besides their images that changes what a
//! removal means: the registry's replication and pull-through cache rules, and the
//! repository's own lifecycle policy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{AccountId, Region};

/// A registry's own settings that change what a removal means: where ECR replicates
/// pushes (DescribeRegistry's `replicationConfiguration`) and which repositories are
/// pull-through caches (DescribePullThroughCacheRules).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// The replication rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replication: Vec<ReplicationRule>,
    /// The pull-through cache rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_through_cache_rules: Vec<PullThroughCacheRule>,
    /// Why the settings could not be read, when they could not (then the lists are
    /// empty because they are unknown, not because there are none). Never in a
    /// snapshot file.
    #[serde(skip)]
    pub unreadable: Option<String>,
}

/// One replication rule: the destinations of the pushes to the repositories it
/// selects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplicationRule {
    /// The destinations.
    pub destinations: Vec<Replica>,
    /// The repository name prefixes it selects (`PREFIX_MATCH` filters); empty: every
    /// repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
}

/// Where a repository is replicated: a region of an account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// The destination region.
    pub region: Region,
    /// The destination account (the registry's own for a cross-region replica).
    pub account: AccountId,
}

/// A pull-through cache rule: repositories under `prefix/` mirror an upstream registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullThroughCacheRule {
    /// `ecrRepositoryPrefix`.
    pub prefix: String,
    /// `upstreamRegistryUrl`.
    pub upstream: String,
}

impl RegistrySettings {
    /// Where the pushes to `name` are replicated, sorted, each once.
    pub fn replicas_of(&self, name: &str) -> Vec<Replica> {
        let mut out: Vec<Replica> = self
            .replication
            .iter()
            .filter(|r| {
                r.prefixes.is_empty() || r.prefixes.iter().any(|p| name.starts_with(p.as_str()))
            })
            .flat_map(|r| r.destinations.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The pull-through cache rule `name` falls under, if any (`ROOT` rules take every
    /// repository).
    pub fn pull_through_cache_of(&self, name: &str) -> Option<&PullThroughCacheRule> {
        self.pull_through_cache_rules.iter().find(|r| {
            r.prefix == "ROOT"
                || name
                    .strip_prefix(r.prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// What a repository's lifecycle policy is, as read (GetLifecyclePolicy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LifecycleState {
    /// The repository has none (the usual case; also every ECR Public repository).
    #[default]
    None,
    /// Its text (`lifecyclePolicyText`).
    Text(String),
    /// It could not be read (such as no `ecr:GetLifecyclePolicy` permission): why.
    Unreadable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RegistrySettings {
        let replica = |region: &str, account: &str| Replica {
            region: Region::parse(region).unwrap(),
            account: AccountId::parse(account).unwrap(),
        };
        RegistrySettings {
            replication: vec![
                ReplicationRule {
                    destinations: vec![replica("us-east-1", "210987654321")],
                    prefixes: vec!["team/".into(), "payments".into()],
                },
                ReplicationRule {
                    destinations: vec![
                        replica("eu-central-1", "123456789012"),
                        replica("us-east-1", "210987654321"),
                    ],
                    prefixes: Vec::new(),
                },
            ],
            pull_through_cache_rules: vec![PullThroughCacheRule {
                prefix: "hub".into(),
                upstream: "registry-1.docker.io".into(),
            }],
            unreadable: None,
        }
    }

    #[test]
    fn replicas_come_from_every_rule_that_selects_the_name_each_once() {
        let s = settings();
        let names = |name: &str| -> Vec<String> {
            s.replicas_of(name)
                .iter()
                .map(|r| format!("{}/{}", r.account, r.region))
                .collect()
        };
        assert_eq!(
            names("team/app"),
            ["123456789012/eu-central-1", "210987654321/us-east-1"]
        );
        assert_eq!(
            names("other"),
            ["123456789012/eu-central-1", "210987654321/us-east-1"]
        );
        let only_prefixed = RegistrySettings {
            replication: s.replication[..1].to_vec(),
            ..RegistrySettings::default()
        };
        assert_eq!(
            only_prefixed.replicas_of("payments-api").len(),
            1,
            "a prefix, not a folder"
        );
        assert!(only_prefixed.replicas_of("teams/app").is_empty());
    }

    #[test]
    fn a_pull_through_cache_rule_takes_the_repositories_under_its_prefix() {
        let s = settings();
        assert!(s.pull_through_cache_of("hub/library/nginx").is_some());
        assert!(
            s.pull_through_cache_of("hub").is_none(),
            "the prefix alone is no repository"
        );
        assert!(s.pull_through_cache_of("hubble/app").is_none());
        let root = RegistrySettings {
            pull_through_cache_rules: vec![PullThroughCacheRule {
                prefix: "ROOT".into(),
                upstream: "public.ecr.aws".into(),
            }],
            ..RegistrySettings::default()
        };
        assert!(root.pull_through_cache_of("anything/at/all").is_some());
    }
}
