//! The forecast: what the same desired state would remove as the clock moves on, day
//! by day, with the registry as observed now. A pure function like the plan: it plans
//! again at each instant and keeps what is new. No push is simulated, so `keep_latest`
//! counts the images there today: only `max_age` and `pulled_within` expire.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Action, ActionKind, PlanOptions, RepositoryPlan, RepositoryStatus, plan_repository};
use crate::config::DesiredRepository;
use crate::in_use::ImageUse;
use crate::model::{Digest, RepositoryRef, Tag};
use crate::registry::ObservedRepository;

/// The longest forecast, in days: each day plans every repository again.
pub const MAX_FORECAST_DAYS: u64 = 366;

/// What expires after the plan's instant, up to `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Forecast {
    /// The horizon as asked (`7d`).
    pub horizon: String,
    /// The last instant forecast: the plan's instant plus the horizon.
    pub until: DateTime<Utc>,
    /// Always false: no push is simulated, so `keep_latest` counts the images there
    /// now, and only `max_age` and `pulled_within` expire.
    pub pushes_simulated: bool,
    /// The repositories where something expires, in declaration order.
    pub repositories: Vec<RepositoryForecast>,
}

/// What expires in one repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryForecast {
    /// The repository.
    pub repository: RepositoryRef,
    /// One step per instant at which something more would be removed.
    pub steps: Vec<ForecastStep>,
}

/// What a plan at `at` removes that the plan now, and the earlier steps, do not.
/// A deletion lists the tags the image still has by then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForecastStep {
    /// The instant: the plan's plus `day` days (the last one: the horizon).
    pub at: DateTime<Utc>,
    /// Days after the plan's instant, rounded up.
    pub day: u32,
    /// The removals that are new at `at`: an untag lists only the tags newly removed.
    pub actions: Vec<Action>,
    /// True when the plan at `at` would delete every image of the repository, so
    /// that it is refused (nothing in it applied) unless `allow_empty` is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

impl Forecast {
    /// Tags that expire within the horizon, over every repository.
    pub fn tags_removed(&self) -> usize {
        self.actions().map(|a| a.tags.len()).sum()
    }

    /// Images deleted within the horizon, over every repository.
    pub fn images_deleted(&self) -> usize {
        self.actions()
            .filter(|a| a.kind == ActionKind::Delete)
            .count()
    }

    fn actions(&self) -> impl Iterator<Item = &Action> {
        self.repositories
            .iter()
            .flat_map(|r| r.steps.iter().flat_map(|s| s.actions.iter()))
    }
}

/// The instants of a forecast from `now` over `horizon_seconds`: every day boundary
/// (`now` plus 1, 2, … days), and the horizon itself when it is not a whole number of
/// days.
pub fn instants(now: DateTime<Utc>, horizon_seconds: u64) -> Vec<DateTime<Utc>> {
    const DAY: u64 = 24 * 60 * 60;
    let horizon = horizon_seconds.min(MAX_FORECAST_DAYS * DAY);
    let mut out: Vec<DateTime<Utc>> = (1..=horizon / DAY)
        .map(|d| now + Duration::days(d as i64))
        .collect();
    if !horizon.is_multiple_of(DAY) {
        out.push(now + Duration::seconds(horizon as i64));
    }
    out
}

/// The steps of one repository's forecast: `base` is its plan at `now`; the
/// repository is planned again at each of `instants` with the same observed state
/// and uses.
pub fn forecast_repository(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    base: &RepositoryPlan,
    now: DateTime<Utc>,
    instants: &[DateTime<Utc>],
    options: PlanOptions,
    in_use: &[ImageUse],
) -> Vec<ForecastStep> {
    if !observed.exists {
        return Vec::new();
    }
    let mut removed: HashSet<Tag> = HashSet::new();
    let mut deleted: HashSet<Digest> = HashSet::new();
    note(&base.actions, &mut removed, &mut deleted);
    let mut steps = Vec::new();
    for &at in instants {
        let (plan, _) = plan_repository(desired, observed, at, options, in_use);
        let mut actions = Vec::new();
        for a in &plan.actions {
            // Tags already removed are gone by then: a deletion lists the image's
            // other tags, an untag only the tags newly removed.
            let new: Vec<Tag> = a
                .tags
                .iter()
                .filter(|t| !removed.contains(*t))
                .cloned()
                .collect();
            let is_new = match a.kind {
                ActionKind::Delete => !deleted.contains(&a.digest),
                ActionKind::Untag => !new.is_empty(),
                // A change of storage class is made once; what comes later is
                // about tags expiring.
                ActionKind::Archive | ActionKind::Reactivate => false,
            };
            if is_new {
                actions.push(Action {
                    tags: new,
                    ..a.clone()
                });
            }
        }
        note(&plan.actions, &mut removed, &mut deleted);
        if actions.is_empty() {
            continue;
        }
        let seconds = (at - now).num_seconds().max(0);
        let day = u32::try_from((seconds + 86_399) / 86_400).unwrap_or(u32::MAX);
        steps.push(ForecastStep {
            at,
            day,
            actions,
            refused: plan.status == RepositoryStatus::Refused,
        });
    }
    steps
}

