//! Putting the plans of the N shards of one desired state back together (`show` of
//! several plan files): the repositories in declaration order, the warnings once, the
//! totals and the calls summed, so that the result is the plan of the whole.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::plan::PlanOutcome;
use crate::config::shard::ShardInfo;
use crate::model::RepositoryRef;
use crate::plan::{Plan, RepositoryPlan, Summary};

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
pub fn merge(plans: Vec<(String, PlanOutcome)>) -> Result<PlanOutcome, MergeError> {
    let plans = plans
        .into_iter()
        .map(|(file, mut outcome)| {
            let repositories = std::mem::take(&mut outcome.plan.repositories);
            (file, outcome, repositories)
        })
        .collect();
    let shards = check_shards(plans)?;
    let owners = place(&shards, Vec::len)?;
    let mut lists: Vec<_> = Vec::with_capacity(shards.len());
    let mut parts = Vec::with_capacity(shards.len());
    for shard in shards {
        lists.push(shard.repositories.into_iter());
        parts.push(ShardPlan {
            file: shard.file,
            info: shard.info,
            outcome: shard.outcome,
            repositories: (),
        });
    }
    let mut whole = Whole::new(parts.len());
    let mut repositories = Vec::with_capacity(owners.len());
    for (position, &owner) in owners.iter().enumerate() {
        let r = lists[owner].next().expect("placed");
        whole.add(owner, position, &r);
        repositories.push(r);
    }
    let mut outcome = whole.finish(parts);
    outcome.plan.repositories = repositories;
    Ok(outcome)
}

/// One shard's plan, checked to belong with the others: its file (as given), which
/// shard it is, the plan without its repositories, and its repositories (in memory,
/// or where they were put aside).
pub(crate) struct ShardPlan<R> {
    /// The file, as given.
    pub file: String,
    /// Which shard.
    pub info: ShardInfo,
    /// The plan, its `repositories` empty.
    pub outcome: PlanOutcome,
    /// The repositories.
    pub repositories: R,
}

/// Checks that `plans` (`(file, plan without its repositories, repositories)`) are
/// the N shards of one plan, each once; gives them in shard order.
pub(crate) fn check_shards<R>(
    plans: Vec<(String, PlanOutcome, R)>,
) -> Result<Vec<ShardPlan<R>>, MergeError> {
    let mut shards = Vec::with_capacity(plans.len());
    for (file, outcome, repositories) in plans {
        let Some(info) = outcome.plan.shard.clone() else {
            return Err(MergeError::NotAShard { file });
        };
        shards.push(ShardPlan {
            file,
            info,
            outcome,
            repositories,
        });
    }
    shards.sort_by_key(|s| s.info.index);
    let Some(first) = shards.first() else {
        return Err(MergeError::Missing {
            missing: Vec::new(),
            count: 0,
        });
    };
    let count = first.info.count;
    for shard in &shards[1..] {
        same_plan(first, shard)?;
    }
    for pair in shards.windows(2) {
        if pair[0].info.index == pair[1].info.index {
            return Err(MergeError::Twice {
                index: pair[0].info.index,
                count,
                first: pair[0].file.clone(),
                second: pair[1].file.clone(),
            });
        }
    }
    let given: HashSet<u32> = shards.iter().map(|s| s.info.index).collect();
    let missing: Vec<u32> = (1..=count).filter(|k| !given.contains(k)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { missing, count });
    }
    Ok(shards)
}

/// Checks that `shard` is of the same plan as `first`.
fn same_plan<R>(first: &ShardPlan<R>, shard: &ShardPlan<R>) -> Result<(), MergeError> {
    let other = |what: String| MergeError::OtherPlan {
        file: shard.file.clone(),
        what,
        first: first.file.clone(),
    };
    let (a, b) = (&first.outcome.plan, &shard.outcome.plan);
    let (info, one) = (&shard.info, &first.info);
    if b.desired_state_digest != a.desired_state_digest {
        return Err(other("other desired-state files".to_owned()));
    }
    if info.count != one.count
        || info.by != one.by
        || info.repositories_total != one.repositories_total
    {
        return Err(other(format!(
            "{} shards by {}, not {} by {}",
            info.count, info.by, one.count, one.by
        )));
    }
    if b.source != a.source {
        return Err(other(format!("another source ({})", b.source)));
    }
    if b.forecast.as_ref().map(|f| &f.horizon) != a.forecast.as_ref().map(|f| &f.horizon) {
        return Err(other("another --forecast".to_owned()));
    }
    Ok(())
}

