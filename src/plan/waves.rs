//! Deletion waves: the order in which a repository's deletions are sent, so that an
//! index goes before its children and a referrer before its subject, and an index
//! whose manifest cannot be read before every image it may list. Pure.

use foldhash::{HashMap, HashMapExt, HashSet};

use crate::model::Digest;
use crate::registry::{ImageDetail, ObservedRepository};

/// The wave of each deleted image: 1 + the length of the longest chain of deleted
/// images that reference it (as index parent or as referrer).
pub(super) fn delete_waves(
    deleted: &[usize],
    images: &[ImageDetail],
    observed: &ObservedRepository,
    by_digest: &HashMap<&Digest, usize>,
) -> Vec<u32> {
    let mut is_deleted = vec![false; images.len()];
    for &i in deleted {
        is_deleted[i] = true;
    }
    // parents[i]: deleted images that reference image i.
    let mut parents: HashMap<usize, Vec<usize>> = HashMap::new();
    for &p in deleted {
        let img = &images[p];
        if let Some(kids) = observed.children.get(&img.digest) {
            for k in kids {
                if let Some(&c) = by_digest.get(k)
                    && is_deleted[c]
                {
                    parents.entry(c).or_default().push(p);
                }
            }
        }
        if let Some(s) = &img.subject
            && let Some(&c) = by_digest.get(s)
            && is_deleted[c]
        {
            parents.entry(c).or_default().push(p);
        }
    }
    let mut depth: Vec<Option<u32>> = vec![None; images.len()];
    let depths: Vec<u32> = deleted
        .iter()
        .map(|&i| depth_of(i, &parents, &mut depth, 0))
        .collect();
    let unreadable_set: HashSet<&Digest> = observed.unreadable.iter().collect();
    let unreadable: Vec<usize> = deleted
        .iter()
        .copied()
        .filter(|&i| unreadable_set.contains(&images[i].digest))
        .collect();
    if unreadable.is_empty() {
        return depths.into_iter().map(|d| 1 + d).collect();
    }
    waves_around_unreadable(deleted, images, &parents, &depth, unreadable)
}

/// The waves when deleted indexes' manifests could not be read: such an index may
/// list any image, so it goes before every deleted image except those that lead to it
/// (its referrers, indexes known to list it, and so on up). Several go newest first:
/// an index is pushed after the manifests it lists (ECR refuses it otherwise), so an
/// older one cannot list a newer one. In blocks of waves, newest first: the images
/// that lead to the indexes pushed at one instant (not placed yet), by depth, then
/// those indexes; then every other deleted image, by depth. Every known reference
/// keeps its order: an image that leads to an index is in that index's block or an
/// earlier one. Indexes pushed at the same instant share a wave.
fn waves_around_unreadable(
    deleted: &[usize],
    images: &[ImageDetail],
    parents: &HashMap<usize, Vec<usize>>,
    depth: &[Option<u32>],
    mut unreadable: Vec<usize>,
) -> Vec<u32> {
    unreadable.sort_by_key(|&i| std::cmp::Reverse(images[i].pushed_at));
    let depth_of = |i: usize| depth[i].unwrap_or(0);
    let mut wave: Vec<Option<u32>> = vec![None; images.len()];
    let mut base = 0;
    for group in unreadable.chunk_by(|&a, &b| images[a].pushed_at == images[b].pushed_at) {
        let mut top = base;
        let mut queue: Vec<usize> = group
            .iter()
            .flat_map(|u| parents.get(u).into_iter().flatten().copied())
            .collect();
        while let Some(a) = queue.pop() {
            if wave[a].is_some() || group.contains(&a) {
                continue;
            }
            let w = base + 1 + depth_of(a);
            wave[a] = Some(w);
            top = top.max(w);
            queue.extend(parents.get(&a).into_iter().flatten().copied());
        }
        for &u in group {
            wave[u].get_or_insert(top + 1);
        }
        base = top + 1;
    }
    deleted
        .iter()
        .map(|&i| wave[i].unwrap_or_else(|| base + 1 + depth_of(i)))
        .collect()
}

fn depth_of(
    i: usize,
    parents: &HashMap<usize, Vec<usize>>,
    memo: &mut [Option<u32>],
    guard: u32,
) -> u32 {
    if let Some(d) = memo[i] {
        return d;
    }
    // Digests cannot form cycles; the guard only bounds malformed input.
    let d = if guard > 64 {
        0
    } else {
        parents.get(&i).map_or(0, |ps| {
            ps.iter()
                .map(|&p| depth_of(p, parents, memo, guard + 1) + 1)
                .max()
                .unwrap_or(0)
        })
    };
    memo[i] = Some(d);
    d
}