fn note(actions: &[Action], removed: &mut HashSet<Tag>, deleted: &mut HashSet<Digest>) {
    for a in actions {
        removed.extend(a.tags.iter().cloned());
        if a.kind == ActionKind::Delete {
            deleted.insert(a.digest.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;
    use crate::model::{AccountId, Region, RegistryLocation, RepositoryName};
    use crate::registry::ImageDetail;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn setup() -> (DesiredRepository, ObservedRepository) {
        let yaml = "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nrepositories:\n  team/app:\n    tags:\n      - v1\n      - pattern: \"pr-*\"\n        keep_latest: 5\n        max_age: 3d\n";
        let desired = load_sources(vec![("t.yaml".into(), yaml.as_bytes().to_vec())])
            .unwrap()
            .repositories
            .remove(0);
        let image = |n: u8, tags: &[&str], pushed: &str| {
            ImageDetail::new(
                Digest::parse(format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap(),
                tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
                at(pushed),
            )
        };
        let observed = ObservedRepository::listed(
            RepositoryRef {
                registry: RegistryLocation::private(
                    AccountId::parse("123456789012").unwrap(),
                    Region::parse("eu-west-1").unwrap(),
                ),
                name: RepositoryName::parse("team/app").unwrap(),
            },
            vec![
                image(1, &["v1"], "2026-01-01T00:00:00Z"),
                image(2, &["pr-1"], "2026-11-17T12:00:00Z"),
                image(3, &["pr-2", "keep"], "2026-11-19T00:00:00Z"),
                image(4, &["pr-3"], "2026-11-19T12:00:00Z"),
            ],
        );
        (desired, observed)
    }

    #[test]
    fn instants_are_day_boundaries_then_the_horizon() {
        let now = at("2026-11-20T12:00:00Z");
        assert_eq!(
            instants(now, 2 * 86_400 + 3600),
            vec![
                at("2026-11-21T12:00:00Z"),
                at("2026-11-22T12:00:00Z"),
                at("2026-11-22T13:00:00Z")
            ]
        );
        assert_eq!(instants(now, 3600), vec![at("2026-11-20T13:00:00Z")]);
        assert_eq!(instants(now, u64::MAX).len() as u64, MAX_FORECAST_DAYS);
    }

    #[test]
    fn each_step_lists_what_expires_that_day_and_only_then() {
        let (desired, observed) = setup();
        let now = at("2026-11-20T12:00:00Z");
        let (base, _) = plan_repository(&desired, &observed, now, PlanOptions::default(), &[]);
        // pr-1 (pushed 3 days ago) is within max_age now: only `keep` goes.
        let now_removed: Vec<(ActionKind, &[Tag])> = base
            .actions
            .iter()
            .map(|a| (a.kind, a.tags.as_slice()))
            .collect();
        assert_eq!(
            now_removed,
            [(ActionKind::Untag, &[Tag::parse("keep").unwrap()][..])]
        );
        let steps = forecast_repository(
            &desired,
            &observed,
            &base,
            now,
            &instants(now, 7 * 86_400),
            PlanOptions::default(),
            &[],
        );
        let summary: Vec<(u32, Vec<String>)> = steps
            .iter()
            .map(|s| {
                (
                    s.day,
                    s.actions
                        .iter()
                        .flat_map(|a| a.tags.iter().map(|t| format!("{:?} {t}", a.kind)))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, vec!["Delete pr-1".to_owned()]),
                // `keep` is removed today: the image goes with pr-2 alone.
                (2, vec!["Delete pr-2".to_owned()]),
                (3, vec!["Delete pr-3".to_owned()]),
            ]
        );
        assert!(steps.iter().all(|s| !s.refused), "v1 stays");
    }
}