/// Which shard (its index in `shards`) holds the repository at each declared
/// position: every declared repository exactly once, each shard's in increasing
/// position (as a shard's plan lists them), `length` giving how many a shard holds.
pub(crate) fn place<R>(
    shards: &[ShardPlan<R>],
    length: impl Fn(&R) -> usize,
) -> Result<Vec<usize>, MergeError> {
    let Some(first) = shards.first() else {
        return Ok(Vec::new());
    };
    let total = first.info.repositories_total;
    let mut owners = vec![usize::MAX; total];
    for (owner, shard) in shards.iter().enumerate() {
        let refused = || MergeError::Positions {
            file: shard.file.clone(),
            total,
        };
        let positions = &shard.info.positions;
        if positions.len() != length(&shard.repositories)
            || positions.windows(2).any(|pair| pair[0] >= pair[1])
        {
            return Err(refused());
        }
        for &p in positions {
            match owners.get_mut(p) {
                Some(slot) if *slot == usize::MAX => *slot = owner,
                _ => return Err(refused()),
            }
        }
    }
    if owners.contains(&usize::MAX) {
        return Err(MergeError::Positions {
            file: first.file.clone(),
            total,
        });
    }
    Ok(owners)
}

/// The plan of the whole being put together from its shards' plans, a repository at
/// a time in declaration order: what the repositories give the totals, the warnings'
/// order and the forecast's.
pub(crate) struct Whole {
    summary: Summary,
    /// Each repository's declaration position, by name (for the warnings).
    position: HashMap<String, usize>,
    /// Per shard, each repository's declaration position (its first, for the
    /// forecast's entries).
    of_shard: Vec<HashMap<RepositoryRef, usize>>,
}

impl Whole {
    /// Nothing added yet, of `shards` shards.
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            summary: Summary::default(),
            position: HashMap::new(),
            of_shard: vec![HashMap::new(); shards],
        }
    }

    /// Adds the repository at `position` (the next one), of shard `owner`.
    pub(crate) fn add(&mut self, owner: usize, position: usize, r: &RepositoryPlan) {
        self.summary.add(r);
        self.position.insert(r.repository.to_string(), position);
        self.of_shard[owner]
            .entry(r.repository.clone())
            .or_insert(position);
    }

    /// The plan of the whole, without its repositories, from the shards' plans (in
    /// shard order, as [`check_shards`] gives them) once every repository is added.
    pub(crate) fn finish(self, shards: Vec<ShardPlan<()>>) -> PlanOutcome {
        let mut forecasts = Vec::new();
        let mut warnings = Vec::new();
        let mut api_calls = serde_json::Value::Null;
        let mut in_use_calls = serde_json::Value::Null;
        let mut created_at = None;
        let mut base: Option<Plan> = None;
        for (shard, of_shard) in shards.into_iter().zip(&self.of_shard) {
            let PlanOutcome {
                plan,
                api_calls: calls,
                in_use_calls: live,
                ..
            } = shard.outcome;
            if let Some(f) = &plan.forecast {
                forecasts.extend(
                    f.repositories
                        .iter()
                        .map(|r| (of_shard.get(&r.repository).copied(), r.clone())),
                );
            }
            warnings.extend(plan.warnings.iter().cloned());
            add_counts(&mut api_calls, &calls);
            add_counts(&mut in_use_calls, &live);
            created_at =
                Some(created_at.map_or(plan.created_at, |c: DateTime<Utc>| c.min(plan.created_at)));
            base.get_or_insert(plan);
        }
        let mut plan = base.expect("at least one shard");
        plan.created_at = created_at.expect("at least one shard");
        plan.summary = self.summary;
        plan.repositories = Vec::new();
        plan.warnings = warnings;
        // A registry's warnings come from every shard with one of its repositories: the
        // first repository's is kept, as in the plan of the whole.
        crate::plan::order_warnings(&mut plan.warnings, &self.position);
        plan.shard = None;
        if let Some(f) = &mut plan.forecast {
            forecasts.sort_by_key(|(p, _)| *p);
            f.repositories = forecasts.into_iter().map(|(_, r)| r).collect();
        }
        PlanOutcome::new(plan, from_value(api_calls), from_value(in_use_calls))
    }
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
