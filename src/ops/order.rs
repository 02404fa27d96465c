//! The order in which a run reads its repositories: grouped by registry (account and
//! region), each registry its own stream of reads, and taken across registries in
//! turn, so that every account's budget is spent side by side.

use std::collections::HashMap;

use crate::model::{RegistryLocation, RepositoryRef};

/// The indices of `targets` by registry (account and region), registries in the order
/// they first appear, each one's repositories in declaration order.
pub(crate) fn by_registry(targets: &[RepositoryRef]) -> Vec<Vec<usize>> {
    let mut group: HashMap<&RegistryLocation, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let n = out.len();
        let g = *group.entry(&t.registry).or_insert(n);
        if g == n {
            out.push(Vec::new());
        }
        out[g].push(i);
    }
    out
}

/// The indices of `targets`, taking each registry's repositories in turn: the first of
/// every registry (in the order registries first appear), then the second, ...
pub(crate) fn interleaved(targets: &[RepositoryRef]) -> Vec<usize> {
    let groups = by_registry(targets);
    let longest = groups.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|k| groups.iter().filter_map(move |g| g.get(k).copied()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, Region, RepositoryName};

    fn targets() -> Vec<RepositoryRef> {
        let at = |account: &str, region: &str, name: &str| RepositoryRef {
            registry: RegistryLocation::private(
                AccountId::parse(account).unwrap(),
                Region::parse(region).unwrap(),
            ),
            name: RepositoryName::parse(name).unwrap(),
        };
        let (a, b) = ("111111111111", "222222222222");
        vec![
            at(b, "eu-west-1", "apps/x"),
            at(a, "eu-west-1", "apps/x"),
            at(b, "eu-west-1", "apps/y"),
            at(a, "us-east-1", "apps/x"),
            at(b, "eu-west-1", "apps/z"),
            at(a, "eu-west-1", "apps/y"),
        ]
    }

    #[test]
    fn repositories_are_grouped_by_account_and_region() {
        assert_eq!(
            by_registry(&targets()),
            vec![vec![0, 2, 4], vec![1, 5], vec![3]]
        );
    }

    #[test]
    fn repositories_are_taken_across_registries_in_turn() {
        assert_eq!(interleaved(&targets()), vec![0, 1, 3, 2, 5, 4]);
    }
}
