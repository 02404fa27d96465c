//! What JSON Schema cannot check: uniqueness and references.

use super::error::SnapshotError;
use super::{Snapshot, SnapshotImage, SnapshotRepository};
use crate::model::{Digest, MediaType, Tag};
use crate::registry::observe::index_children;

/// What [`check_repository`] found wrong in a repository: the index of the image
/// concerned, and what is wrong.
pub(super) type Problem = (usize, String);

/// Checks what JSON Schema cannot: uniqueness and references. `problems` holds, for
/// each repository in file order, what [`check_repository`] found; the first problem
/// in file order is reported.
pub(super) fn check(
    path: &str,
    s: &Snapshot,
    problems: Vec<Option<Problem>>,
) -> Result<(), SnapshotError> {
    let invalid = |at: String, message: String| SnapshotError::Invalid {
        path: path.to_owned(),
        at,
        message,
    };
    let mut problems = problems.into_iter();
    let mut repos = foldhash::HashSet::default();
    for (ri, reg) in s.registries.iter().enumerate() {
        if reg.public_alias.is_some() {
            let public_has = if !reg.replication.is_empty() {
                Some("replication")
            } else if !reg.pull_through_cache_rules.is_empty() {
                Some("pull_through_cache_rules")
            } else {
                reg.repositories.iter().find_map(|r| {
                    if r.lifecycle_policy.is_some() {
                        Some("lifecycle_policy")
                    } else {
                        r.tag_mutability.as_ref().map(|_| "tag_mutability")
                    }
                })
            };
            if let Some(field) = public_has {
                return Err(invalid(
                    format!("registries[{ri}]"),
                    format!("ECR Public has no `{field}`: a public registry has none"),
                ));
            }
        }
        for (pi, repo) in reg.repositories.iter().enumerate() {
            let at = || format!("registries[{ri}].repositories[{pi}]");
            if !repos.insert((&reg.account, &reg.region, &reg.public_alias, &repo.name)) {
                return Err(invalid(
                    at(),
                    format!("repository `{}` appears twice", repo.name),
                ));
            }
            if let Some((ii, message)) = problems.next().flatten() {
                return Err(invalid(format!("{}.images[{ii}]", at()), message));
            }
            if reg.public_alias.is_some()
                && let Some((ii, field)) = repo.images.iter().enumerate().find_map(|(ii, img)| {
                    reported_only_by_private_ecr(img).map(|field| (ii, field))
                })
            {
                return Err(invalid(
                    format!("{}.images[{ii}]", at()),
                    format!(
                        "ECR Public reports no `{field}`: an image of a public registry has none"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The first field of `img` that only private ECR reports (image status and the
/// times that go with it), if any.
fn reported_only_by_private_ecr(img: &SnapshotImage) -> Option<&'static str> {
    if img.status.is_some() {
        Some("status")
    } else if img.last_recorded_pull_time.is_some() {
        Some("last_recorded_pull_time")
    } else if img.last_archived_at.is_some() {
        Some("last_archived_at")
    } else if img.last_activated_at.is_some() {
        Some("last_activated_at")
    } else {
        None
    }
}

/// Checks one repository on its own: digests and tags are unique, and `children`
/// are only on indexes and name images of the repository.
pub(super) fn check_repository(repo: &SnapshotRepository) -> Result<(), Problem> {
    let mut digests: foldhash::HashSet<&Digest> =
        foldhash::HashSet::with_capacity_and_hasher(repo.images.len(), Default::default());
    let mut tags: foldhash::HashSet<&Tag> =
        foldhash::HashSet::with_capacity_and_hasher(repo.images.len(), Default::default());
    for (ii, img) in repo.images.iter().enumerate() {
        if !digests.insert(&img.digest) {
            return Err((ii, format!("digest {} appears twice", img.digest)));
        }
        for t in &img.tags {
            if !tags.insert(t) {
                return Err((ii, format!("tag `{t}` is on two images")));
            }
        }
        let is_index = img
            .manifest_media_type
            .as_ref()
            .is_some_and(MediaType::is_index);
        if !img.children.is_empty() && !is_index {
            return Err((ii, "`children` is only for index media types".into()));
        }
        if let Some(computed) = img
            .manifest
            .as_ref()
            .and_then(|m| img.digest.mismatch(m.as_bytes()))
        {
            return Err((
                ii,
                format!(
                    "`manifest` hashes to {computed}, not to the image's digest {}",
                    img.digest
                ),
            ));
        }
    }
    for (ii, img) in repo.images.iter().enumerate() {
        for c in children_of(img).map_err(|e| (ii, e))? {
            if !digests.contains(&c) {
                return Err((
                    ii,
                    format!(
                        "index {} lists child {c}, which is not an image of the repository",
                        img.digest
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn children_of(img: &SnapshotImage) -> Result<Vec<Digest>, String> {
    let is_index = img
        .manifest_media_type
        .as_ref()
        .is_some_and(MediaType::is_index);
    match (&img.manifest, is_index) {
        (Some(m), true) => {
            let from_manifest = index_children(m)?;
            if !img.children.is_empty() && img.children != from_manifest {
                return Err("`children` differs from the manifest's list".into());
            }
            Ok(from_manifest)
        }
        _ => Ok(img.children.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{digest, image, images, index, invalid, snapshot};
    use super::super::parse;
    use super::*;

    #[test]
    fn a_public_repository_has_no_tag_mutability() {
        let text = r#"{"version":1,"registries":[{"account":"123456789012","public_alias":"example","repositories":[{"name":"tools/cli","tag_mutability":{"setting":"immutable"}}]}]}"#;
        assert_eq!(
            invalid(text),
            (
                "registries[0]".into(),
                "ECR Public has no `tag_mutability`: a public registry has none".into()
            )
        );
    }

    #[test]
    fn duplicate_repositories() {
        let text = snapshot(&[
            ("a/one", image(1, "")),
            ("a/two", image(1, "")),
            ("a/one", image(1, "")),
        ]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[2]".into(),
                "repository `a/one` appears twice".into()
            )
        );
    }

    #[test]
    fn duplicate_digests_and_tags() {
        let text = snapshot(&[
            ("a/one", images(&[image(1, r#""x""#), image(2, r#""y""#)])),
            ("a/two", images(&[image(1, ""), image(2, ""), image(1, "")])),
        ]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[1].images[2]".into(),
                format!("digest {} appears twice", digest(1))
            )
        );
        let text = snapshot(&[(
            "a/one",
            images(&[image(1, r#""x""#), image(2, r#""y","x""#)]),
        )]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[1]".into(),
                "tag `x` is on two images".into()
            )
        );
    }

    #[test]
    fn children() {
        let not_index = format!(
            r#"{{"digest":"{}","pushed_at":"2026-01-01T00:00:00Z","children":["{}"]}}"#,
            digest(2),
            digest(1)
        );
        let text = snapshot(&[("a/one", images(&[image(1, ""), not_index]))]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[1]".into(),
                "`children` is only for index media types".into()
            )
        );
        let text = snapshot(&[("a/one", images(&[image(1, ""), index(2, &[1, 7], None)]))]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[1]".into(),
                format!(
                    "index {} lists child {}, which is not an image of the repository",
                    digest(2),
                    digest(7)
                )
            )
        );
        let text = snapshot(&[(
            "a/one",
            images(&[image(1, ""), image(3, ""), index(2, &[1], Some(&[3]))]),
        )]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[2]".into(),
                "`children` differs from the manifest's list".into()
            )
        );
        // A manifest must hash to the image's digest: restore pushes it back as is.
        let raw = super::super::fixtures::index_manifest(&[1]);
        let forged = format!(
            r#"{{"digest":"{}","pushed_at":"2026-01-01T00:00:00Z","manifest_media_type":"application/vnd.oci.image.index.v1+json","manifest":{}}}"#,
            digest(2),
            serde_json::to_string(&raw).unwrap()
        );
        let text = snapshot(&[("a/one", images(&[image(1, ""), forged]))]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[1]".into(),
                format!(
                    "`manifest` hashes to {}, not to the image's digest {}",
                    crate::hash::sha256(raw.as_bytes()),
                    digest(2)
                )
            )
        );
    }

    #[test]
    fn the_first_problem_in_file_order_is_reported() {
        // A duplicate tag in the first repository comes before a duplicate repository.
        let text = snapshot(&[
            ("a/one", images(&[image(1, r#""x""#), image(2, r#""x""#)])),
            ("a/one", image(1, "")),
        ]);
        assert_eq!(invalid(&text).0, "registries[0].repositories[0].images[1]");
        // A duplicate repository comes before a problem inside it.
        let text = snapshot(&[
            ("a/one", image(1, "")),
            ("a/one", images(&[image(1, ""), image(1, "")])),
        ]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[1]".into(),
                "repository `a/one` appears twice".into()
            )
        );
        // Within a repository, duplicates come before children.
        let text = snapshot(&[(
            "a/one",
            images(&[index(2, &[9], None), image(1, ""), image(1, "")]),
        )]);
        assert_eq!(invalid(&text).0, "registries[0].repositories[0].images[2]");
        // A syntax error anywhere comes before any check.
        let text = snapshot(&[
            ("a/one", images(&[image(1, ""), image(1, "")])),
            ("a/two", r#"{"digest":"sha256:00"}"#.to_owned()),
        ]);
        assert!(matches!(
            parse("s.json", text.as_bytes()),
            Err(SnapshotError::Syntax { .. })
        ));
    }

    #[test]
    fn the_same_name_in_another_registry_is_another_repository() {
        let text = r#"{"version":1,"registries":[{"account":"123456789012","region":"eu-west-1","repositories":[{"name":"a/one"}]},{"account":"123456789012","region":"eu-west-2","repositories":[{"name":"a/one"}]},{"account":"123456789012","region":"eu-west-1","repositories":[{"name":"a/one"}]}]}"#;
        assert_eq!(
            invalid(text),
            (
                "registries[2].repositories[0]".into(),
                "repository `a/one` appears twice".into()
            )
        );
    }
}
