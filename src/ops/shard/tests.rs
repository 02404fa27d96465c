use std::path::PathBuf;

use super::*;
use crate::config::shard::{Shard, ShardBy};
use crate::config::{self, DesiredState};
use crate::ops::plan::{self, PlanRequest};
use crate::ops::{Source, SourceSpec};

const EXAMPLE_SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/snapshot.json");
const EXAMPLE_DESIRED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/desired");

fn source() -> Source {
    Source::open(&SourceSpec {
        snapshot: Some(PathBuf::from(EXAMPLE_SNAPSHOT)),
        parallelism: 4,
        ..SourceSpec::default()
    })
    .unwrap()
}

fn desired() -> DesiredState {
    config::load(&[PathBuf::from(EXAMPLE_DESIRED)]).unwrap()
}

fn plan_of(desired: &DesiredState) -> PlanOutcome {
    let request = PlanRequest {
        now: Some("2026-05-01T00:00:00Z".parse().unwrap()),
        ..PlanRequest::default()
    };
    plan::plan(&source(), desired, &request).unwrap()
}

fn shards(count: u32, by: ShardBy) -> Vec<(String, PlanOutcome)> {
    (1..=count)
        .map(|index| {
            let part = desired().shard(Shard { index, count, by });
            (format!("shard-{index}.json"), plan_of(&part))
        })
        .collect()
}

/// The plan without what a run of its own adds (its calls), warnings in their order,
/// as JSON.
fn comparable(outcome: &PlanOutcome) -> serde_json::Value {
    serde_json::to_value(&outcome.plan).unwrap()
}

#[test]
fn the_shards_plans_together_are_the_plan_of_the_whole() {
    let whole = plan_of(&desired());
    assert!(whole.plan.repositories.len() >= 4, "several repositories");
    assert!(whole.plan.has_changes(), "a plan with removals");
    for by in [ShardBy::Account, ShardBy::Repository] {
        for count in 1..=5 {
            let mut parts = shards(count, by);
            let covered: usize = parts.iter().map(|(_, p)| p.plan.repositories.len()).sum();
            assert_eq!(covered, whole.plan.repositories.len(), "{by} {count}");
            parts.reverse(); // any order
            let merged = merge(parts).unwrap();
            assert_eq!(comparable(&merged), comparable(&whole), "{by} {count}");
            assert!(merged.plan.shard.is_none());
            assert!(merged.api_calls.describe_images >= whole.api_calls.describe_images);
        }
    }
}

/// A warning about a registry as a whole at `plan`'s first repository, as each run
/// gives it (once per registry, at its first repository concerned).
fn warn_registry(plan: &mut Plan, code: crate::plan::WarningCode) {
    let first = plan.repositories[0].repository.clone();
    plan.warnings.push(crate::plan::Warning {
        code,
        message: "about the registry as a whole".to_owned(),
        repository: first.to_string(),
        location: None,
        help: Some("the same help".to_owned()),
    });
    plan.order_warnings();
}

#[test]
fn a_registry_warning_of_every_shard_is_kept_once_at_the_first_repository() {
    use crate::plan::WarningCode;
    let mut whole = plan_of(&desired());
    let own = whole.plan.warnings.len();
    assert!(own > 0, "the example warns about some repositories");
    warn_registry(&mut whole.plan, WarningCode::PullTimeNotExcluded);
    warn_registry(&mut whole.plan, WarningCode::RegistrySettingsUnreadable);
    // The registry's warnings after the repositories', settings before pull times.
    assert_eq!(
        whole.plan.warnings[own..]
            .iter()
            .map(|w| w.code)
            .collect::<Vec<_>>(),
        [
            WarningCode::RegistrySettingsUnreadable,
            WarningCode::PullTimeNotExcluded
        ]
    );
    let mut parts = shards(3, ShardBy::Repository);
    for (_, p) in &mut parts {
        // Each shard warns at its own first repository.
        warn_registry(&mut p.plan, WarningCode::PullTimeNotExcluded);
        warn_registry(&mut p.plan, WarningCode::RegistrySettingsUnreadable);
    }
    parts.reverse();
    let merged = merge(parts).unwrap();
    assert_eq!(merged.plan.warnings, whole.plan.warnings);
}

#[test]
fn a_shard_plan_says_which_shard_it_is() {
    let parts = shards(3, ShardBy::Repository);
    let info = parts[1].1.plan.shard.as_ref().unwrap();
    assert_eq!(
        (info.index, info.count, info.by),
        (2, 3, ShardBy::Repository)
    );
    assert_eq!(info.repositories_total, desired().repositories.len());
    assert!(plan_of(&desired()).plan.shard.is_none());
}

#[test]
fn only_every_shard_of_one_plan_once_is_put_together() {
    let parts = shards(3, ShardBy::Repository);
    let mut missing = parts.clone();
    missing.remove(2);
    assert_eq!(
        merge(missing).unwrap_err(),
        MergeError::Missing {
            missing: vec![3],
            count: 3
        }
    );
    let mut twice = parts.clone();
    twice[2] = ("again.json".into(), parts[0].1.clone());
    assert!(matches!(
        merge(twice).unwrap_err(),
        MergeError::Twice { index: 1, .. }
    ));
    let mut whole = parts.clone();
    whole.push(("whole.json".into(), plan_of(&desired())));
    assert_eq!(
        merge(whole).unwrap_err(),
        MergeError::NotAShard {
            file: "whole.json".into()
        }
    );
    let mut other = parts.clone();
    other[1] = shards(2, ShardBy::Repository).remove(1);
    assert!(matches!(
        merge(other).unwrap_err(),
        MergeError::OtherPlan { .. }
    ));
    let mut files = parts.clone();
    files[0].1.plan.desired_state_digest = "sha256:other".into();
    assert!(matches!(
        merge(files).unwrap_err(),
        MergeError::OtherPlan { .. }
    ));
    let mut edited = parts;
    let taken = edited[0].1.plan.shard.as_ref().unwrap().positions[0];
    let info = edited[1].1.plan.shard.as_mut().unwrap();
    info.positions[0] = taken;
    assert!(matches!(
        merge(edited).unwrap_err(),
        MergeError::Positions { .. }
    ));
}

#[test]
fn counters_of_any_shape_are_summed() {
    let mut sum = serde_json::Value::Null;
    add_counts(&mut sum, &serde_json::json!({"a": 1, "b": {"c": 2}}));
    add_counts(
        &mut sum,
        &serde_json::json!({"a": 3, "b": {"c": 4, "d": 5}, "e": 6}),
    );
    assert_eq!(
        sum,
        serde_json::json!({"a": 4, "b": {"c": 6, "d": 5}, "e": 6})
    );
}
