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

/// Repositories a window against a registry on the network holds at most: its groups
/// take every account and region in turn, so the larger the window, the more accounts
/// are read side by side.
pub(crate) const NETWORK_WINDOW: usize = 8192;

/// Images a window's plans are to hold, about (they are held until the window is
/// done): the next window is sized by the images per repository seen so far.
pub(crate) const WINDOW_IMAGES: usize = 2_000_000;

/// The sizes of the windows of declaration order a run reads: a group at a time when
/// the registry answers at once (no budget to spend side by side); else as many
/// repositories as hold about [`WINDOW_IMAGES`] images by the repositories planned so
/// far, between one group and [`NETWORK_WINDOW`]. The first window, before any size is
/// known, is the largest: a window is of declaration order, where an account's
/// repositories follow one another, so a smaller one holds fewer accounts to read side
/// by side (1,024 repositories of 20 accounts of 100 held 10 of them: the run took
/// twice what the quotas allow).
#[derive(Debug)]
pub(crate) struct Windows {
    group: usize,
    network: bool,
    repositories: usize,
    images: usize,
}

impl Windows {
    pub(crate) fn new(group: usize, network: bool) -> Self {
        Self {
            group,
            network,
            repositories: 0,
            images: 0,
        }
    }

    /// The next window's size, in repositories.
    pub(crate) fn next(&self) -> usize {
        if !self.network {
            return self.group;
        }
        if self.repositories == 0 {
            return NETWORK_WINDOW.max(self.group);
        }
        let per_repository = self.images.div_ceil(self.repositories).max(1);
        (WINDOW_IMAGES / per_repository).clamp(self.group, NETWORK_WINDOW.max(self.group))
    }

    /// One more repository planned, of `images` images.
    pub(crate) fn planned(&mut self, images: usize) {
        self.repositories += 1;
        self.images += images;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, Region, RepositoryName};

    #[test]
    fn windows_hold_about_two_million_images_between_a_group_and_the_network_window() {
        let offline = Windows::new(256, false);
        assert_eq!(offline.next(), 256);
        let mut w = Windows::new(256, true);
        assert_eq!(w.next(), NETWORK_WINDOW, "nothing known yet");
        // 400 images a repository: 5,000 repositories.
        (0..10).for_each(|_| w.planned(400));
        assert_eq!(w.next(), 5_000);
        // Small repositories: at most the network window.
        let mut small = Windows::new(256, true);
        (0..10).for_each(|_| small.planned(3));
        assert_eq!(small.next(), NETWORK_WINDOW);
        small.planned(0);
        let mut empty = Windows::new(256, true);
        empty.planned(0);
        assert_eq!(empty.next(), NETWORK_WINDOW);
        // Huge repositories: one group at least, so the accounts still take turns.
        let mut huge = Windows::new(256, true);
        huge.planned(100_000);
        assert_eq!(huge.next(), 256);
        // A group larger than the network window is the window.
        assert_eq!(Windows::new(10_000, true).next(), 10_000);
    }

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
