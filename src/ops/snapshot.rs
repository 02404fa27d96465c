//! The `snapshot` operation: the live state of the declared repositories, in the
//! snapshot format.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};

use super::Source;
use super::registry_settings::Settings;
use super::run::{RunError, RunSettings, observe_all, resolve};
use crate::config::DesiredState;
use crate::model::RepositoryRef;
use crate::plan::{Warning, WarningCode};
use crate::registry::Registry;
use crate::registry::memory::StoredImage;
use crate::registry::snapshot::{Snapshot, SnapshotImage};

/// Reads the declared repositories; those that do not exist are left out, each with a
/// warning (`plan::repository-not-found`, at its declaration).
pub fn snapshot(
    source: &Source,
    desired: &DesiredState,
) -> Result<(Snapshot, Vec<Warning>), RunError> {
    let settings = source.settings(source.now(None), false);
    let taken = source.block_on(read(&source.backend, desired, &settings))?;
    source.log_calls();
    Ok(taken)
}

/// Reads the declared repositories and returns them as a snapshot, with a warning
/// for each that does not exist (left out).
pub async fn read<R: Registry>(
    registry: &R,
    desired: &DesiredState,
    settings: &RunSettings,
) -> Result<(Snapshot, Vec<Warning>), RunError> {
    let targets = resolve(registry, desired, settings.default_region.as_ref()).await?;
    let (registries, observed) = futures_util::future::join(
        Settings::read(registry, &targets, settings.parallelism),
        observe_all(registry, &targets, settings.parallelism),
    )
    .await;
    let observed = observed?;
    let mut warnings = Vec::new();
    let mut repositories = Vec::new();
    for (o, d) in observed.into_iter().zip(&desired.repositories) {
        if !o.exists {
            warnings.push(Warning {
                code: WarningCode::RepositoryNotFound,
                message: format!(
                    "repository `{}` does not exist in {}",
                    d.name, o.reference.registry
                ),
                repository: o.reference.to_string(),
                location: Some(d.origin.clone()),
                help: Some(
                    "check the name, account and region; it is left out of the snapshot".to_owned(),
                ),
            });
            continue;
        }
        let policy = match o.lifecycle {
            crate::registry::LifecycleState::None => None,
            crate::registry::LifecycleState::Text(text) => Some(text),
            crate::registry::LifecycleState::Unreadable(why) => {
                warnings.push(crate::plan::lifecycle::unreadable(d, &o.reference, &why));
                None
            }
        };
        let children = o.children;
        let images = o.images.into_iter().map(|d| {
            let kids = children.get(&d.digest).cloned().unwrap_or_default();
            SnapshotImage::from(StoredImage::new(d, kids))
        });
        repositories.push((o.reference, images.collect(), policy));
    }
    let mutability = tag_mutability_of(registry, &repositories, settings.parallelism).await?;
    let mut snapshot = Snapshot::from_repositories(Some(settings.now), repositories);
    snapshot.set_registry_settings(|l| registries.of(l).cloned());
    snapshot.set_tag_mutability(|r| mutability.get(r).cloned());
    let declared: Vec<_> = targets
        .iter()
        .cloned()
        .zip(desired.repositories.iter())
        .collect();
    warnings.extend(registries.warnings(&declared));
    Ok((snapshot, warnings))
}

/// The tag mutability of each repository a snapshot holds (DescribeRepositories per
/// private repository, at most `parallelism` at a time).
async fn tag_mutability_of<R: Registry, T>(
    registry: &R,
    repositories: &[(RepositoryRef, T, Option<String>)],
    parallelism: usize,
) -> Result<HashMap<RepositoryRef, crate::registry::TagMutability>, RunError> {
    stream::iter(repositories.iter().map(|(r, _, _)| async move {
        registry
            .tag_mutability(r)
            .await
            .map(|m| (r.clone(), m))
            .map_err(|error| RunError::Registry {
                repository: r.to_string(),
                error,
            })
    }))
    .buffered(parallelism.max(1))
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect()
}
