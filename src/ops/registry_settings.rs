//! The settings of each private registry a run reads that change what a removal
//! means: replication (the replicas keep what is removed here) and pull-through
//! cache rules (a removed tag comes back on its next pull). Read once per account and
//! region, beside the first repositories' listings, and given to each repository's
//! observed state.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};

use crate::config::DesiredRepository;
use crate::model::{AccountId, Region, RegistryLocation, RepositoryRef};
use crate::plan::{Warning, WarningCode};
use crate::registry::{ObservedRepository, Registry, RegistryError, RegistrySettings};

/// The settings of every private registry of a run, by account and region.
#[derive(Debug, Default)]
pub struct Settings(HashMap<(AccountId, Region), RegistrySettings>);

impl Settings {
    /// Reads the settings of every private registry of `targets` (two calls each), at
    /// most `parallelism` registries at a time. A registry that cannot be reached is
    /// left out: reading its repositories says so. One that refuses (no permission,
    /// say) is kept as unreadable, and the plan warns.
    pub async fn read<R: Registry>(
        registry: &R,
        targets: &[RepositoryRef],
        parallelism: usize,
    ) -> Self {
        let mut registries: Vec<(AccountId, Region)> = targets
            .iter()
            .filter_map(|t| match &t.registry {
                RegistryLocation::Private { account, region } => {
                    Some((account.clone(), region.clone()))
                }
                RegistryLocation::Public { .. } => None,
            })
            .collect();
        registries.sort();
        registries.dedup();
        let read: Vec<_> = stream::iter(registries)
            .map(|(account, region)| async move {
                let settings = registry.registry_settings(&account, &region).await;
                ((account, region), settings)
            })
            .buffered(parallelism.max(1))
            .collect()
            .await;
        Self(
            read.into_iter()
                .filter_map(|(key, settings)| match settings {
                    Ok(s) => Some((key, s)),
                    Err(RegistryError::Unreachable(_)) => None,
                    Err(e) => Some((
                        key,
                        RegistrySettings {
                            unreadable: Some(e.to_string()),
                            ..RegistrySettings::default()
                        },
                    )),
                })
                .collect(),
        )
    }

    /// The settings of the private registry of `account` in `region`, when read.
    pub fn of(&self, location: &RegistryLocation) -> Option<&RegistrySettings> {
        match location {
            RegistryLocation::Private { account, region } => {
                self.0.get(&(account.clone(), region.clone()))
            }
            RegistryLocation::Public { .. } => None,
        }
    }

    /// Gives `observed` its replicas and pull-through cache rule.
    pub fn attach(&self, observed: &mut ObservedRepository) {
        if let Some(s) = self.of(&observed.reference.registry) {
            let name = observed.reference.name.as_str();
            observed.replicas = s.replicas_of(name);
            observed.pull_through_cache = s.pull_through_cache_of(name).cloned();
        }
    }

    /// One warning per registry whose settings could not be read, at the first
    /// repository declared in it.
    pub fn warnings(&self, declared: &[(RepositoryRef, &DesiredRepository)]) -> Vec<Warning> {
        let mut out: Vec<Warning> = Vec::new();
        let mut said: Vec<&RegistryLocation> = Vec::new();
        for (reference, d) in declared {
            let Some(why) = self
                .of(&reference.registry)
                .and_then(|s| s.unreadable.as_deref())
            else {
                continue;
            };
            if said.contains(&&reference.registry) {
                continue;
            }
            said.push(&reference.registry);
            out.push(Warning {
                code: WarningCode::RegistrySettingsUnreadable,
                message: format!(
                    "the replication and pull-through cache rules of {} could not be read ({why}): the plan cannot say where its repositories are replicated, or which are pull-through caches",
                    reference.registry
                ),
                repository: reference.to_string(),
                location: Some(d.origin.clone()),
                help: Some(
                    "allow ecr:DescribeRegistry and ecr:DescribePullThroughCacheRules to the tool's role".to_owned(),
                ),
            });
        }
        out
    }
}
