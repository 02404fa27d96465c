//! Warnings about ECR's quotas: a repository near its quota of images, an image near
//! its limit of tags. A push over either fails, so the plan warns within 10% of one,
//! with the figure, before it is reached.
//!
//! The figures are ECR's: "Images per repository: 100,000" (adjustable) in the Service
//! Quotas table of the ECR user guide; 1,000 tags per image in ECR's own refusal of
//! a push over it ("exceeds the maximum allowed number of tags per image which is
//! '1000'"), which the quota table does not list.

use super::{ActionKind, RepositoryPlan, RepositoryStatus, Warning, WarningCode};
use crate::config::DesiredRepository;
use crate::registry::ObservedRepository;

/// ECR's default quota of images per repository (adjustable with Service Quotas).
pub const IMAGES_PER_REPOSITORY: usize = 100_000;
/// ECR's limit of tags on one image.
pub const TAGS_PER_IMAGE: usize = 1_000;

/// True when `n` is within 10% of `limit` (or over it).
fn near(n: usize, limit: usize) -> bool {
    n * 10 >= limit * 9
}

/// `100,000`.
fn figure(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The quota warnings of one repository: its images against the per-repository quota
/// (before the plan, and after it when it deletes some), and each image whose tags
/// are near the per-image limit.
pub fn quota_warnings(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    plan: &RepositoryPlan,
) -> Vec<Warning> {
    let mut out = Vec::new();
    let label = observed.reference.to_string();
    let images = observed.images.len();
    if near(images, IMAGES_PER_REPOSITORY) {
        let deleted = if plan.status == RepositoryStatus::Changes {
            plan.actions
                .iter()
                .filter(|a| a.kind == ActionKind::Delete)
                .count()
        } else {
            0
        };
        let after = if deleted > 0 {
            format!("; after this plan, {} images", figure(images - deleted))
        } else {
            String::new()
        };
        out.push(Warning {
            code: WarningCode::ImageQuota,
            message: format!(
                "repository `{}` holds {} images, within 10% of ECR's quota of {} images per repository{after}",
                desired.name,
                figure(images),
                figure(IMAGES_PER_REPOSITORY),
            ),
            repository: label.clone(),
            location: Some(desired.origin.clone()),
            help: Some(
                "a push over the quota fails: remove images, or ask for more with Service Quotas (the quota is adjustable; this warning assumes the default)".into(),
            ),
        });
    }
    for img in &observed.images {
        if near(img.tags.len(), TAGS_PER_IMAGE) {
            let removed = plan
                .actions
                .iter()
                .filter(|a| a.digest == img.digest)
                .map(|a| a.tags.len())
                .sum::<usize>();
            out.push(Warning {
                code: WarningCode::TagQuota,
                message: format!(
                    "image {} in `{}` has {} tags, within 10% of ECR's limit of {} tags per image{}",
                    img.digest.short(),
                    desired.name,
                    figure(img.tags.len()),
                    figure(TAGS_PER_IMAGE),
                    if removed > 0 && plan.status == RepositoryStatus::Changes {
                        format!("; after this plan, {}", figure(img.tags.len() - removed))
                    } else {
                        String::new()
                    }
                ),
                repository: label.clone(),
                location: Some(desired.origin.clone()),
                help: Some(
                    "tagging it once more past the limit fails: allow fewer of its tags, or push to a new image".into(),
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;
    use crate::model::{
        AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag,
    };
    use crate::plan::{PlanOptions, plan_repository};
    use crate::registry::ImageDetail;
    use chrono::{TimeZone, Utc};

    fn repo(images: Vec<ImageDetail>) -> (DesiredRepository, ObservedRepository) {
        let yaml =
            "version: 1\nrepositories:\n  team/app:\n    tags: [\"keep*\"]\n    untagged: keep\n";
        let desired = load_sources(vec![("t.yaml".into(), yaml.as_bytes().to_vec())])
            .unwrap()
            .repositories
            .remove(0);
        let observed = ObservedRepository::listed(
            RepositoryRef {
                registry: RegistryLocation::private(
                    AccountId::parse("123456789012").unwrap(),
                    Region::parse("eu-west-1").unwrap(),
                ),
                name: RepositoryName::parse("team/app").unwrap(),
            },
            images,
        );
        (desired, observed)
    }

    fn image(n: usize, tags: Vec<Tag>) -> ImageDetail {
        ImageDetail::new(
            Digest::parse(format!("sha256:{n:064x}")).unwrap(),
            tags,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )
    }

    fn warnings(images: Vec<ImageDetail>) -> Vec<Warning> {
        let (d, o) = repo(images);
        let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        let (plan, _) = plan_repository(&d, &o, now, PlanOptions::default(), &[]);
        quota_warnings(&d, &o, &plan)
    }

    #[test]
    fn a_repository_within_ten_percent_of_the_image_quota_is_warned_with_the_figures() {
        let untagged = |n| (0..n).map(|i| image(i, vec![])).collect::<Vec<_>>();
        assert!(warnings(untagged(89_999)).is_empty());
        let w = warnings(untagged(90_000));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].code, WarningCode::ImageQuota);
        assert!(
            w[0].message.contains("holds 90,000 images"),
            "{}",
            w[0].message
        );
        assert!(w[0].message.contains("100,000"), "{}", w[0].message);
        // With deletions, the count after the plan.
        let mut images = untagged(95_000);
        images[0].tags = vec![Tag::parse("old").unwrap()];
        let w = warnings(images);
        assert!(
            w[0].message.ends_with("after this plan, 94,999 images"),
            "{}",
            w[0].message
        );
    }

    #[test]
    fn an_image_within_ten_percent_of_the_tag_limit_is_warned() {
        let tags = |n: usize, prefix: &str| -> Vec<Tag> {
            (0..n)
                .map(|i| Tag::parse(format!("{prefix}{i}")).unwrap())
                .collect()
        };
        assert!(warnings(vec![image(1, tags(899, "keep-"))]).is_empty());
        let w = warnings(vec![image(1, tags(900, "keep-"))]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].code, WarningCode::TagQuota);
        assert!(w[0].message.contains("has 900 tags"), "{}", w[0].message);
        assert!(
            w[0].message.contains("1,000 tags per image"),
            "{}",
            w[0].message
        );
        // Tags the plan removes from it are counted off.
        let mut mixed = tags(600, "keep-");
        mixed.extend(tags(350, "old-"));
        let w = warnings(vec![image(1, mixed)]);
        assert!(
            w[0].message.ends_with("after this plan, 600"),
            "{}",
            w[0].message
        );
    }
}
