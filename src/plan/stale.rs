//! Stale-plan detection: a saved plan is applied only to the registry it was made
//! against. Any planned image whose digest or tags differ now (a tag added, moved or
//! removed; the image gone), or a plan made for other accounts, regions or
//! repositories, makes it stale. Terraform's "Saved plan is stale", exactly.

use std::collections::HashMap;

use super::{Plan, RepositoryStatus};
use crate::config::DesiredState;
use crate::model::{Digest, Tag};
use crate::reconcile::{RunError, RunSettings, resolve};
use crate::registry::Registry;
use crate::registry::observe::list_all;

/// What changed since `saved` was made, one paragraph per change; empty when the
/// plan still holds.
pub async fn check<R: Registry>(
    registry: &R,
    desired: &DesiredState,
    saved: &Plan,
    settings: &RunSettings,
) -> Result<Vec<String>, RunError> {
    let targets = resolve(registry, desired, settings.default_region.as_ref()).await?;
    let planned: Vec<_> = saved
        .repositories
        .iter()
        .map(|r| r.repository.clone())
        .collect();
    if targets != planned {
        let show = |v: &[crate::model::RepositoryRef]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Ok(vec![format!(
            "the plan was made for {}\nbut the files now resolve to {}\n(another account, region or set of repositories)",
            show(&planned),
            show(&targets)
        )]);
    }
    let mut problems = Vec::new();
    for repo in saved
        .repositories
        .iter()
        .filter(|r| r.status == RepositoryStatus::Changes)
    {
        let images = list_all(registry, &repo.repository)
            .await
            .map_err(|error| RunError::Registry {
                repository: repo.repository.to_string(),
                error,
            })?;
        let now: HashMap<&Digest, Vec<&Tag>> = images
            .iter()
            .map(|i| {
                let mut t: Vec<&Tag> = i.tags.iter().collect();
                t.sort();
                (&i.digest, t)
            })
            .collect();
        for action in &repo.actions {
            let mut expected: Vec<&Tag> = action.tags.iter().chain(&action.kept_tags).collect();
            expected.sort();
            match now.get(&action.digest) {
                None => problems.push(format!(
                    "{}: image {} ({}) no longer exists",
                    repo.repository,
                    action.digest,
                    if expected.is_empty() {
                        "untagged".to_owned()
                    } else {
                        join(&expected)
                    }
                )),
                Some(current) if *current != expected => {
                    let before = lines(&expected);
                    let after = lines(current);
                    let diff = similar::TextDiff::from_lines(&before, &after);
                    let mut text = format!(
                        "{}: image {} has other tags than when planned (- planned, + now):\n",
                        repo.repository, action.digest
                    );
                    for change in diff.iter_all_changes() {
                        let sign = match change.tag() {
                            similar::ChangeTag::Delete => '-',
                            similar::ChangeTag::Insert => '+',
                            similar::ChangeTag::Equal => ' ',
                        };
                        text.push_str(&format!("  {sign}{}", change.value()));
                    }
                    problems.push(text.trim_end().to_owned());
                }
                Some(_) => {}
            }
        }
    }
    Ok(problems)
}

fn join(tags: &[&Tag]) -> String {
    tags.iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn lines(tags: &[&Tag]) -> String {
    if tags.is_empty() {
        return "(untagged)\n".to_owned();
    }
    tags.iter().map(|t| format!("{t}\n")).collect()
}
