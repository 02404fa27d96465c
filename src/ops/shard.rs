//! Putting the plans of the N shards of one desired state back together (`show` of
//! several plan files): the repositories in declaration order, the warnings once, the
//! totals and the calls summed, so that the result is the plan of the whole.

use std::collections::HashSet;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::plan::PlanOutcome;
use crate::plan::{Plan, Summary};

/// Why plans cannot be put together. Nothing is shown but the error.
#[derive(Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum MergeError {
    /// A plan of the whole desired state among shards, or the plans of two runs.
    #[error("{file} is not a shard's plan (made without --shard); show it alone")]
    #[diagnostic(code(show::not_a_shard))]
    NotAShard {
        /// The file, as given.
        file: String,
    },
    /// Plans of other desired-state files, or of another division into shards.
    #[error("{file} is a plan of {what} than {first}; put together only the shards of one plan")]
    #[diagnostic(code(show::other_plan))]
    OtherPlan {
        /// The file, as given.
        file: String,
        /// What differs (`other desired-state files`, `4 shards, not 3`...).
        what: String,
        /// The first file.
        first: String,
    },
    /// A shard given twice.
    #[error("shard {index}/{count} is given twice ({first} and {second})")]
    #[diagnostic(code(show::shard_twice))]
    Twice {
        /// K.
        index: u32,
        /// N.
        count: u32,
        /// The first file.
        first: String,
        /// The second.
        second: String,
    },
    /// Shards missing: the result would not be the whole plan.
    #[error("the plans of shard{} {} of {count} are missing; give every shard's plan", if .missing.len() == 1 { "" } else { "s" }, .missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    #[diagnostic(code(show::shards_missing))]
    Missing {
        /// The K of each missing shard.
        missing: Vec<u32>,
        /// N.
        count: u32,
    },
    /// The shards' positions do not cover the declared repositories once each (an
    /// edited plan, or a bug).
    #[error(
        "{file}: its repository positions overlap another shard's or fall outside the {total} declared repositories"
    )]
    #[diagnostic(code(show::positions))]
    Positions {
        /// The file.
        file: String,
        /// The repositories of the whole.
        total: usize,
    },
}

/// The plan of the whole from the plans of its N shards (`(file, plan)`, in any
/// order): checked to be the N shards of one plan, each once.
// Long function: the checks, then the assembly, in the order a reader follows them.
pub fn merge(plans: Vec<(String, PlanOutcome)>) -> Result<PlanOutcome, MergeError> {
    let mut shards = Vec::with_capacity(plans.len());
    for (file, outcome) in plans {
        let Some(info) = outcome.plan.shard.clone() else {
            return Err(MergeError::NotAShard { file });
        };
        shards.push((file, info, outcome));
    }
    shards.sort_by_key(|(_, info, _)| info.index);
    let Some((first_file, first, first_outcome)) = shards.first() else {
        return Err(MergeError::Missing {
            missing: Vec::new(),
            count: 0,
        });
    };
    let (count, total) = (first.count, first.repositories_total);
    for (file, info, outcome) in &shards[1..] {
        let other = |what: String| MergeError::OtherPlan {
            file: file.clone(),
            what,
            first: first_file.clone(),
        };
        if outcome.plan.desired_state_digest != first_outcome.plan.desired_state_digest {
            return Err(other("other desired-state files".to_owned()));
        }
        if info.count != count || info.by != first.by || info.repositories_total != total {
            return Err(other(format!(
                "{} shards by {}, not {} by {}",
                info.count, info.by, count, first.by
            )));
        }
        if outcome.plan.source != first_outcome.plan.source {
            return Err(other(format!("another source ({})", outcome.plan.source)));
        }
        if outcome.plan.forecast.as_ref().map(|f| &f.horizon)
            != first_outcome.plan.forecast.as_ref().map(|f| &f.horizon)
        {
            return Err(other("another --forecast".to_owned()));
        }
    }
    for pair in shards.windows(2) {
        if pair[0].1.index == pair[1].1.index {
            return Err(MergeError::Twice {
                index: pair[0].1.index,
                count,
                first: pair[0].0.clone(),
                second: pair[1].0.clone(),
            });
        }
    }
    let given: HashSet<u32> = shards.iter().map(|(_, i, _)| i.index).collect();
    let missing: Vec<u32> = (1..=count).filter(|k| !given.contains(k)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { missing, count });
    }

    // Every declared repository once, at its position.
    let mut slots: Vec<Option<crate::plan::RepositoryPlan>> = vec![None; total];
    let mut forecasts = Vec::new();
    let mut warnings = Vec::new();
    let mut api_calls = serde_json::Value::Null;
    let mut in_use_calls = serde_json::Value::Null;
    let mut created_at = first_outcome.plan.created_at;
    let mut base: Option<Plan> = None;
    for (file, info, outcome) in shards {
        let PlanOutcome {
            plan,
            api_calls: calls,
            in_use_calls: live,
            ..
        } = outcome;
        if info.positions.len() != plan.repositories.len() {
            return Err(MergeError::Positions { file, total });
        }
        for (&p, r) in info.positions.iter().zip(&plan.repositories) {
            match slots.get_mut(p) {
                Some(slot @ None) => *slot = Some(r.clone()),
                _ => return Err(MergeError::Positions { file, total }),
            }
        }
        let position_of = |repo: &crate::model::RepositoryRef| {
            plan.repositories
                .iter()
                .position(|r| &r.repository == repo)
                .map(|i| info.positions[i])
        };
        if let Some(f) = &plan.forecast {
            forecasts.extend(
                f.repositories
                    .iter()
                    .map(|r| (position_of(&r.repository), r.clone())),
            );
        }
        warnings.extend(plan.warnings.iter().cloned());
        add_counts(&mut api_calls, &calls);
        add_counts(&mut in_use_calls, &live);
        created_at = created_at.min(plan.created_at);
        base.get_or_insert(plan);
    }
    let repositories: Vec<_> = slots.into_iter().map(|s| s.expect("covered")).collect();
    let mut plan = base.expect("at least one shard");
    plan.created_at = created_at;
    plan.summary = Summary::of(&repositories);
    plan.repositories = repositories;
    plan.warnings = warnings;
    // A registry's warnings come from every shard with one of its repositories: the
    // first repository's is kept, as in the plan of the whole.
    plan.order_warnings();
    plan.shard = None;
    if let Some(f) = &mut plan.forecast {
        forecasts.sort_by_key(|(p, _)| *p);
        f.repositories = forecasts.into_iter().map(|(_, r)| r).collect();
    }
    Ok(PlanOutcome::new(
        plan,
        from_value(api_calls),
        from_value(in_use_calls),
    ))
}

/// Adds the counters of `more` to `sum` (every number at the same place summed, the
/// rest kept): call counts of any shape, present and future.
fn add_counts<T: Serialize>(sum: &mut serde_json::Value, more: &T) {
    fn add(sum: &mut serde_json::Value, more: serde_json::Value) {
        use serde_json::Value;
        match (sum, more) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    add(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a @ Value::Number(_), Value::Number(b)) => {
                let total = a
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_add(b.as_u64().unwrap_or(0));
                *a = Value::from(total);
            }
            (a, b) => *a = b,
        }
    }
    add(sum, serde_json::to_value(more).unwrap_or_default());
}

fn from_value<T: DeserializeOwned + Default>(v: serde_json::Value) -> T {
    if v.is_null() {
        return T::default();
    }
    serde_json::from_value(v).unwrap_or_default()
}

#[cfg(test)]
mod tests;
