//! Shards: `--shard K/N` plans (and applies) one of N disjoint parts of the declared
//! repositories, so that a GitHub Actions matrix of N jobs covers them all and the N
//! plans together are exactly the plan of the whole.
//!
//! The assignment is a pure function of the desired state (the same files give the same
//! shards on every runner and in every run):
//!
//! - `--shard-by account` (the default): the repositories of one account stay
//!   together (an ECR Public alias counts as an account of its own; the repositories
//!   that name no account, those of the caller's account, are one account). Accounts
//!   are taken largest first (most repositories; ties by account id) and each goes to
//!   the shard with the fewest repositories so far (ties: the lowest K). An account
//!   with more repositories than the others together fills one shard alone: where one
//!   account is too big, shard by repository.
//! - `--shard-by repository`: the repositories, sorted by account, region and name, go
//!   to the shards in turn (the i-th to shard `i mod N + 1`).
//!
//! Only the repositories are divided: every shard reads every in-use source of the
//! files (ECS, Lambda, Kubernetes, lists) in every region and account of the whole
//! desired state, so an image of one shard's repository that runs where another
//! shard's repositories are is kept all the same.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DesiredRepository, DesiredState};

/// How repositories are divided between shards.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::Display,
    strum::EnumString,
    strum::VariantNames,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ShardBy {
    /// The repositories of an account stay together.
    #[default]
    Account,
    /// Repositories one by one.
    Repository,
}

/// Shard K of N, as asked on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1.
    pub index: u32,
    /// N.
    pub count: u32,
    /// How repositories are divided.
    pub by: ShardBy,
}

/// The most shards a run may be divided into (GitHub Actions runs at most 256 jobs
/// of one matrix).
pub const MAX_SHARDS: u32 = 256;

impl Shard {
    /// Parses `K/N` (1 <= K <= N <= 256).
    pub fn parse(text: &str, by: ShardBy) -> Result<Self, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not K/N (for example 2/4)"))?;
        let number = |s: &str, what: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{text}`: {what} `{s}` is not a whole number"))
        };
        let (index, count) = (number(k, "K")?, number(n, "N")?);
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("`{text}`: N must be from 1 to {MAX_SHARDS}"));
        }
        if index == 0 || index > count {
            return Err(format!("`{text}`: K must be from 1 to N ({count})"));
        }
        Ok(Shard { index, count, by })
    }
}

/// Which shard a plan covers, as the plan document says it: enough to put the N
/// plans of one desired state back together (`show` of several plans) and to refuse
/// applying a saved plan of another shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// K, from 1.
    pub index: u32,
    /// N.
    pub count: u32,
    /// How repositories were divided.
    pub by: ShardBy,
    /// How many repositories the whole desired state declares.
    pub repositories_total: usize,
    /// The position of each of this shard's repositories among all the declared ones
    /// (from 0, in declaration order), in the order of the plan's `repositories`.
    pub positions: Vec<usize>,
}

/// The whole desired state a shard was taken from, and the shard.
#[derive(Clone, Debug)]
pub struct Sharded {
    /// The shard.
    pub info: ShardInfo,
    /// Every declared repository: the in-use sources are read for all of them.
    pub whole: Vec<DesiredRepository>,
}

/// The unit of the account assignment: the account the file names (or the ECR Public
/// alias), or none for the caller's.
fn account_key(r: &DesiredRepository) -> String {
    match (&r.public, &r.account) {
        (Some(alias), _) => format!("public:{alias}"),
        (None, Some(account)) => account.to_string(),
        (None, None) => String::new(),
    }
}

fn repository_key(r: &DesiredRepository) -> (String, String, String) {
    (
        account_key(r),
        r.region.as_ref().map(|x| x.to_string()).unwrap_or_default(),
        r.name.to_string(),
    )
}

/// The shard (from 0) of each repository of `repositories`, by `count` shards.
pub fn assign(repositories: &[DesiredRepository], count: u32, by: ShardBy) -> Vec<u32> {
    let count = count.max(1);
    let mut out = vec![0; repositories.len()];
    match by {
        ShardBy::Repository => {
            let mut order: Vec<usize> = (0..repositories.len()).collect();
            order.sort_by_cached_key(|&i| repository_key(&repositories[i]));
            for (turn, i) in order.into_iter().enumerate() {
                out[i] = (turn % count as usize) as u32;
            }
        }
        ShardBy::Account => {
            let mut accounts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, r) in repositories.iter().enumerate() {
                accounts.entry(account_key(r)).or_default().push(i);
            }
            let mut units: Vec<(String, Vec<usize>)> = accounts.into_iter().collect();
            // Largest first; the BTreeMap gave them by key, and the sort is stable.
            units.sort_by_key(|u| std::cmp::Reverse(u.1.len()));
            let mut load = vec![0usize; count as usize];
            for (_, members) in units {
                let (shard, _) = load
                    .iter()
                    .enumerate()
                    .min_by_key(|&(k, l)| (*l, k))
                    .expect("at least one shard");
                load[shard] += members.len();
                for i in members {
                    out[i] = shard as u32;
                }
            }
        }
    }
    out
}

impl DesiredState {
    /// This desired state narrowed to `shard`: its repositories only, with the whole
    /// list kept for the in-use sources.
    pub fn shard(mut self, shard: Shard) -> DesiredState {
        let whole = std::mem::take(&mut self.repositories);
        let assigned = assign(&whole, shard.count, shard.by);
        let positions: Vec<usize> = (0..whole.len())
            .filter(|&i| assigned[i] + 1 == shard.index)
            .collect();
        self.repositories = positions.iter().map(|&i| whole[i].clone()).collect();
        self.shard = Some(Box::new(Sharded {
            info: ShardInfo {
                index: shard.index,
                count: shard.count,
                by: shard.by,
                repositories_total: whole.len(),
                positions,
            },
            whole,
        }));
        self
    }

    /// Every declared repository, of every shard: where the in-use sources are read.
    pub fn all_repositories(&self) -> &[DesiredRepository] {
        match &self.shard {
            Some(s) => &s.whole,
            None => &self.repositories,
        }
    }

    /// The shard this desired state was narrowed to, if any.
    pub fn shard_info(&self) -> Option<&ShardInfo> {
        self.shard.as_ref().map(|s| &s.info)
    }
}

#[cfg(test)]
mod tests;
